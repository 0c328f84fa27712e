"""How each ATen operation moves information between positions: the op mappings of the tracer.

Every op the forward pass reaches is one of four things, decided from its name and its arguments, with the
tensors' :class:`~atrous.analysis.axes.Layout` telling which dimensions hold which spatial axis:

* **spatial** (a new receptive-field node): convolution (transposed too), max/avg pooling, adaptive pooling,
  resizing, padding, slicing, rolling, max-unpooling. Their per-axis arguments go to the axis their dimension
  holds; rational resize ratios and unequal adaptive windows become exact periodic layers
  (:func:`rational_layer`).
* **layout** (the same node, a new layout): views, reshapes, permutes, squeezes, expands, copies, channel
  selections and splits.
* **pointwise** (a merge of the nodes it reads): everything tagged ``pointwise`` by PyTorch, with broadcasting.
* **mixing** (a reduction, a matrix product, a softmax, a cumulative sum, a normalisation with statistics):
  pointwise where the mixed dimensions hold no spatial axis; a *global* node (the local geometry kept, the op
  named in the notes) where they do; a pooling window where they hold the fine part of a split axis
  (space-to-depth read by a channel-mixing op).

Anything else that reads the input raises :class:`~atrous.errors.UnsupportedOpError` naming the op and module.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import torch

from atrous import rf
from atrous.analysis.axes import Layout, LayoutError
from atrous.analysis.values import Const, Opaque, Val
from atrous.errors import ShapeError, UnsupportedOpError

if TYPE_CHECKING:
    from atrous.analysis.traced import TracedModel

__all__ = ["Context", "check_fits", "map_op", "rational_layer", "write_into_base"]

#: the largest period (denominator of a resize ratio) mapped exactly; beyond it the answer is a labelled bound
MAX_PERIOD = 64


class Context:
    """What the handlers need: the result being built, the op being mapped, and where it runs."""

    def __init__(self, result: TracedModel, mode: Any) -> None:
        self.result = result
        self.mode = mode
        self.op = ""
        self.raw: tuple[Any, Any] = ((), {})  # the op's own arguments (meta tensors): shapes of constants
        self.max_period = MAX_PERIOD  # longest exact resize period; longer ones become labelled bounds

    def begin(self, func: Any) -> None:
        self.op = func.overloadpacket.__name__.rstrip("_")

    @property
    def module(self) -> str:
        stack = self.mode.stack
        return stack[-1] if stack else ""

    @property
    def name(self) -> str:
        """The name of the node being made: the module's path for a leaf module's first node, else
        ``<module path>/<op>`` (``<op>`` at the top level)."""
        path = self.module
        if path and path in self.result.leaf_paths and path not in self.result.graph._names:
            return path
        return f"{path}/{self.op}" if path else self.op

    @property
    def where(self) -> str:
        return f"module {self.module!r}" if self.module else "the top-level forward"

    def label(self) -> str:
        path = self.module
        if path and path in self.result.leaf_paths:
            return str(self.result.module_types.get(path, self.op))
        return self.op

    def unsupported(self, why: str) -> UnsupportedOpError:
        return UnsupportedOpError(f"analyze: {self.op} in {self.where} cannot be mapped exactly: {why}")

    def note(self, text: str) -> None:
        if text not in self.result.notes:
            self.result.notes.append(text)

    # graph building -------------------------------------------------------------------------------------
    def add(self, x: Val, layer: rf.Layer, layout: Layout) -> Val:
        node = self.result.graph.add(layer, x.node, name=self.name)
        self.result.ops[node] = self.label()
        return Val(node, layout)

    def merge(self, vals: Sequence[Val], op: str, layout: Layout) -> Val:
        nodes = list(dict.fromkeys(v.node for v in vals))
        if len(nodes) == 1:
            return Val(nodes[0], layout)
        node = self.result.graph.merge(nodes, op=op, name=self.name)
        self.result.ops[node] = self.label()
        return Val(node, layout)

    def make_global(self, x: Val, layout: Layout, why: str, reduces: bool = False) -> Val:
        """Every output of this op depends on the whole input: a global node (the local path stays visible).
        ``reduces``: the op pools the positions away (a global mean), so the map becomes 1 x 1; otherwise the
        feature map keeps its size (attention, a global norm, a gate)."""
        if self._is_global(x.node):
            return Val(x.node, layout)
        kept = any(t is not None and n > 1 for d in layout.dims for t, n in d)
        layer = rf.global_pool(self.result.graph.dims, broadcast=kept or not reduces)
        node = self.result.graph.add(layer, x.node, name=self.name)
        self.result.ops[node] = self.label()
        self.note(f"{self.op} in {self.where} {why}: every output depends on the whole input (global); the "
                  "receptive field shown is the local path's")
        return Val(node, layout)

    def _is_global(self, node: int) -> bool:
        layer = self.result.graph.nodes[node].layer
        return layer is not None and layer.is_global

    def bound(self, why: str) -> None:
        """The node about to be made is a sound enclosing bound, not the exact field."""
        self.result.bounds[len(self.result.graph.nodes)] = why
        self.note(f"{self.op} in {self.where}: {why}; the receptive field is an enclosing bound (exact: false)")

    def axis_layer(self, x: Val, per_axis: dict[int, tuple[int, int, int, tuple[int, int], int]], kind: str,
                   layout: Layout, ceil_mode: bool = False) -> Val:
        """A layer acting on some axes (``axis -> (kernel, stride, dilation, (left, right), upsample)``)."""
        if not per_axis:
            return Val(x.node, layout)
        dims = self.result.graph.dims
        k, s, d, p, u = [1] * dims, [1] * dims, [1] * dims, [(0, 0)] * dims, [1] * dims
        for a, (ka, sa, da, pa, ua) in per_axis.items():
            k[a], s[a], d[a], p[a], u[a] = ka, sa, da, pa, ua
        if any(v != 1 for v in u) and kind not in ("conv_transpose", "resize"):
            kind = "resize"
        layer = rf.Layer(tuple(k), tuple(s), tuple(d), tuple(p), kind=kind, ceil_mode=ceil_mode, upsample=tuple(u))
        return self.add(x, layer, layout)


# ------------------------------------------------------------------------------------------------- entry


def map_op(ctx: Context, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> Any:
    """The abstract value of ``func(*args, **kwargs)`` (tensors replaced by Val/Const), given its output."""
    name = func.overloadpacket.__name__
    handler = HANDLERS.get(name) or HANDLERS.get(name.rstrip("_"))
    if handler is not None:
        return handler(ctx, list(args), kwargs, out)
    if torch.Tag.pointwise in func.tags or name.rstrip("_") in POINTWISE_UNTAGGED:
        return pointwise(ctx, list(args) + list(kwargs.values()), out)
    if name in CONSTANT_RESULTS:
        return Const()
    raise ctx.unsupported("atrous does not know how it moves information between positions")


def check_fits(ctx: Context, func: Any, args: Any, kwargs: Any) -> None:
    """Called when the op itself failed: a convolution or pooling too large for its input is the input's
    fault, said in one line naming the node."""
    name = func.overloadpacket.__name__
    if name not in SIZE_CHECKED:
        return
    x = args[0] if args else None
    if not isinstance(x, Val):
        return
    raise ShapeError(f"analyze: the input is too small for the model: at node {ctx.name!r} ({name}), the "
                     f"feature map {list(x.shape[2:])} is smaller than the window it needs")


def write_into_base(ctx: Context, base: Any, new: Any, base_t: torch.Tensor, view_t: torch.Tensor) -> Any:
    """An in-place op wrote ``new`` into a view of ``base`` (``buf[:, :c] = y``): the base now reads both."""
    if not isinstance(new, Val):
        return base
    if base_t.dim() != view_t.dim() or any(
            base_t.shape[d] != view_t.shape[d] for d in range(view_t.dim()) if new.layout.spatial_in(d)):
        return Opaque(ctx.unsupported("it writes into a slice of a tensor along a spatial axis"))
    layout = Layout(tuple(new.layout.dims[d] if new.layout.spatial_in(d) else ((None, int(n)),)
                          for d, n in enumerate(base_t.shape)))
    if isinstance(base, Val):
        return ctx.merge([base, new], "cat", layout)
    return Val(new.node, layout)


# ------------------------------------------------------------------------------------------------ helpers


def _vals(a: Any) -> list[Val]:
    if isinstance(a, Val):
        return [a]
    if isinstance(a, (list, tuple)):
        return [v for x in a for v in _vals(x)]
    return []


def _shape(out: Any) -> tuple[int, ...]:
    return tuple(int(n) for n in out.shape)


def _dim(d: int, rank: int) -> int:
    return d % rank if rank else 0


def _dims(d: Any, rank: int) -> list[int]:
    if d is None or (isinstance(d, (list, tuple)) and len(d) == 0):
        return list(range(rank))
    if isinstance(d, int):
        return [_dim(d, rank)]
    return sorted({_dim(int(x), rank) for x in d})


def _need(ctx: Context, x: Any) -> Val:
    if not isinstance(x, Val):
        raise ctx.unsupported("its tensor argument is not where atrous expects it")
    return x


def _reshape(ctx: Context, x: Val, shape: tuple[int, ...]) -> Layout:
    try:
        return x.layout.reshape(shape)
    except LayoutError as e:
        raise ctx.unsupported(str(e)) from None


def combine(ctx: Context, vals: Sequence[Val], shape: tuple[int, ...]) -> Layout:
    """The layout of a broadcast result: each dimension from the inputs that carry spatial factors there."""
    layouts = [v.layout.broadcast(shape) if len(v.shape) <= len(shape) else None for v in vals]
    dims = []
    for d, n in enumerate(shape):
        chosen = None
        for lay in layouts:
            if lay is None:
                raise ctx.unsupported("its inputs cannot be broadcast")
            if any(t is not None and size > 1 for t, size in lay.dims[d]):
                if chosen is not None and chosen != lay.dims[d]:
                    raise ctx.unsupported(f"it combines tensors whose dimension {d} holds different spatial axes")
                chosen = lay.dims[d]
        dims.append(chosen or next((lay.dims[d] for lay in layouts if lay is not None), ((None, n),)))
    return Layout(tuple(dims))


def mix(ctx: Context, x: Val, dims: list[int], why: str,
        layout: Layout | Callable[[Layout], Layout] | None = None, reduces: bool = False) -> Val:
    """``x`` after an op that mixes all positions along ``dims``: fine parts of a split axis are read whole (a
    pooling window); whole or coarse spatial axes make the op global. ``layout`` is the result's: a layout, a
    function of ``x``'s layout once the fine parts are read (so a coarse part left elsewhere becomes whole there
    too), or by default ``x``'s with the mixed dimensions made plain."""
    x = resolve_fine(ctx, x, dims)
    spatial = [d for d in dims if x.layout.spatial_in(d)]
    if callable(layout):
        target = layout(x.layout)
    else:
        target = layout if layout is not None else x.layout.drop_spatial(spatial)
    if spatial:
        return ctx.make_global(x, target, why, reduces)
    return Val(x.node, target)


