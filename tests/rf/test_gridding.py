"""Gridding diagnostics against brute-force oracles: offsets as Python sets, paths enumerated one by one."""

from __future__ import annotations

import itertools
import math
import re
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atrous.errors import ConfigError, ShapeError
from atrous.rf.graph import Graph
from atrous.rf.gridding import (
    GriddingReport,
    common_factor,
    exact_miss_probability,
    gridding_report,
    hdc_check,
    hdc_m_values,
    miss_probability,
    support_miss_probability,
)
from atrous.rf.layer import Layer, conv, pool
from atrous.rf.support import support

FAST = settings(max_examples=60, deadline=None)


# ---------------------------------------------------------------- oracles (slow and obvious)

def oracle_m_values(rates: list[int]) -> list[int]:
    """The recursion of Wang et al. 2018 written exactly as printed in the paper."""
    m = [0] * len(rates)
    m[-1] = rates[-1]
    for i in range(len(rates) - 2, -1, -1):
        m[i] = max(m[i + 1] - 2 * rates[i], m[i + 1] - 2 * (m[i + 1] - rates[i]), rates[i])
    return m


def oracle_gcd(rates: list[int]) -> int:
    return max(g for g in range(1, min(rates) + 1) if all(r % g == 0 for r in rates))


def oracle_hdc_ok(rates: list[int], kernel: int) -> bool:
    if not rates:
        return True
    m_ok = len(rates) == 1 or oracle_m_values(rates)[1] <= kernel
    return m_ok and oracle_gcd(rates) == 1


def chain_offsets(rates: list[int], kernel: int) -> set[int]:
    offsets = {0}
    for r in rates:
        offsets = {o + t * r for o in offsets for t in range(kernel)}
    return offsets


def is_contiguous(offsets: set[int]) -> bool:
    return all(x in offsets for x in range(min(offsets), max(offsets) + 1))


def layer_reads(layer: Layer, positions: set[tuple[int, ...]]) -> set[tuple[int, ...]]:
    """Input positions that the given output positions of one layer read."""
    out = set()
    for p in positions:
        for taps in itertools.product(*(range(k) for k in layer.kernel)):
            out.add(tuple(p[a] * layer.stride[a] + taps[a] * layer.dilation[a] - layer.padding[a][0]
                          for a in range(layer.dims)))
    return out


def graph_reads(graph: Graph, node: int, positions: set[tuple[int, ...]]) -> set[tuple[int, ...]]:
    n = graph.nodes[node]
    if n.op == "input":
        return positions
    if n.op == "layer":
        assert n.layer is not None
        return graph_reads(graph, n.inputs[0], layer_reads(n.layer, positions))
    return set().union(*(graph_reads(graph, j, positions) for j in n.inputs))


def box_counts(offsets: set[tuple[int, ...]]) -> tuple[int, int]:
    """(taps, volume of the bounding box)."""
    dims = len(next(iter(offsets)))
    volume = math.prod(max(o[a] for o in offsets) - min(o[a] for o in offsets) + 1 for a in range(dims))
    return len(offsets), volume


def all_paths(graph: Graph, node: int) -> list[list[int]]:
    """Every input-to-node path, as the list of its layer nodes."""
    n = graph.nodes[node]
    if n.op == "input":
        return [[]]
    if n.op == "layer":
        return [[*p, node] for p in all_paths(graph, n.inputs[0])]
    return [p for j in n.inputs for p in all_paths(graph, j)]


def path_rates(graph: Graph, path: list[int], axis: int) -> tuple[int, list[int], int]:
    """(receptive field, effective rates of the kernel > 1 layers, kernel of the first of them)."""
    jump, rf, rates, kernels = 1, 1, [], []
    for i in path:
        layer = graph.nodes[i].layer
        assert layer is not None
        k, d = layer.kernel[axis], layer.dilation[axis]
        rf += (k - 1) * d * jump
        if k > 1:
            rates.append(d * jump)
            kernels.append(k)
        jump *= layer.stride[axis]
    return rf, rates, kernels[0] if kernels else 1


def oracle_length(length: int, layer: Layer, axis: int) -> int:
    """Number of windows of the padded input that fit, counted one by one."""
    left, right = layer.padding[axis]
    span = (layer.kernel[axis] - 1) * layer.dilation[axis] + 1
    count = 0
    while count * layer.stride[axis] + span <= left + length + right:
        count += 1
    return count


