"""Op mappings that keep the node or merge nodes: pointwise ops, views and permutes, channel selections and
splits, concatenation; and the mixing ops (reductions, softmax, cumulative sums, normalisation statistics, matrix
products, attention), global where the dimensions they mix hold positions."""

from __future__ import annotations

import math
from typing import Any

import torch

from atrous import rf
from atrous.analysis._mapping import (
    Context,
    _describe,
    _dim,
    _dims,
    _need,
    _reshape,
    _shape,
    _vals,
    combine,
    mix,
    settle,
)
from atrous.analysis.axes import Layout
from atrous.analysis.values import Const, Val

# ------------------------------------------------------------------------------------------- pointwise


def pointwise(ctx: Context, args: list[Any], out: Any) -> Any:
    vals = _vals(args)
    if not vals:
        return Const()
    shape = _shape(out[0] if isinstance(out, (tuple, list)) else out)
    layout = combine(ctx, vals, shape)
    op = "mul" if ctx.op in ("mul", "div", "true_divide", "multiply", "divide") else "add"
    value = ctx.merge(vals, op, layout)
    if isinstance(out, (tuple, list)):
        return tuple(value for _ in out)
    return value


def _identity(ctx: Context, args: list[Any], kwargs: dict[str, Any], out: Any) -> Any:
    x = args[0]
    if isinstance(x, Val) and isinstance(out, torch.Tensor) and _shape(out) != x.shape:
        return Val(x.node, _reshape(ctx, x, _shape(out)))
    return x


def _constant(ctx: Context, args: list[Any], kwargs: dict[str, Any], out: Any) -> Any:
    return Const()


def _copy(ctx: Context, args: list[Any], kwargs: dict[str, Any], out: Any) -> Any:
    src = args[1]
    if not isinstance(src, Val):
        return Const()
    return Val(src.node, combine(ctx, [src], _shape(out)))


# -------------------------------------------------------------------------------------------- layout


def _view(ctx: Context, args: list[Any], kwargs: dict[str, Any], out: Any) -> Any:
    x = _need(ctx, args[0])
    return Val(x.node, _reshape(ctx, x, _shape(out)))


def _permute(ctx: Context, args: list[Any], kwargs: dict[str, Any], out: Any) -> Any:
    x = _need(ctx, args[0])
    return Val(x.node, x.layout.permute([_dim(int(d), x.rank) for d in args[1]]))


def _transpose(ctx: Context, args: list[Any], kwargs: dict[str, Any], out: Any) -> Any:
    x = _need(ctx, args[0])
    order = list(range(x.rank))
    if ctx.op in ("t", "numpy_T") or len(args) < 3:
        order = order[::-1] if x.rank <= 2 else order
    else:
        a, b = _dim(int(args[1]), x.rank), _dim(int(args[2]), x.rank)
        order[a], order[b] = order[b], order[a]
    return Val(x.node, x.layout.permute(order))


def _expand(ctx: Context, args: list[Any], kwargs: dict[str, Any], out: Any) -> Any:
    x = _need(ctx, args[0])
    return Val(x.node, x.layout.broadcast(_shape(out)))


def _slice(ctx: Context, args: list[Any], kwargs: dict[str, Any], out: Any) -> Any:
    x = _need(ctx, args[0])
    d = _dim(int(args[1]) if len(args) > 1 else 0, x.rank)
    length = x.shape[d]
    start = args[2] if len(args) > 2 and args[2] is not None else 0
    end = args[3] if len(args) > 3 and args[3] is not None else length
    step = int(args[4]) if len(args) > 4 else 1
    start, end, _ = slice(int(start), int(end), step).indices(length)
    n = _shape(out)[d]
    factors = x.layout.spatial_in(d)
    if not factors or (start == 0 and n == length and step == 1):
        return Val(x.node, x.layout.resize(d, n))
    tag = factors[0][0]
    if len(x.layout.dims[d]) != 1 or tag is None or tag[0] != "s":
        raise ctx.unsupported(f"it slices dimension {d}, which holds {_describe(x.layout.dims[d])}")
    a = tag[1]
    right = length - (start + (n - 1) * step + 1) if n else 0
    layer_layout = x.layout.resize(d, n)
    return _crop(ctx, x, a, start, right, step, layer_layout)


