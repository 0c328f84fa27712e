"""Lowerings of torch's own modules: ``Conv1d`` with causal padding, ``Sequential``, the activations, ``GLU``,
``Softmax``/``LogSoftmax`` over channels or batch, ``Identity``, ``Dropout`` and ``BatchNorm1d`` (eval mode).
Imported by ``atrous.stream``, so they are registered whenever :mod:`atrous.stream.ir` is."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from atrous.errors import UnsupportedOpError
from atrous.stream.ir import Builder, Value, _label, register_lowering

_POINTWISE: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish, nn.Tanh,
    nn.Sigmoid, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.Softplus, nn.Softsign, nn.Tanhshrink,
)


@register_lowering(*_POINTWISE)
def _lower_pointwise(m: nn.Module, b: Builder, x: Value, name: str) -> Value:
    if isinstance(m, nn.PReLU) and m.num_parameters > 1:
        channels = m.num_parameters
        b._meet(x, channels, name)
    return b.pointwise(m, x, name)


@register_lowering(nn.Softmax, nn.LogSoftmax)
def _lower_softmax(m: nn.Softmax | nn.LogSoftmax, b: Builder, x: Value, name: str) -> Value:
    # dim None on a 3-D input is dim 0 (torch's legacy rule): over the batch, still one time step at a time
    if m.dim is not None and m.dim in (2, -1):
        raise UnsupportedOpError(f"stream: {_label(name, m)} normalises over time (dim={m.dim}); it cannot stream")
    return b.fn(x, m, name)


@register_lowering(nn.GLU)
def _lower_glu(m: nn.GLU, b: Builder, x: Value, name: str) -> Value:
    if m.dim not in (1, -2):
        raise UnsupportedOpError(f"stream: {_label(name, m)} gates along dim {m.dim}; only the channels (dim 1) "
                                 "stream")
    return b.gate(x, "identity")


@register_lowering(nn.Identity)
def _lower_identity(m: nn.Module, b: Builder, x: Value, name: str) -> Value:
    return x


@register_lowering(nn.Dropout)
def _lower_dropout(m: nn.Dropout, b: Builder, x: Value, name: str) -> Value:
    if m.p > 0:
        b.require_eval(m, name)
    return x


@register_lowering(nn.BatchNorm1d)
def _lower_batchnorm(m: nn.BatchNorm1d, b: Builder, x: Value, name: str) -> Value:
    if not m.track_running_stats:
        raise UnsupportedOpError(f"stream: {_label(name, m)} has no running statistics (track_running_stats=False), "
                                 "so it mixes time steps")
    b._meet(x, m.num_features, name)
    b.require_eval(m, name)

    def params() -> tuple[Tensor, Tensor]:
        assert m.running_mean is not None and m.running_var is not None
        scale = torch.rsqrt(m.running_var + m.eps)
        if m.weight is not None:
            scale = scale * m.weight
        shift = -m.running_mean * scale
        return scale, shift if m.bias is None else shift + m.bias
    return b.affine(x, params)


@register_lowering(nn.Sequential)
def _lower_sequential(m: nn.Sequential, b: Builder, x: Value, name: str) -> Value:
    sub = f"{name}." if name else ""
    for child_name, child in m.named_children():
        x = b.lower1(child, x, f"{sub}{child_name}")
    return x


@register_lowering(nn.Conv1d)
def _lower_conv1d(m: nn.Conv1d, b: Builder, x: Value, name: str) -> Value:
    k, d, s = m.kernel_size[0], m.dilation[0], m.stride[0]
    if m.padding == "same":
        left = (k - 1) * d // 2
        right = (k - 1) * d - left
    elif m.padding == "valid":
        left = right = 0
    else:
        left = right = int(m.padding[0])
    if m.padding_mode != "zeros" and left + right > 0:
        raise UnsupportedOpError(f"stream: {_label(name, m)} pads with {m.padding_mode!r}; streaming needs zero "
                                 "padding")
    return b.conv(x, name, m, in_channels=m.in_channels, out_channels=m.out_channels, kernel=k, dilation=d,
                  groups=m.groups, left=left, right=right, stride=s)