def resolve_fine(ctx: Context, x: Val, dims: list[int]) -> Val:
    """Fine factors (``("f", a)``) in ``dims`` are about to be mixed: each coarse position then reads its whole
    block of ``r`` inputs, a pooling layer of kernel and stride ``r`` on axis ``a``."""
    per_axis: dict[int, tuple[int, int, int, tuple[int, int], int]] = {}
    new_dims = list(x.layout.dims)
    for d in dims:
        for tag, r in x.layout.dims[d]:
            if tag is None or tag[0] != "f" or r == 1:
                continue
            a = tag[1]
            cd = x.layout.where(("c", a))
            if cd is None:
                raise ctx.unsupported(f"the fine part of spatial axis {a} lost its coarse part")
            per_axis[a] = (r, r, 1, (0, 0), 1)
            new_dims[d] = tuple((None, n) if t == tag else (t, n) for t, n in new_dims[d])
            new_dims[cd] = tuple((("s", a), n) if t == ("c", a) else (t, n) for t, n in new_dims[cd])
    if not per_axis:
        return x
    ctx.note(f"{ctx.op} in {ctx.where} mixes the phases of a space-to-depth (or patch) reshape: each position "
             "reads its whole block")
    return ctx.axis_layer(x, per_axis, "avgpool", Layout(tuple(new_dims)))


