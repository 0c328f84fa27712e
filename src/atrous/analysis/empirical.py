"""Empirical receptive field: the input-gradient support of one output unit of any ``nn.Module``.

This is the cross-check of the analytic tracer: it knows nothing of the model's structure and only uses
autograd. The model is *linearised* so that the gradient of one output unit is non-zero exactly at the input
positions joined to that unit by a path through the network, and the support of that gradient is read off.

Linearisation. A deep copy of the model is moved to ``dtype`` and put in eval mode (the caller's model is
never touched), and its forward pass runs under a ``TorchFunctionMode`` that rewrites every op it calls,
module or functional (``F.relu``, ``x.relu_()``, ``F.max_pool2d``, ...), composite ops included:

* convolutions (also transposed) and linear layers use the positive constant weight ``1 / weight[0].numel()``
  (``1 / fan_in``) and no bias, so every path carries a positive weight and nothing can cancel;
* activations (ReLU family, GELU, SiLU, Mish, Hardswish, Sigmoid, Tanh, Softplus, clamp, ...), dropout, and
  softmax or L2 normalisation over channels become the identity;
* max pooling becomes average pooling with the same kernel, stride, padding, dilation and ``ceil_mode`` (a
  depthwise convolution with a constant kernel, since torch's ``AvgPool`` has no dilation); adaptive max
  pooling becomes adaptive average pooling and ``amax``/``amin`` become ``mean``;
* normalisations (Batch, Instance, Layer, Group, RMS, LocalResponse) become the identity. For BatchNorm in
  eval mode (a per-channel affine map) this changes no support. Instance, Group and Layer norm over spatial
  axes make every output depend on the whole input through their statistics; that dependence is dropped on
  purpose, because the analytic tracer treats normalisations as pointwise.

What is exact. A network of convolutions, pooling, pointwise ops, additions, concatenations, padding and
cropping becomes a sum over paths of positive products: its input gradient is, up to per-layer scales, the
path-count array of :func:`atrous.rf.support`, and it does not depend on the input values (ones are fed). The
measured support then equals the analytic one exactly. Ops left as they are (attention, products with learnt
parameters of either sign, subtractions) still give a non-zero gradient wherever a path exists, but an exact
cancellation cannot be ruled out there. TorchScript and compiled modules are not rewritten.

Global operations. A mean, sum or max over all spatial axes, or an adaptive pooling to size 1, is recorded
when the forward pass calls it. When the measured output has spatial axes, the result of that op is detached,
so ``size``, ``stride`` and the support describe the local path and ``is_global`` is true (as ``rf.global``
in DESIGN.md §6). An output without spatial axes (classifier logits) is measured once, at the start size,
with all its entries summed and nothing detached: ``is_global`` is true when every input position influences
it or a global op was seen (a valid strided stem may leave the last row unread); ``stride`` is then 0 (there
is no neighbouring unit) and ``size`` spans the measured support.

Input size. Borders cut paths, so the support is measured on an input large enough for them not to matter:
start from ``input_shape``'s spatial size (or ``min_size`` where larger) and double every axis on which the
support of the measured unit touches the first or last input position (or the first position of its
neighbour's support is the first input position, or the output has fewer than two units), up to
``max_size``. Once nothing touches a border, the measurement is repeated at twice the size and accepted when
size, stride, start and taps are unchanged: a path through an intermediate position outside its feature map
can be lost without the support reaching the border, so one clean measurement alone is no proof. (An
analytic estimate of the size would need the structure this module must not assume.) A model that fails on
the starting size (too small for its kernels and strides), a unit or neighbour with a zero gradient (it
reads only padding), and neighbours that do not shift forwards (paths cut near the border of a small input,
or an upsampled output) are retried on a doubled input: while some axis is shorter than 64, then up to three
more times, before an error is reported.

One backward pass. The batch holds ``1 + D`` copies of the input (``D`` spatial axes): sample 0 seeds the
centre unit ``n // 2`` of every output axis of length ``n`` (all channels at that position: the union over
channels, as a concatenation of branches is treated analytically), sample ``1 + a`` its neighbour one step
further along axis ``a`` (one step back when the centre unit is the last one). The stride (jump) along
``a`` is the shift of the first non-zero input position between samples 0 and ``1 + a``, so only that first
position of the neighbour must be clear of the border. The model must treat batch samples independently, as
ordinary models do in eval mode.
"""

