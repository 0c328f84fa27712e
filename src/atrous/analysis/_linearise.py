"""The linearising ``TorchFunctionMode`` behind :func:`atrous.analysis.empirical.empirical_rf`.

A forward pass run under :class:`Linearised` rewrites every op it calls, module or functional (``F.relu``,
``x.relu_()``, ``F.max_pool2d``, ...), composite ops included, so that the network becomes a positive linear
map whose input gradient is non-zero exactly where a path joins an input position to the output:

* convolutions (also transposed) and linear layers use the positive constant weight ``1 / weight[0].numel()``
  (``1 / fan_in``) and no bias, so every path carries a positive weight and nothing can cancel;
* activations (ReLU family, GELU, SiLU, Mish, Hardswish, Sigmoid, Tanh, Softplus, clamp, ...), dropout, and
  softmax or L2 normalisation over channels become the identity;
* max pooling becomes average pooling with the same kernel, stride, padding, dilation and ``ceil_mode`` (a
  depthwise convolution with a constant kernel, since torch's ``AvgPool`` has no dilation); adaptive max
  pooling becomes adaptive average pooling and ``amax``/``amin`` become ``mean``;
* normalisations (Batch, Instance, Layer, Group, RMS, LocalResponse) become the identity. For BatchNorm in
  eval mode (a per-channel affine map) this changes no support. Instance and Group norm, and a Layer norm over
  every spatial axis, make every output depend on the whole input through their statistics: they become
  ``x + mean(x)`` over the spatial axes, that mean being a global operation (recorded, rescaled and, with
  ``cut_global``, detached like a global pooling), as the analytic tracer makes them global;
* a product or quotient of two tensors that both depend on the input becomes their sum (the same support for
  positive values, and no squaring of magnitudes at every gated layer).

With ``collapse=True`` convolutions and linear layers also *collapse the channels*: whatever their declared
shape, they use the weight ``full(1 / fan_in)`` of shape ``(1, C, *k)`` (transposed: ``(C, 1, *k)``; linear:
``(1, F)``) for the ``C`` channels (``F`` features) of the tensor they actually receive, with ``groups=1``,
so every convolution outputs one channel, and a per-channel constant met by a one-channel tensor in ``*``,
``/``, ``+`` or ``-`` is replaced by its mean over the channels. See
:func:`~atrous.analysis.empirical.empirical_rf` for why the support does not change.

Global operations (a mean, sum or max over all spatial axes, an adaptive pooling to size 1) are recorded
in ``global_ops`` and rescaled to magnitude 1 (squeeze-excitation gates would otherwise square the values at
every block until they overflow); with ``cut_global`` their result is also detached, so that only the local
path is measured.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode, redispatch_function

__all__ = ["Linearised", "dilated_avg_pool"]

Handler = Callable[[Callable[..., Any], tuple[Any, ...], dict[str, Any]], Any]


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


def _collapsed_weight(kind: str) -> Handler:
    """A convolution (``kind`` "conv" or "transpose") or linear layer with one output channel (feature).

    The weight is ``full(1 / fan_in)`` for the channels the input actually has, ``groups`` is 1 (so grouped
    and depthwise convolutions read every channel) and the bias is dropped. ``conv*`` and ``conv_transpose*``
    both take ``groups`` as their seventh argument.
    """

    def handler(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        x = _input(args, kwargs)
        w = _arg(args, kwargs, 1, "weight", None)
        if not (_is_float(x) and isinstance(w, Tensor)):
            return func(*args, **kwargs)
        if kind == "conv":
            pooled = _as_channel_mean_pool(x, tuple(int(n) for n in w.shape[2:]), args, kwargs)
            if pooled is not None:
                return pooled
        if kind == "linear":
            fan = int(x.shape[-1])
            shape: tuple[int, ...] = (1, fan)
        else:
            kernel = tuple(int(n) for n in w.shape[2:])
            c = int(x.shape[1] if x.dim() == len(kernel) + 2 else x.shape[0])  # batched or unbatched input
            shape = (1, c, *kernel) if kind == "conv" else (c, 1, *kernel)
            fan = c * math.prod(kernel)
        new = list(args)
        kw = {k: v for k, v in kwargs.items() if k not in ("input", "weight", "bias")}
        new[:2] = [x, torch.full(shape, 1.0 / max(1, fan), dtype=x.dtype, device=x.device)]
        if len(new) > 2:
            new[2] = None
        if kind != "linear":
            if len(new) > 6:
                new[6] = 1
            else:
                kw["groups"] = 1
        return func(*new, **kw)

    return handler


def _as_channel_mean_pool(x: Tensor, kernel: tuple[int, ...], args: tuple[Any, ...],
                          kwargs: dict[str, Any]) -> Tensor | None:
    """The collapsed convolution as a channel mean and an average pooling, where that is the same map.

    ``full(1 / (C * K))`` over ``C`` channels and ``K`` taps with zero padding is the mean over channels,
    then over the window with padding counted: ``avg_pool(count_include_pad=True)``. The pooling needs
    no im2col buffer (``K`` copies of the input: 1.6 GB for a 7 x 7 stem at 4096 x 4096 in float64) and is
    3 to 10 times faster. Dilated convolutions, padding words and padding over half the kernel keep the
    convolution (``None``).
    """
    dims = len(kernel)
    if x.dim() != dims + 2 or not 1 <= dims <= 3:
        return None
    stride = _ntuple(_arg(args, kwargs, 3, "stride", 1), dims)
    padding = _arg(args, kwargs, 4, "padding", 0)
    dilation = _ntuple(_arg(args, kwargs, 5, "dilation", 1), dims)
    if isinstance(padding, str) or any(d != 1 for d in dilation):
        return None
    pad = _ntuple(padding, dims)
    if any(p > k // 2 for p, k in zip(pad, kernel)):
        return None
    mean = x.mean(dim=1, keepdim=True) if x.shape[1] != 1 else x
    if all(k == 1 for k in kernel) and not any(pad):
        y = mean[(slice(None), slice(None), *(slice(None, None, s) for s in stride))]
        return y.clone() if mean is x else y  # never a view of the input: callers may add to it in place
    pool = (F.avg_pool1d, F.avg_pool2d, F.avg_pool3d)[dims - 1]
    return pool(mean, kernel, stride, pad, False, True)


def _ntuple(value: Any, d: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * d
    values = tuple(int(v) for v in value)
    return values * d if len(values) == 1 else values


def dilated_avg_pool(x: Tensor, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool,
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
        pooled = dilated_avg_pool(x, p["kernel_size"], p.get("stride"), p.get("padding", 0),
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


def _as_sums() -> dict[Callable[..., Any], Callable[..., Any]]:
    pairs = {"mul": "add", "multiply": "add", "div": "add", "divide": "add", "true_divide": "add", "mul_": "add_",
             "div_": "add_", "__mul__": "__add__", "__rmul__": "__radd__", "__truediv__": "__add__",
             "__imul__": "__iadd__", "__itruediv__": "__iadd__"}
    return {getattr(ns, a): getattr(ns, b) for ns in (torch, Tensor) for a, b in pairs.items()
            if hasattr(ns, a) and hasattr(ns, b)}


#: products and quotients of two signals become sums (see :func:`_signal_product`)
_AS_SUMS = _as_sums()


def _signal_product(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """``a * b`` (or ``a / b``) of two tensors that both depend on the input is run as ``a + b``.

    For positive ``a`` and ``b`` the gradient of ``a * b`` is ``a db + b da``: non-zero exactly where ``da`` or
    ``db`` is, as for ``a + b``, which is linear and keeps the values bounded. Left as a product, a gated unit
    (WaveNet's ``tanh(f) * sigmoid(g)``, linearised to ``f * g``) squares the magnitudes at every layer and
    overflows float64 within ten layers.
    """
    if len(args) == 2 and not kwargs:
        a, b = args
        if _is_float(a) and _is_float(b) and a.requires_grad and b.requires_grad:
            return _AS_SUMS[func](a, b)
    return func(*args, **kwargs)


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


def _collapsing_handlers() -> dict[Callable[..., Any], Handler]:
    table: dict[Callable[..., Any], Handler] = {}
    spaces = (F, torch, Tensor, torch._C._nn)
    for kind, names in (("conv", _CONVS[:3]), ("transpose", _CONVS[3:6]), ("linear", _CONVS[6:])):
        for f in _collect(names, *spaces):
            table[f] = _collapsed_weight(kind)
    return table


_HANDLERS = _handlers() | dict.fromkeys(_AS_SUMS, _signal_product)
_COLLAPSING = _HANDLERS | _collapsing_handlers()
_PRODUCTS = frozenset(_collect(("mul", "mul_", "multiply", "__mul__", "__rmul__", "__imul__", "add", "add_",
                                "__add__", "__radd__", "__iadd__", "sub", "sub_", "subtract", "__sub__", "__rsub__",
                                "__isub__"), torch, Tensor))
_QUOTIENTS = frozenset(_collect(("div", "div_", "divide", "true_divide", "__truediv__", "__itruediv__"),
                                torch, Tensor))


def _per_channel_axis(c: Tensor, x: Tensor) -> int | None:
    """Axis of ``c`` that broadcasts against ``x``'s channel axis (1), if ``c`` varies along it alone."""
    if not (_is_float(c) and 0 < c.dim() <= x.dim()) or c.requires_grad:
        return None
    axis = 1 - (x.dim() - c.dim())
    if axis < 0 or c.shape[axis] <= 1 or any(n != 1 for i, n in enumerate(c.shape) if i != axis):
        return None
    return axis


def _channel_constant_as_mean(func: Callable[..., Any], args: tuple[Any, ...], dims: int) -> tuple[Any, ...]:
    """Replace a per-channel constant met by a one-channel tensor with its mean over the channels.

    ``x * p`` with ``x`` of shape ``B 1 *S`` and a learnt ``p`` of shape ``C 1 1`` (a layer scale) would give
    ``C`` channels that the next convolution sums with weights ``1 / fan_in``: ``mean(p) * x`` per position,
    which is what one channel with ``mean(p)`` carries (``x / p``: ``x * mean(1 / p)``). Keeping one channel
    keeps a collapsed ConvNeXt from growing to its full width at every layer-scale multiplication.
    """
    if len(args) < 2:
        return args
    x, c = args[0], args[1]
    swapped = not (_is_float(x) and x.dim() == 2 + dims and x.shape[1] == 1)
    if swapped:
        if func in _QUOTIENTS:
            return args  # a constant divided by the signal is no linear map of it
        x, c = c, x
    if not (_is_float(x) and x.dim() == 2 + dims and x.shape[1] == 1 and isinstance(c, Tensor)):
        return args
    axis = _per_channel_axis(c, x)
    if axis is None:
        return args
    mean = 1 / (1 / c).mean(dim=axis, keepdim=True) if func in _QUOTIENTS else c.mean(dim=axis, keepdim=True)
    return (mean, x, *args[2:]) if swapped else (x, mean, *args[2:])
#: ops that can pick some channels of a feature map, with the position of their ``dim`` argument
_SELECTIONS: dict[Callable[..., Any], tuple[int, str]] = {
    f: pos for names, pos in ((("split", "chunk", "tensor_split"), (2, "dim")),
                              (("narrow", "unbind", "index_select", "select"), (1, "dim")))
    for f in _collect(names, torch, Tensor)}


def _selected_channel(index: Any, ndim: int) -> Any:
    """The entry of a ``__getitem__`` index that applies to axis 1 of an ``ndim``-D tensor (``slice(None)`` if none)."""
    items = index if isinstance(index, tuple) else (index,)
    if any(i is None for i in items[:2]):
        return None  # a new axis before the channels: not a plain channel slice
    if items and items[0] is Ellipsis:
        tail = items[1:]
        return tail[len(tail) - (ndim - 1)] if len(tail) >= ndim - 1 else slice(None)
    return items[1] if len(items) > 1 and items[1] is not Ellipsis else slice(None)


def _selects_channels(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], dims: int) -> bool:
    """Whether ``func`` picks a subset of the channels (axis 1) of a ``B C *S`` feature map.

    One channel cannot stand for channels that a split, slice or index treats differently, so a collapsed
    pass that meets one of these cannot vouch for the full network's support.
    """
    x = _input(args, kwargs)
    if not (_is_float(x) and x.dim() == 2 + dims):
        return False
    if func is Tensor.__getitem__:
        entry = _selected_channel(args[1] if len(args) > 1 else None, x.dim())
        return not (isinstance(entry, slice) and entry == slice(None))
    try:
        pos = _SELECTIONS.get(func)
    except TypeError:
        return False
    if pos is None:
        return False
    dim = _arg(args, kwargs, pos[0], pos[1], 0)
    return isinstance(dim, int) and dim % x.dim() == 1