def settle(ctx: Context, x: Val, dims: list[int]) -> Val:
    """Make each of ``dims`` hold one whole spatial axis or none: a channel factor inside an axis (pixel
    shuffle, depth-to-space) is a nearest-neighbour upsampling of that axis."""
    per_axis: dict[int, tuple[int, int, int, tuple[int, int], int]] = {}
    new_dims = list(x.layout.dims)
    for d in dims:
        f = [(t, n) for t, n in x.layout.dims[d] if n > 1]
        if len(f) == 2 and f[0][0] is not None and f[0][0][0] == "s" and f[1][0] is None:
            a, r = f[0][0][1], f[1][1]
            per_axis[a] = (r, 1, 1, (r - 1, r - 1), r)
            new_dims[d] = ((("s", a), f[0][1] * r),)
    if not per_axis:
        return x
    return ctx.axis_layer(x, per_axis, "resize", Layout(tuple(new_dims)))


def slot_axes(ctx: Context, x: Val, first: int = 2, mixes_channels: bool = False) -> tuple[Val, list[int | None]]:
    """The spatial axis held by each dimension from ``first`` on (``None``: not spatial), for a convolution or
    a pooling that slides over those dimensions. A convolution (``mixes_channels``) first reads the fine parts
    of split axes held in the channels (space-to-depth) as pooling windows."""
    slots = list(range(first, x.rank))
    if mixes_channels:
        x = resolve_fine(ctx, x, [1])
    x = settle(ctx, x, slots)
    axes: list[int | None] = []
    for d in slots:
        f = [(t, n) for t, n in x.layout.dims[d] if n > 1 or (t is not None and t[0] == "s")]
        tags = [t for t, _ in f if t is not None]
        if not tags:
            axes.append(None)
        elif len(f) == 1 and tags[0][0] == "s":
            axes.append(tags[0][1])
        else:
            raise ctx.unsupported(f"it slides over dimension {d}, which holds {_describe(x.layout.dims[d])} "
                                  "rather than one spatial axis")
    return x, axes


