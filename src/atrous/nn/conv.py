"""Dilated and causal convolution modules: configuration and parameters; ``forward`` is one functional call.

On the CPU, a ``DilatedConv2d`` whose padding is 7 or more (``"same"`` at rate >= 7 for a 3×3 kernel) measures
once per input shape whether running in the channels-last layout is clearly faster than the NCHW call, where
oneDNN falls back to im2col at such paddings, and if so converts its input and **returns a channels-last
output**: same shape and values as ``torch.nn.Conv2d`` up to float rounding, channels-last strides (use
``.reshape``, not ``.view``, on it). :func:`atrous.functional.conv.set_auto_channels_last` turns this off;
:func:`atrous.functional.conv.set_benchmark` measures every layer's alternatives, 1-D included.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from atrous import rf
from atrous._validate import fits_in_ram
from atrous.errors import ConfigError
from atrous.functional import conv as _F
from atrous.stream.ir import Builder, Value, register_lowering

__all__ = ["CausalConv1d", "DilatedConv1d", "DilatedConv2d", "DilatedConv3d"]


def _ntuple(value: Any, n: int, arg: str, where: str) -> tuple[int, ...]:
    values = (value,) * n if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(values, (tuple, list)) or len(values) != n or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values):
        rule = "a positive int" if n == 1 else f"a positive int or {n} positive ints"
        raise ConfigError(f"{where}: {arg} must be {rule}, got {value!r}")
    return tuple(values)


class _DilatedConvNd(nn.Module):
    dims = 0

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, dilation: Any = 1,
                 padding: Any = "same", groups: int = 1, bias: bool = True, causal_axis: int | None = None,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        where = type(self).__name__
        for arg, v in (("in_channels", in_channels), ("out_channels", out_channels), ("groups", groups)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(f"{where}: {arg} must be a positive int, got {v!r}")
        if in_channels % groups or out_channels % groups:
            raise ConfigError(f"{where}: groups must divide in_channels and out_channels, got groups={groups} for "
                              f"{in_channels} -> {out_channels}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = _ntuple(kernel_size, self.dims, "kernel_size", where)
        self.stride = _ntuple(stride, self.dims, "stride", where)
        self.dilation = _ntuple(dilation, self.dims, "dilation", where)
        self.padding_mode_arg = padding
        self.causal_axis = causal_axis
        # resolve once: a bad padding word fails here, and the rf spec is the one the forward uses
        self.padding = _F.resolve_padding(self.kernel_size, self.stride, self.dilation, padding, causal_axis, where)
        factory = {"device": device, "dtype": dtype}
        if torch.device(device if device is not None else torch.get_default_device()).type == "cpu":
            weights = out_channels * (in_channels // groups) * math.prod(self.kernel_size) + out_channels
            itemsize = (dtype or torch.get_default_dtype()).itemsize
            fits_in_ram(where, "out_channels x in_channels x kernel_size", (out_channels, in_channels,
                        self.kernel_size), itemsize * weights, "its weights")
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, *self.kernel_size, **factory))
        self.bias = nn.Parameter(torch.empty(out_channels, **factory)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The initialisation of ``torch.nn.Conv*d``."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            nn.init.uniform_(self.bias, -bound, bound)

    def rf_layer(self, name: str = "") -> rf.Layer:
        """This layer's receptive-field spec."""
        return rf.conv(self.kernel_size, self.stride, self.dilation, self.padding, dims=self.dims, name=name)

    def rf_spec(self, graph: rf.Graph, src: int, name: str = "") -> int:
        """Add this layer's receptive-field skeleton to ``graph`` after node ``src``; returns the new node.

        Every atrous module has this method, so a model's receptive field is composed from its parts.
        """
        return graph.add(self.rf_layer(name), src, name=name or None)

    def forward(self, x: Tensor) -> Tensor:
        # the settings were resolved and checked in __init__: each call checks only the tensors
        # (benchmarks/conv_overhead.py measures what re-resolving them cost per call)
        return _F.conv_resolved(x, self.weight, self.bias, self.stride, self.dilation, self.padding, self.groups,
                                type(self).__name__)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"dilation={self.dilation}, padding={self.padding}, groups={self.groups}, bias={self.bias is not None}")


class DilatedConv1d(_DilatedConvNd):
    """``Conv1d`` with atrous padding: ``"same"`` (any kernel and dilation), ``"causal"``, ``"valid"``, ints, pairs.

    Shape:
        ``(B, C_in, L) -> (B, C_out, L_out)``, ``L_out = floor((L + left + right - (k-1)*d - 1) / s) + 1``.

    >>> DilatedConv1d(2, 4, 3, dilation=4, padding="causal")(torch.randn(1, 2, 16)).shape
    torch.Size([1, 4, 16])
    """

    dims = 1


@register_lowering(DilatedConv1d)  # CausalConv1d keeps this forward, so it streams through this lowering too
def _lower_dilated_conv1d(m: DilatedConv1d, b: Builder, x: Value, name: str) -> Value:
    (left, right), = m.padding
    return b.conv(x, name, m, in_channels=m.in_channels, out_channels=m.out_channels, kernel=m.kernel_size[0],
                  dilation=m.dilation[0], groups=m.groups, left=left, right=right, stride=m.stride[0])


class DilatedConv2d(_DilatedConvNd):
    """``Conv2d`` with atrous padding; ``padding="causal"`` is causal along ``causal_axis`` (default 0: H).

    Shape:
        ``(B, C_in, H, W) -> (B, C_out, H_out, W_out)``.

    On the CPU the output is channels-last where that layout was measured clearly faster (padding >= 7 and
    enough work to measure; see the module docstring); the values are the plain convolution's.

    >>> DilatedConv2d(3, 8, 3, dilation=6)(torch.randn(2, 3, 20, 20)).shape
    torch.Size([2, 8, 20, 20])
    """

    dims = 2


class DilatedConv3d(_DilatedConvNd):
    """``Conv3d`` with atrous padding; ``padding="causal"`` is causal along ``causal_axis`` (default 0: D).

    Shape:
        ``(B, C_in, D, H, W) -> (B, C_out, D_out, H_out, W_out)``.
    """

    dims = 3


class CausalConv1d(DilatedConv1d):
    """A 1-D convolution that never looks ahead: left padding ``(k - 1) * dilation``, none on the right.

    Shape:
        ``(B, C_in, L) -> (B, C_out, L)`` for stride 1.

    >>> conv = CausalConv1d(1, 1, 2, dilation=8)
    >>> conv.padding, conv(torch.randn(3, 1, 40)).shape
    (((8, 0),), torch.Size([3, 1, 40]))
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1, stride: int = 1,
                 groups: int = 1, bias: bool = True, device: Any = None, dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, dilation, "causal", groups, bias,
                         device=device, dtype=dtype)