from __future__ import annotations

import copy
import difflib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode, redispatch_function

from atrous.errors import AtrousError, ConfigError, ShapeError, UnsupportedOpError, bad

__all__ = ["EmpiricalRF", "empirical_rf"]

_WHERE = "empirical_rf"

Handler = Callable[[Callable[..., Any], tuple[Any, ...], dict[str, Any]], Any]


@dataclass(frozen=True)
class EmpiricalRF:
    """Measured receptive field of one output unit; per-axis tuples are ordered like the tensor's axes.

    Output index ``i`` reads input positions ``i * stride + start .. i * stride + end`` (for the global
    case without spatial output, ``start``/``end`` are absolute input positions). ``mask`` is the support
    inside the box: ``mask[i0, i1, ...]`` is true when input offset ``start + (i0, i1, ...)`` is read.
    """

    size: tuple[int, ...]
    stride: tuple[int, ...]
    start: tuple[int, ...]
    end: tuple[int, ...]
    offset: tuple[float, ...]
    taps: int
    holes: int
    coverage: float
    axis_taps: tuple[int, ...]
    axis_holes: tuple[int, ...]
    is_global: bool
    input_size: tuple[int, ...]
    output_size: tuple[int, ...]
    unit: tuple[int, ...]
    global_ops: tuple[str, ...] = ()
    mask: Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.bool), repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """The ``rf`` and ``support`` objects of the JSON contract (DESIGN.md §6)."""
        return {
            "rf": {"size": list(self.size), "stride": list(self.stride), "offset": list(self.offset),
                   "global": self.is_global},
            "support": {"taps": self.taps, "coverage": self.coverage, "holes": self.holes},
        }


# ---------------------------------------------------------------------------------------------------------
# The linearising mode


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], i: int, name: str, default: Any) -> Any:
    return args[i] if len(args) > i else kwargs.get(name, default)


