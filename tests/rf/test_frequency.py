"""Frequency view of dilated kernels and stacks, checked against explicit DTFTs, the FFT, closed forms and
the exact path-count support."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from atrous.errors import ConfigError
from atrous.rf.frequency import (
    _box_dtft,
    _dtft,
    alias_free_stride,
    aliased_energy,
    cutoff,
    frequency_response,
    stack_response,
)
from atrous.rf.graph import Graph
from atrous.rf.layer import Layer, conv, global_pool, pool
from atrous.rf.support import support

#: The -3 dB point of the 3-tap box, solved by hand: |1 + 2 cos w| / 3 = 1/sqrt(2).
W3 = math.acos((3 / math.sqrt(2) - 1) / 2)
LEVEL = 1 / math.sqrt(2)


def dtft(h: np.ndarray | list[float], omega: np.ndarray, origin: int = 0) -> np.ndarray:
    """Slow oracle: sum_m h[m] exp(-i omega (origin + m)), one frequency at a time."""
    h = np.asarray(h, dtype=float)
    positions = origin + np.arange(len(h))
    return np.array([np.sum(h * np.exp(-1j * om * positions)) for om in omega])


def zero_stuffed(w: list[float], d: int) -> np.ndarray:
    out = np.zeros((len(w) - 1) * d + 1)
    for t, v in enumerate(w):
        out[t * d] = v
    return out


def exact_energy_above(h: np.ndarray, positions: np.ndarray, a: float) -> float:
    """Closed form of the integral of |sum_m h_m exp(-i w p_m)|^2 over [a, pi]."""
    total = 0.0
    for hm, pm in zip(h, positions, strict=True):
        for hn, pn in zip(h, positions, strict=True):
            delta = int(pm - pn)
            total += hm * hn * ((math.pi - a) if delta == 0 else -math.sin(a * delta) / delta)
    return total


def ratio_dense(w: list[float], d: int, points: int = 100_001) -> tuple[np.ndarray, np.ndarray]:
    omega = np.linspace(0, math.pi, points)
    taps = np.arange(len(w)) * d
    h = np.exp(-1j * np.outer(omega, taps)) @ np.asarray(w, dtype=float)
    return omega, np.abs(h) / abs(sum(w))


def no_tangent_dip(r: np.ndarray, level: float, margin: float = 0.01) -> bool:
    """True when no local minimum of r sits within ``margin`` of ``level`` (a crossing there is fragile)."""
    inner = r[1:-1]
    minima = inner[(inner < r[:-2]) & (inner <= r[2:])]
    return not np.any(np.abs(minima - level) < margin)


weights = st.lists(st.integers(-4, 9), min_size=1, max_size=7).map(lambda v: [float(x) for x in v])


# ---------------------------------------------------------------- frequency_response


@settings(max_examples=60, deadline=None)
@given(w=st.lists(st.floats(-3, 3), min_size=1, max_size=8), d=st.integers(1, 7), n=st.integers(2, 40))
def test_dilation_maps_h_of_omega_to_h_of_d_omega(w: list[float], d: int, n: int) -> None:
    omega, h = frequency_response(w, dilation=d, n=n)
    np.testing.assert_allclose(omega, [math.pi * j / (n - 1) for j in range(n)], rtol=0, atol=1e-15)
    np.testing.assert_allclose(h, dtft(zero_stuffed(w, d), omega), rtol=0, atol=1e-9)
    np.testing.assert_allclose(h, dtft(w, d * omega), rtol=0, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(w=st.lists(st.floats(-3, 3), min_size=1, max_size=6), d=st.integers(1, 9), extra=st.integers(0, 50))
def test_response_equals_fft_of_zero_padded_dilated_kernel(w: list[float], d: int, extra: int) -> None:
    kernel = zero_stuffed(w, d)
    # FFT length 2 (n - 1) >= span, so FFT bin m sits at omega = pi m / (n - 1)
    n = (len(kernel) + 1) // 2 + 1 + extra
    _, h = frequency_response(w, dilation=d, n=n)
    spectrum = np.fft.fft(kernel, 2 * (n - 1))[:n]
    np.testing.assert_allclose(np.abs(h), np.abs(spectrum), rtol=0, atol=1e-9)
    np.testing.assert_allclose(h, spectrum, rtol=0, atol=1e-9)


@pytest.mark.parametrize(("k", "d"), [(1, 1), (2, 1), (3, 2), (4, 3), (7, 5)])
def test_int_kernel_is_normalised_box_dirichlet(k: int, d: int) -> None:
    omega, h = frequency_response(k, dilation=d, n=101)
    direct = np.array([sum(np.exp(-1j * w * t * d) for t in range(k)) / k for w in omega])  # the sum, term by term
    assert h[0] == pytest.approx(1.0)
    np.testing.assert_allclose(h, direct, rtol=0, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 40), st.integers(1, 2000), st.integers(2, 3000))
def test_box_closed_form_equals_the_sum_of_its_taps(k: int, d: int, n: int) -> None:
    # an int kernel takes the closed form (one term a point); the same box as explicit weights takes the sum,
    # including the frequencies where every tap is in phase (d * omega a multiple of 2 pi)
    _, closed = frequency_response(k, dilation=d, n=n)
    _, summed = frequency_response([1.0 / k] * k, dilation=d, n=n)
    np.testing.assert_allclose(closed, summed, rtol=0, atol=1e-9)
    in_phase = np.array([2 * math.pi * m / d for m in range(min(d // 2, 50) + 1)])  # sin(omega d / 2) = 0
    np.testing.assert_allclose(_box_dtft(k, d, in_phase), _dtft(np.full(k, 1.0 / k), d, in_phase), rtol=0, atol=1e-9)


def test_large_grids_and_sums_are_refused_before_they_run() -> None:
    with pytest.raises(ConfigError, match=r"frequency_response: n must be an int in 2\.\.4194304, got 1000000000"):
        frequency_response(3, n=10**9)
    with pytest.raises(ConfigError, match=r"n must be at most 268 for 1000000 kernel taps"):
        frequency_response(np.ones(10**6), n=1000)
    with pytest.raises(ConfigError, match=r"stack_response: n must be an int in 2\.\.4194304, got 8388608"):
        stack_response([conv(3, dilation=2)] * 9, n=2**23)
    with pytest.raises(ConfigError, match=r"stack_response: n must be at most 134150 for 2001 graph nodes"):
        stack_response([conv(3)] * 2000, n=2**22)
    with pytest.raises(ConfigError, match=r"aliased_energy: spec_or_response must be a stack whose receptive field "
                                          r"along axis 0 is at most 32767 samples .*got 'a receptive field of 602001"):
        aliased_energy([conv(3, dilation=d) for d in (1000, 300000)], 2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"weights_or_kernel_size": 0}, "frequency_response: kernel_size must be a positive int, got 0"),
        ({"weights_or_kernel_size": True}, "frequency_response: weights must be"),
        ({"weights_or_kernel_size": []}, "weights must be .*non-empty 1-D"),
        ({"weights_or_kernel_size": [[1.0, 2.0]]}, "weights must be"),
        ({"weights_or_kernel_size": "abc"}, "weights must be"),
        ({"weights_or_kernel_size": [1.0, float("nan")]}, "finite"),
        ({"weights_or_kernel_size": 3, "dilation": 0}, "dilation must be a positive int, got 0"),
        ({"weights_or_kernel_size": 3, "n": 1}, r"n must be an int in 2\.\.4194304, got 1"),
    ],
)
def test_frequency_response_bad_input(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        frequency_response(**kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------- cutoff


@pytest.mark.parametrize("d", [1, 2, 3, 8, 64])
def test_cutoff_of_three_tap_box_is_analytic(d: int) -> None:
    assert cutoff(3, dilation=d) == pytest.approx(W3 / d, abs=2e-9)
    assert cutoff([5.0, 5.0, 5.0], dilation=d) == pytest.approx(W3 / d, abs=2e-9)


def test_cutoff_of_two_tap_box_is_half_nyquist() -> None:
    # |cos(w / 2)| = 1 / sqrt(2) at w = pi / 2; the 1/e level is at 2 acos(1/e)
    assert cutoff(2) == pytest.approx(math.pi / 2, abs=2e-9)
    assert cutoff(2, level=1 / math.e) == pytest.approx(2 * math.acos(1 / math.e), abs=2e-9)


def test_cutoff_never_reached_is_none() -> None:
    assert cutoff(1) is None
    assert cutoff(1, dilation=5) is None
    # 1 + 0.1 e^{-iw}: |H| / |H(0)| >= 0.9 / 1.1 > 0.818 everywhere, so the -3 dB level is never reached;
    # level 0.82 is, where |H|^2 = 1.01 + 0.2 cos w = (0.82 * 1.1)^2
    assert cutoff([1.0, 0.1]) is None
    assert cutoff([1.0, 0.1], level=0.82) == pytest.approx(
        math.acos(((0.82 * 1.1) ** 2 - 1.01) / 0.2), abs=2e-9
    )


@settings(max_examples=60, deadline=None)
@given(w=weights, d=st.integers(1, 12))
def test_cutoff_scales_as_one_over_dilation(w: list[float], d: int) -> None:
    assume(sum(w) > 0)
    _, r = ratio_dense(w, 1, points=20_001)
    assume(no_tangent_dip(r, LEVEL))
    c1, cd = cutoff(w), cutoff(w, dilation=d)
    if c1 is None:
        assert cd is None
    else:
        assert cd is not None
        assert cd == pytest.approx(c1 / d, abs=5e-9)


@settings(max_examples=40, deadline=None)
@given(w=weights, d=st.integers(1, 4), level=st.floats(0.05, 0.95))
def test_cutoff_matches_dense_brute_force_scan(w: list[float], d: int, level: float) -> None:
    assume(sum(w) > 0)
    omega, r = ratio_dense(w, d)
    assume(no_tangent_dip(r, level))
    below = np.flatnonzero(r <= level)
    c = cutoff(w, dilation=d, level=level)
    if below.size == 0:
        assert c is None
        return
    assert c is not None
    first = int(below[0])
    assert omega[first - 1] - 1e-9 <= c <= omega[first] + 1e-9
    assert abs(dtft(w, np.array([c * d]))[0]) / sum(w) <= level + 1e-7


def test_cutoff_bad_input() -> None:
    with pytest.raises(ConfigError, match=r"cutoff: level must be a number in \(0, 1\), got 1.5"):
        cutoff(3, level=1.5)
    with pytest.raises(ConfigError, match=r"cutoff: weights must be taps with a non-zero sum"):
        cutoff([1.0, -1.0])
    with pytest.raises(ConfigError, match="cutoff: dilation must be a positive int"):
        cutoff(3, dilation=-2)


# ---------------------------------------------------------------- stack_response


def _layer(draw: st.DrawFn, dims: int) -> Layer:
    kind = draw(st.sampled_from(["conv", "conv", "conv", "maxpool", "avgpool", "global"]))
    if kind == "global":
        return global_pool(dims)
    k = tuple(draw(st.integers(1, 5)) for _ in range(dims))
    d = tuple(draw(st.integers(1, 4)) for _ in range(dims))
    s = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    words = st.sampled_from(["same", "valid", "causal"])
    p: tuple[int | str, ...] = tuple(draw(st.one_of(st.integers(0, 4), words)) for _ in range(dims))
    if kind == "conv":
        return conv(k, stride=s, dilation=d, padding=p, dims=dims)
    return pool(k, stride=s, dilation=d, padding=p, kind=kind, dims=dims)


@st.composite
def chains(draw: st.DrawFn, dims: int = 1) -> list[Layer]:
    return [_layer(draw, dims) for _ in range(draw(st.integers(1, 4)))]


def support_dtft(spec: object, omega: np.ndarray, axis: int = 0, node: str | None = None) -> np.ndarray:
    s = support(spec, node=node)  # type: ignore[arg-type]
    ax = s.per_axis[axis]
    return dtft(ax.counts / ax.counts.sum(), omega, ax.origin)


@settings(max_examples=60, deadline=None)
@given(layers=chains())
def test_chain_response_is_dtft_of_exact_support(layers: list[Layer]) -> None:
    omega, h = stack_response(layers, n=64)
    s = support(layers)
    assert s.counts is not None
    expected = dtft(s.counts / s.counts.sum(), omega, s.origin[0])
    np.testing.assert_allclose(np.abs(h), np.abs(expected), rtol=0, atol=1e-9)
    np.testing.assert_allclose(h, expected, rtol=0, atol=1e-9)  # the phase too: padding shifts are kept


@settings(max_examples=30, deadline=None)
@given(layers=chains(dims=2), axis=st.integers(0, 1))
def test_2d_chain_response_along_an_axis_is_dtft_of_axis_support(layers: list[Layer], axis: int) -> None:
    omega, h = stack_response(layers, n=48, axis=axis)
    np.testing.assert_allclose(h, support_dtft(layers, omega, axis), rtol=0, atol=1e-9)


@st.composite
def aspp_graphs(draw: st.DrawFn) -> Graph:
    """Trunk, parallel single-conv branches of one kernel size (equal path counts), a merge, a tail."""
    g = Graph(dims=1)
    g.chain(draw(chains()))
    trunk = len(g.nodes) - 1
    k = draw(st.integers(1, 5))
    rates = draw(st.lists(st.integers(1, 9), min_size=2, max_size=4))
    pads: list[int | str] = [0, "causal", "same"]
    branches = [g.add(conv(k, dilation=r, padding=draw(st.sampled_from([*pads, r]))), trunk) for r in rates]
    g.merge(branches, op=draw(st.sampled_from(["add", "cat", "mul"])))
    if draw(st.booleans()):
        g.chain(draw(chains()))
    return g


@settings(max_examples=40, deadline=None)
@given(graph=aspp_graphs())
def test_merge_of_equal_branches_is_dtft_of_exact_support(graph: Graph) -> None:
    omega, h = stack_response(graph, n=64)
    np.testing.assert_allclose(h, support_dtft(graph, omega), rtol=0, atol=1e-9)


def test_merge_averages_branches_with_equal_weight() -> None:
    g = Graph(dims=1)
    a = g.add(conv(3, dilation=2, padding=2), 0, name="a")
    b = g.add(conv(5, padding=2), 0, name="b")
    g.merge([a, b], op="add")
    omega, h = stack_response(g, n=64)
    expected = (support_dtft(g, omega, node="a") + support_dtft(g, omega, node="b")) / 2
    np.testing.assert_allclose(h, expected, rtol=0, atol=1e-12)
    # the support weights branches by their path counts (3 and 5), so its DTFT is a different filter
    assert np.max(np.abs(h - support_dtft(g, omega))) > 1e-3


def test_single_layer_and_global_layers() -> None:
    _, h = stack_response(conv(4, dilation=3), n=33)
    np.testing.assert_allclose(h, frequency_response(4, dilation=3, n=33)[1], rtol=0, atol=1e-12)
    _, hg = stack_response([global_pool(), conv(4, dilation=3), global_pool()], n=33)
    np.testing.assert_allclose(hg, h, rtol=0, atol=1e-12)


def test_stride_raises_the_step_of_later_layers() -> None:
    # conv(3, stride 2) then conv(3): the second box runs at jump 2, so H = B3(w) B3(2 w)
    omega, h = stack_response([conv(3, stride=2), conv(3)], n=50)
    b3 = frequency_response(3, n=50)[1]
    np.testing.assert_allclose(h, b3 * dtft(np.full(3, 1 / 3), 2 * omega), rtol=0, atol=1e-12)


def test_stack_response_bad_input() -> None:
    with pytest.raises(ConfigError, match=r"stack_response: axis must be an int in 0\.\.0, got 1"):
        stack_response(conv(3), axis=1)
    with pytest.raises(ConfigError, match=r"stack_response: n must be an int in 2\.\."):
        stack_response(conv(3), n=0)
    with pytest.raises(ConfigError, match="spec must be a Graph, a Layer or a list of Layers"):
        stack_response("conv3")  # type: ignore[arg-type]


# ---------------------------------------------------------------- alias_free_stride / aliased_energy


@pytest.mark.parametrize("rates", [[1], [2, 4, 8], [6, 12, 18], [5, 3], [1, 1000]])
def test_alias_free_stride_three_tap_by_hand(rates: list[int]) -> None:
    expected = math.floor(math.pi * min(rates) / W3)
    assert alias_free_stride(rates) == expected
    assert W3 / min(rates) <= math.pi / expected
    assert W3 / min(rates) > math.pi / (expected + 1)


@pytest.mark.parametrize("rate", [1, 2, 7, 50])
def test_alias_free_stride_two_tap_is_twice_the_rate(rate: int) -> None:
    # cut-off pi / 2 exactly, so the bound pi * r / (pi / 2) = 2 r sits on an integer
    assert alias_free_stride(rate, kernel=2) == 2 * rate


def test_alias_free_stride_bad_input() -> None:
    with pytest.raises(ConfigError, match="alias_free_stride: rates must be a positive int or a non-empty"):
        alias_free_stride([])
    with pytest.raises(ConfigError, match="rates must be"):
        alias_free_stride([2, 0])
    with pytest.raises(ConfigError, match="rates must be"):
        alias_free_stride("12")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"kernel must be an int in 2\.\.65535 \(a single tap .*\), got 1"):
        alias_free_stride([2], kernel=1)


@settings(max_examples=30, deadline=None)
@given(w=st.lists(st.floats(-3, 3), min_size=1, max_size=5), d=st.integers(1, 6), stride=st.integers(1, 12))
def test_aliased_energy_of_response_matches_closed_form(w: list[float], d: int, stride: int) -> None:
    h = np.asarray(w)
    assume(np.sum(h**2) > 1e-3)
    positions = np.arange(len(w)) * d
    expected = exact_energy_above(h, positions, math.pi / stride) / exact_energy_above(h, positions, 0.0)
    got = aliased_energy(frequency_response(w, dilation=d, n=8001), stride)
    assert got == pytest.approx(expected, abs=2e-4)


@settings(max_examples=25, deadline=None)
@given(layers=chains(), stride=st.integers(1, 16))
def test_aliased_energy_of_stack_matches_closed_form_on_support(layers: list[Layer], stride: int) -> None:
    s = support(layers)
    assert s.counts is not None
    positions = s.origin[0] + np.arange(s.extent[0])
    p = s.counts / s.counts.sum()
    expected = exact_energy_above(p, positions, math.pi / stride) / exact_energy_above(p, positions, 0.0)
    assert aliased_energy(layers, stride) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize("rate", [2, 4, 8])
def test_a_lone_dilated_kernel_is_not_low_pass(rate: int) -> None:
    # The main-lobe rule allows stride floor(pi r / w_c) = 3 r, yet the replicas of the dilated box at
    # multiples of 2 pi / r carry most of the energy above pi / (3 r): the closed form says so.
    m = alias_free_stride(rate)
    p = np.full(3, 1 / 3)
    positions = np.arange(3) * rate
    expected = exact_energy_above(p, positions, math.pi / m) / exact_energy_above(p, positions, 0.0)
    got = aliased_energy(conv(3, dilation=rate), m)
    assert got == pytest.approx(expected, abs=1e-4)
    assert got > 0.5
    # the same rate after undilated layers that remove the replicas aliases far less
    assert aliased_energy([conv(3)] * rate + [conv(3, dilation=rate)], m) < got / 2


def test_aliased_energy_bad_input() -> None:
    omega, h = frequency_response(3, n=16)
    assert aliased_energy((omega, h), 1) == 0.0
    with pytest.raises(ConfigError, match="aliased_energy: stride must be a positive int, got 0"):
        aliased_energy((omega, h), 0)
    with pytest.raises(ConfigError, match="aliased_energy: response must be an"):
        aliased_energy((omega, h[:-1]), 2)
    with pytest.raises(ConfigError, match="aliased_energy: response must be a response with non-zero energy"):
        aliased_energy((omega, np.zeros_like(h)), 2)
    with pytest.raises(ConfigError, match=r"aliased_energy: axis must be an int in 0\.\.1, got 2"):
        aliased_energy(conv((3, 3)), 2, axis=2)


def test_a_cut_off_search_past_its_limits_is_refused_before_it_allocates() -> None:
    with pytest.raises(ConfigError, match=r"cutoff: kernel_size must be an int in 1\.\.4194304, got 10000000"):
        cutoff(10**7)
    with pytest.raises(ConfigError, match=r"cutoff: kernel_size must be an int in 1\.\.65535 \(the cut-off is scanned"):
        cutoff(10**5)
    with pytest.raises(ConfigError, match=r"cutoff: weights must be at most 2048 taps .*got '3000 taps'"):
        cutoff([1.0] * 3000)
    with pytest.raises(ConfigError, match=r"alias_free_stride: kernel must be an int in 2\.\.65535"):
        alias_free_stride([10**15], 10**9)
    # the largest box allowed, and the dilation rescaling the undilated search exactly
    # (for a long box |H| = |sin(k w / 2) / (k sin(w / 2))| tends to |sinc|, whose -3 dB point is k w / 2 = 1.39156)
    assert cutoff(65535) * 65535 / 2 == pytest.approx(1.391557, rel=1e-5)
    assert cutoff([1.0, 2.0, 1.0], 7) == cutoff([1.0, 2.0, 1.0]) / 7
