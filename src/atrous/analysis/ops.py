"""How each torch operation maps onto the receptive-field graph.

Three outcomes per operation: a new node (convolution, pooling, padding, cropping, a merge, a global
operation), an alias of its input (pointwise work: activations, normalisations, dropout, channel slicing,
...), or :class:`~atrous.errors.UnsupportedOpError` naming the operation and the fx node.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from atrous import rf
from atrous.analysis.values import Const, Val
from atrous.errors import ShapeError, UnsupportedOpError

if TYPE_CHECKING:
    from atrous.analysis.traced import TracedModel

POINTWISE_MODULES: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._BatchNorm, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
    nn.FeatureAlphaDropout, nn.Identity, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU,
    nn.GELU, nn.SiLU, nn.Mish, nn.Sigmoid, nn.Hardsigmoid, nn.Hardswish, nn.Hardtanh, nn.Tanh, nn.Softplus,
    nn.Softsign, nn.Tanhshrink, nn.LogSigmoid, nn.Threshold, nn.GLU, nn.LocalResponseNorm, nn.ChannelShuffle,
)
#: normalisations whose statistics span the spatial axes; treated as pointwise (they rescale, they move no
#: information between positions), which the notes say
STATISTICS_MODULES: tuple[type[nn.Module], ...] = (nn.GroupNorm, nn.modules.instancenorm._InstanceNorm)

POINTWISE_FUNCTIONS: set[Any] = {
    F.relu, F.relu_, torch.relu, torch.relu_, F.relu6, F.leaky_relu, F.elu, F.selu, F.celu, F.gelu, F.silu,
    F.mish, F.hardswish, F.hardsigmoid, F.hardtanh, F.sigmoid, torch.sigmoid, F.tanh, torch.tanh, F.softplus,
    F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout, F.batch_norm, F.local_response_norm,
    torch.neg, operator.neg, torch.abs, torch.exp, torch.clamp, torch.clip, torch.sqrt, torch.square,
    F.normalize, torch.nn.functional.glu, F.group_norm, F.instance_norm,
}
POINTWISE_METHODS = {
    "relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_", "contiguous", "clone", "float", "double", "half",
    "to", "type", "type_as", "detach", "abs", "neg", "exp", "clamp", "clamp_", "clip", "sqrt", "pow", "sign",
    "requires_grad_", "cpu", "cuda", "bfloat16", "masked_fill", "exponential_",
}
ELEMENTWISE = {
    operator.add: "add", operator.iadd: "add", operator.sub: "add", operator.isub: "add", torch.add: "add",
    torch.sub: "add", torch.subtract: "add", operator.mul: "mul", operator.imul: "mul", torch.mul: "mul",
    torch.multiply: "mul", operator.truediv: "mul", operator.itruediv: "mul", torch.div: "mul",
    operator.matmul: "mul", torch.maximum: "add", torch.minimum: "add", torch.where: "add",
}
ELEMENTWISE_METHODS = {"add": "add", "add_": "add", "sub": "add", "sub_": "add", "mul": "mul", "mul_": "mul",
                       "div": "mul", "div_": "mul", "expand_as": "add"}


class Context:
    """What handlers need: the result being built, the graph module, and the current fx node."""

    def __init__(self, result: TracedModel, gm: fx.GraphModule) -> None:
        self.result = result
        self.gm = gm
        self.fx_node: fx.Node | None = None

    @property
    def name(self) -> str:
        node = self.fx_node
        assert node is not None
        return str(node.target) if node.op == "call_module" else node.name

    def unsupported(self, what: str, why: str) -> UnsupportedOpError:
        return UnsupportedOpError(f"analyze: {what} at node {self.name!r} cannot be mapped exactly: {why}; "
                                  "use --empirical for a gradient measurement")

    def note(self, text: str) -> None:
        if text not in self.result.notes:
            self.result.notes.append(text)

    def layer(self, x: Val, layer: rf.Layer, op: str, channels: int | None = None) -> Val:
        """Apply a layer to the spatial axes of ``x`` (which must be in the standard layout)."""
        if not x.standard:
            raise self.unsupported(op, "its input's spatial axes are not in (batch, channels, *spatial) order")
        try:
            lengths = layer.output_length(x.spatial())
        except ShapeError as e:
            rule = str(e).split(": ", 1)[1]
            raise ShapeError(f"analyze: the input is too small for the model: at node {self.name!r} ({op}), "
                             f"{rule}") from None
        node = self.result.graph.add(layer, x.node, name=self.name)
        self.result.ops[node] = op
        shape = (x.shape[0], x.shape[1] if channels is None else channels, *lengths)
        return Val(node, shape, x.axes)

    def merge(self, vals: Sequence[Val], op: str, label: str) -> Val:
        nodes = list(dict.fromkeys(v.node for v in vals))
        if len(nodes) == 1:
            return vals[0]
        node = self.result.graph.merge(nodes, op=op, name=self.name)
        self.result.ops[node] = label
        widest = max(vals, key=lambda v: math.prod(s or 1 for s in v.spatial()))
        return Val(node, widest.shape, widest.axes)

    def make_global(self, x: Val, op: str, shape: tuple[int | None, ...], axes: tuple[int | None, ...],
                    broadcast: bool = False) -> Val:
        layer = rf.global_pool(len(x.axes), broadcast=broadcast)
        node = self.result.graph.add(layer, x.node, name=self.name)
        self.result.ops[node] = op
        return Val(node, shape, axes)


def _arg(args: Sequence[Any], kwargs: dict[str, Any], i: int, name: str, default: Any = None) -> Any:
    if len(args) > i:
        return args[i]
    return kwargs.get(name, default)


def _tuple(v: Any, n: int) -> tuple[int, ...]:
    if isinstance(v, int):
        return (v,) * n
    t = tuple(v)
    return t if len(t) == n else (t[0],) * n


def _padding(p: Any, n: int) -> Any:
    return p if isinstance(p, str) else _tuple(p, n)


# --------------------------------------------------------------------------------------------- modules

def call_module(ctx: Context, m: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    x = args[0] if args else next(iter(kwargs.values()))
    if not isinstance(x, Val):
        return Const()
    label = type(m).__name__
    if isinstance(m, nn.modules.conv._ConvTransposeNd):
        return _conv_transpose(ctx, x, m, label)
    if isinstance(m, nn.modules.conv._ConvNd):
        n = len(m.kernel_size)
        layer = rf.conv(tuple(m.kernel_size), tuple(m.stride), tuple(m.dilation), _padding(m.padding, n), dims=n)
        if m.padding_mode == "circular":
            ctx.note("circular padding wraps around at the borders; the receptive field is for an interior unit")
        return ctx.layer(x, layer, label, m.out_channels)
    if isinstance(m, (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd)):
        n = len(x.axes)
        kind = "maxpool" if isinstance(m, nn.modules.pooling._MaxPoolNd) else "avgpool"
        k = _tuple(m.kernel_size, n)
        layer = rf.pool(k, _tuple(m.stride or k, n), _tuple(getattr(m, "dilation", 1), n), _tuple(m.padding, n),
                        kind=kind, ceil_mode=bool(m.ceil_mode), dims=n)
        return ctx.layer(x, layer, label)
    if isinstance(m, (nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)):
        return adaptive_pool(ctx, x, m.output_size, label)
    if isinstance(m, POINTWISE_MODULES):
        return x
    if isinstance(m, STATISTICS_MODULES):
        _statistics_note(ctx, label)
        return x
    if isinstance(m, nn.LayerNorm):
        return _layer_norm(ctx, x, len(m.normalized_shape), label)
    if isinstance(m, nn.Linear):
        return _last_dim(ctx, x, label, m.out_features)
    if isinstance(m, nn.Flatten):
        return flatten(ctx, x, m.start_dim, m.end_dim, label)
    if isinstance(m, (nn.Softmax, nn.LogSoftmax, nn.Softmin)):
        return _reduce_like(ctx, x, m.dim, label)
    if isinstance(m, nn.Upsample):
        return interpolate(ctx, x, m.size, m.scale_factor, label, m.mode, m.align_corners)
    if isinstance(m, (nn.modules.padding._ConstantPadNd, nn.modules.padding._ReflectionPadNd,
                      nn.modules.padding._ReplicationPadNd, nn.ZeroPad2d)):
        return pad(ctx, x, list(m.padding), label)
    raise ctx.unsupported(f"module {label}", "atrous does not know how it moves information between positions")


def _conv_transpose(ctx: Context, x: Val, m: nn.modules.conv._ConvTransposeNd, label: str) -> Val:
    n = len(m.kernel_size)
    layer = rf.conv_transpose(tuple(m.kernel_size), tuple(m.stride), _tuple(m.padding, n),
                              _tuple(m.output_padding, n), tuple(m.dilation), dims=n)
    return ctx.layer(x, layer, label, m.out_channels)


def adaptive_pool(ctx: Context, x: Val, output_size: Any, label: str) -> Val:
    n = len(x.axes)
    if not x.standard:
        raise ctx.unsupported(label, "its input's spatial axes are not in (batch, channels, *spatial) order")
    target = [None] * n if output_size is None else list(_tuple(output_size, n) if not isinstance(
        output_size, (list, tuple)) else output_size)
    lengths = x.spatial()
    out = [length if t is None else t for t, length in zip(target, lengths)]
    if all(o == 1 for o in out):
        return ctx.make_global(x, label, (*x.shape[:2], *out), x.axes)
    if list(out) == list(lengths):
        return x
    if any(length % o for o, length in zip(out, lengths)):
        raise ctx.unsupported(label, f"it maps {list(lengths)} to {out} with windows of unequal size")
    k = tuple(length // o for o, length in zip(out, lengths))
    ctx.note(f"{label} at {ctx.name!r} depends on the input size: here it pools {list(k)} windows "
             f"({list(lengths)} -> {out})")
    return ctx.layer(x, rf.pool(k, k, dims=n, kind="avgpool"), label)


def _statistics_note(ctx: Context, label: str) -> None:
    ctx.note(f"{label} normalises with statistics over the spatial axes; atrous treats it as pointwise "
             "(it rescales each position, it does not move information between positions)")


def _layer_norm(ctx: Context, x: Val, n_norm: int, label: str) -> Val:
    dims = range(x.rank - n_norm, x.rank)
    if any(x.is_spatial_dim(d) and (x.shape[d] or 0) > 1 for d in dims):
        _statistics_note(ctx, label)
    return x


def _last_dim(ctx: Context, x: Val, label: str, features: int | None) -> Val:
    """A linear map over the last dimension: pointwise unless that dimension is spatial."""
    last = x.rank - 1
    shape = (*x.shape[:-1], features)
    if x.is_spatial_dim(last) and (x.shape[last] or 0) > 1:
        axes = tuple(None if d == last else d for d in x.axes)
        return ctx.make_global(x, label, shape, axes)
    return Val(x.node, shape, x.axes)


def _reduce_like(ctx: Context, x: Val, dim: Any, label: str) -> Val:
    if dim is not None and x.is_spatial_dim(int(dim)) and (x.shape[int(dim)] or 0) > 1:
        return ctx.make_global(x, label, x.shape, x.axes, broadcast=True)
    return x


def flatten(ctx: Context, x: Val, start: int, end: int, label: str) -> Val:
    start, end = start % x.rank, end % x.rank
    folded = [d for d in range(start, end + 1)]
    size = math.prod(s or 1 for s in (x.shape[d] for d in folded)) if all(x.shape[d] for d in folded) else None
    shape = (*x.shape[:start], size, *x.shape[end + 1:])

    def moved(d: int | None) -> int | None:
        if d is None or d in folded:
            return None
        return d if d < start else d - (end - start)

    axes = tuple(moved(d) for d in x.axes)
    if any(x.is_spatial_dim(d) and (x.shape[d] or 0) > 1 for d in folded):
        return ctx.make_global(x, label, shape, axes)
    return Val(x.node, shape, axes)


def pad(ctx: Context, x: Val, pads: list[int], label: str) -> Val:
    """``F.pad`` order: (last-left, last-right, second-last-left, ...); negative values crop."""
    per_dim: dict[int, tuple[int, int]] = {}
    for i in range(0, len(pads), 2):
        per_dim[x.rank - 1 - i // 2] = (int(pads[i]), int(pads[i + 1]))
    if not x.standard:
        raise ctx.unsupported(label, "its input's spatial axes are not in (batch, channels, *spatial) order")
    spatial = [per_dim.get(d, (0, 0)) for d in x.axes if d is not None]
    if all(p == (0, 0) for p in spatial):
        return x
    layer = rf.crop(spatial) if any(v < 0 for p in spatial for v in p) else rf.conv(1, padding=spatial,
                                                                                     dims=len(spatial))
    return ctx.layer(x, layer, label)


#: interpolation modes mapped exactly for integer ratios (``area`` upsampling repeats samples like nearest)
RESIZE_MODES = {"nearest": "nearest", "nearest-exact": "nearest", "area": "nearest", "linear": "linear",
                "bilinear": "linear", "trilinear": "linear"}


def interpolate(ctx: Context, x: Val, size: Any, scale: Any, label: str, mode: str = "nearest",
                align_corners: bool | None = None, antialias: bool = False) -> Val:
    """``F.interpolate`` / ``nn.Upsample``: exact for an integer ratio per axis (up or down), see
    :func:`atrous.rf.upsample`; a 1 x 1 map spread over the output is a global broadcast."""
    lengths = x.spatial()
    n = len(lengths)
    if size is not None:
        out = list(_tuple(size, n))
    elif scale is not None:
        out = [math.floor(length * s) for length, s in zip(lengths, _tuple_f(scale, n))]
    else:
        raise ctx.unsupported(label, "neither size nor scale_factor is known")
    if list(out) == list(lengths):
        return x
    if all(length == 1 for length in lengths):
        return ctx.make_global(x, label, (*x.shape[:2], *out), x.axes, broadcast=True) if not _is_global(
            ctx, x) else Val(x.node, (*x.shape[:2], *out), x.axes)
    kind = RESIZE_MODES.get(str(mode))
    if kind is None:
        raise ctx.unsupported(label, f"mode {mode!r} is not mapped (nearest, nearest-exact, area, linear, "
                                     "bilinear and trilinear are); its weights vanish at some phases")
    if kind == "linear" and align_corners:
        raise ctx.unsupported(label, f"align_corners=True maps output o to input o * (L - 1) / (L_out - 1), "
                                     f"a stride that depends on the input size ({list(lengths)} -> {out}), so no "
                                     "unit repeats another's pattern; use align_corners=False")
    if antialias:
        raise ctx.unsupported(label, "antialias=True widens the kernel with the scale")
    up, down = [], []
    for length, o in zip(lengths, out):
        if o % length == 0:
            up.append(o // length)
            down.append(1)
        elif length % o == 0:
            up.append(1)
            down.append(length // o)
        else:
            raise ctx.unsupported(label, f"resizing {list(lengths)} to {out} is not an integer ratio on every axis "
                                         f"({o}/{length} is not an integer, nor is {length}/{o})")
    if str(mode) == "area" and any(d > 1 for d in down):
        layer = rf.pool(tuple(down), tuple(down), dims=n, kind="avgpool")
        x = ctx.layer(x, layer, label)
    elif any(d > 1 for d in down):
        x = ctx.layer(x, rf.downsample(tuple(down), kind, dims=n), label)
    if any(u > 1 for u in up):
        ctx.note(f"{label} at {ctx.name!r} upsamples by {'x'.join(map(str, up))} ({kind}): the receptive field "
                 "after it depends on the output unit's phase")
        x = ctx.layer(x, rf.upsample(tuple(up), kind, dims=n), label)
    return x


def _tuple_f(v: Any, n: int) -> tuple[float, ...]:
    if isinstance(v, (int, float)):
        return (float(v),) * n
    return tuple(float(s) for s in v)


def _is_global(ctx: Context, x: Val) -> bool:
    layer = ctx.result.graph.nodes[x.node].layer
    return layer is not None and layer.is_global


__all__ = ["Context", "adaptive_pool", "call_module", "flatten", "interpolate", "pad"]