def _crop(ctx: Context, x: Val, axis: int, left: int, right: int, step: int, layout: Layout) -> Val:
    if left == 0 and right == 0 and step == 1:
        return Val(x.node, layout)
    dims = ctx.result.graph.dims
    pads = [(0, 0)] * dims
    steps = [1] * dims
    pads[axis] = (-left, -right)
    steps[axis] = step
    one = (1,) * dims
    layer = rf.Layer(one, tuple(steps), one, tuple(pads), kind="crop")
    return ctx.add(x, layer, layout)


def _select(ctx: Context, args: list[Any], kwargs: dict[str, Any], out: Any) -> Any:
    x = _need(ctx, args[0])
    d = _dim(int(args[1]), x.rank)
    if x.layout.spatial_in(d):
        raise ctx.unsupported(f"an integer index on dimension {d} ({_describe(x.layout.dims[d])}) keeps a single "
                              "position; slice it (x[..., -1:]) to keep the axis")
    return Val(x.node, x.layout.remove([d]))


def _split(ctx: Context, args: list[Any], kwargs: dict[str, Any], out: Any) -> Any:
    x = _need(ctx, args[0])
    if ctx.op == "unbind":
        d = _dim(int(args[1]) if len(args) > 1 else int(kwargs.get("dim", 0)), x.rank)
        if x.layout.spatial_in(d):
            raise ctx.unsupported(f"it unbinds dimension {d}, which holds {_describe(x.layout.dims[d])}")
        return tuple(Val(x.node, x.layout.remove([d])) for _ in out)
    d = _dim(int(args[2]) if len(args) > 2 else int(kwargs.get("dim", 0)), x.rank)
    pieces = []
    start = 0
    for t in out:
        n = int(t.shape[d])
        if x.layout.spatial_in(d):
            pieces.append(_slice(ctx, [x, d, start, start + n, 1], {}, t))
        else:
            pieces.append(Val(x.node, x.layout.resize(d, n)))
        start += n
    return tuple(pieces)


def _cat(ctx: Context, args: list[Any], kwargs: dict[str, Any], out: Any) -> Any:
    tensors = args[0]
    vals = _vals(tensors)
    if not vals:
        return Const()
    shape = _shape(out)
    d = _dim(int(args[1]) if len(args) > 1 else int(kwargs.get("dim", 0)), len(shape))
    spatial = any(v.layout.spatial_in(d) for v in vals)
    if spatial:
        # joining along a spatial axis (a class token before the patch tokens): positions shift by the other
        # pieces, so nothing local survives; what follows is global
        first = vals[0]
        layout = first.layout.broadcast(first.shape).drop_spatial([d]).resize(d, shape[d])
        merged = ctx.merge(vals, "cat", layout)
        return ctx.make_global(merged, layout, f"joins tensors along dimension {d}, which holds a spatial axis")
    base = vals[0].layout.resize(d, shape[d])
    layout = combine(ctx, [Val(v.node, v.layout.resize(d, shape[d])) for v in vals], shape) if len(vals) > 1 \
        else base
    return ctx.merge(vals, "cat", layout)


def _stack(ctx: Context, args: list[Any], kwargs: dict[str, Any], out: Any) -> Any:
    vals = _vals(args[0])
    if not vals:
        return Const()
    shape = _shape(out)
    d = _dim(int(args[1]) if len(args) > 1 else int(kwargs.get("dim", 0)), len(shape))
    layout = combine(ctx, [Val(v.node, v.layout.insert(d)) for v in vals], shape)
    return ctx.merge(vals, "cat", layout)


def _glu(ctx: Context, args: list[Any], kwargs: dict[str, Any], out: Any) -> Any:
    """GLU halves a dimension and gates one half by the other: pointwise unless that dimension is spatial."""
    x = _need(ctx, args[0])
    d = _dim(int(args[1]) if len(args) > 1 else -1, x.rank)
    if x.layout.spatial_in(d):
        raise ctx.unsupported(f"it gates one half of dimension {d}, which holds a spatial axis, by the other")
    return Val(x.node, x.layout.resize(d, _shape(out)[d]))


def _as_strided(ctx: Context, args: list[Any], kwargs: dict[str, Any], out: Any) -> Any:
    """``as_strided`` with the shape unchanged only re-strides memory (adaptive pooling does, for channels-last)."""
    x = _need(ctx, args[0])
    if _shape(out) != x.shape:
        raise ctx.unsupported("it reads memory with arbitrary strides")
    return x