def parse_rates(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(", "))


# ---------------------------------------------------------------- strategies

@st.composite
def conv_layers(draw: st.DrawFn, dims: int = 1, max_stride: int = 2) -> Layer:
    k = tuple(draw(st.integers(1, 4)) for _ in range(dims))
    d = tuple(draw(st.integers(1, 5)) for _ in range(dims))
    s = tuple(draw(st.integers(1, max_stride)) for _ in range(dims))
    pad = draw(st.sampled_from(["same", "valid", "causal", "1"]))
    pad_arg: str | int = int(pad) if pad.isdigit() else pad
    if draw(st.integers(0, 5)) == 0:
        return pool(2, stride=s, dims=dims)
    return conv(k, stride=s, dilation=d, padding=pad_arg, dims=dims)


@st.composite
def chains(draw: st.DrawFn, dims: int = 1, max_layers: int = 5) -> list[Layer]:
    layers = draw(st.lists(conv_layers(dims), min_size=1, max_size=max_layers))
    strided = [i for i, ly in enumerate(layers) if max(ly.stride) > 1]
    for i in strided[2:]:  # keep the receptive field small
        ly = layers[i]
        layers[i] = Layer(ly.kernel, (1,) * dims, ly.dilation, ly.padding, ly.kind)
    return layers


@st.composite
def dags(draw: st.DrawFn) -> Graph:
    g = Graph(dims=1)
    trunk = g.chain(draw(st.lists(conv_layers(), max_size=2)))
    branches = []
    strided = draw(st.booleans())  # strides inside branches: their jumps differ, so no layer after the merge
    for _ in range(draw(st.integers(2, 3))):
        chain = draw(st.lists(conv_layers(max_stride=2 if strided else 1), min_size=1, max_size=2))
        branches.append(g.chain(chain, trunk))
    g.merge(branches, op=draw(st.sampled_from(["add", "cat"])))
    if not strided and draw(st.booleans()):
        g.add(draw(conv_layers(max_stride=1)))
    return g


# ---------------------------------------------------------------- HDC rules

def test_hdc_worked_numbers_from_the_paper() -> None:
    ok = hdc_check([1, 2, 5], kernel=3)
    assert ok.ok and ok.m2 == 2 and ok.messages == () and ok.message == ""
    bad = hdc_check([1, 2, 9], kernel=3)
    assert not bad.ok and bad.m2 == 5 and bad.factor_ok and not bad.m_ok
    assert "M_2 = 5 > kernel 3" in bad.message
    assert hdc_m_values([1, 2, 5])[1] == 2 and hdc_m_values([1, 2, 9])[1] == 5


@pytest.mark.parametrize("rates", [[2, 4, 8], [2, 2, 2], [3, 6], [4]])
def test_common_factor_rule(rates: list[int]) -> None:
    v = hdc_check(rates)
    assert not v.ok and not v.factor_ok
    assert v.common_factor == oracle_gcd(rates) == common_factor(rates)
    g = oracle_gcd(rates)
    assert (f"share the factor {g}" if len(rates) > 1 else f"common factor {g}") in v.message
    assert not is_contiguous(chain_offsets(rates, 3))


