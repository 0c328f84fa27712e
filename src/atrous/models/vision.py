"""Dense-prediction models: a small DeepLabV3(+) with a dilated ResNet-style backbone, and the context module."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from atrous import rf
from atrous.errors import ConfigError, UnsupportedOpError, bad
from atrous.models._registry import register_model
from atrous.nn._rf import ReceptiveFieldMixin
from atrous.nn.aspp import ASPP
from atrous.nn.context import ContextModule
from atrous.nn.conv import DilatedConv2d

__all__ = ["CASCADE_RATES", "HEADS", "BasicBlock", "DeepLabV3", "DilatedResNet"]


class BasicBlock(nn.Module):
    """ResNet's basic block; a stride becomes a dilation when the backbone keeps resolution (DeepLab)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.conv1 = DilatedConv2d(in_channels, out_channels, 3, stride=stride, dilation=dilation, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = DilatedConv2d(out_channels, out_channels, 3, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: DilatedConv2d | None = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = DilatedConv2d(in_channels, out_channels, 1, stride=stride, bias=False)
            self.bn_shortcut = nn.BatchNorm2d(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        res = x if self.shortcut is None else self.bn_shortcut(self.shortcut(x))
        return F.relu(h + res)

    def rf_spec(self, graph: rf.Graph, src: int, name: str = "") -> int:
        h = self.conv2.rf_spec(graph, self.conv1.rf_spec(graph, src, f"{name}.conv1"), f"{name}.conv2")
        res = src if self.shortcut is None else self.shortcut.rf_spec(graph, src, f"{name}.shortcut")
        return graph.merge([h, res], op="add", name=f"{name}.add")


class DilatedResNet(nn.Module):
    """A small ResNet-style backbone whose last stages trade stride for dilation (output stride 8 or 16).

    Stem: 3x3 stride-2 conv; four stages of ``blocks`` basic blocks with widths ``channels``; stage strides
    2, 2, 2, 2 become dilations so that the total stride equals ``output_stride`` (as torchvision's
    ``replace_stride_with_dilation``: the first block of a dilated stage keeps the previous dilation).
    With ``dilate=False`` those stages keep the resolution but not the receptive field: their convolutions stay
    undilated (DeepLab's "no atrous" ablation). Returns ``(features at output_stride, low-level features at
    stride 4)``.
    """

    def __init__(self, in_channels: int = 3, channels: Sequence[int] = (32, 64, 96, 128), blocks: int = 1,
                 output_stride: int = 8, dilate: bool = True) -> None:
        super().__init__()
        if output_stride not in (8, 16, 32):
            raise ConfigError(f"DilatedResNet: output_stride must be 8, 16 or 32, got {output_stride!r}")
        if len(channels) != 4:
            raise ConfigError(f"DilatedResNet: channels must have 4 entries (one per stage), got {list(channels)}")
        self.stem = DilatedConv2d(in_channels, channels[0], 3, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(channels[0])
        stages = []
        stride_so_far, dilation = 2, 1
        width = channels[0]
        for i, c in enumerate(channels):
            first_dilation = dilation
            if stride_so_far * 2 > output_stride and i > 0:
                dilation *= 2 if dilate else 1
                stride = 1
            else:
                stride = 2
                stride_so_far *= stride
            layers = [BasicBlock(width, c, stride=stride, dilation=first_dilation)]
            layers += [BasicBlock(c, c, dilation=dilation) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*layers))
            width = c
        self.stages = nn.ModuleList(stages)
        self.output_stride = output_stride

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = F.relu(self.bn(self.stem(x)))
        low = h
        for i, stage in enumerate(self.stages):
            h = stage(h)
            if i == 0:
                low = h
        return h, low

    def rf_spec_outputs(self, graph: rf.Graph, src: int, name: str = "backbone") -> tuple[int, int]:
        h = self.stem.rf_spec(graph, src, f"{name}.stem")
        low = h
        for i, stage in enumerate(self.stages.children()):
            for j, block in enumerate(stage.children()):
                assert isinstance(block, BasicBlock)
                h = block.rf_spec(graph, h, f"{name}.stages.{i}.{j}")
            if i == 0:
                low = h
        return h, low


#: the heads :class:`DeepLabV3` can put on its backbone
HEADS = ("aspp", "cascade", "conv")


@register_model("deeplabv3", description="DeepLabV3(+): dilated ResNet-style backbone (OS 8/16) + ASPP",
                input_shape=(2, 3, 128, 128), tags=("vision",), rf_node="classifier")
class DeepLabV3(ReceptiveFieldMixin, nn.Module):
    """DeepLabV3 (Chen et al. 2017) with an optional V3+ decoder (a stride-4 low-level skip projected to 48
    channels). ASPP rates follow the output stride (16: 6, 12, 18; 8: 12, 24, 36) unless ``rates`` is given.

    The head and the backbone's dilation can be switched for ablations (the segmentation tasks of
    :mod:`atrous.train.tasks_seg`): ``head="aspp"`` (default) runs the atrous branches in parallel;
    ``head="cascade"`` runs 3×3 convolutions at ``rates`` one after the other (default 1, 2, 4, 8: exponential
    dilation, Chen et al.'s "going deeper"); ``head="conv"`` is one undilated 3×3 convolution. With
    ``dilated=False`` the backbone's stride-free stages stay undilated.

    ``receptive_field()`` describes the logits at the output stride (before the final bilinear upsampling,
    whose receptive field depends on the output position); with ``decoder=True`` it raises
    :class:`~atrous.errors.UnsupportedOpError` for the same reason (``atrous analyze`` traces the decoder
    exactly, with its upsampling phases).

    Shape:
        ``(B, in_channels, H, W) -> (B, num_classes, H, W)`` (``upsample=False``: ``H / output_stride``).
    """

    rf_dims = 2

    def __init__(self, in_channels: int = 3, num_classes: int = 2, channels: Sequence[int] = (32, 64, 96, 128),
                 blocks: int = 1, output_stride: int = 16, aspp_channels: int = 64, rates: Sequence[int] | None = None,
                 separable: bool = False, decoder: bool = False, upsample: bool = True, head: str = "aspp",
                 dilated: bool = True) -> None:
        super().__init__()
        where = type(self).__name__
        if head not in HEADS:
            raise bad(where, "head", f"one of {', '.join(HEADS)}", head)
        if not isinstance(dilated, bool):
            raise bad(where, "dilated", "a bool", dilated)
        if head == "conv" and rates is not None:
            raise bad(where, "rates", "None with head='conv' (one undilated 3x3 conv)", rates)
        self.backbone = DilatedResNet(in_channels, channels, blocks, output_stride, dilate=dilated)
        self.head_kind, self.dilated = head, dilated
        self.aspp: nn.Module
        if head == "aspp":
            self.aspp = ASPP(channels[-1], aspp_channels, rates=rates,
                             output_stride=None if rates else output_stride, separable=separable)
        else:
            schedule = (1,) if head == "conv" else tuple(rates) if rates is not None else CASCADE_RATES
            self.aspp = _Cascade(channels[-1], aspp_channels, schedule)
        self.decoder = decoder
        if decoder:
            self.low_proj = nn.Sequential(nn.Conv2d(channels[0], 48, 1, bias=False), nn.BatchNorm2d(48), nn.ReLU())
            self.fuse = nn.Sequential(DilatedConv2d(aspp_channels + 48, aspp_channels, 3, bias=False),
                                      nn.BatchNorm2d(aspp_channels), nn.ReLU())
        self.classifier = nn.Conv2d(aspp_channels, num_classes, 1)
        self.upsample = upsample

    def forward(self, x: Tensor) -> Tensor:
        features, low = self.backbone(x)
        h = self.aspp(features)
        if self.decoder:
            h = F.interpolate(h, size=low.shape[-2:], mode="bilinear", align_corners=False)
            h = self.fuse(torch.cat([h, self.low_proj(low)], dim=1))
        out: Tensor = self.classifier(h)
        if self.upsample:
            out = F.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return out

    def rf_spec(self, graph: rf.Graph, src: int, name: str = "") -> int:
        if self.decoder:
            raise UnsupportedOpError("DeepLabV3: the decoder upsamples bilinearly, so its receptive field depends "
                                     "on the output position; use decoder=False, or measure it with "
                                     "empirical_rf(model, input_shape, node='aspp')")
        h, _ = self.backbone.rf_spec_outputs(graph, src)
        assert isinstance(self.aspp, (ASPP, _Cascade))
        h = self.aspp.rf_spec(graph, h, "aspp")
        return graph.add(rf.conv((1, 1)), h, name="classifier")


#: the default rates of ``DeepLabV3(head="cascade")``
CASCADE_RATES = (1, 2, 4, 8)


class _Cascade(nn.Module):
    """3×3 conv → BatchNorm → ReLU at each rate in turn (the cascade head of :class:`DeepLabV3`)."""

    def __init__(self, in_channels: int, out_channels: int, rates: Sequence[int]) -> None:
        super().__init__()
        if not rates or not all(isinstance(r, int) and not isinstance(r, bool) and r >= 1 for r in rates):
            raise bad("DeepLabV3", "rates", "a non-empty list of positive ints", list(rates))
        self.rates = tuple(rates)
        layers: list[nn.Module] = []
        for i, r in enumerate(self.rates):
            layers += [DilatedConv2d(in_channels if i == 0 else out_channels, out_channels, 3, dilation=r,
                                     bias=False), nn.BatchNorm2d(out_channels), nn.ReLU()]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)  # type: ignore[no-any-return]

    def rf_spec(self, graph: rf.Graph, src: int, name: str = "") -> int:
        node = src
        for i, layer in enumerate(self.layers):
            if isinstance(layer, DilatedConv2d):
                node = layer.rf_spec(graph, node, f"{name}.layers.{i}")
        return node


@register_model("context_module", description="Yu & Koltun (2016) context module, 3x3, dilations 1,1,2,4,8,16,1",
                input_shape=(2, 8, 96, 96), tags=("vision",))
def context_module(channels: int = 8, dilations: Sequence[int] = (1, 1, 2, 4, 8, 16, 1),
                   hidden_channels: Sequence[int] | None = None) -> ContextModule:
    """The context module as a standalone model (``channels`` = number of classes in the paper)."""
    return ContextModule(channels, dilations, hidden_channels)