def _input(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return args[0] if args else kwargs.get("input", kwargs.get("self"))


def _is_float(x: object) -> bool:
    return isinstance(x, Tensor) and x.is_floating_point()


def _name(func: Callable[..., Any]) -> str:
    return str(getattr(func, "__name__", func))


def _identity(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    x = _input(args, kwargs)
    if not _is_float(x):
        return func(*args, **kwargs)
    # an in-place op must return its argument; an out-of-place one a new tensor (callers may modify it)
    return x if _name(func).endswith("_") or kwargs.get("inplace") is True else x.clone()


def _over_channels(i: int, default: int | None) -> Handler:
    """Identity when the op works along dim 1 (channels), else the op itself (softmax, normalize)."""

    def handler(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        x = _input(args, kwargs)
        dim = _arg(args, kwargs, i, "dim", default)
        if _is_float(x) and isinstance(dim, int) and x.dim() >= 2 and dim % x.dim() == 1:
            return x.clone()
        return func(*args, **kwargs)

    return handler


def _constant_weight(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    x = _input(args, kwargs)
    w = _arg(args, kwargs, 1, "weight", None)
    if not (_is_float(x) and isinstance(w, Tensor)):
        return func(*args, **kwargs)
    const = torch.full(w.shape, 1.0 / max(1, w[0].numel()), dtype=x.dtype, device=x.device)
    new = list(args)
    kw = dict(kwargs)
    if len(new) > 1:
        new[1] = const
    else:
        kw["weight"] = const
    if len(new) > 2:
        new[2] = None
    elif "bias" in kw:
        kw["bias"] = None
    return func(*new, **kw)


def _ntuple(value: Any, d: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * d
    values = tuple(int(v) for v in value)
    return values * d if len(values) == 1 else values


def _dilated_avg_pool(x: Tensor, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool,
                     dims: int) -> Tensor:
    """Average pooling with dilation: the windows of ``max_pool{dims}d`` with the same arguments, averaged.

    Padding adds zeros (it is read by no path) and the output has exactly max pooling's length, ``ceil_mode``
    included. Shape: ``B C *S -> B C *S_out`` (or unbatched ``C *S``).
    """
    unbatched = x.dim() == dims + 1
    if unbatched:
        x = x.unsqueeze(0)
    k = _ntuple(kernel_size, dims)
    s = _ntuple(stride if stride else kernel_size, dims)  # torch's default stride is None or []
    p = _ntuple(padding, dims)
    d = _ntuple(dilation, dims)
    pads: list[int] = []
    crop: list[slice] = []
    for a in range(dims):
        n = x.shape[2 + a]
        span = (k[a] - 1) * d[a] + 1
        out = (n + 2 * p[a] - span + (s[a] - 1 if ceil_mode else 0)) // s[a] + 1
        if ceil_mode and (out - 1) * s[a] >= n + p[a]:
            out -= 1  # the last window may not start in the right padding
        pads = [p[a], max(p[a], (out - 1) * s[a] + span - n - p[a]), *pads]  # F.pad lists the last axis first
        crop.append(slice(0, out))
    channels = x.shape[1]
    weight = torch.full((channels, 1, *k), 1.0 / math.prod(k), dtype=x.dtype, device=x.device)
    conv = (F.conv1d, F.conv2d, F.conv3d)[dims - 1]
    y = conv(F.pad(x, pads), weight, None, s, 0, d, channels)[(slice(None), slice(None), *crop)]
    return y.squeeze(0) if unbatched else y


def _with_indices(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], pooled: Tensor,
                  return_indices: bool) -> Any:
    """Keep the op's return structure: ``(pooled, indices)`` where the original op returns indices."""
    if not (return_indices or "with_indices" in _name(func) or func is torch.adaptive_max_pool1d):
        return pooled
    x = _input(args, kwargs)
    ref = func(x.detach(), *args[1:], **{k: v for k, v in kwargs.items() if k != "input"})
    return (pooled, ref[1]) if isinstance(ref, tuple) else pooled


def _max_pool(dims: int) -> Handler:
    names = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")

    def handler(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        p = dict(zip(names, args)) | kwargs
        x = p["input"]
        if not _is_float(x):
            return func(*args, **kwargs)
        pooled = _dilated_avg_pool(x, p["kernel_size"], p.get("stride"), p.get("padding", 0),
                                  p.get("dilation", 1), bool(p.get("ceil_mode", False)), dims)
        return _with_indices(func, args, kwargs, pooled, bool(p.get("return_indices", False)))

    return handler


def _adaptive_max_pool(dims: int) -> Handler:
    avg = (F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d)[dims - 1]

    def handler(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        p = dict(zip(("input", "output_size", "return_indices"), args)) | kwargs
        if not _is_float(p["input"]):
            return func(*args, **kwargs)
        pooled = avg(p["input"], p["output_size"])
        return _with_indices(func, args, kwargs, pooled, bool(p.get("return_indices", False)))

    return handler


def _extreme_to_mean(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    x = _input(args, kwargs)
    if not _is_float(x):
        return func(*args, **kwargs)
    dim = _arg(args, kwargs, 1, "dim", ())
    keepdim = bool(_arg(args, kwargs, 2, "keepdim", False))
    if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
        dim = tuple(range(x.dim()))
    return x.mean(dim=dim, keepdim=keepdim)


def _collect(names: Sequence[str], *namespaces: object) -> list[Callable[..., Any]]:
    return [getattr(ns, n) for ns in namespaces for n in names if hasattr(ns, n)]


_ACTIVATIONS = (
    "relu", "relu_", "relu6", "elu", "elu_", "selu", "selu_", "celu", "celu_", "leaky_relu", "leaky_relu_",
    "prelu", "rrelu", "rrelu_", "gelu", "silu", "silu_", "mish", "mish_", "hardswish", "hardswish_",
    "hardsigmoid", "hardsigmoid_", "hardtanh", "hardtanh_", "sigmoid", "sigmoid_", "tanh", "tanh_", "softplus",
    "softsign", "logsigmoid", "log_sigmoid", "tanhshrink", "softshrink", "hardshrink", "threshold",
    "threshold_", "clamp", "clamp_", "clip", "clip_", "clamp_min", "clamp_min_", "clamp_max", "clamp_max_",
    "dropout", "dropout_", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "alpha_dropout_",
    "feature_alpha_dropout", "feature_dropout", "feature_dropout_",
)
_NORMS = ("batch_norm", "instance_norm", "layer_norm", "group_norm", "rms_norm", "local_response_norm")
_CONVS = ("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d", "linear")
_REDUCTIONS = ("mean", "nanmean", "sum", "nansum", "amax", "amin", "std", "var", "logsumexp")
_ADAPTIVE = tuple(f"adaptive_{kind}_pool{d}d" for kind in ("avg", "max") for d in (1, 2, 3)) + tuple(
    f"adaptive_max_pool{d}d_with_indices" for d in (1, 2, 3))


def _handlers() -> dict[Callable[..., Any], Handler]:
    table: dict[Callable[..., Any], Handler] = {}
    spaces = (F, torch, Tensor, torch._C._nn)
    for f in _collect(_ACTIVATIONS + _NORMS, *spaces):
        table[f] = _identity
    for f in _collect(("softmax", "log_softmax"), *spaces):
        table[f] = _over_channels(1, None)
    table[F.normalize] = _over_channels(2, 1)
    for f in _collect(_CONVS, *spaces):
        table[f] = _constant_weight
    for d in (1, 2, 3):
        for f in _collect((f"max_pool{d}d", f"max_pool{d}d_with_indices"), *spaces):
            table[f] = _max_pool(d)
        for f in _collect((f"adaptive_max_pool{d}d", f"adaptive_max_pool{d}d_with_indices"), *spaces):
            table[f] = _adaptive_max_pool(d)
    for f in _collect(("amax", "amin"), torch, Tensor):
        table[f] = _extreme_to_mean
    return table


_HANDLERS = _handlers()
_REDUCTION_FUNCS = frozenset(_collect(_REDUCTIONS, torch, Tensor))
_ADAPTIVE_FUNCS = frozenset(_collect(_ADAPTIVE, F, torch, torch._C._nn))


class _Linearised(TorchFunctionMode):
    """Runs every torch op linearised; records (and with ``cut_global`` detaches) global reductions."""

    def __init__(self, dims: int, cut_global: bool) -> None:
        super().__init__()
        self.dims = dims
        self.cut_global = cut_global
        self.global_ops: list[str] = []

    def __torch_function__(self, func: Callable[..., Any], types: Any, args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = {} if kwargs is None else kwargs
        try:
            handler = _HANDLERS.get(func)
        except TypeError:  # an unhashable callable
            handler = None
        if handler is not None:
            out = handler(func, tuple(args), kwargs)
        else:
            with self:  # re-enter so that the inner ops of composite functions are rewritten too
                out = redispatch_function(func, types, args, kwargs)  # type: ignore[no-untyped-call]
        if self._is_global(func, tuple(args), kwargs, out):
            if _name(func) not in self.global_ops:
                self.global_ops.append(_name(func))
            if self.cut_global:
                out = (out[0].detach(), *out[1:]) if isinstance(out, tuple) else out.detach()
        return out

    def _is_global(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
                   out: Any) -> bool:
        try:
            reduction, adaptive = func in _REDUCTION_FUNCS, func in _ADAPTIVE_FUNCS
        except TypeError:
            return False
        if not (reduction or adaptive):
            return False
        x = _input(args, kwargs)
        if not _is_float(x) or x.dim() != 2 + self.dims or math.prod(x.shape[2:]) <= 1:
            return False
        if reduction:
            dim = _arg(args, kwargs, 1, "dim", None)
            if dim is None or (isinstance(dim, (tuple, list)) and len(dim) == 0):
                return True
            dims = dim if isinstance(dim, (tuple, list)) else (dim,)
            if not all(isinstance(d, int) for d in dims):
                return False
            return {d % x.dim() for d in dims} >= set(range(2, 2 + self.dims))
        y = out[0] if isinstance(out, tuple) else out
        return isinstance(y, Tensor) and y.dim() == x.dim() and all(n == 1 for n in y.shape[2:])


# ---------------------------------------------------------------------------------------------------------
# Running the model


class _Stop(Exception):
    """Raised by the node hook: the rest of the forward pass is not needed."""


class _ModelFailed(ShapeError):
    """The model raised on this input size (perhaps too small for its kernels and strides)."""


#: Doublings tried when the model fails on the starting size or the measurement looks cut by the border,
#: once every axis is at least _SMALL long (below that, growing is always cheap and always tried).
_RETRIES = 3
_SMALL = 64


def _out_of_retries(count: int, sizes: tuple[int, ...]) -> bool:
    return count > _RETRIES and min(sizes) >= _SMALL


def _first_tensor(obj: object, what: str) -> Tensor:
    if isinstance(obj, Tensor):
        return obj
    if isinstance(obj, dict):
        values = [obj["out"]] if "out" in obj else list(obj.values())
        return _first_tensor(values[0], what) if values else _first_tensor(None, what)
    if isinstance(obj, (list, tuple)) and obj:
        return _first_tensor(obj[0], what)
    raise UnsupportedOpError(f"{_WHERE}: {what} must be a tensor (or a tuple, list or dict holding one), "
                             f"got {type(obj).__name__}")


def _forward(model: nn.Module, x: Tensor, target: tuple[str, nn.Module] | None, dims: int,
             cut_global: bool) -> tuple[Tensor, tuple[str, ...]]:
    captured: list[Tensor] = []

    def hook(module: nn.Module, inputs: Any, output: Any) -> None:
        captured.append(_first_tensor(output, f"the output of node {target[0] if target else ''!r}"))
        raise _Stop

    handle = None if target is None else target[1].register_forward_hook(hook)
    mode = _Linearised(dims, cut_global)
    out: Any = None
    try:
        with mode:
            out = model(x.clone())  # a clone, so in-place ops on the input never touch the leaf
    except _Stop:
        pass
    except AtrousError:
        raise
    except RuntimeError as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise _ModelFailed(f"{_WHERE}: the model failed on an input of shape {list(x.shape)} ({first}); pass an "
                         "input_shape the model accepts") from e
    finally:
        if handle is not None:
            handle.remove()
    if target is not None:
        if not captured:
            raise ConfigError(f"{_WHERE}: node must be a submodule that the forward pass calls, got "
                              f"{target[0]!r} (never called)")
        y = captured[0]
    else:
        y = _first_tensor(out, "the model's output")
    if not y.is_floating_point():
        raise UnsupportedOpError(f"{_WHERE}: the measured output must be a floating tensor, got {y.dtype}")
    return y, tuple(mode.global_ops)


def _no_dependence() -> UnsupportedOpError:
    return UnsupportedOpError(f"{_WHERE}: the output does not depend on the input (zero gradient); is part of "
                              "the forward pass run under torch.no_grad or detached?")


def _proj(mask: Tensor, axis: int) -> Tensor:
    """``mask`` projected on ``axis``: true where any position with that coordinate is true."""
    return mask.movedim(axis, 0).reshape(mask.shape[axis], -1).any(dim=1)


def _bounds(mask: Tensor, axis: int) -> tuple[int, int]:
    """First and last true index of ``mask`` projected on ``axis``."""
    idx = torch.nonzero(_proj(mask, axis)).flatten()
    return int(idx[0]), int(idx[-1])


@dataclass(frozen=True)
class _Pass:
    """One measurement: axes to grow, or a result (with its comparison key)."""

    grow: tuple[int, ...] = ()
    result: EmpiricalRF | None = None
    final: bool = False
    suspect: bool = False  # needs growth for a reason other than touching a border
    reason: str = ""

    @property
    def key(self) -> tuple[object, ...]:
        r = self.result
        assert r is not None
        return (r.size, r.stride, r.start, r.taps, r.axis_taps)


def _box(mask: Tensor, lo: Sequence[int], hi: Sequence[int]) -> tuple[Tensor, int, tuple[int, ...]]:
    box = mask[tuple(slice(a, b + 1) for a, b in zip(lo, hi))]
    axis_taps = tuple(int(_proj(box, a).sum()) for a in range(box.dim()))
    return box, int(box.sum()), axis_taps


def _non_spatial(model: nn.Module, target: tuple[str, nn.Module] | None, channels: int,
                 sizes: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> EmpiricalRF:
    """An output without spatial axes: one sample, every output summed, no global path detached."""
    leaf = torch.ones((1, channels, *sizes), dtype=dtype, device=device, requires_grad=True)
    out, global_ops = _forward(model, leaf, target, len(sizes), cut_global=False)
    if not out.requires_grad:
        raise _no_dependence()
    (grad,) = torch.autograd.grad(out.sum(), leaf, allow_unused=True)
    mask = torch.zeros(sizes, dtype=torch.bool) if grad is None else (grad[0].abs().sum(0) != 0).cpu()
    if not bool(mask.any()):
        raise _no_dependence()
    lo, hi = zip(*(_bounds(mask, a) for a in range(len(sizes))))
    box, taps, axis_taps = _box(mask, lo, hi)
    size = tuple(b - a + 1 for a, b in zip(lo, hi))
    volume = math.prod(size)
    return EmpiricalRF(size, (0,) * len(sizes), tuple(lo), tuple(hi), tuple((a + b) / 2 for a, b in zip(lo, hi)),
                       taps, volume - taps, taps / volume, axis_taps,
                       tuple(n - t for n, t in zip(size, axis_taps)), bool(global_ops) or bool(mask.all()), sizes,
                       tuple(out.shape[1:]), (), global_ops, box)


def _measure(model: nn.Module, target: tuple[str, nn.Module] | None, channels: int, sizes: tuple[int, ...],
             dtype: torch.dtype, device: torch.device) -> _Pass:
    dims = len(sizes)
    batch = 1 + dims
    leaf = torch.ones((batch, channels, *sizes), dtype=dtype, device=device, requires_grad=True)
    out, global_ops = _forward(model, leaf, target, dims, cut_global=True)
    if out.dim() != 2 + dims or out.shape[0] != batch or (global_ops and not out.requires_grad):
        return _Pass(result=_non_spatial(model, target, channels, sizes, dtype, device), final=True)
    out_size = tuple(int(n) for n in out.shape[2:])
    short = tuple(a for a in range(dims) if out_size[a] < 2)
    if short:
        return _Pass(grow=short, reason=f"the output has {out_size[short[0]]} unit(s) on axis {short[0]}")
    if not out.requires_grad:
        raise _no_dependence()
    unit = tuple(n // 2 for n in out_size)
    step = tuple(1 if u + 1 < n else -1 for u, n in zip(unit, out_size))  # the neighbour measured per axis
    seed = torch.zeros_like(out)
    for b in range(batch):
        at = list(unit)
        if b > 0:
            at[b - 1] += step[b - 1]
        index: tuple[int | slice, ...] = (b, slice(None), *at)
        seed[index] = 1
    (grad,) = torch.autograd.grad(out, leaf, seed, allow_unused=True)
    if grad is None and global_ops:  # only a global path reaches the output: measure it like logits
        return _Pass(result=_non_spatial(model, target, channels, sizes, dtype, device), final=True)
    mask = torch.zeros((batch, *sizes), dtype=torch.bool) if grad is None else (grad.abs().sum(1) != 0).cpu()
    if not bool(mask[0].any()) and global_ops:
        return _Pass(result=_non_spatial(model, target, channels, sizes, dtype, device), final=True)
    if not all(bool(m.any()) for m in mask):
        return _Pass(grow=tuple(range(dims)), suspect=True, reason=f"output unit {list(unit)} or a neighbour has a "
                     "zero input gradient (it may read only padding)")
    # the unit's support must stay clear of every border; a neighbour only lends its first position on its axis
    touching = []
    for a in range(dims):
        first, last = _bounds(mask[0], a)
        if first == 0 or last == sizes[a] - 1 or _bounds(mask[1 + a], a)[0] == 0:
            touching.append(a)
    if touching:
        return _Pass(grow=tuple(touching), reason=f"the support of output unit {list(unit)} touches the input "
                                                   f"border on axis {touching[0]}")
    lo, hi = zip(*(_bounds(mask[0], a) for a in range(dims)))
    stride = tuple((_bounds(mask[1 + a], a)[0] - lo[a]) * step[a] for a in range(dims))
    odd = tuple(a for a, j in enumerate(stride) if j <= 0)
    if odd:  # paths cut near a small input's border, or an upsampled output (raised if it persists)
        return _Pass(grow=odd, suspect=True, reason=f"neighbouring output units on axis {odd[0]} read inputs "
                     f"starting at the same position or backwards (stride {stride[odd[0]]})")
    box, taps, axis_taps = _box(mask[0], lo, hi)
    size = tuple(b - a + 1 for a, b in zip(lo, hi))
    start = tuple(f - u * j for f, u, j in zip(lo, unit, stride))
    end = tuple(s + n - 1 for s, n in zip(start, size))
    volume = math.prod(size)
    result = EmpiricalRF(size, stride, start, end, tuple((s + e) / 2 for s, e in zip(start, end)), taps,
                         volume - taps, taps / volume, axis_taps, tuple(n - t for n, t in zip(size, axis_taps)),
                         bool(global_ops), sizes, out_size, unit, global_ops, box)
    return _Pass(result=result)


# ---------------------------------------------------------------------------------------------------------
# Public entry point


def _check_int(value: object, arg: str, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise bad(_WHERE, arg, "a positive int", value)
    return value


def _resolve_node(model: nn.Module, node: str | None) -> tuple[str, nn.Module] | None:
    if node is None:
        return None
    modules = dict(model.named_modules())
    if not isinstance(node, str) or not node or node not in modules:
        names = [n for n in modules if n]
        near = difflib.get_close_matches(str(node), names, n=3) or names[:5]
        hint = f"e.g. {', '.join(map(repr, near))}" if near else "the model has no submodules"
        raise ConfigError(f"{_WHERE}: node must be a submodule name from model.named_modules(), got {node!r} "
                          f"({hint})")
    return node, modules[node]


def empirical_rf(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    node: str | None = None,
    min_size: int | None = None,
    max_size: int = 4096,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device = "cpu",
) -> EmpiricalRF:
    """Receptive field of the centre output unit of ``model`` (or of submodule ``node``), by autograd.

    See the module docstring for the linearisation, what is exact, and how the input size is chosen.

    Args:
        model: any ``nn.Module`` taking one ``B C *S`` tensor; it is deep-copied and never modified.
        input_shape: ``(B, C, L)``, ``(B, C, H, W)`` or ``(B, C, D, H, W)``: the channels, the number of
            spatial axes and the starting spatial size (the batch size is ignored).
        node: a name from ``model.named_modules()``; its (first) output is measured instead of the model's.
            The forward pass stops there.
        min_size: start every spatial axis at least at this size.
        max_size: largest size an axis may grow to; beyond it a :class:`~atrous.errors.ShapeError` is raised.
        dtype: floating dtype of the measurement (float64 keeps tiny path weights of deep nets above 0).
        device: where to run the copy.

    Returns:
        An :class:`EmpiricalRF`; ``as_dict()`` gives the ``rf``/``support`` objects of DESIGN.md §6.

    Raises:
        ConfigError: a malformed argument or an unknown node.
        ShapeError: the model fails on the input, or the support still touches a border at ``max_size``.
        UnsupportedOpError: the output does not depend on the input, or is upsampled (no integer stride).

    >>> from torch import nn
    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3, dilation=2, padding=2), nn.ReLU(), nn.MaxPool2d(2))
    >>> r = empirical_rf(net, (1, 1, 16, 16))
    >>> r.size, r.stride, r.offset, r.taps, r.holes
    ((6, 6), (2, 2), (0.5, 0.5), 36, 0)
    >>> empirical_rf(net[0], (1, 1, 16, 16)).as_dict()["support"]
    {'taps': 9, 'coverage': 0.36, 'holes': 16}
    """
    if not isinstance(model, nn.Module):
        raise bad(_WHERE, "model", "a torch.nn.Module", type(model).__name__)
    shape_ok = isinstance(input_shape, (Sequence, torch.Size)) and not isinstance(input_shape, str) and \
        3 <= len(input_shape) <= 5 and all(isinstance(n, int) and not isinstance(n, bool) and n >= 1
                                           for n in input_shape)
    if not shape_ok:
        raise bad(_WHERE, "input_shape", "(batch, channels, *spatial) with 1 to 3 positive spatial sizes, "
                  "e.g. (1, 3, 224, 224)", input_shape)
    max_size = _check_int(max_size, "max_size")
    floor = 1 if min_size is None else _check_int(min_size, "min_size")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise bad(_WHERE, "dtype", "a floating torch dtype such as torch.float64", dtype)
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise bad(_WHERE, "device", "a torch device such as 'cpu' or 'cuda'", device) from None
    channels = int(input_shape[1])
    sizes = tuple(max(int(n), floor) for n in input_shape[2:])
    dims = len(sizes)

    work = copy.deepcopy(model).to(device=dev, dtype=dtype).eval()
    work.requires_grad_(False)  # only the input gradient is needed
    target = _resolve_node(work, node)
    confirmed: _Pass | None = None
    first_failure: _ModelFailed | None = None
    ran = False
    failures = suspect_runs = 0
    while True:
        try:
            step = _measure(work, target, channels, sizes, dtype, dev)
        except _ModelFailed as e:
            first_failure = first_failure or e
            failures += 1
            if ran or _out_of_retries(failures, sizes) or all(n >= max_size for n in sizes):
                raise ShapeError(str(first_failure)) from first_failure.__cause__
            sizes = tuple(min(2 * n, max_size) for n in sizes)
            continue
        ran = True
        suspect_runs = suspect_runs + 1 if step.suspect else 0
        if _out_of_retries(suspect_runs, sizes):
            if "stride" in step.reason:
                raise UnsupportedOpError(
                    f"{_WHERE}: {step.reason} at input {list(sizes)}: the output is upsampled or not translation-"
                    "equivariant; measure a feature map before the upsampling with node=..."
                )
            raise _no_dependence()
        if step.final:
            assert step.result is not None
            return step.result
        if step.grow:
            grow, confirmed = step.grow, None
        elif confirmed is not None and confirmed.key == step.key:
            assert step.result is not None
            return step.result
        else:
            confirmed = step
            grow = tuple(a for a in range(dims) if sizes[a] < max_size)
            if not grow:  # no room left to confirm: accept the clean measurement
                assert step.result is not None
                return step.result
        stuck = [a for a in grow if sizes[a] >= max_size]
        if stuck:
            raise ShapeError(f"{_WHERE}: {step.reason} at the largest size max_size={max_size} (input "
                             f"{list(sizes)}); raise max_size, or measure an earlier feature map with node=...")
        sizes = tuple(min(2 * n, max_size) if a in grow else n for a, n in enumerate(sizes))
