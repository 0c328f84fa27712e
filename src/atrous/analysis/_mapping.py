"""What every op mapping shares: the :class:`Context` (the graph being built, the op, the module it runs in) and
the layout helpers: broadcasting layouts (:func:`combine`), mixing dimensions (:func:`mix`, a global node where
they hold positions), reading the fine part of a split axis as a pooling window (:func:`resolve_fine`), a
channel factor inside an axis as an upsampling (:func:`settle`), and the axes a convolution slides over
(:func:`slot_axes`, :func:`slot_layout`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from atrous import rf
from atrous.analysis.axes import Layout, LayoutError
from atrous.analysis.values import Val
from atrous.errors import UnsupportedOpError

if TYPE_CHECKING:
    from atrous.analysis.traced import TracedModel

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

