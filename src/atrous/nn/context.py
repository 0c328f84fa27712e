"""The context module of Yu & Koltun 2016 ("Multi-scale context aggregation by dilated convolutions").

3×3 convolutions with exponentially growing dilations 1, 1, 2, 4, 8, 16, 1, each followed by ReLU, then a 1×1
convolution: a receptive field of 67 × 67 at full resolution. The paper found that standard initialisation did
not train the module and used an identity initialisation, so that at the start the module passes its input
through unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from atrous import rf
from atrous.errors import bad
from atrous.nn._rf import ReceptiveFieldMixin
from atrous.nn.conv import DilatedConv2d

__all__ = ["ContextModule"]


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


class ContextModule(ReceptiveFieldMixin, nn.Module):
    """Yu & Koltun's context module: dilated 3×3 convolutions with ReLU, then a 1×1 convolution.

    Layer ``i`` maps ``c_i`` to ``c_{i+1}`` channels (``c_0 = channels`` and the last 1×1 returns to
    ``channels``); every 3×3 layer uses ``padding="same"`` (zero padding), so the map size is kept.

    Identity initialisation (the paper's eq. for the basic and the large module): the 3×3 kernel from input
    channel ``a`` to output channel ``b`` is

        ``k_b(t, a) = (C / c_{i+1}) * 1[t = 0] * 1[floor(a C / c_i) = floor(b C / c_{i+1})] + eps``

    where ``t = 0`` is the centre tap, ``C = channels`` and ``eps ~ N(0, init_noise**2)``; biases are zero. With
    ``c_i = C`` this is ``1[t = 0] 1[a = b]``. Every channel of base channel ``q`` then carries ``x_q / m`` after a
    layer ``m`` times as wide, so with ``init_noise=0`` the module computes exactly ``relu(x)``: the identity on
    non-negative inputs (such as the class scores after a ReLU front end). The large module's replicated
    channels only differ once ``init_noise > 0`` breaks their symmetry (the paper: ``sigma << C / c_{i+1}``).

    Args:
        channels: channels of input and output (the paper: the number of classes).
        dilations: dilation of each 3×3 layer; the default gives the 8-layer module of the paper.
        hidden_channels: output channels of each 3×3 layer, multiples of ``channels`` (one per dilation);
            None keeps ``channels`` (the basic module). The paper's large module is
            ``[2C, 2C, 4C, 8C, 16C, 32C, 32C]``.
        kernel_size: kernel of the dilated layers (3 in the paper).
        init_noise: standard deviation of ``eps``.

    Shape:
        ``(B, C, H, W) -> (B, C, H, W)``.

    >>> m = ContextModule(4)
    >>> x = torch.rand(1, 4, 70, 70)
    >>> torch.equal(m(x), x), m.receptive_field().size
    (True, (67, 67))
    """

    rf_dims = 2

    def __init__(self, channels: int, dilations: Sequence[int] = (1, 1, 2, 4, 8, 16, 1),
                 hidden_channels: Sequence[int] | None = None, kernel_size: int = 3, init_noise: float = 0.0,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        where = type(self).__name__
        if not _is_int(channels) or channels < 1:
            raise bad(where, "channels", "a positive int", channels)
        ok = isinstance(dilations, Sequence) and not isinstance(dilations, str) and len(dilations) > 0 and \
            all(_is_int(d) and d >= 1 for d in dilations)
        if not ok:
            raise bad(where, "dilations", "a non-empty list of positive ints", dilations)
        if hidden_channels is None:
            hidden_channels = [channels] * len(dilations)
        ok = isinstance(hidden_channels, Sequence) and len(hidden_channels) == len(dilations) and \
            all(_is_int(c) and c >= 1 and c % channels == 0 for c in hidden_channels)
        if not ok:
            raise bad(where, "hidden_channels", f"{len(dilations)} positive multiples of channels={channels} "
                      "(one per dilation) or None", hidden_channels)
        if not _is_int(kernel_size) or kernel_size < 1 or kernel_size % 2 == 0:
            raise bad(where, "kernel_size", "a positive odd int (the identity needs a centre tap)", kernel_size)
        if isinstance(init_noise, bool) or not isinstance(init_noise, (int, float)) or init_noise < 0:
            raise bad(where, "init_noise", "a non-negative float", init_noise)
        self.channels, self.kernel_size, self.init_noise = channels, kernel_size, float(init_noise)
        self.dilations = tuple(int(d) for d in dilations)
        self.hidden_channels = tuple(int(c) for c in hidden_channels)
        factory = {"device": device, "dtype": dtype}
        widths = (channels, *self.hidden_channels)
        self.layers = nn.ModuleList(
            DilatedConv2d(widths[i], widths[i + 1], kernel_size, dilation=d, **factory)
            for i, d in enumerate(self.dilations)
        )
        self.final = DilatedConv2d(widths[-1], channels, 1, **factory)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Identity initialisation (see the class docstring)."""
        for conv in (*self.layers, self.final):
            assert isinstance(conv, DilatedConv2d)
            c_in, c_out, w_device = conv.in_channels, conv.out_channels, conv.weight.device
            a = torch.arange(c_in, device=w_device) * self.channels // c_in  # base channel of each input channel
            b = torch.arange(c_out, device=w_device) * self.channels // c_out
            w = torch.zeros_like(conv.weight)
            centre: tuple[int | slice, ...] = (slice(None), slice(None), *(k // 2 for k in conv.kernel_size))
            w[centre] = (b[:, None] == a[None, :]).to(w.dtype) * (self.channels / c_out)
            if self.init_noise > 0:
                w += torch.randn_like(w) * self.init_noise
            conv.weight.copy_(w)
            if conv.bias is not None:
                conv.bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        for conv in self.layers:
            x = F.relu(conv(x))
        return self.final(x)  # type: ignore[no-any-return]

    def rf_spec(self, graph: rf.Graph, src: int, name: str = "") -> int:
        """Add the module's chain of convolutions after node ``src``."""
        node = src
        for i, conv in enumerate(self.layers):
            assert isinstance(conv, DilatedConv2d)
            node = conv.rf_spec(graph, node, f"{name}.layers.{i}" if name else f"layers.{i}")
        return self.final.rf_spec(graph, node, f"{name}.final" if name else "final")


    def extra_repr(self) -> str:
        return f"{self.channels}, dilations={self.dilations}, hidden_channels={self.hidden_channels}"
