"""Op mappings that make a new receptive-field node: convolutions, pooling, adaptive pooling, resizes at any
ratio (:func:`rational_layer`), padding, rolling and max-unpooling."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import torch

from atrous.analysis._mapping import (
    MAX_PERIOD,
    Context,
    _describe,
    _dim,
    _need,
    _shape,
    mix,
    slot_axes,
    slot_layout,
)
from atrous.analysis.values import Val

# ------------------------------------------------------------------------------------------- spatial


def _per_axis(v: Any, n: int, default: int) -> list[int]:
    if v is None or (isinstance(v, (list, tuple)) and len(v) == 0):
        return [default] * n
    if isinstance(v, int):
        return [v] * n
    v = [int(x) for x in v]
    return v if len(v) == n else [v[0]] * n


def _conv(ctx: Context, args: list[Any], kwargs: dict[str, Any], out: Any) -> Any:
    x, w = args[0], args[1]
    x = _need(ctx, x)
    n = x.rank - 2
    stride, padding, dilation = _per_axis(args[3], n, 1), _per_axis(args[4], n, 0), _per_axis(args[5], n, 1)
    transposed = bool(args[6])
    output_padding = _per_axis(args[7], n, 0)
    k = [int(s) for s in _weight_shape(ctx, w, out)[2:]]
    x, axes = slot_axes(ctx, x, mixes_channels=True)
    x = mix(ctx, x, [1], "mixes channels that hold a spatial axis")
    shape = _shape(out)
    layout = slot_layout(x, axes, shape, channels=shape[1])
    per_axis = {}
    for j, a in enumerate(axes):
        if a is None:
            continue
        if transposed:
            lo = (k[j] - 1) * dilation[j] - padding[j]
            per_axis[a] = (k[j], 1, dilation[j], (lo, lo + output_padding[j]), stride[j])
        else:
            per_axis[a] = (k[j], stride[j], dilation[j], (padding[j], padding[j]), 1)
    y = ctx.axis_layer(x, per_axis, "conv_transpose" if transposed else "conv", layout)
    if isinstance(w, Val):  # a weight computed from the input (dynamic convolution)
        y = ctx.merge([y, w], "mul", layout)
    return y


def _weight_shape(ctx: Context, w: Any, out: Any) -> tuple[int, ...]:
    raw = ctx.raw[0][1] if len(ctx.raw[0]) > 1 else None
    if isinstance(raw, torch.Tensor):
        return tuple(int(n) for n in raw.shape)
    raise ctx.unsupported("the weight's shape is unknown")


def _pool(ctx: Context, args: list[Any], kwargs: dict[str, Any], out: Any) -> Any:
    x = _need(ctx, args[0])
    is_max = ctx.op.startswith("max")
    n = int(ctx.op[len("max_pool") if is_max else len("avg_pool")])
    k = _per_axis(args[1], n, 1)
    stride = _per_axis(args[2] if len(args) > 2 else None, n, 0)
    stride = [s or kk for s, kk in zip(stride, k)]
    padding = _per_axis(args[3] if len(args) > 3 else 0, n, 0)
    dilation = _per_axis(args[4] if is_max and len(args) > 4 else 1, n, 1)
    ceil = bool(args[5] if is_max and len(args) > 5 else (args[4] if not is_max and len(args) > 4 else False))
    x, axes = slot_axes(ctx, x, x.rank - n)
    shape = _shape(out[0] if isinstance(out, (tuple, list)) else out)
    layout = slot_layout(x, axes, shape)
    per_axis = {a: (k[j], stride[j], dilation[j], (padding[j], padding[j]), 1) for j, a in enumerate(axes)
                if a is not None}
    y = ctx.axis_layer(x, per_axis, "maxpool" if is_max else "avgpool", layout, ceil_mode=ceil)
    return (y, y) if isinstance(out, (tuple, list)) else y


def rational_layer(length: int, out: int, mode: str, align_corners: bool | None, scale: float | None = None,
                   max_period: int = MAX_PERIOD) -> tuple[tuple[int, int, int, tuple[int, int], int], bool]:
    """One axis of a resize (or adaptive pooling) from ``length`` to ``out`` samples as an exact periodic layer:
    ``(kernel, stride, dilation, (left, right), upsample)`` on the grid with ``upsample - 1`` zeros between
    inputs, and whether it is exact. ``mode``: ``nearest``, ``nearest-exact``, ``linear``, ``cubic`` or
    ``adaptive`` (windows ``[floor(i L / n), ceil((i + 1) L / n))``).

    Output ``o`` sits at input coordinate ``x(o) = o * p / q + c`` for the reduced ratio ``p / q``; on a grid
    ``m q`` times finer (``m`` = 2 when ``c`` is a half-integer multiple of ``1 / q``) it is an integer, so the
    samples each output reads form a fixed window that moves by ``m p`` per output: exact at every phase. When
    that period is longer than ``max_period``, the nearest ratio with a power-of-two period is used and the
    window is widened by the largest drift between the two over the ``out`` outputs: a sound bound (exact is
    False).

    >>> rational_layer(8, 3, "adaptive", None)    # windows of 3, 4, 3 inputs: p/q = 8/3
    ((10, 8, 1, (2, 2), 3), True)
    >>> rational_layer(4, 8, "linear", False)     # x2 linear: output o at (2 o - 1) / 4, on a grid 4 times finer
    ((7, 2, 1, (4, 4), 4), True)
    """
    if mode == "adaptive":
        ratio = Fraction(length, out)
    elif align_corners:
        ratio = Fraction(length - 1, out - 1) if out > 1 else Fraction(0)
    else:
        ratio = Fraction(1 / scale).limit_denominator(10**6) if scale else Fraction(length, out)
    if ratio == 0:
        return (1, 1, 1, (0, 0), 1), True
    fine = 1 if mode == "adaptive" or align_corners or mode == "nearest" else 2
    exact_period = ratio.denominator * fine <= max_period
    near = ratio if exact_period else _power_of_two_ratio(ratio, max(1, max_period // fine))
    widen = 0 if exact_period else math.ceil((out + 1) * abs(float(ratio - near)) * near.denominator * fine) + 1
    k, stride, left, grid, exact = _window(near, mode, align_corners)
    return _fit(length, out, k + 2 * widen, stride, left + widen, grid), exact and exact_period


def _power_of_two_ratio(ratio: Fraction, most: int) -> Fraction:
    """The nearest ratio whose denominator is a power of two up to ``most`` (or ``1 / 2^k`` for a large
    upsampling): the periods of such approximations divide each other, so branches merged later (a pyramid
    pooling module's 1, 2, 3, 6 bins upsampled back) do not multiply their periods."""
    den = 1 << (most.bit_length() - 1)
    near = Fraction(round(ratio * den), den)
    if near == 0:
        near = Fraction(1, 1 << round(math.log2(1 / ratio)))
    return near


def _window(ratio: Fraction, mode: str, align_corners: bool | None) -> tuple[int, int, int, int, bool]:
    """Kernel, stride, left padding and grid of the periodic layer for ``ratio = p / q``."""
    p, q = ratio.numerator, ratio.denominator
    if mode == "adaptive":  # j reads iff j q lies in [i p - q + 1, i p + p - 1]
        return p + q - 1, p, q - 1, q, True
    if align_corners:
        m, shift = 1, 0
    elif mode == "nearest":
        m, shift = 1, 0
    elif mode == "nearest-exact":  # floor((o + 1/2) p / q) = floor((2 o p + p) / 2 q)
        m, shift = 2, p
    else:  # x(o) = (o + 1/2) p / q - 1/2 = (2 o p + p - q) / (2 q)
        m, shift = 2, p - q
    grid = m * q  # inputs sit at multiples of `grid`; output o at m o p + shift
    if mode in ("nearest", "nearest-exact"):
        return grid, m * p, grid - 1 - shift, grid, True  # the input at or below the position
    reach = {"linear": 1, "cubic": 2}[mode]
    exact = mode != "cubic" or all((m * o * p + shift) % grid for o in range(grid))
    # inputs strictly closer than `reach`; for cubic, an integer position reads only itself (a bound there)
    return 2 * reach * grid - 1, m * p, reach * grid - 1 - shift, grid, exact


def _fit(length: int, out: int, k: int, stride: int, left: int, up: int) -> tuple[
        int, int, int, tuple[int, int], int]:
    """Right padding that makes the layer's output length ``out`` exactly."""
    zero_inserted = (length - 1) * up + 1
    right = (out - 1) * stride + k - zero_inserted - left
    return (k, stride, 1, (left, right), up)


_RESIZE_MODES = {"upsample_nearest": "nearest", "_upsample_nearest_exact": "nearest-exact",
                 "upsample_linear": "linear", "upsample_bilinear": "linear", "upsample_trilinear": "linear",
                 "upsample_bicubic": "cubic", "_upsample_bilinear2d_aa": "linear-aa",
                 "_upsample_bicubic2d_aa": "cubic-aa"}


def _resize(ctx: Context, args: list[Any], kwargs: dict[str, Any], out: Any) -> Any:
    x = _need(ctx, args[0])
    base = ctx.op.rstrip("123d").rstrip("_") if not ctx.op.endswith("_aa") else ctx.op
    mode = _RESIZE_MODES.get(base, _RESIZE_MODES.get(ctx.op[:-2], "nearest"))
    n = x.rank - 2
    rest = list(args[2:])
    align = bool(rest.pop(0)) if mode not in ("nearest", "nearest-exact") and rest else None
    scales = [rest[j] if j < len(rest) else None for j in range(n)]
    return _resize_axes(ctx, x, mode, align, scales, out)


def _resize_axes(ctx: Context, x: Val, mode: str, align: bool | None, scales: list[Any], out: Any) -> Val:
    x, axes = slot_axes(ctx, x)
    shape = _shape(out)
    n = len(axes)
    per_axis = {}
    why: list[str] = []
    if mode.endswith("-aa"):
        raise ctx.unsupported("antialiased resizing widens its kernel with the scale")
    layout = slot_layout(x, axes, shape)
    globals_ = []
    for j, a in enumerate(axes):
        if a is None:
            continue
        length, o = x.shape[2 + j], shape[2 + j]
        if length == o:
            continue
        if length == 1:  # a single value spread over the axis: a global context broadcast
            continue
        if o == 1 and mode == "adaptive":
            globals_.append(a)
            continue
        scale = scales[j] if j < len(scales) else None
        spec, ok = rational_layer(length, o, mode, align, float(scale) if scale else None, ctx.max_period)
        if not ok:
            why.append(f"axis {a} ({length} -> {o})")
        if align:  # stride (length - 1) / (o - 1): at another input size, the same scale gives another ratio,
            # even where this one is a whole fraction (8 -> 64: 1/9 here, 15/127 at 16 -> 128)
            ctx.result.size_dependent.append(f"{ctx.op} in {ctx.where} (align_corners=True, {length} -> {o})")
            ctx.note(f"{ctx.op} in {ctx.where} uses align_corners=True: its stride ({length - 1}/{o - 1}) depends "
                     "on the input size; the field is exact at this size and differs at others")
        per_axis[a] = spec
    if globals_:
        return mix(ctx, x, [2 + axes.index(a) for a in globals_], "pools a whole axis", layout, reduces=True)
    if why:
        ctx.bound(f"on {', '.join(why)} the window encloses the reads (a ratio that repeats only after more "
                  f"than {ctx.max_period} outputs, or bicubic weights that vanish at integer positions)")
    if n and any(spec[4] > 1 for spec in per_axis.values()):
        ctx.note(f"{ctx.op} in {ctx.where} resizes by a fractional ratio: the receptive field after it depends on "
                 "the output unit's phase")
    return ctx.axis_layer(x, per_axis, "avgpool" if mode == "adaptive" else "resize", layout)


def _adaptive(ctx: Context, args: list[Any], kwargs: dict[str, Any], out: Any) -> Any:
    x = _need(ctx, args[0])
    first = out[0] if isinstance(out, (tuple, list)) else out
    y = _resize_axes(ctx, x, "adaptive", None, [], first)
    if any(v > 1 for v in x.shape[2:]) and _shape(first)[2:] != x.shape[2:]:
        ctx.note(f"{ctx.op} in {ctx.where} depends on the input size: it pools {list(x.shape[2:])} to "
                 f"{list(_shape(first)[2:])}")
        if isinstance(y, Val) and y.node != x.node and any(o > 1 for o in _shape(first)[2:]):
            ctx.result.fixed_size_pools.add(y.node)
    return (y, y) if isinstance(out, (tuple, list)) else y


def _pad(ctx: Context, args: list[Any], kwargs: dict[str, Any], out: Any) -> Any:
    x = _need(ctx, args[0])
    pads = [int(p) for p in args[1]]
    shape = _shape(out)
    per_axis = {}
    layout = x.layout
    for i in range(0, len(pads), 2):
        d = x.rank - 1 - i // 2
        left, right = pads[i], pads[i + 1]
        factors = x.layout.spatial_in(d)
        if not factors:
            layout = layout.resize(d, shape[d])
            continue
        tag = factors[0][0]
        if len(x.layout.dims[d]) != 1 or tag is None or tag[0] != "s":
            raise ctx.unsupported(f"it pads dimension {d}, which holds {_describe(x.layout.dims[d])}")
        layout = layout.resize(d, shape[d])
        if left or right:
            per_axis[tag[1]] = (1, 1, 1, (left, right), 1)
    if any(v < 0 for spec in per_axis.values() for v in spec[3]):
        return ctx.axis_layer(x, per_axis, "crop", layout)
    if ctx.op.startswith("reflection") or ctx.op.startswith("replication"):
        ctx.note(f"{ctx.op} in {ctx.where}: border samples are mirrored or repeated; the receptive field is for an "
                 "interior unit")
    return ctx.axis_layer(x, per_axis, "conv", layout)


def _roll(ctx: Context, args: list[Any], kwargs: dict[str, Any], out: Any) -> Any:
    x = _need(ctx, args[0])
    shifts = _per_axis(args[1], 1, 0) if isinstance(args[1], int) else [int(s) for s in args[1]]
    dims = [_dim(int(d), x.rank) for d in (args[2] if len(args) > 2 else [])]
    if not dims:
        raise ctx.unsupported("it rolls the flattened tensor")
    per_axis = {}
    for s, d in zip(shifts, dims):
        factors = x.layout.spatial_in(d)
        if not factors:
            continue
        tag = factors[0][0]
        if len(x.layout.dims[d]) != 1 or tag is None or tag[0] != "s":
            raise ctx.unsupported(f"it rolls dimension {d}, which holds {_describe(x.layout.dims[d])}")
        per_axis[tag[1]] = (1, 1, 1, (s, -s), 1)
    if per_axis:
        ctx.note(f"{ctx.op} in {ctx.where} shifts positions cyclically; the receptive field is for an interior unit")
    return ctx.axis_layer(x, per_axis, "crop", x.layout)


def _unpool(ctx: Context, args: list[Any], kwargs: dict[str, Any], out: Any) -> Any:
    x = _need(ctx, args[0])
    shape = _shape(out)
    per_axis = {}
    x, axes = slot_axes(ctx, x)
    layout = slot_layout(x, axes, shape)
    for j, a in enumerate(axes):
        if a is None:
            continue
        length, o = x.shape[2 + j], shape[2 + j]
        if o % length:
            raise ctx.unsupported(f"it unpools {length} to {o}, not an integer ratio")
        r = o // length
        if r > 1:
            per_axis[a] = (r, 1, 1, (r - 1, r - 1), r)
    indices = args[1]
    if per_axis:
        ctx.bound("where each value lands depends on the data (the argmax of its pooling window); the field is "
                  "the union over every possible position")
    y = ctx.axis_layer(x, per_axis, "resize", layout)
    if isinstance(indices, Val) and indices.node != x.node:
        y = ctx.merge([y, Val(indices.node, layout)], "add", layout)
    return y

