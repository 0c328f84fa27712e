"""A small dense-prediction CNN whose only knob is its dilation schedule, for the vision tasks of
:mod:`atrous.train.tasks_vision` (receptive field vs object scale, gridding).

Every layer is a stride-1 ``kernel_size × kernel_size`` convolution with ``padding="same"`` followed by a ReLU,
and a 1×1 convolution maps to the classes: the output has the input's height and width, and its receptive
field is ``1 + (kernel_size - 1) * sum(rates)`` (plus ``2 (d - 1)`` per smoothed layer of rate ``d``). There is
deliberately no normalisation layer: batch or group statistics would make every output depend on the whole
image, and the receptive field is the quantity under study.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from atrous import rf
from atrous.errors import bad
from atrous.models._registry import register_model
from atrous.nn._rf import ReceptiveFieldMixin
from atrous.nn.conv import DilatedConv2d
from atrous.nn.degrid import SmoothedDilatedConv2d

__all__ = ["DilatedCNN"]


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@register_model("dilated_cnn", description="small dense CNN: 3x3 convs at the given rates + ReLU, 1x1 head",
                input_shape=(2, 1, 40, 40), tags=("vision",))
class DilatedCNN(ReceptiveFieldMixin, nn.Module):
    """``len(rates)`` convolutions of ``width`` channels at the given dilation rates, each followed by a ReLU,
    then a 1×1 convolution to ``out_channels``.

    With ``smoothed=True`` every layer of rate ``d > 1`` is a
    :class:`~atrous.nn.degrid.SmoothedDilatedConv2d` (Wang & Ji 2018): a learnt ``(2d - 1) × (2d - 1)``
    pre-filter shared by all channels, initialised as a delta, so the network starts as the plain one but can
    learn to mix the neighbours that the dilated taps skip. Layers of rate 1 stay plain.

    Args:
        in_channels: input channels.
        out_channels: output channels (classes).
        width: channels of every hidden layer.
        rates: the dilation of each layer, first layer first (e.g. ``[2, 2, 2]`` or HDC's ``[1, 2, 5]``); an int
            is one layer.
        kernel_size: kernel of every hidden layer.
        smoothed: smooth before every dilated layer (see above).

    Shape:
        ``(B, in_channels, H, W) -> (B, out_channels, H, W)``; receptive field
        ``1 + (kernel_size - 1) * sum(rates) + 2 * sum(d - 1 for the smoothed rates d)`` per axis.

    >>> import torch
    >>> net = DilatedCNN(1, 3, width=8, rates=[2, 2, 2])
    >>> net(torch.randn(2, 1, 24, 24)).shape, net.receptive_field().size
    (torch.Size([2, 3, 24, 24]), (13, 13))
    >>> DilatedCNN(rates=[2, 2, 2], smoothed=True).receptive_field().size
    (19, 19)
    """

    rf_dims = 2

    def __init__(self, in_channels: int = 1, out_channels: int = 2, width: int = 16,
                 rates: Sequence[int] | int = (1, 2, 5), kernel_size: int = 3, smoothed: bool = False) -> None:
        super().__init__()
        where = type(self).__name__
        for arg, value in (("in_channels", in_channels), ("out_channels", out_channels), ("width", width),
                           ("kernel_size", kernel_size)):
            if not _is_int(value) or value < 1:
                raise bad(where, arg, "a positive int", value)
        seq = (rates,) if isinstance(rates, int) else rates  # an int is one layer (``--model-arg rates=1``)
        ok = isinstance(seq, Sequence) and not isinstance(seq, str) and len(seq) > 0 and \
            all(_is_int(r) and r >= 1 for r in seq)
        if not ok:
            raise bad(where, "rates", "a non-empty list of positive ints (or one int: one layer)", rates)
        if not isinstance(smoothed, bool):
            raise bad(where, "smoothed", "a bool", smoothed)
        self.rates, self.smoothed = tuple(int(r) for r in seq), smoothed
        layers: list[nn.Module] = []
        c = in_channels
        for r in self.rates:
            if smoothed and r > 1:
                layers.append(SmoothedDilatedConv2d(c, width, kernel_size, dilation=r))
            else:
                layers.append(DilatedConv2d(c, width, kernel_size, dilation=r))
            c = width
        self.layers = nn.ModuleList(layers)
        self.head = DilatedConv2d(width, out_channels, 1)

    def features(self, x: Tensor) -> Tensor:
        """The last hidden layer's activations ``(B, width, H, W)``."""
        for layer in self.layers:
            x = F.relu(layer(x))
        return x

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))  # type: ignore[no-any-return]

    def rf_spec(self, graph: rf.Graph, src: int, name: str = "") -> int:
        """Add the chain of convolutions after node ``src``."""
        node = src
        for i, layer in enumerate(self.layers):
            assert isinstance(layer, (DilatedConv2d, SmoothedDilatedConv2d))
            node = layer.rf_spec(graph, node, f"{name}.layers.{i}" if name else f"layers.{i}")
        return self.head.rf_spec(graph, node, f"{name}.head" if name else "head")

    def extra_repr(self) -> str:
        return f"rates={self.rates}, smoothed={self.smoothed}"