def test_single_layer_m_rule_is_vacuous() -> None:
    v = hdc_check([1], kernel=3)
    assert v.ok and v.m2 is None and v.m_values == (1,)
    assert hdc_check([7], kernel=3).m_ok


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=7), st.integers(1, 5))
def test_hdc_check_against_oracle(rates: list[int], kernel: int) -> None:
    v = hdc_check(rates, kernel)
    assert list(v.m_values) == oracle_m_values(rates) == hdc_m_values(rates)
    assert v.common_factor == oracle_gcd(rates)
    assert v.ok == oracle_hdc_ok(rates, kernel)
    assert all("\n" not in m for m in v.messages)
    assert (v.messages == ()) == v.ok
    offsets = chain_offsets(rates, kernel)
    if not v.ok:
        assert ("no holes all the same" in v.message) == is_contiguous(offsets)
    suggested = re.search(r"such as ([\d, ]+) \(RF (\d+)\)", v.message)
    if suggested:  # a same-depth, hole-free replacement reaching the same receptive field
        alt = parse_rates(suggested.group(1))
        assert len(alt) == len(rates)
        assert is_contiguous(chain_offsets(list(alt), kernel))
        rf = max(offsets) - min(offsets) + 1
        alt_offsets = chain_offsets(list(alt), kernel)
        assert max(alt_offsets) + 1 == int(suggested.group(2)) >= rf
    deeper = re.search(r"use (\d+) layers with rates ([\d, ]+) \(RF (\d+)\)", v.message)
    if deeper:
        alt = parse_rates(deeper.group(2))
        assert len(alt) == int(deeper.group(1)) > len(rates)
        assert is_contiguous(chain_offsets(list(alt), kernel))
        assert max(chain_offsets(list(alt), kernel)) + 1 >= max(offsets) - min(offsets) + 1


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(1, 30), min_size=1, max_size=6))
def test_m_rule_with_first_rate_one_means_no_holes_for_kernel_3(tail: list[int]) -> None:
    """Wang et al.'s claim, checked on the exact offsets: r_1 = 1 and M_2 <= 3 leave no hole."""
    rates = [1, *tail]
    if oracle_m_values(rates)[1] <= 3:
        assert is_contiguous(chain_offsets(rates, 3))
        assert hdc_check(rates).ok


def test_rule_passes_but_support_has_holes() -> None:
    """Rates 2, 3 with kernel 3 pass both rules, yet offsets -4 and 4 are never read."""
    r = gridding_report([conv(3, dilation=d, padding="same") for d in (2, 3)])
    assert r.hdc_ok and r.m2 == (3,) and r.common_factor == (1,)
    truth = graph_reads(Graph.from_layers([conv(3, dilation=d, padding="same") for d in (2, 3)]), 2, {(0,)})
    assert sorted(o for (o,) in truth) == [-5, -3, -2, -1, 0, 1, 2, 3, 5]
    assert r.taps == 9 and r.volume == 11 and r.holes == 2
    [msg] = r.messages
    assert msg.startswith("the HDC rule passes but the exact support has 2 holes: 9 of 11 offsets read")
    assert "(offsets -4, 4)" in msg and "18.2% of the receptive field unread" in msg
    alt = parse_rates(re.search(r"rates ([\d, ]+) \(RF", msg).group(1))  # type: ignore[union-attr]
    assert is_contiguous(chain_offsets(list(alt), 3)) and 1 + 2 * sum(alt) >= 11


def test_two_d_rates_2_2_2() -> None:
    layers = [conv((3, 3), dilation=2, padding="same")] * 3
    r = gridding_report(layers)
    truth = graph_reads(Graph.from_layers(layers), 3, {(0, 0)})
    assert (r.taps, r.volume) == box_counts(truth) == (49, 169)
    assert not r.hdc_ok and r.rates == ((2, 2, 2), (2, 2, 2)) and r.common_factor == (2, 2)
    assert r.unread == pytest.approx(120 / 169)
    assert len(r.messages) == 2  # one rule message for both axes, one support message
    assert r.messages[0].startswith("rates 2, 2, 2 share the factor 2")
    assert "49 of 169 offsets read, 71% of the receptive field unread" in r.messages[1]
    alt = parse_rates(re.search(r"such as ([\d, ]+) \(RF 13\)", r.messages[0]).group(1))  # type: ignore[union-attr]
    assert len(alt) == 3 and is_contiguous(chain_offsets(list(alt), 3)) and 1 + 2 * sum(alt) >= 13


def test_hole_free_schedule_that_fails_the_m_rule() -> None:
    r = gridding_report([conv(3, dilation=d, padding="same") for d in (1, 3, 2)])
    assert not r.hdc_ok and r.holes == 0 and r.m2 == (4,)
    [msg] = r.messages
    assert "no holes all the same" in msg and "such as" not in msg


def test_plus_shaped_support_has_holes_only_in_2d() -> None:
    g = Graph(dims=2)
    a = g.add(conv((3, 1), padding=(1, 0)), 0)
    b = g.add(conv((1, 3), padding=(0, 1)), 0)
    g.merge([a, b])
    r = gridding_report(g)
    assert r.hdc_ok and r.support_exact
    assert all(ax.holes == () for ax in r.axes)  # each projection is contiguous
    assert (r.taps, r.volume) == box_counts(graph_reads(g, 3, {(0, 0)})) == (5, 9)
    [msg] = r.messages
    assert msg.startswith("the HDC rule passes but the exact support has 4 holes: 5 of 9 offsets read")