def _index_select(ctx: Context, args: list[Any], kwargs: dict[str, Any], out: Any) -> Any:
    x = args[0]
    if not isinstance(x, Val):
        idx = _vals(args[1:])
        if idx:
            raise ctx.unsupported("it indexes a table with values computed from the input")
        return Const()
    d = _dim(int(args[1]), x.rank)
    if x.layout.spatial_in(d):
        raise ctx.unsupported(f"it picks entries of dimension {d}, which holds a spatial axis")
    return Val(x.node, x.layout.resize(d, _shape(out)[d]))


def _index(ctx: Context, args: list[Any], kwargs: dict[str, Any], out: Any) -> Any:
    x = args[0]
    indices = args[1]
    if not isinstance(x, Val):
        if _vals(indices):
            raise ctx.unsupported("it indexes a table with values computed from the input")
        return Const()
    used = [d for d, i in enumerate(indices) if i is not None]
    if any(x.layout.spatial_in(d) for d in used) or any(isinstance(i, Val) for i in indices):
        raise ctx.unsupported("advanced indexing along a spatial axis (or with indices computed from the input)")
    shape = _shape(out)
    if len(used) == 1 and len(shape) == x.rank:
        return Val(x.node, x.layout.resize(used[0], shape[used[0]]))
    raise ctx.unsupported("advanced indexing that changes the number of dimensions")


