"""atrous.functional.dilated_conv1d/2d/3d against a nested-loop float64 oracle, torch, autograd and rf; and the
measured fast paths (fold to 2-D, channels-last) against the plain call, values and gradients."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.overrides import TorchFunctionMode

from atrous import rf
from atrous.errors import ConfigError, ShapeError
from atrous.functional import _autotune, _layout
from atrous.functional.conv import (
    benchmark_enabled,
    chosen_paths,
    clear_chosen_paths,
    dilated_conv1d,
    dilated_conv2d,
    dilated_conv3d,
    resolve_padding,
    set_benchmark,
)

OPS = {1: dilated_conv1d, 2: dilated_conv2d, 3: dilated_conv3d}
TORCH = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
# derandomize: the same examples on every run, so that whether a run passes never depends on which shapes it drew
# (one run in twenty under load died of a segmentation fault inside F.conv3d on a drawn shape that 2,400 later
# examples did not find again)
FAST = settings(max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------------------------------------
# The oracle: written from the definition, sharing nothing with the code under test


def expected_pads(kernel: tuple[int, ...], dilation: tuple[int, ...], padding: Any,
                  causal_axis: int | None = None) -> list[tuple[int, int]]:
    """Padding per axis from the words' definitions: "same" puts the odd sample on the right, like torch."""
    dims = len(kernel)
    spans = [(k - 1) * d + 1 for k, d in zip(kernel, dilation)]
    if isinstance(padding, str) and padding == "causal" and dims > 1:
        padding = ["causal" if a == (causal_axis or 0) else "same" for a in range(dims)]
    if isinstance(padding, (str, int)) or (dims == 1 and isinstance(padding, tuple) and len(padding) == 2 and
                                           all(isinstance(p, int) for p in padding)):
        padding = [padding] * dims
    pads = []
    for a, p in enumerate(padding):
        if p == "same":
            pads.append(((spans[a] - 1) // 2, spans[a] - 1 - (spans[a] - 1) // 2))
        elif p == "causal":
            pads.append((spans[a] - 1, 0))
        elif p == "valid":
            pads.append((0, 0))
        elif isinstance(p, int):
            pads.append((p, p))
        else:
            pads.append((int(p[0]), int(p[1])))
    return pads


def oracle(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, stride: tuple[int, ...],
           dilation: tuple[int, ...], pads: list[tuple[int, int]], groups: int) -> np.ndarray:
    """out[n, o, *i] = b[o] + sum over taps t and group channels c of w[o, c, *t] * x[n, c', *(i*s + t*d - left)],
    reading zero outside the input. Explicit Python loops over output positions and taps, in float64."""
    xs, ws = x.detach().double().numpy(), w.detach().double().numpy()
    n, _, *size = xs.shape
    cout, cg, *kernel = ws.shape
    og = cout // groups
    out_size = [(size[a] + pads[a][0] + pads[a][1] - (kernel[a] - 1) * dilation[a] - 1) // stride[a] + 1
                for a in range(len(size))]
    out = np.zeros((n, cout, *out_size))
    for g in range(groups):
        for pos in itertools.product(*(range(m) for m in out_size)):
            for tap in itertools.product(*(range(k) for k in kernel)):
                src = [pos[a] * stride[a] + tap[a] * dilation[a] - pads[a][0] for a in range(len(size))]
                if any(not 0 <= s < size[a] for a, s in enumerate(src)):
                    continue  # zero padding
                patch = xs[(slice(None), slice(g * cg, (g + 1) * cg), *src)]            # (N, cg)
                taps = ws[(slice(g * og, (g + 1) * og), slice(None), *tap)]             # (og, cg)
                out[(slice(None), slice(g * og, (g + 1) * og), *pos)] += patch @ taps.T
    if b is not None:
        out += b.detach().double().numpy().reshape(1, cout, *([1] * len(size)))
    return out


def close(got: torch.Tensor, want: np.ndarray | torch.Tensor, tol: float = 1e-10) -> None:
    want_t = torch.as_tensor(want, dtype=torch.float64)
    assert tuple(got.shape) == tuple(want_t.shape)
    torch.testing.assert_close(got.double(), want_t, rtol=tol, atol=tol)


def per_axis(v: int | tuple[int, ...], dims: int) -> tuple[int, ...]:
    return (v,) * dims if isinstance(v, int) else tuple(v)


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    old = set_benchmark(True)
    clear_chosen_paths()
    yield
    clear_chosen_paths()
    set_benchmark(old)


# ---------------------------------------------------------------------------------------------------------
# Oracle, every padding kind

CASES_1D = [  # kernel, stride, dilation, padding, groups
    (3, 1, 1, "same", 1), (3, 1, 4, "same", 1), (2, 1, 3, "same", 1), (4, 1, 2, "same", 2),   # even spans 4, 7
    (2, 1, 5, "causal", 1), (3, 1, 2, "causal", 4), (3, 1, 3, "valid", 1), (3, 2, 2, "valid", 2),
    (3, 1, 2, 3, 1), (3, 3, 2, 0, 1), (2, 1, 3, (4, 1), 1), (3, 2, 1, (0, 3), 4), (1, 1, 7, "same", 1),
    (3, 2, 3, "same", 1), (2, 3, 2, "causal", 2),
]


@pytest.mark.parametrize(("k", "s", "d", "padding", "groups"), CASES_1D)
def test_conv1d_oracle(k: int, s: int, d: int, padding: Any, groups: int) -> None:
    g = torch.Generator().manual_seed(k * 100 + d)
    x = torch.randn(2, 4, 13, generator=g, dtype=torch.float64)
    w = torch.randn(4, 4 // groups, k, generator=g, dtype=torch.float64)
    b = torch.randn(4, generator=g, dtype=torch.float64)
    got = dilated_conv1d(x, w, b, stride=s, dilation=d, padding=padding, groups=groups)
    close(got, oracle(x, w, b, (s,), (d,), expected_pads((k,), (d,), padding), groups))


def test_same_even_span_is_asymmetric() -> None:
    # span 4: the oracle pads 1 left and 2 right; an impulse shows where each tap lands
    x = torch.zeros(1, 1, 9, dtype=torch.float64)
    x[0, 0, 4] = 1.0
    w = torch.tensor([[[1.0, 10.0]]], dtype=torch.float64)
    y = dilated_conv1d(x, w, dilation=3, padding="same")[0, 0]
    # output i reads x[i - 1] * 1 + x[i + 2] * 10
    assert y.tolist() == [0.0, 0.0, 10.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    assert resolve_padding((2,), 1, 3, "same") == ((1, 2),)


CASES_ND = [  # dims, kernel, stride, dilation, padding, groups, causal_axis
    (2, (3, 3), 1, (2, 2), "same", 1, None), (2, (2, 3), 1, (3, 1), "same", 2, None),
    (2, (3, 2), 1, (2, 3), "causal", 1, None), (2, (3, 2), 1, (2, 3), "causal", 1, 1),
    (2, (3, 3), (2, 1), (1, 2), "valid", 4, None), (2, (3, 3), 1, 2, ((1, 3), (2, 0)), 1, None),
    (2, (3, 3), 2, 1, 1, 2, None), (2, (2, 2), 1, 4, ("causal", "valid"), 1, None),
    (3, (2, 3, 2), 1, (2, 1, 2), "same", 1, None), (3, (2, 2, 3), 1, (1, 2, 1), "causal", 2, None),
    (3, (2, 2, 2), 1, (2, 1, 3), "causal", 1, 1), (3, (2, 2, 2), 1, (1, 3, 2), "causal", 1, 2),
    (3, (3, 2, 2), (2, 1, 2), 1, "valid", 4, None), (3, (2, 2, 2), 1, 2, ((0, 2), (1, 1), 1), 1, None),
]


@pytest.mark.parametrize(("dims", "k", "s", "d", "padding", "groups", "axis"), CASES_ND)
def test_conv_nd_oracle(dims: int, k: tuple[int, ...], s: Any, d: Any, padding: Any, groups: int,
                        axis: int | None) -> None:
    g = torch.Generator().manual_seed(dims * 1000 + sum(k))
    size = (9, 8) if dims == 2 else (6, 5, 7)
    x = torch.randn(2, 4, *size, generator=g, dtype=torch.float64)
    w = torch.randn(4, 4 // groups, *k, generator=g, dtype=torch.float64)
    b = torch.randn(4, generator=g, dtype=torch.float64)
    got = OPS[dims](x, w, b, stride=s, dilation=d, padding=padding, groups=groups, causal_axis=axis)
    dil = per_axis(d, dims)
    want = oracle(x, w, b, per_axis(s, dims), dil, expected_pads(k, dil, padding, axis), groups)
    close(got, want)


@pytest.mark.parametrize("dims", [2, 3])
def test_causal_axis_never_reads_ahead(dims: int) -> None:
    for axis in range(dims):
        x = torch.randn(1, 1, *([7] * dims), dtype=torch.float64)
        w = torch.randn(1, 1, *([2] * dims), dtype=torch.float64)
        y = OPS[dims](x, w, dilation=2, padding="causal", causal_axis=axis)
        later = x.clone()
        later.select(2 + axis, 6).normal_()      # change the last slice along the causal axis only
        y2 = OPS[dims](later, w, dilation=2, padding="causal", causal_axis=axis)
        assert torch.equal(y.narrow(2 + axis, 0, 6), y2.narrow(2 + axis, 0, 6))
        assert not torch.equal(y.select(2 + axis, 6), y2.select(2 + axis, 6))


@st.composite
def configs(draw: Any, dims_from: tuple[int, ...] = (1, 2, 3), min_batch: int = 0) -> dict[str, Any]:
    dims = draw(st.sampled_from(dims_from))
    k = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    s = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    d = tuple(draw(st.integers(1, 4)) for _ in range(dims))
    word = st.sampled_from(["same", "valid", "causal"])
    pad_axis = st.one_of(word, st.integers(0, 3), st.tuples(st.integers(0, 3), st.integers(0, 3)))
    padding = draw(st.one_of(word, st.integers(0, 2), st.tuples(*[pad_axis] * dims)))
    groups = draw(st.sampled_from([1, 2, 4]))  # 4: depthwise with 4 channels
    cout = groups * draw(st.integers(1, 2))
    axis = draw(st.integers(0, dims - 1)) if dims > 1 else None
    pads = expected_pads(k, d, padding, axis)
    spans = [(kk - 1) * dd + 1 for kk, dd in zip(k, d)]
    lo = [max(1, sp - a - b) for sp, (a, b) in zip(spans, pads)]
    size = tuple(draw(st.integers(lo[a], lo[a] + (8 if dims == 1 else 3))) for a in range(dims))
    return {"dims": dims, "k": k, "s": s, "d": d, "padding": padding, "groups": groups, "cout": cout,
            "axis": axis, "size": size, "batch": draw(st.integers(min_batch, 2)), "bias": draw(st.booleans()),
            "pads": pads}


def make(c: dict[str, Any], dtype: torch.dtype = torch.float64, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(c["batch"], 4, *c["size"], generator=g, dtype=dtype)
    w = torch.randn(c["cout"], 4 // c["groups"], *c["k"], generator=g, dtype=dtype)
    b = torch.randn(c["cout"], generator=g, dtype=dtype)
    return x, w, b


def call(c: dict[str, Any], x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    extra = {} if c["dims"] == 1 else {"causal_axis": c["axis"]}
    s = c["s"][0] if c["dims"] == 1 else c["s"]
    d = c["d"][0] if c["dims"] == 1 else c["d"]
    return OPS[c["dims"]](x, w, b, stride=s, dilation=d, padding=c["padding"], groups=c["groups"], **extra)


@FAST
@given(configs())
def test_random_shapes_oracle_and_output_length(c: dict[str, Any]) -> None:
    x, w, b = make(c)
    bias = b if c["bias"] else None
    y = call(c, x, w, bias)
    close(y, oracle(x, w, bias, c["s"], c["d"], c["pads"], c["groups"]))
    layer = rf.conv(c["k"], c["s"], c["d"], resolve_padding(c["k"], c["s"], c["d"], c["padding"], c["axis"]),
                    dims=c["dims"])
    assert tuple(y.shape[2:]) == layer.output_length(c["size"])
    assert tuple(y.shape[:2]) == (c["batch"], c["cout"])


# ---------------------------------------------------------------------------------------------------------
# torch, autograd, layouts, batch sizes


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("padding", ["valid", "same", 2])
@pytest.mark.parametrize("groups", [1, 4])
def test_equals_torch_conv(dims: int, padding: Any, groups: int) -> None:
    x = torch.randn(2, 8, *([11, 9, 7][:dims]))
    w = torch.randn(8, 8 // groups, *([3] * dims))
    b = torch.randn(8)
    for d in (1, 2):
        want = TORCH[dims](x, w, b, 1, padding, d, groups)
        torch.testing.assert_close(OPS[dims](x, w, b, dilation=d, padding=padding, groups=groups), want)


@pytest.mark.parametrize(("dims", "padding", "groups", "stride"), [
    (1, "same", 1, 1), (1, "causal", 2, 1), (1, (2, 0), 1, 2), (2, "same", 2, 1), (2, "causal", 1, 2),
    (3, "same", 1, 1), (3, ((1, 0), 1, "valid"), 2, 1)])
def test_gradcheck(dims: int, padding: Any, groups: int, stride: int) -> None:
    size = {1: (7,), 2: (5, 4), 3: (4, 3, 3)}[dims]
    x = torch.randn(2 if dims == 1 else 1, 2, *size, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 2 // groups, *([2] * dims), dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, requires_grad=True)
    fn = OPS[dims]
    assert torch.autograd.gradcheck(
        lambda x, w, b: fn(x, w, b, stride=stride, dilation=2, padding=padding, groups=groups), (x, w, b))


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("batch", [0, 1])
def test_batch_zero_and_one(dims: int, batch: int) -> None:
    x = torch.randn(batch, 3, *([10, 8, 6][:dims]))
    w = torch.randn(5, 3, *([3] * dims))
    y = OPS[dims](x, w, dilation=2, padding="same")
    assert tuple(y.shape) == (batch, 5, *x.shape[2:])
    if batch:
        torch.testing.assert_close(y, TORCH[dims](x, w, None, 1, 2, 2))


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_non_contiguous_input(dims: int) -> None:
    base = torch.randn(2, *([12, 10, 8][:dims]), 6, dtype=torch.float64)
    x = base.movedim(-1, 1)[..., ::2]          # channels moved in front and every other sample: a strided view
    assert not x.is_contiguous()
    w = torch.randn(4, 3, *([3] * dims), dtype=torch.float64)
    y = OPS[dims](x, w, dilation=2, padding="causal", groups=2)
    close(y, OPS[dims](x.contiguous(), w, dilation=2, padding="causal", groups=2))
    pads = expected_pads((3,) * dims, (2,) * dims, "causal")
    close(y, oracle(x, w, None, (1,) * dims, (2,) * dims, pads, 2))


# ---------------------------------------------------------------------------------------------------------
# Bad input


def test_errors() -> None:
    x, w = torch.randn(1, 4, 10), torch.randn(4, 4, 3)
    with pytest.raises(ConfigError, match="dilated_conv1d: dilation must be a positive int, got 0"):
        dilated_conv1d(x, w, dilation=0)
    with pytest.raises(ConfigError, match="dilated_conv1d: kernel_size must be a positive int, got 0"):
        dilated_conv1d(x, torch.randn(4, 4, 0))
    with pytest.raises(ShapeError, match=r"dilated_conv1d: input must be a 3-D tensor \(B C L\), got shape \(4, 10\)"):
        dilated_conv1d(x[0], w)
    with pytest.raises(ShapeError, match=r"dilated_conv2d: input must be a 4-D tensor \(B C H W\)"):
        dilated_conv2d(x, w)
    with pytest.raises(ShapeError, match=r"dilated_conv3d: weight must be a 5-D tensor"):
        dilated_conv3d(torch.randn(1, 4, 3, 3, 3), torch.randn(4, 4, 3, 3))
    with pytest.raises(ShapeError, match=r"input channels must equal weight.shape\[1\] \* groups = 4 \* 2, got 4"):
        dilated_conv1d(x, w, groups=2)
    with pytest.raises(ShapeError, match="must be divisible by groups=4, got 6"):
        dilated_conv1d(x, torch.randn(6, 1, 3), groups=4)
    with pytest.raises(ConfigError, match="groups must be a positive int, got 0"):
        dilated_conv1d(x, w, groups=0)
    with pytest.raises(ConfigError, match=r"dilated_conv1d: padding must be .*one of same, valid, causal, got 'full'"):
        dilated_conv1d(x, w, padding="full")
    with pytest.raises(ConfigError, match="stride must be a positive int"):
        dilated_conv2d(torch.randn(1, 4, 5, 5), torch.randn(4, 4, 3, 3), stride=(1, 0))
    with pytest.raises(ConfigError, match=r"causal_axis must be a spatial axis in 0\.\.1, got 2"):
        dilated_conv2d(torch.randn(1, 4, 5, 5), torch.randn(4, 4, 3, 3), padding="causal", causal_axis=2)
    with pytest.raises(ShapeError, match=r"bias must be None or a tensor of shape \(4,\), got \(3,\)"):
        dilated_conv1d(x, w, torch.randn(3))
    with pytest.raises(ShapeError, match="dilated_conv1d: input length must be at least 9"):
        dilated_conv1d(x[..., :5], w, dilation=4, padding="valid")


# ---------------------------------------------------------------------------------------------------------
# The fast paths: equal to the plain call, values and gradients


def plain(fn: Any, *args: Any, **kwargs: Any) -> Any:
    old = set_benchmark(False)
    try:
        return fn(*args, **kwargs)
    finally:
        set_benchmark(old)


def grads_of(c: dict[str, Any], x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> list[torch.Tensor]:
    leaves = [t.detach().requires_grad_() for t in (x, w, b) if t is not None]
    y = call(c, *leaves, *([] if b is not None else [None]))  # type: ignore[arg-type]
    y.backward(torch.ones_like(y) + torch.arange(y.numel(), dtype=y.dtype).reshape(y.shape) / y.numel())
    return [y.detach(), *[t.grad for t in leaves]]  # type: ignore[misc]


@st.composite
def fold_configs(draw: Any) -> dict[str, Any]:
    k, d = draw(st.integers(1, 4)), draw(st.integers(2, 9))
    padding = draw(st.one_of(st.sampled_from(["same", "valid", "causal"]), st.integers(0, 5),
                             st.tuples(st.integers(0, 6), st.integers(0, 6))))
    groups = draw(st.sampled_from([1, 2, 4]))
    pads = expected_pads((k,), (d,), padding)
    lo = max(1, (k - 1) * d + 1 - sum(pads[0]))
    return {"dims": 1, "k": (k,), "s": (1,), "d": (d,), "padding": padding, "groups": groups,
            "cout": groups * draw(st.integers(1, 2)), "axis": None, "size": (draw(st.integers(lo, lo + 3 * d)),),
            "batch": draw(st.integers(1, 3)), "bias": draw(st.booleans()), "pads": pads}


@FAST
@given(fold_configs(), st.sampled_from([torch.float32, torch.float64]))
def test_fold2d_equals_plain(c: dict[str, Any], dtype: torch.dtype) -> None:
    x, w, b = make(c, dtype)
    bias = b if c["bias"] else None
    assert "fold2d" in _autotune.candidates(x, w, c["s"], c["d"], tuple(c["pads"]))
    want = plain(grads_of, c, x, w, bias)
    with _autotune.force_path("fold2d"):
        got = grads_of(c, x, w, bias)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    for g, wnt in zip(got, want):
        torch.testing.assert_close(g, wnt, rtol=tol, atol=tol)
    assert got[0].is_contiguous()


@FAST
@given(configs(dims_from=(2, 3), min_batch=1), st.sampled_from([torch.float32, torch.float64]), st.booleans())
def test_channels_last_equals_plain(c: dict[str, Any], dtype: torch.dtype, cl_input: bool) -> None:
    x, w, b = make(c, dtype)
    if cl_input:
        x = x.contiguous(memory_format=torch.channels_last if c["dims"] == 2 else torch.channels_last_3d)
    bias = b if c["bias"] else None
    want = plain(grads_of, c, x, w, bias)
    with _autotune.force_path("channels_last"):
        got = grads_of(c, x, w, bias)
        y = call(c, x, w, bias)
    tol = 1e-12 if dtype == torch.float64 else 1e-4
    for g, wnt in zip(got, want):
        torch.testing.assert_close(g, wnt, rtol=tol, atol=tol)
    # the output is left channels-last, as F.conv*d returns it for channels-last input; the input's gradient
    # comes back in the input's layout
    assert y.stride() == plain(call, c, _layout.to_channels_last(x), w, bias).stride()
    assert got[1].stride() == want[1].stride() or (not cl_input and got[1].is_contiguous())


@pytest.mark.parametrize(("k", "d", "length", "padding"), [
    (3, 4, 32, "same"), (5, 3, 27, "same"), (3, 4, 32, 8), (3, 4, 30, "same"), (2, 4, 32, "same"), (3, 4, 32, 4)])
def test_fold2d_whole_row_padding(k: int, d: int, length: int, padding: Any) -> None:
    # "same" with an odd kernel (or padding a multiple of d) on a length divisible by d pads whole rows of the
    # folded view inside the 2-D conv, without a copy; the other rows of this table take the F.pad branch
    x = torch.randn(2, 3, length, dtype=torch.float64)
    w, b = torch.randn(4, 3, k, dtype=torch.float64), torch.randn(4, dtype=torch.float64)
    with _autotune.force_path("fold2d"):
        y = dilated_conv1d(x, w, b, dilation=d, padding=padding)
    close(y, oracle(x, w, b, (1,), (d,), expected_pads((k,), (d,), padding), 1), tol=1e-12)


@pytest.mark.parametrize("path", ["fold2d", "channels_last"])
def test_fast_paths_gradcheck(path: str) -> None:
    dims = 1 if path == "fold2d" else 2
    x = torch.randn(1, 2, *([11, 5][:dims]), dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 1, *([2] * dims), dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, requires_grad=True)
    with _autotune.force_path(path):
        assert torch.autograd.gradcheck(lambda x, w, b: OPS[dims](x, w, b, dilation=3, padding="causal", groups=2),
                                        (x, w, b), fast_mode=True)


@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (1, 4, 6, 6), (3, 2, 1, 9), (2, 5, 3, 4, 2), (0, 3, 4, 4)])
def test_to_channels_last(shape: tuple[int, ...]) -> None:
    fmt = torch.channels_last if len(shape) == 4 else torch.channels_last_3d
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    y = _layout.to_channels_last(x)
    assert y.shape == x.shape and y.is_contiguous(memory_format=fmt) and torch.equal(y, x)
    if x.numel():
        seed = torch.randn(shape, dtype=torch.float64).contiguous(memory_format=fmt)
        (grad,) = torch.autograd.grad(y, x, seed)
        assert grad.is_contiguous() and torch.equal(grad, seed)      # the gradient in the input's layout
        assert torch.autograd.gradcheck(_layout.to_channels_last, (x,))
        assert torch.autograd.gradgradcheck(_layout.to_channels_last, (x,))
    strided = x.detach().movedim(1, -1).contiguous().movedim(-1, 1)[..., ::2]  # neither layout
    assert torch.equal(_layout.to_channels_last(strided), strided)
    assert _layout.to_channels_last(strided).is_contiguous(memory_format=fmt)
    ready = y.detach()
    assert _layout.to_channels_last(ready) is ready                 # already channels-last: no copy
    with pytest.raises(ShapeError, match=r"to_channels_last: input must be a 4-D \(B C H W\) or 5-D .*got \(2, 3\)"):
        _layout.to_channels_last(torch.randn(2, 3))


@pytest.mark.parametrize("shape", [(1, 3, 700, 701), (3, 64, 73, 75), (2, 5, 70, 41, 43)])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_to_channels_last_large_on_threads(shape: tuple[int, ...], threads: int) -> None:
    """Above ``_PARALLEL_MIN`` elements the transposes run on a thread pool, by sample or by column range."""
    assert int(np.prod(shape)) >= _layout._PARALLEL_MIN
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        x = torch.randn(*shape)
        fmt = torch.channels_last if len(shape) == 4 else torch.channels_last_3d
        y = _layout.to_channels_last(x)
        assert y.is_contiguous(memory_format=fmt) and torch.equal(y, x)
        back = _layout._nhwc_to_nchw(y)
        assert back.is_contiguous() and torch.equal(back, x)
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def two_threads() -> Iterator[None]:
    """The transposes use a pool only with two or more torch threads (other tests may have left one)."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("mode", ["no_grad", "inference", "grad"])
def test_large_conversion_in_every_grad_mode(mode: str, two_threads: None) -> None:
    """The worker threads copy in the caller's mode (grad and inference mode are per thread)."""
    x = torch.randn(2, 64, 96, 96, dtype=torch.float64)
    w = torch.randn(8, 64, 3, 3, dtype=torch.float64)
    want = F.conv2d(x, w, None, 1, 12, 12)
    with _autotune.force_path("channels_last"):
        if mode == "grad":
            xg = x.clone().requires_grad_()
            y = dilated_conv2d(xg, w, dilation=12, padding=12)
            seed = torch.randn_like(want)
            y.backward(seed)
            xr = x.clone().requires_grad_()
            F.conv2d(xr, w, None, 1, 12, 12).backward(seed)
            assert xg.grad is not None and xg.grad.is_contiguous()
            torch.testing.assert_close(xg.grad, xr.grad)   # the gradient came back through the threaded transpose
        else:
            ctx = torch.no_grad() if mode == "no_grad" else torch.inference_mode()
            with ctx:
                y = dilated_conv2d(x, w, dilation=12, padding=12)
    torch.testing.assert_close(y.detach(), want)


def test_transpose_pool_is_remade_after_fork(monkeypatch: pytest.MonkeyPatch, two_threads: None) -> None:
    """A forked child (a DataLoader worker) must not reuse the parent's pool, whose threads it does not have."""
    pool = _layout._workers()
    assert pool is not None and _layout._workers() is pool
    monkeypatch.setattr(_layout.os, "getpid", lambda: -1)
    assert _layout._workers() is not pool
    monkeypatch.undo()
    assert _layout._workers() is not pool   # back in the "parent": a pool of its own again, never the child's
    current = _layout._workers()
    torch.set_num_threads(3)                  # another thread count: a new pool, the old one shut down
    assert _layout._workers() is not current and current is not None and current._shutdown


def test_candidates() -> None:
    x1, w1 = torch.randn(1, 2, 20), torch.randn(2, 2, 3)
    assert _autotune.candidates(x1, w1, (1,), (4,), ((8, 0),)) == ["fold2d"]
    assert _autotune.candidates(x1, w1, (2,), (4,), ((8, 0),)) == []      # strided: no fold
    assert _autotune.candidates(x1, w1, (1,), (1,), ((1, 1),)) == []      # undilated: nothing to fold
    x2, w2 = torch.randn(1, 2, 9, 9), torch.randn(2, 2, 3, 3)
    assert _autotune.candidates(x2, w2, (1, 1), (6, 6), ((6, 6),) * 2) == ["channels_last"]
    x2 = x2.contiguous(memory_format=torch.channels_last)
    assert _autotune.candidates(x2, w2, (1, 1), (6, 6), ((6, 6),) * 2) == []  # already in the fast layout


# ---------------------------------------------------------------------------------------------------------
# Measuring once, caching, the switch


@pytest.fixture
def measure_everything(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Measure even tiny convolutions, and count the measurements."""
    monkeypatch.setattr(_autotune, "_MIN_WORK", 0)
    monkeypatch.setattr(_autotune, "_BUDGET_S", 0.0)
    calls: list[int] = []
    real = _autotune._measure

    def counting(*args: Any) -> dict[str, list[float]]:
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(_autotune, "_measure", counting)
    return calls


def test_measures_once_per_configuration(measure_everything: list[int]) -> None:
    x, w = torch.randn(2, 4, 64), torch.randn(4, 4, 3)
    y = dilated_conv1d(x, w, dilation=4)
    assert len(measure_everything) == 1
    (entry,) = chosen_paths()
    assert entry["op"] == "conv1d" and entry["dilation"] == [4] and entry["padding"] == [[4, 4]]
    assert entry["path"] in ("plain", "fold2d") and set(entry["times_ms"]) == {"plain", "fold2d"}
    assert entry["backward"] is False
    want = F.conv1d(x.double(), w.double(), None, 1, 4, 4)
    assert_within(y, want, float32_tolerance(4 * 3, F.conv1d(x.double().abs(), w.double().abs(), None, 1, 4, 4)))
    dilated_conv1d(torch.randn(2, 4, 64), w, dilation=4)            # same configuration: cached
    assert len(measure_everything) == 1
    dilated_conv1d(x, w, dilation=8)                                  # a new one: measured
    wg = w.clone().requires_grad_()
    dilated_conv1d(x, wg, dilation=4)                                 # training is another configuration
    assert len(measure_everything) == 3
    assert [e["backward"] for e in chosen_paths()] == [False, False, True]
    assert wg.grad is None   # measuring the backward pass never touches the caller's tensors
    dilated_conv1d(x, w, dilation=1)                                  # no alternative applies: nothing to measure
    assert len(measure_everything) == 3
    clear_chosen_paths()
    assert chosen_paths() == []


@pytest.mark.parametrize(("times", "path"), [
    ({"plain": [1.0, 1.1, 0.9], "fold2d": [0.5, 0.6, 0.5]}, "fold2d"),
    ({"plain": [1.0, 1.0, 1.0], "fold2d": [0.95, 0.9, 0.97]}, "plain"),   # within the margin
    ({"plain": [1.0, 1.0, 1.0], "fold2d": [0.5, 0.5, 1.2]}, "plain"),     # lost one round of three: no
    ({"plain": [1.0] * 6, "fold2d": [0.8, 0.8, 0.85, 0.8, 0.8, 1.05]}, "fold2d"),  # one of six: a noisy round
    ({"plain": [1.0] * 6, "fold2d": [0.8, 0.8, 0.85, 0.8, 1.05, 1.05]}, "plain"),  # two of six: no
    ({"plain": [1.0] * 7, "fold2d": [0.8] * 6 + [1.3]}, "fold2d"),
    ({"plain": [1.0, 1.0, 1.0], "fold2d": [1.5, 1.4, 1.6]}, "plain")])
def test_choice_needs_a_clear_win(monkeypatch: pytest.MonkeyPatch, times: dict[str, list[float]],
                                  path: str) -> None:
    monkeypatch.setattr(_autotune, "_MIN_WORK", 0)
    monkeypatch.setattr(_autotune, "_measure", lambda *args: times)
    x, w = torch.randn(1, 2, 40), torch.randn(2, 2, 3)
    y = dilated_conv1d(x, w, dilation=5, padding="causal")
    (entry,) = chosen_paths()
    assert entry["path"] == path
    assert entry["speedup"] == pytest.approx(float(np.median(times["plain"]) / np.median(times[path])))
    torch.testing.assert_close(y, plain(dilated_conv1d, x, w, dilation=5, padding="causal"))


def test_switch_and_small_tensors(measure_everything: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    x, w = torch.randn(2, 4, 64), torch.randn(4, 4, 3)
    assert set_benchmark(False) is True and not benchmark_enabled()
    dilated_conv1d(x, w, dilation=4)
    assert measure_everything == [] and chosen_paths() == []
    set_benchmark(True)
    monkeypatch.setattr(_autotune, "_MIN_WORK", 10**9)    # a small conv: the plain call, nothing measured
    dilated_conv1d(x, w, dilation=4)
    assert measure_everything == [] and chosen_paths() == []
    with pytest.raises(ConfigError, match="set_benchmark: enabled must be True or False, got 1"):
        set_benchmark(1)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="force_path: name must be one of plain, fold2d, channels_last"):
        with _autotune.force_path("im2col"):
            pass


def test_no_measuring_under_function_modes_or_tracing(measure_everything: list[int]) -> None:
    x, w = torch.randn(2, 4, 64), torch.randn(4, 4, 3)
    seen: list[str] = []

    class Spy(TorchFunctionMode):
        def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            seen.append(getattr(func, "__name__", ""))
            return func(*args, **(kwargs or {}))

    with Spy():
        dilated_conv1d(x, w, dilation=4)
    assert "conv1d" in seen and "conv2d" not in seen          # the plain call, which analysis can rewrite
    assert measure_everything == []

    gm = torch.fx.symbolic_trace(lambda x: dilated_conv1d(x, w, dilation=4))
    calls = [n.target for n in gm.graph.nodes if n.op == "call_function"]
    assert calls == [dilated_conv1d]
    torch.testing.assert_close(gm(x), plain(dilated_conv1d, x, w, dilation=4))


def test_environment_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    for value, want in (("0", False), ("off", False), ("1", True), (" on", True), ("", False)):
        monkeypatch.setenv("ATROUS_CONV_BENCHMARK", value)
        assert _layout.env_default("ATROUS_CONV_BENCHMARK", False) is want
    monkeypatch.delenv("ATROUS_CONV_BENCHMARK")
    assert _layout.env_default("ATROUS_CONV_BENCHMARK", False) is False  # off by default: see docs/benchmarks_conv.md
    auto = "ATROUS_CONV_AUTO_CHANNELS_LAST"
    for value, want in (("0", False), ("no", False), ("1", True), ("", True)):
        monkeypatch.setenv(auto, value)
        assert _layout.env_default(auto, True) is want
    monkeypatch.delenv(auto)
    assert _layout.env_default(auto, True) is True   # the automatic 2-D layout is on by default


# ---------------------------------------------------------------------------------------------------------
# The automatic channels-last layout (the default): measured only where NCHW may fall back to im2col


@pytest.fixture
def auto_only() -> Iterator[None]:
    """The library's defaults: measuring everything off, the automatic channels-last layout on."""
    old = set_benchmark(False), _layout.set_auto_channels_last(True)
    yield
    set_benchmark(old[0])
    _layout.set_auto_channels_last(old[1])


def test_auto_measures_only_large_symmetric_2d_padding(measure_everything: list[int], auto_only: None) -> None:
    x, w = torch.randn(2, 4, 20, 20), torch.randn(4, 4, 3, 3)
    dilated_conv2d(x, w, dilation=6)                                   # padding 6: no cliff, plain, unmeasured
    dilated_conv2d(x, w, dilation=8, padding="causal")                # asymmetric: torch pads with F.pad first
    dilated_conv2d(x.double(), w.double(), dilation=8)                # float64 never runs in oneDNN
    dilated_conv2d(x.contiguous(memory_format=torch.channels_last), w, dilation=8)   # already channels-last
    dilated_conv1d(torch.randn(2, 4, 64), torch.randn(4, 4, 3), dilation=8)          # 1-D: only set_benchmark
    dilated_conv3d(torch.randn(1, 4, 20, 20, 20), torch.randn(4, 4, 3, 3, 3), dilation=8)
    assert measure_everything == [] and chosen_paths() == []
    dilated_conv2d(x, w, dilation=(1, 7))                              # padding (1, 1), (7, 7): measured
    dilated_conv2d(x, w, dilation=3, padding=7)
    assert len(measure_everything) == 2
    assert [set(e["times_ms"]) for e in chosen_paths()] == [{"plain", "channels_last"}] * 2
    old = _layout.set_auto_channels_last(False)
    assert old is True and not _layout.auto_channels_last_enabled()
    dilated_conv2d(x, w, dilation=9)
    _layout.set_auto_channels_last(True)
    torch.use_deterministic_algorithms(True)
    try:
        dilated_conv2d(x, w, dilation=10)        # a timing-dependent choice is no deterministic algorithm
    finally:
        torch.use_deterministic_algorithms(False)
    assert len(measure_everything) == 2
    with pytest.raises(ConfigError, match="set_auto_channels_last: enabled must be True or False, got 'on'"):
        _layout.set_auto_channels_last("on")  # type: ignore[arg-type]


@pytest.fixture
def channels_last_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every configuration is measurable, and channels-last is measured clearly faster."""
    monkeypatch.setattr(_autotune, "_MIN_WORK", 0)
    monkeypatch.setattr(_autotune, "_measure", lambda names, *args: {
        n: [1.0 if n == "plain" else 0.5] * 3 for n in names})


@pytest.mark.parametrize(("batch", "dilation", "padding", "groups", "bias", "layout"), [
    (2, 7, "same", 1, True, "contiguous"), (1, 12, "same", 2, False, "contiguous"), (3, (8, 2), 9, 1, True, "strided"),
    (2, 12, 12, 4, True, "strided")])
def test_auto_channels_last_equals_plain_and_oracle(channels_last_wins: None, auto_only: None, batch: int,
                                                    dilation: Any, padding: Any, groups: int, bias: bool,
                                                    layout: str) -> None:
    g = torch.Generator().manual_seed(batch)
    base = torch.randn(batch, 11, 10, 4, generator=g)
    x = base.movedim(-1, 1)[:, :, :9]                 # channels in front, one row cut: neither layout
    x = x.contiguous() if layout == "contiguous" else x
    w = torch.randn(8, 4 // groups, 3, 3, generator=g)
    b = torch.randn(8, generator=g) if bias else None
    y = dilated_conv2d(x, w, b, dilation=dilation, padding=padding, groups=groups)
    (entry,) = chosen_paths()
    assert entry["path"] == "channels_last" and entry["layout"] == layout
    assert y.is_contiguous(memory_format=torch.channels_last) and not y.is_contiguous()
    d = per_axis(dilation, 2)
    torch.testing.assert_close(y, F.conv2d(x, w, b, 1, padding if isinstance(padding, int) else d, d, groups))
    close(y, oracle(x, w, b, (1, 1), d, expected_pads((3, 3), d, padding), groups), tol=1e-4)
    # gradients: every leaf's, in float32 against the plain call, and in float64 by gradcheck
    c = {"dims": 2, "s": (1, 1), "d": d, "padding": padding, "groups": groups, "axis": None}
    got, want = grads_of(c, x, w, b), plain(grads_of, c, x, w, b)
    for a, e in zip(got, want):
        torch.testing.assert_close(a, e, rtol=1e-4, atol=1e-4)
    assert got[1].is_contiguous() and len(chosen_paths()) == 2          # x's gradient in the caller's layout
    x64, w64 = x.double().requires_grad_(), w.double().requires_grad_()
    with _autotune.force_path("channels_last"):
        assert torch.autograd.gradcheck(lambda x, w: dilated_conv2d(x, w, dilation=dilation, padding=padding,
                                                                    groups=groups), (x64, w64), fast_mode=True)


def test_auto_channels_last_keeps_plain_when_not_faster(monkeypatch: pytest.MonkeyPatch, auto_only: None) -> None:
    monkeypatch.setattr(_autotune, "_MIN_WORK", 0)
    monkeypatch.setattr(_autotune, "_measure", lambda names, *args: {
        n: [1.0, 1.0, 1.0] if n == "plain" else [0.8, 0.85, 1.05] for n in names})    # lost one round
    x, w = torch.randn(2, 4, 20, 20), torch.randn(4, 4, 3, 3)
    y = dilated_conv2d(x, w, dilation=12)
    assert [e["path"] for e in chosen_paths()] == ["plain"] and y.is_contiguous()
    assert torch.equal(y, F.conv2d(x, w, None, 1, 12, 12))


def test_conv_path(channels_last_wins: None, auto_only: None) -> None:
    from atrous.functional.conv import conv_path

    x, w = torch.randn(2, 4, 20, 20), torch.randn(4, 4, 3, 3)
    assert conv_path(x, w, dilation=12) == "channels_last" and len(chosen_paths()) == 1
    assert dilated_conv2d(x, w, dilation=12).is_contiguous(memory_format=torch.channels_last)
    assert len(chosen_paths()) == 1                                    # the conv took the cached choice
    assert conv_path(x, w, dilation=2) == "plain"
    assert conv_path(x.contiguous(memory_format=torch.channels_last), w, dilation=12) == "plain"
    assert conv_path(x, torch.randn(4, 3, 3, 3), dilation=12) == "plain"   # would raise in the conv
    assert conv_path(x, w, dilation=0) == "plain"
    assert conv_path(x[0], w, dilation=12) == "plain"
    with _autotune.force_path("plain"):
        assert conv_path(x, w, dilation=12) == "plain"


def float32_tolerance(terms: int, abs_sum: torch.Tensor) -> torch.Tensor:
    """How far a float32 sum of ``terms`` products may stray from the exact value, per element: a blocked or
    pairwise summation (oneDNN, the GEMM behind the 1-D fold) errs by about sqrt(terms) roundings of the sum of
    the terms' magnitudes; a factor 8 covers the constant. A wrong tap or padding errs by whole terms, far above."""
    return 8 * terms ** 0.5 * torch.finfo(torch.float32).eps * abs_sum


def conv1d_and_weight_grad(x: torch.Tensor, w: torch.Tensor, path: str | None) -> tuple[torch.Tensor, ...]:
    """``y = conv(x, w)`` (dilation 16, causal) and ``d sum(y) / dw``, on ``path`` (None: the measured choice)."""
    w = w.detach().clone().requires_grad_()
    if path is None:
        y = dilated_conv1d(x, w, dilation=16, padding="causal")
    else:
        with _autotune.force_path(path):
            y = dilated_conv1d(x, w, dilation=16, padding="causal")
    y.sum().backward()
    assert w.grad is not None
    return y.detach(), w.grad


def reference_and_bounds(x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The float64 values and weight gradient, and their float32 error bounds: the terms' magnitudes are the
    same computation on |x| and |w| (both are sums of products)."""
    y, g = conv1d_and_weight_grad(x.double(), w.double(), "plain")
    y_abs, g_abs = conv1d_and_weight_grad(x.double().abs(), w.double().abs(), "plain")
    c_in, k = w.shape[1:]
    batch, _, length = x.shape
    return y, g, float32_tolerance(c_in * k, y_abs), float32_tolerance(batch * length, g_abs)


def assert_within(got: torch.Tensor, want: torch.Tensor, bound: torch.Tensor) -> None:
    err = (got.double() - want).abs()
    worst = int(torch.argmax(err - bound))
    assert bool((err <= bound).all()), (f"error {err.flatten()[worst].item():.3g} above the float32 bound "
                                        f"{bound.flatten()[worst].item():.3g}")


@pytest.mark.parametrize("path", ["plain", "fold2d"])
def test_each_1d_path_on_a_real_size_matches_float64(path: str) -> None:
    """Each path, forced, against a float64 reference: the verdict does not depend on which path timing picks."""
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(4, 32, 8192, generator=g), torch.randn(32, 32, 3, generator=g)
    y_ref, g_ref, y_bound, g_bound = reference_and_bounds(x, w)
    y, gw = conv1d_and_weight_grad(x, w, path)
    assert_within(y, y_ref, y_bound)
    assert_within(gw, g_ref, g_bound)
    assert chosen_paths() == []                      # forced: nothing measured


def test_measured_choice_on_a_real_size_is_an_allowed_path() -> None:
    # large enough to be measured for real: whichever path wins, it is one of the candidates and its values and
    # gradients are within float32 rounding of the float64 reference
    g = torch.Generator().manual_seed(1)
    x, w = torch.randn(4, 32, 8192, generator=g), torch.randn(32, 32, 3, generator=g)
    y, gw = conv1d_and_weight_grad(x, w, None)
    entries = chosen_paths()
    assert [e["input_shape"] for e in entries] == [[4, 32, 8192]]
    assert entries[0]["path"] in ("plain", "fold2d") and set(entries[0]["times_ms"]) == {"plain", "fold2d"}
    y_ref, g_ref, y_bound, g_bound = reference_and_bounds(x, w)
    assert_within(y, y_ref, y_bound)
    assert_within(gw, g_ref, g_bound)


def test_shared_input_is_measured_apart(measure_everything: list[int], auto_only: None) -> None:
    """ASPP's question (channels-last after one shared conversion) is measured for real, forward and forward +
    backward, and cached apart from the convolution's own choice."""
    from atrous.functional.conv import conv_path

    x, w = torch.randn(2, 4, 20, 20), torch.randn(4, 4, 3, 3, requires_grad=True)
    with torch.no_grad():
        assert conv_path(x, w, dilation=12, shared_input=True) in ("plain", "channels_last")
        dilated_conv2d(x, w, dilation=12)
    conv_path(x, w, dilation=12, shared_input=True)                   # training: a configuration of its own
    assert w.grad is None and len(measure_everything) == 3
    assert [(e["shared_input"], e["backward"]) for e in chosen_paths()] == [(True, False), (False, False),
                                                                          (True, True)]
    assert all(set(e["times_ms"]) == {"plain", "channels_last"} for e in chosen_paths())


def test_a_padding_that_would_fill_the_ram_is_refused_before_it_is_allocated() -> None:
    from atrous._validate import physical_memory

    x, w = torch.randn(1, 1, 10), torch.randn(1, 1, 3)
    if physical_memory() / 2 >= 16e9:
        pytest.skip("this machine could hold the 16 GB")
    with pytest.raises(ConfigError, match=r"^dilated_conv1d: padding must need at most .* of memory, got 1000000000 "
                                          r"\(estimated 16 GB\); the padded input and the output"):
        dilated_conv1d(x, w, padding=10**9)
    # a padding larger than the input that fits is still computed, as torch computes it
    torch.testing.assert_close(dilated_conv1d(x, w, padding=50), F.conv1d(x, w, padding=50))