def test_strided_path_uses_effective_rates() -> None:
    layers = [conv(3, stride=2, padding=1), conv(3, dilation=2, padding=2), pool(2), conv(3, padding=1)]
    r = gridding_report(layers)
    # dilation x jump before the layer: 1 x 1, 2 x 2, 1 x 2 (the pool), 1 x 4
    assert r.rates == ((1, 4, 2, 4),)
    assert r.axes[0].layers == ("layer1", "layer2", "layer3", "layer4")
    assert not r.hdc_ok and r.m2 == (oracle_m_values([1, 4, 2, 4])[1],) == (6,)
    assert r.holes == 0 and "no holes all the same" in r.messages[0]  # the M-rule is only a heuristic


def test_main_path_counts_reach_in_input_samples() -> None:
    """A strided branch reaches further than a dilated one with more dilation but no stride."""
    g = Graph(dims=1)
    a = g.chain([conv(3, stride=4, padding=1), conv(3, dilation=2, padding=2)], 0)  # rf 1 + 2 + 2 * 2 * 4 = 19
    b = g.chain([conv(3, dilation=3, padding=3), conv(3, dilation=3, padding=3)], 0)  # rf 1 + 6 + 6 = 13
    g.merge([b, a], op="cat")
    paths = [path_rates(g, p, 0) for p in all_paths(g, g.output)]
    assert sorted(rf for rf, _, _ in paths) == [13, 19]
    r = gridding_report(g)
    assert r.rates == ((1, 8),) and r.axes[0].layers == ("layer1", "layer2")
    assert not r.hdc_ok and r.m2 == (8,)
    assert r.messages[0].startswith("rates 1, 8 break the HDC rule of Wang et al. 2018: M_2 = 8 > kernel 3")


# ---------------------------------------------------------------- reports on random networks

def check_report(report: GriddingReport, graph: Graph) -> None:
    dims = graph.dims
    assert isinstance(report.messages, tuple) and all("\n" not in m for m in report.messages)
    truth = graph_reads(graph, graph.output, {(0,) * dims})
    taps, volume = box_counts(truth)
    assert (report.taps, report.volume) == (taps, volume)
    hdc_ok = True
    for a in range(dims):
        paths = [path_rates(graph, p, a) for p in all_paths(graph, graph.output)]
        widest = max(rf for rf, _, _ in paths)
        ax = report.axes[a]
        assert (widest, list(ax.rates), ax.kernel) in paths  # one of the paths with the largest rf
        assert ax.m2 == (oracle_m_values(list(ax.rates))[1] if len(ax.rates) > 1 else None)
        assert ax.common_factor == (oracle_gcd(list(ax.rates)) if ax.rates else 1)
        assert ax.ok == oracle_hdc_ok(list(ax.rates), ax.kernel)
        hdc_ok = hdc_ok and ax.ok
        projection = {o[a] for o in truth}
        assert set(ax.holes) == set(range(min(projection), max(projection) + 1)) - projection
    assert report.hdc_ok == hdc_ok
    passes_with_holes = [m for m in report.messages if m.startswith("the HDC rule passes but")]
    summary = [m for m in report.messages if m.startswith("exact support:")]
    if taps < volume and hdc_ok:
        assert len(passes_with_holes) == 1 and f"has {volume - taps} holes: {taps} of {volume}" in \
            passes_with_holes[0]
    elif taps < volume:
        assert len(summary) == 1 and f"{taps} of {volume} offsets read" in summary[0]
    else:
        assert not passes_with_holes and not summary
    assert report.hdc_ok == (not any("HDC rule of" in m or "factor" in m for m in report.messages))


@FAST
@given(chains())
def test_report_on_random_chains(layers: list[Layer]) -> None:
    check_report(gridding_report(layers), Graph.from_layers(layers))


@FAST
@given(chains(dims=2, max_layers=3))
def test_report_on_random_2d_chains(layers: list[Layer]) -> None:
    check_report(gridding_report(layers), Graph.from_layers(layers))


@FAST
@given(dags())
def test_report_on_random_dags(graph: Graph) -> None:
    check_report(gridding_report(graph), graph)


