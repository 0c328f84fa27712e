"""Atrous spatial pyramid pooling (DeepLabv3, Chen et al. 2017): parallel atrous branches and image pooling.

Rates and output stride are coupled: a 3×3 branch at rate ``r`` spans ``2r + 1`` feature pixels, that is
``(2r + 1) * output_stride`` input pixels, so DeepLab uses rates 6, 12, 18 at output stride 16 and 12, 24, 36
at output stride 8 (the same field in image pixels). :class:`ASPP` derives them from ``output_stride`` and
warns when a rate's span exceeds the feature map it runs on (the branch then reads mostly zero padding).

Layout: on the CPU, where the widest atrous branch is measured faster in the channels-last layout (oneDNN's
NCHW kernel falls back to im2col at paddings >= 7; see :mod:`atrous.functional._layout`), ASPP converts its
input to channels-last once and runs every branch, the concatenation and the fusion there: the conversion is
paid once for five branches, and the output is left channels-last (same values, channels-last strides).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, fx, nn

from atrous import rf
from atrous.errors import ShapeError, bad
from atrous.functional import conv as _F
from atrous.nn._rf import ReceptiveFieldMixin
from atrous.nn.conv import DilatedConv2d

__all__ = ["ASPP", "DEEPLAB_RATES"]

#: DeepLabv3's atrous rates for each output stride.
DEEPLAB_RATES: dict[int, tuple[int, ...]] = {16: (6, 12, 18), 8: (12, 24, 36)}


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _conv_bn_relu(conv: nn.Module, channels: int, factory: dict[str, Any]) -> nn.Sequential:
    return nn.Sequential(conv, nn.BatchNorm2d(channels, **factory), nn.ReLU(inplace=True))


class ASPP(ReceptiveFieldMixin, nn.Module):
    """Atrous spatial pyramid pooling: a 1×1 branch, one 3×3 atrous branch per rate, an image-pooling branch,
    concatenated and fused by a 1×1 convolution.

    Every branch is conv → BatchNorm → ReLU as in DeepLabv3; the fusion is 1×1 conv → BatchNorm → ReLU →
    dropout. The image-pooling branch averages the whole map, applies 1×1 conv → BatchNorm → ReLU and broadcasts
    the result back over the map (bilinear upsampling of a 1×1 map is a broadcast).

    Batch size 1 in training: the pooled map is ``(1, C, 1, 1)``, one value per channel, for which batch
    statistics do not exist (``torch.nn.BatchNorm2d`` raises "Expected more than 1 value per channel"). The
    image-pooling BatchNorm then normalises with its running statistics, as in eval mode, and leaves them
    unchanged; at batch size 2 or more it is an ordinary training-mode BatchNorm. The layer is a plain
    ``nn.BatchNorm2d``, so state dicts match DeepLab's layout and ``convert_sync_batchnorm`` still applies.
    A 1×1 feature map at batch size 1 cannot train (every branch's BatchNorm would see one value per channel):
    it raises :class:`~atrous.errors.ShapeError` in training mode.

    Args:
        in_channels: channels of the backbone feature map.
        out_channels: channels of every branch and of the output (DeepLab: 256).
        rates: atrous rates of the 3×3 branches (a non-empty list of positive ints); None derives them from
            ``output_stride``.
        output_stride: the backbone's output stride, 8 or 16, giving rates 12, 24, 36 or 6, 12, 18; used only
            when ``rates`` is None. Both None: output stride 16.
        separable: depthwise-separable 3×3 branches (depthwise atrous conv, then pointwise 1×1), as in
            DeepLabv3+.
        image_pooling: include the image-pooling branch (which makes the receptive field global).
        dropout: dropout probability after the fusion, in ``[0, 1)``.

    Warns:
        UserWarning: once per distinct feature-map size, when a rate's span ``2r + 1`` exceeds the map's height
        or width.

    Shape:
        ``(B, C_in, H, W) -> (B, C_out, H, W)``. The output is channels-last when the input is, or when the
        widest atrous branch chose that layout (see the module docstring); otherwise contiguous.

    >>> aspp = ASPP(32, 16, output_stride=8).eval()
    >>> aspp.rates, aspp(torch.randn(2, 32, 80, 80)).shape
    ((12, 24, 36), torch.Size([2, 16, 80, 80]))
    >>> r = aspp.receptive_field()
    >>> r.size, r.is_global
    ((73, 73), True)
    """

    rf_dims = 2

    def __init__(self, in_channels: int, out_channels: int = 256, rates: Sequence[int] | None = None,
                 output_stride: int | None = None, separable: bool = False, image_pooling: bool = True,
                 dropout: float = 0.1, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        where = type(self).__name__
        for arg, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not _is_int(value) or value < 1:
                raise bad(where, arg, "a positive int", value)
        if output_stride is not None and output_stride not in DEEPLAB_RATES:
            raise bad(where, "output_stride", "8 or 16 (DeepLab's output strides) or None", output_stride,
                      "pass rates=... for another stride")
        if rates is None:
            rates = DEEPLAB_RATES[16 if output_stride is None else output_stride]
        ok = isinstance(rates, Sequence) and not isinstance(rates, str) and len(rates) > 0 and \
            all(_is_int(r) and r >= 1 for r in rates)
        if not ok:
            raise bad(where, "rates", "a non-empty list of positive ints or None", rates)
        for arg, flag in (("separable", separable), ("image_pooling", image_pooling)):
            if not isinstance(flag, bool):
                raise bad(where, arg, "a bool", flag)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
            raise bad(where, "dropout", "a float in [0, 1)", dropout)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.rates = tuple(int(r) for r in rates)
        self.output_stride = output_stride
        self.separable, self.image_pooling = separable, image_pooling
        factory = {"device": device, "dtype": dtype}
        c_in, c = in_channels, out_channels

        self.branch1x1 = _conv_bn_relu(DilatedConv2d(c_in, c, 1, bias=False, **factory), c, factory)
        atrous = []
        for r in self.rates:
            if separable:
                conv: nn.Module = nn.Sequential(
                    DilatedConv2d(c_in, c_in, 3, dilation=r, groups=c_in, bias=False, **factory),
                    DilatedConv2d(c_in, c, 1, bias=False, **factory),
                )
            else:
                conv = DilatedConv2d(c_in, c, 3, dilation=r, bias=False, **factory)
            atrous.append(_conv_bn_relu(conv, c, factory))
        self.atrous = nn.ModuleList(atrous)
        self.pool = _conv_bn_relu(DilatedConv2d(c_in, c, 1, bias=False, **factory), c, factory) \
            if image_pooling else None
        n_branches = 1 + len(self.rates) + int(image_pooling)
        self.project = nn.Sequential(
            *_conv_bn_relu(DilatedConv2d(n_branches * c, c, 1, bias=False, **factory), c, factory),
            nn.Dropout(float(dropout)),
        )
        self._warned: set[tuple[int, int]] = set()

    def _check_span(self, height: int, width: int) -> None:
        if (height, width) in self._warned:
            return
        self._warned.add((height, width))
        over = [r for r in self.rates if 2 * r + 1 > min(height, width)]
        if not over:
            return
        spans = ", ".join(f"rate {r} (span {2 * r + 1})" for r in over)
        hint = "; ".join(f"output stride {os}: rates {', '.join(map(str, rs))}" for os, rs in DEEPLAB_RATES.items())
        verb, whose = ("exceeds", "its branch") if len(over) == 1 else ("exceed", "their branches")
        # stacklevel 5: _check_span < forward < Module._call_impl < Module._wrapped_call_impl < the caller
        warnings.warn(f"ASPP: {spans} {verb} the {height}x{width} feature map, so every output of {whose} reads "
                      f"zero padding; use rates that fit the backbone's output stride ({hint}) or a larger input",
                      stacklevel=5)

    def forward(self, x: Tensor) -> Tensor:
        channels_last = False
        if isinstance(x, Tensor) and not isinstance(x, fx.Proxy) and x.dim() == 4 and \
                not torch.compiler.is_compiling():
            self._check_span(int(x.shape[-2]), int(x.shape[-1]))
            if self.training and x.shape[0] * x.shape[-2] * x.shape[-1] == 1:
                raise ShapeError(f"ASPP: input must hold more than one value per channel in training (batch x "
                                 f"height x width > 1: BatchNorm needs statistics), got shape {tuple(x.shape)}; use a "
                                 "batch of 2 or more, a larger input, or eval()")
            if self._widest_prefers_channels_last(x):
                x = _F.to_channels_last(x)  # once for every branch; each conv then runs channels-last as it is
            channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
        outs = [self.branch1x1(x), *(branch(x) for branch in self.atrous)]
        if self.pool is not None:
            pooled = self._image_pooling(x, self.pool).expand_as(outs[0])
            if channels_last:  # torch.cat keeps its fast channels-last copy only when every input is channels-last
                pooled = pooled.contiguous(memory_format=torch.channels_last)
            outs.append(pooled)
        return self.project(torch.cat(outs, dim=1))  # type: ignore[no-any-return]

    def _widest_prefers_channels_last(self, x: Tensor) -> bool:
        """Whether the largest-rate branch's convolution is clearly faster channels-last on ``x``, measured once
        per input configuration by :mod:`atrous.functional` without the conversion, which ASPP pays once for all
        its branches."""
        if not self.atrous or x.is_contiguous(memory_format=torch.channels_last):
            return False
        widest = self.rates.index(max(self.rates))
        conv = self.get_submodule(f"atrous.{widest}.0.0" if self.separable else f"atrous.{widest}.0")
        assert isinstance(conv, DilatedConv2d)  # the depthwise atrous conv when separable
        return _F.conv_path(x, conv.weight, conv.bias, conv.stride, conv.dilation, conv.padding, conv.groups,
                            shared_input=True) == "channels_last"

    def _image_pooling(self, x: Tensor, pool: nn.Sequential) -> Tensor:
        conv, bn, relu = pool
        pooled = conv(F.adaptive_avg_pool2d(x, 1))
        if self.training and pooled.shape[0] == 1:  # one value per channel: no batch statistics exist
            assert isinstance(bn, nn.BatchNorm2d) and bn.running_mean is not None and bn.running_var is not None
            pooled = F.batch_norm(pooled, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
        else:
            pooled = bn(pooled)
        return relu(pooled)  # type: ignore[no-any-return]

    def rf_spec(self, graph: rf.Graph, src: int, name: str = "") -> int:
        """Add the ASPP skeleton after ``src``: parallel branches, a concatenation, the 1×1 fusion."""

        def add(path: str, node: int) -> int:
            """The conv at module path ``path`` after ``node``; graph nodes are named like the modules."""
            conv = self.get_submodule(path)
            assert isinstance(conv, DilatedConv2d)
            return conv.rf_spec(graph, node, f"{name}.{path}" if name else path)

        branches = [add("branch1x1.0", src)]
        for i in range(len(self.rates)):
            if self.separable:
                branches.append(add(f"atrous.{i}.0.1", add(f"atrous.{i}.0.0", src)))
            else:
                branches.append(add(f"atrous.{i}.0", src))
        if self.pool is not None:
            pooled = graph.add(rf.global_pool(2, broadcast=True), src, name=f"{name}.pool" if name else "pool")
            branches.append(add("pool.0", pooled))
        merged = graph.merge(branches, op="cat", name=f"{name}.cat" if name else "cat")
        return add("project.0", merged)


    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, rates={self.rates}, output_stride={self.output_stride}, "
                f"separable={self.separable}, image_pooling={self.image_pooling}")
