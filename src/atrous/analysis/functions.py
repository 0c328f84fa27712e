"""Functional ops and tensor methods (``torch.cat``, ``F.pad``, ``x.flatten(1)``, ``x[..., :-2]``, ...)."""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from atrous import rf
from atrous.analysis.ops import (
    ELEMENTWISE,
    ELEMENTWISE_METHODS,
    POINTWISE_FUNCTIONS,
    POINTWISE_METHODS,
    Context,
    _arg,
    _layer_norm,
    _reduce_like,
    _tuple,
    adaptive_pool,
    flatten,
    interpolate,
    pad,
)
from atrous.analysis.values import Const, Val
from atrous.functional import conv as AF

__all__ = ["call_function", "call_method"]


def _vals(args: Sequence[Any]) -> list[Val]:
    out: list[Val] = []
    for a in args:
        if isinstance(a, Val):
            out.append(a)
        elif isinstance(a, (list, tuple)):
            out.extend(_vals(a))
    return out


def _name(target: Any) -> str:
    return getattr(target, "__name__", str(target))


def call_function(ctx: Context, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    label = _name(target)
    x = args[0] if args else None
    if target in POINTWISE_FUNCTIONS or label == "stochastic_depth":
        return x if isinstance(x, Val) else _vals(args)[0]
    if target in ELEMENTWISE:
        return elementwise(ctx, list(args) + list(kwargs.values()), ELEMENTWISE[target], label)
    if target is operator.getitem:
        return getitem(ctx, args[0], args[1])
    if target in (torch.cat, torch.concat, torch.stack):
        return concat(ctx, args[0], _arg(args, kwargs, 1, "dim", 0), label, stack=target is torch.stack)
    if target is torch.flatten:
        return flatten(ctx, _need(ctx, x, label), _arg(args, kwargs, 1, "start_dim", 0),
                       _arg(args, kwargs, 2, "end_dim", -1), label)
    if target in (torch.permute,):
        return permute(_need(ctx, x, label), list(_arg(args, kwargs, 1, "dims")))
    if target in (torch.transpose, torch.swapaxes):
        return transpose(_need(ctx, x, label), args[1], args[2])
    if target in (torch.mean, torch.sum, torch.amax, torch.amin):
        return reduce(ctx, _need(ctx, x, label), _arg(args, kwargs, 1, "dim"),
                      bool(_arg(args, kwargs, 2, "keepdim", False)), label)
    if target in (torch.reshape,):
        return reshape(ctx, _need(ctx, x, label), list(args[1]), label)
    if target in (F.softmax, F.log_softmax, torch.softmax):
        return _reduce_like(ctx, _need(ctx, x, label), _arg(args, kwargs, 1, "dim"), label)
    if target in (F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d, F.adaptive_max_pool1d,
                  F.adaptive_max_pool2d, F.adaptive_max_pool3d):
        return adaptive_pool(ctx, _need(ctx, x, label), _arg(args, kwargs, 1, "output_size"), label)
    if target in (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d, F.max_pool1d, F.max_pool2d, F.max_pool3d):
        return functional_pool(ctx, _need(ctx, x, label), args, kwargs, label)
    if target in (F.conv1d, F.conv2d, F.conv3d):
        return functional_conv(ctx, _need(ctx, x, label), args, kwargs, label)
    if target in (AF.dilated_conv1d, AF.dilated_conv2d, AF.dilated_conv3d):
        return atrous_conv(ctx, _need(ctx, x, label), args, kwargs, label)
    if target is F.pad:
        return pad(ctx, _need(ctx, x, label), list(_arg(args, kwargs, 1, "pad")), label)
    if target is F.interpolate:
        return interpolate(ctx, _need(ctx, x, label), _arg(args, kwargs, 1, "size"),
                           _arg(args, kwargs, 2, "scale_factor"), label, _arg(args, kwargs, 3, "mode", "nearest"),
                           _arg(args, kwargs, 4, "align_corners"), bool(_arg(args, kwargs, 6, "antialias", False)))
    if target in (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d):
        return functional_conv_transpose(ctx, _need(ctx, x, label), args, kwargs, label)
    if target is F.layer_norm:
        return _layer_norm(ctx, _need(ctx, x, label), len(_tuple(_arg(args, kwargs, 1, "normalized_shape"), 1)),
                           label)
    if target is F.linear:
        from atrous.analysis.ops import _last_dim

        return _last_dim(ctx, _need(ctx, x, label), label, None)
    if target in (getattr, torch._assert) or label == "_assert":
        return getattr(x, args[1]) if target is getattr and isinstance(x, Val) and args[1] == "shape" else Const()
    raise ctx.unsupported(f"function {label}", "atrous does not know how it moves information between positions")


def call_method(ctx: Context, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    x = args[0]
    if not isinstance(x, Val):
        return elementwise(ctx, list(args), ELEMENTWISE_METHODS[name], name) if name in ELEMENTWISE_METHODS \
            else Const()
    if name in POINTWISE_METHODS:
        return x
    if name in ELEMENTWISE_METHODS:
        return elementwise(ctx, list(args) + list(kwargs.values()), ELEMENTWISE_METHODS[name], name)
    if name == "size":
        dim = _arg(args, kwargs, 1, "dim")
        return x.shape if dim is None else x.shape[dim]
    if name == "dim":
        return x.rank
    if name == "flatten":
        return flatten(ctx, x, _arg(args, kwargs, 1, "start_dim", 0), _arg(args, kwargs, 2, "end_dim", -1), name)
    if name == "permute":
        dims = args[1] if len(args) == 2 and isinstance(args[1], (list, tuple)) else args[1:]
        return permute(x, list(dims))
    if name in ("transpose", "swapaxes"):
        return transpose(x, args[1], args[2])
    if name in ("view", "reshape"):
        shape = args[1] if len(args) == 2 and isinstance(args[1], (list, tuple)) else args[1:]
        return reshape(ctx, x, list(shape), name)
    if name in ("mean", "sum", "amax", "amin"):
        return reduce(ctx, x, _arg(args, kwargs, 1, "dim"), bool(_arg(args, kwargs, 2, "keepdim", False)), name)
    if name == "softmax":
        return _reduce_like(ctx, x, _arg(args, kwargs, 1, "dim"), name)
    if name in ("chunk", "split", "unbind"):
        return split(ctx, x, args, kwargs, name)
    if name in ("squeeze", "unsqueeze"):
        return squeeze(ctx, x, name, _arg(args, kwargs, 1, "dim"))
    if name in ("expand", "repeat"):
        return x
    raise ctx.unsupported(f"method .{name}()", "atrous does not know how it moves information between positions")


def _need(ctx: Context, x: Any, label: str) -> Val:
    if not isinstance(x, Val):
        raise ctx.unsupported(label, "its tensor argument is not where atrous expects it")
    return x


def elementwise(ctx: Context, args: list[Any], op: str, label: str) -> Any:
    vals = _vals(args)
    if not vals:
        return Const()
    return ctx.merge(vals, op, label)


def concat(ctx: Context, tensors: Sequence[Any], dim: int, label: str, stack: bool = False) -> Val:
    vals = [t for t in tensors if isinstance(t, Val)]
    first = vals[0]
    if not stack and first.is_spatial_dim(dim):
        raise ctx.unsupported(label, f"it joins tensors along spatial dimension {dim}")
    if stack:
        d = dim % (first.rank + 1)
        axes = tuple(None if a is None else a + (a >= d) for a in first.axes)
        merged = ctx.merge(vals, "cat", label)
        return Val(merged.node, (*first.shape[:d], len(tensors), *first.shape[d:]), axes)
    merged = ctx.merge(vals, "cat", label)
    d = dim % first.rank
    total = sum(v.shape[d] or 0 for v in vals) if all(v.shape[d] for v in vals) else None
    return Val(merged.node, (*merged.shape[:d], total, *merged.shape[d + 1:]), merged.axes)


def getitem(ctx: Context, x: Any, index: Any) -> Any:
    if not isinstance(x, Val):
        if isinstance(x, Const):
            return Const()
        return x[index]
    idx = index if isinstance(index, tuple) else (index,)
    if any(i is Ellipsis for i in idx):
        k = idx.index(Ellipsis)
        idx = idx[:k] + (slice(None),) * (x.rank - len(idx) + 1) + idx[k + 1:]
    crops: dict[int, tuple[int, int, int]] = {}
    shape = list(x.shape)
    for d, i in enumerate(idx):
        if isinstance(i, slice):
            if i == slice(None):
                continue
            length = x.shape[d]
            if length is None:
                raise ctx.unsupported("slicing", f"the length of dimension {d} is unknown")
            start, stop, step = i.indices(length)
            if x.is_spatial_dim(d):
                crops[d] = (start, length - max(stop, start), step)
            shape[d] = len(range(start, stop, step))
        elif x.is_spatial_dim(d):
            raise ctx.unsupported("indexing", f"an integer index on spatial dimension {d} keeps a single position")
        elif i is None or isinstance(i, (Val, Const)):
            raise ctx.unsupported("indexing", "advanced or None indexing")
    removed = [d for d, i in enumerate(idx) if isinstance(i, int)]
    if crops:
        amounts = [(crops[d][0], crops[d][1]) if d in crops else (0, 0) for d in x.axes if d is not None]
        steps = [crops[d][2] if d in crops else 1 for d in x.axes if d is not None]
        layer = rf.crop(amounts, steps)
        y = ctx.layer(x, layer, "slice")
        x = Val(y.node, x.shape, x.axes)
    if removed:
        axes = tuple(None if a is None else a - sum(r < a for r in removed) for a in x.axes)
        return Val(x.node, tuple(s for d, s in enumerate(shape) if d not in removed), axes)
    return Val(x.node, tuple(shape), x.axes)


def permute(x: Val, dims: list[int]) -> Val:
    dims = [d % x.rank for d in dims]
    where = {old: new for new, old in enumerate(dims)}
    return Val(x.node, tuple(x.shape[d] for d in dims), tuple(None if a is None else where[a] for a in x.axes))


def transpose(x: Val, a: int, b: int) -> Val:
    order = list(range(x.rank))
    a, b = a % x.rank, b % x.rank
    order[a], order[b] = order[b], order[a]
    return permute(x, order)


def reduce(ctx: Context, x: Val, dim: Any, keepdim: bool, label: str) -> Val:
    dims = list(range(x.rank)) if dim is None else [d % x.rank for d in _tuple(dim, 1)] if isinstance(
        dim, int) else [d % x.rank for d in dim]
    spatial = [d for d in dims if x.is_spatial_dim(d) and (x.shape[d] or 0) > 1]
    if keepdim:
        shape = tuple(1 if d in dims else s for d, s in enumerate(x.shape))
        axes = x.axes
    else:
        shape = tuple(s for d, s in enumerate(x.shape) if d not in dims)
        axes = tuple(None if a is None or a in dims else a - sum(r < a for r in dims) for a in x.axes)
    if spatial:
        return ctx.make_global(x, label, shape, axes)
    return Val(x.node, shape, axes)


def reshape(ctx: Context, x: Val, shape: list[Any], label: str) -> Val:
    if any(not isinstance(s, int) for s in shape):
        raise ctx.unsupported(label, "the new shape is not known while tracing")
    known = math.prod(s for s in x.shape if s) if all(x.shape) else None
    new = list(shape)
    if -1 in new and known is not None:
        rest = math.prod(s for s in new if s != -1)
        new[new.index(-1)] = known // rest if rest else 0
    spatial = x.spatial()
    if x.standard and len(new) >= len(spatial) and tuple(new[len(new) - len(spatial):]) == spatial:
        axes = tuple(range(len(new) - len(spatial), len(new)))
        return Val(x.node, tuple(new), axes)
    if all((s or 1) == 1 for s in spatial):  # nothing spatial left to move
        return Val(x.node, tuple(new), tuple(None for _ in x.axes))
    return ctx.make_global(x, label, tuple(new), tuple(None for _ in x.axes))


def split(ctx: Context, x: Val, args: tuple[Any, ...], kwargs: dict[str, Any], label: str) -> Any:
    dim = _arg(args, kwargs, 2, "dim", 0) if label != "unbind" else _arg(args, kwargs, 1, "dim", 0)
    if x.is_spatial_dim(dim):
        raise ctx.unsupported(label, f"it splits spatial dimension {dim}")
    # channel splits: every piece sees the same positions; the number of pieces rarely matters downstream
    pieces = args[1] if label == "chunk" else (len(args[1]) if isinstance(args[1], (list, tuple)) else None)
    count = int(pieces) if isinstance(pieces, int) else 2
    return tuple(Val(x.node, x.shape, x.axes) for _ in range(count))


def squeeze(ctx: Context, x: Val, name: str, dim: Any) -> Val:
    if dim is None:
        raise ctx.unsupported(f".{name}()", "a squeeze without a dimension")
    d = dim % (x.rank + (name == "unsqueeze"))
    if name == "unsqueeze":
        return Val(x.node, (*x.shape[:d], 1, *x.shape[d:]), tuple(None if a is None else a + (a >= d)
                                                                     for a in x.axes))
    if x.shape[d] != 1:
        return x
    if x.is_spatial_dim(d):
        return Val(x.node, x.shape[:d] + x.shape[d + 1:], tuple(None if a == d else (a - (a > d) if a is not None
                                                                                     else None) for a in x.axes))
    return Val(x.node, x.shape[:d] + x.shape[d + 1:], tuple(None if a is None else a - (a > d) for a in x.axes))


def functional_pool(ctx: Context, x: Val, args: tuple[Any, ...], kwargs: dict[str, Any], label: str) -> Val:
    n = len(x.axes)
    k = _tuple(_arg(args, kwargs, 1, "kernel_size"), n)
    stride = _arg(args, kwargs, 2, "stride") or k
    padding = _arg(args, kwargs, 3, "padding", 0)
    is_max = label.startswith("max")
    dilation = _arg(args, kwargs, 4, "dilation", 1) if is_max else 1
    ceil = _arg(args, kwargs, 5 if is_max else 4, "ceil_mode", False)
    layer = rf.pool(k, _tuple(stride, n), _tuple(dilation, n), _tuple(padding, n),
                    kind="maxpool" if is_max else "avgpool", ceil_mode=bool(ceil), dims=n)
    return ctx.layer(x, layer, label)


def functional_conv(ctx: Context, x: Val, args: tuple[Any, ...], kwargs: dict[str, Any], label: str) -> Val:
    weight = _weight_shape(ctx, _arg(args, kwargs, 1, "weight"), label)
    n = len(x.axes)
    padding = _arg(args, kwargs, 4, "padding", 0)
    layer = rf.conv(tuple(int(k or 1) for k in weight[2:]), _tuple(_arg(args, kwargs, 3, "stride", 1), n),
                    _tuple(_arg(args, kwargs, 5, "dilation", 1), n),
                    padding if isinstance(padding, str) else _tuple(padding, n), dims=n)
    return ctx.layer(x, layer, label, weight[0])


def functional_conv_transpose(ctx: Context, x: Val, args: tuple[Any, ...], kwargs: dict[str, Any],
                              label: str) -> Val:
    """``F.conv_transpose*d(input, weight, bias, stride, padding, output_padding, groups, dilation)``."""
    weight = _weight_shape(ctx, _arg(args, kwargs, 1, "weight"), label)
    n = len(x.axes)
    groups = int(_arg(args, kwargs, 6, "groups", 1))
    layer = rf.conv_transpose(tuple(int(k or 1) for k in weight[2:]), _tuple(_arg(args, kwargs, 3, "stride", 1), n),
                              _tuple(_arg(args, kwargs, 4, "padding", 0), n),
                              _tuple(_arg(args, kwargs, 5, "output_padding", 0), n),
                              _tuple(_arg(args, kwargs, 7, "dilation", 1), n), dims=n)
    out = None if weight[1] is None else weight[1] * groups
    return ctx.layer(x, layer, label, out)


def _weight_shape(ctx: Context, weight: Any, label: str) -> tuple[int | None, ...]:
    if isinstance(weight, torch.Tensor):
        return tuple(weight.shape)
    if isinstance(weight, Const) and weight.shape is not None:
        return weight.shape
    raise ctx.unsupported(label, "its weight is computed from the input")


def atrous_conv(ctx: Context, x: Val, args: tuple[Any, ...], kwargs: dict[str, Any], label: str) -> Val:
    """``atrous.functional.dilated_conv*d``: its padding words resolve exactly as the op resolves them."""
    weight = _weight_shape(ctx, _arg(args, kwargs, 1, "weight"), label)
    n = len(x.axes)
    k = tuple(int(s or 1) for s in weight[2:])
    stride, dilation = _arg(args, kwargs, 3, "stride", 1), _arg(args, kwargs, 4, "dilation", 1)
    pads = AF.resolve_padding(k, stride, dilation, _arg(args, kwargs, 5, "padding", "same"),
                              _arg(args, kwargs, 7, "causal_axis"), label)
    return ctx.layer(x, rf.conv(k, stride, dilation, pads, dims=n), label, weight[0])