# ---------------------------------------------------------------- border layers

@st.composite
def padded_chains(draw: st.DrawFn) -> list[Layer]:
    out = []
    for _ in range(draw(st.integers(1, 4))):
        k = draw(st.integers(1, 4))
        d = draw(st.integers(1, 12))
        s = draw(st.integers(1, 2))
        out.append(conv(k, stride=s, dilation=d, padding=draw(st.sampled_from(["same", "causal"]))))
    return out


@FAST
@given(padded_chains(), st.integers(1, 40))
def test_border_layers_against_lengths_counted_by_hand(layers: list[Layer], size: int) -> None:
    r = gridding_report(layers, input_size=size)
    expected, length = [], size
    names = [f"layer{i + 1}" for i in range(len(layers))]
    for name, layer in zip(names, layers, strict=True):
        span = (layer.kernel[0] - 1) * layer.dilation[0] + 1
        if span > length:
            expected.append(name)
            [msg] = [m for m in r.messages if m.startswith(f"layer {name!r}")]
            fits = [d for d in range(1, length + 1) if (layer.kernel[0] - 1) * d + 1 <= length]
            assert f"span {span}) is wider than its {length}-long input" in msg
            assert (f"use dilation <= {max(fits)} so" in msg) if fits else ("no dilation fits" in msg)
        length = oracle_length(length, layer, 0)
    assert list(r.border_layers) == expected


def test_border_layer_in_2d_names_both_axes_once() -> None:
    r = gridding_report([conv((3, 3), padding="same"), conv((3, 3), dilation=(8, 2), padding="same")],
                        input_size=(10, 10))
    assert r.border_layers == ("layer2",)
    [msg] = [m for m in r.messages if m.startswith("layer 'layer2'")]
    assert "on axis 0" in msg and "use dilation <= 4 so" in msg
    r = gridding_report([conv((3, 3), dilation=8, padding="same")], input_size=(10, 10))
    [msg] = [m for m in r.messages if m.startswith("layer ")]
    assert "on axes 0, 1" in msg


def test_border_needs_input_size_and_small_maps_raise() -> None:
    assert gridding_report([conv(3, dilation=50, padding="same")]).border_layers == ()
    with pytest.raises(ShapeError):
        gridding_report([conv(3, dilation=8)], input_size=10)  # unpadded: the layer cannot run at all


# ---------------------------------------------------------------- sparse sampling

def oracle_kernel_miss(size: tuple[int, int], kernel: tuple[int, int], dilation: tuple[int, int]) -> Fraction:
    taps = {(i * dilation[0], j * dilation[1]) for i in range(kernel[0]) for j in range(kernel[1])}
    spans = [(kernel[a] - 1) * dilation[a] + 1 for a in range(2)]
    sides = [min(size[a], spans[a]) for a in range(2)]
    starts = [range(spans[a] - sides[a] + 1) for a in range(2)]
    misses = total = 0
    for x in starts[0]:
        for y in starts[1]:
            total += 1
            box = {(x + a, y + b) for a in range(sides[0]) for b in range(sides[1])}
            misses += not (box & taps)
    return Fraction(misses, total)


def oracle_mask_miss(mask: np.ndarray, size: tuple[int, int]) -> Fraction:
    rows, cols = mask.shape
    h, w = min(size[0], rows), min(size[1], cols)
    misses = total = 0
    for x in range(rows - h + 1):
        for y in range(cols - w + 1):
            total += 1
            misses += not any(mask[x + a, y + b] for a in range(h) for b in range(w))
    return Fraction(misses, total)


@FAST
@given(st.tuples(st.integers(1, 12), st.integers(1, 12)), st.tuples(st.integers(1, 4), st.integers(1, 4)),
       st.tuples(st.integers(1, 6), st.integers(1, 6)))
def test_exact_miss_against_sets(size: tuple[int, int], kernel: tuple[int, int],
                                 dilation: tuple[int, int]) -> None:
    truth = oracle_kernel_miss(size, kernel, dilation)
    assert exact_miss_probability(size, kernel, dilation) == pytest.approx(float(truth), abs=1e-12)
    mask = support(conv(kernel, dilation=dilation)).counts
    assert mask is not None
    assert support_miss_probability(mask, size) == pytest.approx(float(truth), abs=1e-12)