def _pixel_shuffle(ctx: Context, args: list[Any], kwargs: dict[str, Any], out: Any) -> Any:
    x = _need(ctx, args[0])
    r = int(args[1])
    b, c, h, w = x.shape[0], x.shape[1], x.shape[2], x.shape[3]
    if ctx.op == "pixel_shuffle":
        lay = _reshape(ctx, x, (b, c // (r * r), r, r, h, w)).permute([0, 1, 4, 2, 5, 3])
        lay = Layout(lay.dims).reshape((b, c // (r * r), h * r, w * r))
        return settle(ctx, Val(x.node, lay), [2, 3])
    lay = _reshape(ctx, x, (b, c, h // r, r, w // r, r)).permute([0, 1, 3, 5, 2, 4])
    return Val(x.node, Layout(lay.dims).reshape((b, c * r * r, h // r, w // r)))


# -------------------------------------------------------------------------------------------- mixing


def _reduce(ctx: Context, args: list[Any], kwargs: dict[str, Any], out: Any) -> Any:
    x = _need(ctx, args[0])
    at = 2 if ctx.op in ("linalg_vector_norm", "norm") else 1  # (x, ord, dim, keepdim) for norms
    dim = args[at] if len(args) > at and not isinstance(args[at], bool) else kwargs.get("dim")
    if ctx.op in ("var", "std", "var_mean", "std_mean") and len(args) > 1 and isinstance(args[1], bool):
        dim = None
    dims = _dims(dim, x.rank)
    first = out[0] if isinstance(out, (tuple, list)) else out
    shape = _shape(first)

    def reduced(layout: Layout) -> Layout:
        if len(shape) == layout.rank:
            for d in dims:
                layout = layout.resize(d, 1)
        else:
            layout = layout.remove(dims)
        return Layout(tuple(d if math.prod(n for _, n in d) == s else ((None, s),)
                            for d, s in zip(layout.dims, shape)))

    y = mix(ctx, x, dims, "reduces over positions", reduced, reduces=True)
    return tuple(y for _ in out) if isinstance(out, (tuple, list)) else y


def _along(ctx: Context, args: list[Any], kwargs: dict[str, Any], out: Any) -> Any:
    """Softmax, cumulative sums, sorting: each output reads the whole dimension ``dim``; the shape is kept."""
    x = _need(ctx, args[0])
    d = _dim(int(args[1]) if len(args) > 1 else int(kwargs.get("dim", -1)), x.rank)
    why = "accumulates along a spatial axis (its lookback is unbounded)" if ctx.op.startswith(("cum", "logcum")) \
        else "normalises or orders along positions"
    y = mix(ctx, x, [d], why, lambda layout: layout)
    return tuple(y for _ in out) if isinstance(out, (tuple, list)) else y


def _statistics(ctx: Context, x: Val, dims: list[int], out: Any) -> Any:
    """A normalisation whose statistics span ``dims``: global where they hold positions (the statistics then
    come from the whole input); the mean and deviation outputs carry the same node."""
    y = mix(ctx, x, dims, "normalises with statistics over positions", lambda layout: layout)
    if isinstance(out, (tuple, list)):
        rest = [Val(y.node, Layout.plain(_shape(t))) if isinstance(t, torch.Tensor) else Const() for t in out[1:]]
        return (y, *rest)
    return y


def _layer_norm(ctx: Context, args: list[Any], kwargs: dict[str, Any], out: Any) -> Any:
    x = _need(ctx, args[0])
    k = len(args[1])
    return _statistics(ctx, x, list(range(x.rank - k, x.rank)), out)


def _group_norm(ctx: Context, args: list[Any], kwargs: dict[str, Any], out: Any) -> Any:
    x = _need(ctx, args[0])
    return _statistics(ctx, x, list(range(1, x.rank)), out)


def _batch_norm(ctx: Context, args: list[Any], kwargs: dict[str, Any], out: Any) -> Any:
    x = _need(ctx, args[0])
    training = ctx.op != "_native_batch_norm_legit_no_training" and len(args) > 5 and bool(args[5])
    if (ctx.op == "_native_batch_norm_legit" and len(args) == 7) or (ctx.op == "_native_batch_norm_legit" and \
            not isinstance(args[3], (Val, Const))):
        training = bool(args[3]) if len(args) == 6 else training
    dims = [d for d in range(x.rank) if d != 1] if training else []
    return _statistics(ctx, x, dims, out)


def _matmul(ctx: Context, args: list[Any], kwargs: dict[str, Any], out: Any) -> Any:
    """``mm``/``bmm``/``addmm``/``baddbmm``: ``(..., N, K) @ (..., K, M)``; the K dimension is mixed."""
    if ctx.op in ("addmm", "baddbmm", "addbmm"):
        extra, a, b = args[0], args[1], args[2]
    else:
        extra, a, b = None, args[0], args[1]
    shape = _shape(out)
    vals = [v for v in (a, b) if isinstance(v, Val)]
    if isinstance(a, Val) and isinstance(b, Val):
        if any(v.layout.spatial_in(d) for v in vals for d in range(v.rank)):
            why = "multiplies two input-dependent tensors over positions (attention)"
            # the right operand (keys, values) reaches every output through the product: summarised globally,
            # so that a key path at another resolution (PVT's spatial reduction) does not set the map's size
            summary = ctx.make_global(b, Layout.plain(b.shape), why, reduces=True)
            merged = ctx.merge([a, summary], "mul", Layout.plain(shape))
            return ctx.make_global(merged, Layout.plain(shape), why)
        return ctx.merge(vals, "mul", Layout.plain(shape))
    if isinstance(a, Val):
        y = mix(ctx, a, [a.rank - 1], "contracts a dimension that holds positions")
        layout = Layout((*y.layout.dims[:-1], ((None, shape[-1]),)))
    elif isinstance(b, Val):
        y = mix(ctx, b, [b.rank - 2], "contracts a dimension that holds positions")
        layout = Layout((*y.layout.dims[:-2], ((None, shape[-2]),), y.layout.dims[-1]))
    else:
        return Const() if not isinstance(extra, Val) else Val(extra.node, extra.layout.broadcast(shape))
    y = Val(y.node, layout)
    if isinstance(extra, Val):
        y = ctx.merge([y, extra], "add", combine(ctx, [y, extra], shape))
    return y


def _attention(ctx: Context, args: list[Any], kwargs: dict[str, Any], out: Any) -> Any:
    q, k, v = args[0], args[1], args[2]
    vals = _vals([q, k, v])
    first = out[0] if isinstance(out, (tuple, list)) else out
    shape = _shape(first)
    base = q if isinstance(q, Val) else vals[0]
    layout = base.layout.broadcast(shape) if base.rank == len(shape) else Layout.plain(shape)
    keys = k if isinstance(k, Val) else v
    attends = isinstance(keys, Val) and keys.layout.spatial_in(keys.rank - 2)
    why = "attends over positions"
    others = [ctx.make_global(t, Layout.plain(t.shape), why, reduces=True) if attends else t
              for t in vals if t is not base]
    merged = ctx.merge([base, *others], "mul", layout)
    if attends:
        merged = ctx.make_global(merged, layout, why)
    if isinstance(out, (tuple, list)):
        return (merged, *(Const() for _ in out[1:]))
    return merged