_REDUCTION_FUNCS = frozenset(_collect(_REDUCTIONS, torch, Tensor))
#: normalisations whose statistics can span the spatial axes
_STATISTIC_NORMS = {f: name for name in ("instance_norm", "group_norm", "layer_norm")
                    for f in _collect((name,), F, torch)}
_ADAPTIVE_FUNCS = frozenset(_collect(_ADAPTIVE, F, torch, torch._C._nn))


def _rescaled(y: Tensor, detach: bool) -> Tensor:
    """``y`` divided by its own (detached) magnitude, so every non-zero entry is +-1; detached if asked.

    The value of a global statistic does not change which positions a path reaches, but a gate that multiplies
    a feature map by a statistic of itself (squeeze-excitation) squares the magnitudes at every block:
    RegNetY, MobileNetV3 and EfficientNet overflow float64 to inf within a few blocks otherwise.
    """
    if not _is_float(y):
        return y
    scale = y.detach().abs()
    y = y / torch.where(scale > 0, scale, torch.ones_like(scale))  # no 0/0 in the backward pass either
    return y.detach() if detach else y


class Linearised(TorchFunctionMode):
    """Runs every torch op linearised; records (and with ``cut_global`` detaches) global reductions.

    ``dims`` is the number of spatial axes of the model's input; ``collapse`` makes every convolution and
    linear layer output a single channel (see the module docstring).
    """

    def __init__(self, dims: int, cut_global: bool, collapse: bool = False) -> None:
        super().__init__()
        self.dims = dims
        self.cut_global = cut_global
        self.collapse = collapse
        self.handlers = _COLLAPSING if collapse else _HANDLERS
        self.global_ops: list[str] = []
        #: the cut results of global reductions, as leaves: a gradient reaching one proves the measured output
        #: depends on a global path (a classifier's count head that pools does not make the profile global)
        self.cut_leaves: list[Tensor] = []
        #: with ``collapse``: the ops that picked a subset of a feature map's channels (see _selects_channels)
        self.channel_selections: list[str] = []

    def __torch_function__(self, func: Callable[..., Any], types: Any, args: tuple[Any, ...] = (),
                           kwargs: dict[str, Any] | None = None) -> Any:
        kwargs = {} if kwargs is None else kwargs
        try:
            handler = self.handlers.get(func)
            arithmetic = self.collapse and (func in _PRODUCTS or func in _QUOTIENTS)
        except TypeError:  # an unhashable callable
            handler, arithmetic = None, False
        if arithmetic:
            args = _channel_constant_as_mean(func, tuple(args), self.dims)
        if self.collapse and _selects_channels(func, tuple(args), kwargs, self.dims) \
                and _name(func) not in self.channel_selections:
            self.channel_selections.append(_name(func))
        statistic = self._spatial_statistic(func, tuple(args), kwargs)
        if statistic is not None:
            if _name(func) not in self.global_ops:
                self.global_ops.append(_name(func))
            return _input(args, kwargs) + self._cut(_rescaled(statistic, self.cut_global))
        if handler is not None:
            out = handler(func, tuple(args), kwargs)
        else:
            with self:  # re-enter so that the inner ops of composite functions are rewritten too
                out = redispatch_function(func, types, args, kwargs)  # type: ignore[no-untyped-call]
        if self._is_global(func, tuple(args), kwargs, out):
            if _name(func) not in self.global_ops:
                self.global_ops.append(_name(func))
            if isinstance(out, tuple):
                out = (self._cut(_rescaled(out[0], self.cut_global)), *out[1:])
            else:
                out = self._cut(_rescaled(out, self.cut_global))
        return out

    def _spatial_statistic(self, func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The mean over the spatial axes that a normalisation's statistics read, or None where they read none."""
        try:
            kind = _STATISTIC_NORMS.get(func)
        except TypeError:
            return None
        x = _input(args, kwargs)
        if kind is None or not _is_float(x) or x.dim() != 2 + self.dims or math.prod(x.shape[2:]) <= 1:
            return None
        if kind == "layer_norm":
            shape = _arg(args, kwargs, 1, "normalized_shape", ())
            if len(tuple(shape) if isinstance(shape, (tuple, list, torch.Size)) else (shape,)) < self.dims:
                return None  # over channels (or the last axes only): no spatial statistic
        with torch.no_grad() if not x.requires_grad else contextlib.nullcontext():
            return x.mean(dim=tuple(range(2, x.dim())), keepdim=True)

    def _cut(self, y: Any) -> Any:
        if self.cut_global and isinstance(y, Tensor) and y.is_floating_point():
            y = y.requires_grad_(True)
            self.cut_leaves.append(y)
        return y

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