@FAST
@given(st.integers(1, 7), st.integers(1, 7), st.tuples(st.integers(1, 8), st.integers(1, 8)), st.data())
def test_mask_miss_against_enumeration(rows: int, cols: int, size: tuple[int, int], data: st.DataObject) -> None:
    cells = data.draw(st.lists(st.booleans(), min_size=rows * cols, max_size=rows * cols))
    mask = np.array(cells, dtype=bool).reshape(rows, cols)
    assert support_miss_probability(mask, size) == pytest.approx(float(oracle_mask_miss(mask, size)), abs=1e-12)


def test_mask_miss_of_a_stack() -> None:
    counts = support([conv((3, 3), dilation=2)] * 3).counts
    assert counts is not None
    mask = counts != 0
    for size in (1, 2, (1, 3), 13):
        assert support_miss_probability(counts, size) == pytest.approx(float(oracle_mask_miss(mask, (
            (size, size) if isinstance(size, int) else size))))
    assert support_miss_probability(counts, 1) == pytest.approx(120 / 169)


@FAST
@given(st.integers(1, 7), st.data())
def test_stylised_miss_equals_infinite_lattice_average(d: int, data: st.DataObject) -> None:
    """For sides <= d, every placement over whole periods of an infinite tap lattice: 1 - h w / d**2."""
    h = data.draw(st.integers(1, d))
    w = data.draw(st.integers(1, d))
    periods = data.draw(st.integers(1, 3))
    lattice = {(i * d, j * d) for i in range(periods + 2) for j in range(periods + 2)}
    misses = total = 0
    for x in range(periods * d):
        for y in range(periods * d):
            total += 1
            misses += not any((x + a, y + b) in lattice for a in range(h) for b in range(w))
    truth = Fraction(misses, total)
    assert truth == 1 - Fraction(h * w, d * d)
    assert miss_probability((h, w), d) == pytest.approx(float(truth), abs=1e-12)
    # the same lattice as a finite mask whose placements span exactly `periods` periods per axis
    mask = np.zeros((periods * d + h - 1, periods * d + w - 1), dtype=bool)
    mask[::d, ::d] = True
    assert support_miss_probability(mask, (h, w)) == pytest.approx(float(truth), abs=1e-12)


def test_stylised_miss_clips_at_zero() -> None:
    assert miss_probability(3, 2) == 0.0
    assert miss_probability((1, 1), (2, 3)) == pytest.approx(5 / 6)


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: hdc_check([]), r"^hdc_check: rates must be a non-empty list of positive ints, got \[\]$"),
        (lambda: hdc_check([1, 0]), r"^hdc_check: rates must be a non-empty list of positive ints, got \[1, 0\]$"),
        (lambda: hdc_check([1, 2], kernel=0), r"^hdc_check: kernel must be a positive int, got 0$"),
        (lambda: hdc_check("125"), r"^hdc_check: rates must be a non-empty list"),  # type: ignore[arg-type]
        (lambda: hdc_m_values([2.0]), r"^hdc_m_values: rates must be a non-empty list"),  # type: ignore[list-item]
        (lambda: common_factor([]), r"^common_factor: rates must be a non-empty list"),
        (lambda: gridding_report("conv"), r"spec must be a Graph, a Layer or a list"),  # type: ignore[arg-type]
        (lambda: gridding_report([conv(3)], input_size=0),
         r"^gridding_report: input_size must be a positive int, got 0$"),
        (lambda: miss_probability(0, 2), r"^miss_probability: object_size must be a positive int, got 0$"),
        (lambda: miss_probability((1, 2, 3), 2), r"object_size must be a positive int or a pair"),
        (lambda: exact_miss_probability(1, 3, 0), r"^exact_miss_probability: dilation must be a positive int"),
        (lambda: exact_miss_probability(1, (3, 0), 2), r"kernel must be a positive int, got 0"),
        (lambda: support_miss_probability(np.ones(3), 1), r"mask must be a non-empty 2-D array"),
        (lambda: support_miss_probability(np.ones((0, 3)), 1), r"mask must be a non-empty 2-D array"),
        (lambda: support_miss_probability(np.ones((3, 3)), (1, -1)), r"object_size must be a positive int"),
    ],
)
def test_bad_input(call, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=match):
        call()