def slot_layout(x: Val, axes: list[int | None], shape: tuple[int, ...], channels: int | None = None) -> Layout:
    """The layout after an op that slides over the last ``len(axes)`` dimensions: each keeps its axis at the
    output's length; ``channels`` replaces dimension 1 (a convolution's output channels)."""
    first = len(shape) - len(axes)
    dims: list[Any] = list(x.layout.dims[:first])
    if channels is not None:
        dims[1] = ((None, channels),)
    for j, a in enumerate(axes):
        n = shape[first + j]
        dims.append(((("s", a), n),) if a is not None else ((None, n),))
    return Layout(tuple(dims))


def _describe(dim: Any) -> str:
    parts = []
    for t, n in dim:
        parts.append(f"{n}" if t is None else f"{ {'s': 'axis', 'c': 'coarse axis', 'f': 'fine axis'}[t[0]] } "
                     f"{t[1]} ({n})")
    return " x ".join(parts)


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
    >>> rational_layer(4, 8, "linear", False)     # an integer upsampling by 2 (as rf.upsample(2, "linear"))
    ((8, 2, 1, (7, 3), 4), True)
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
            merged = ctx.merge(vals, "mul", Layout.plain(shape))
            return ctx.make_global(merged, Layout.plain(shape),
                                   "multiplies two input-dependent tensors over positions (attention)")
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
    merged = ctx.merge(vals, "mul", layout)
    keys = k if isinstance(k, Val) else v
    if isinstance(keys, Val) and keys.layout.spatial_in(keys.rank - 2):
        merged = ctx.make_global(merged, layout, "attends over positions")
    if isinstance(out, (tuple, list)):
        return (merged, *(Const() for _ in out[1:]))
    return merged


Handler = Callable[[Context, list[Any], dict[str, Any], Any], Any]

HANDLERS: dict[str, Handler] = {
    **dict.fromkeys(["view", "_unsafe_view", "reshape", "_reshape_alias", "view_copy", "squeeze", "unsqueeze",
                     "flatten", "unflatten", "view_as"], _view),
    **dict.fromkeys(["alias", "clone", "_to_copy", "detach", "lift_fresh", "contiguous", "to", "_copy_from",
                     "lift_fresh_copy", "dropout", "native_dropout", "feature_dropout", "alpha_dropout",
                     "_conj", "resolve_conj", "resolve_neg", "type_as", "_to_dense"], _identity),
    **dict.fromkeys(["zeros_like", "ones_like", "empty_like", "full_like", "rand_like", "randn_like",
                     "randint_like", "new_zeros", "new_ones", "new_empty", "new_full", "new_empty_strided",
                     "fill", "zero", "normal", "uniform", "bernoulli", "exponential", "random", "sym_size",
                     "sym_numel", "sym_stride", "empty_strided", "scalar_tensor"], _constant),
    "copy": _copy,
    "permute": _permute, "transpose": _transpose, "t": _transpose, "numpy_T": _transpose, "swapaxes": _transpose,
    "expand": _expand, "expand_as": _expand, "broadcast_to": _expand,
    "slice": _slice, "narrow": _slice, "select": _select,
    **dict.fromkeys(["split", "split_with_sizes", "unbind", "chunk", "tensor_split", "unsafe_split",
                     "unsafe_split_with_sizes"], _split),
    "cat": _cat, "concat": _cat, "stack": _stack, "glu": _glu, "as_strided": _as_strided,
    "index_select": _index_select, "gather": _index_select, "index": _index,
    "pixel_shuffle": _pixel_shuffle, "pixel_unshuffle": _pixel_shuffle,
    "convolution": _conv, "_convolution": _conv,
    **dict.fromkeys(["max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices",
                     "max_pool2d_with_indices", "max_pool3d_with_indices", "avg_pool1d", "avg_pool2d",
                     "avg_pool3d"], _pool),
    **dict.fromkeys(["_adaptive_avg_pool2d", "_adaptive_avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
                     "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d"],
                    _adaptive),
    **dict.fromkeys(["upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d", "_upsample_nearest_exact1d",
                     "_upsample_nearest_exact2d", "_upsample_nearest_exact3d", "upsample_linear1d",
                     "upsample_bilinear2d", "upsample_trilinear3d", "upsample_bicubic2d", "_upsample_bilinear2d_aa",
                     "_upsample_bicubic2d_aa"], _resize),
    **dict.fromkeys(["constant_pad_nd", "reflection_pad1d", "reflection_pad2d", "reflection_pad3d",
                     "replication_pad1d", "replication_pad2d", "replication_pad3d"], _pad),
    "roll": _roll, "max_unpool2d": _unpool, "max_unpool3d": _unpool,
    **dict.fromkeys(["mean", "sum", "amax", "amin", "max", "min", "var", "std", "var_mean", "std_mean", "prod",
                     "logsumexp", "linalg_vector_norm", "norm", "any", "all", "argmax", "argmin", "nansum",
                     "count_nonzero", "median", "nanmedian", "mode"], _reduce),
    **dict.fromkeys(["_softmax", "softmax", "_log_softmax", "log_softmax", "_safe_softmax", "cumsum", "cumprod",
                     "cummax", "cummin", "logcumsumexp", "sort", "argsort", "topk", "kthvalue"], _along),
    "native_layer_norm": _layer_norm, "native_group_norm": _group_norm,
    **dict.fromkeys(["native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training",
                     "_native_batch_norm_legit_functional", "batch_norm"], _batch_norm),
    **dict.fromkeys(["mm", "bmm", "addmm", "baddbmm", "addbmm", "matmul"], _matmul),
    **dict.fromkeys(["_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_attention_math",
                     "_scaled_dot_product_flash_attention", "_scaled_dot_product_efficient_attention",
                     "scaled_dot_product_attention"], _attention),
}

#: elementwise ops that PyTorch does not tag ``pointwise`` (a per-channel weight broadcasts, as in PReLU)
POINTWISE_UNTAGGED = {"hardswish", "log_sigmoid_forward", "_prelu_kernel", "prelu", "rrelu_with_noise"}

#: ops whose result never depends on the values of their tensor arguments
CONSTANT_RESULTS = {"empty", "zeros", "ones", "full", "arange", "eye", "rand", "randn", "randint", "linspace"}

#: ops whose failure on a meta tensor means the input is too small
SIZE_CHECKED = {"convolution", "_convolution", "max_pool1d", "max_pool2d", "max_pool3d", "max_pool2d_with_indices",
                "max_pool3d_with_indices", "avg_pool1d", "avg_pool2d", "avg_pool3d"}
