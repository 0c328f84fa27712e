"""Hand-written models in the style users write: functional ops, channel tricks, several outputs.

Each one is small (a few convolutions around one pattern), so the verdict says what atrous makes of that
pattern. The patterns are the ones real architectures are built from: MetaFormer's token MLP, Res2Net's
hierarchical split, ShuffleNet's channel shuffle, ECA's channel convolution, TResNet's space-to-depth stem,
PSPNet's pyramid pooling, SegNet's max-unpooling, a speech-separation global layer norm.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _conv(cin: int, cout: int, k: int = 3, d: int = 1, s: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=s, padding=d * (k // 2), dilation=d)


class TokenMLP(nn.Module):
    """conv -> per-token LayerNorm + Linear (flatten/transpose/reshape) [+ residual] -> conv (MetaFormer)."""

    def __init__(self, residual: bool = True) -> None:
        super().__init__()
        self.residual = residual
        self.stem = _conv(3, 16)
        self.norm = nn.LayerNorm(16)
        self.fc = nn.Linear(16, 16)
        self.head = _conv(16, 4)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        b, c, h, w = x.shape
        t = x.flatten(2).transpose(1, 2)
        t = self.fc(self.norm(t))
        y = t.transpose(1, 2).reshape(b, c, h, w)
        return self.head(x + y if self.residual else y)


class Res2NetSplit(nn.Module):
    """Res2Net's hierarchical split into four pieces, method form or ``torch.split``."""

    def __init__(self, functional: bool = False) -> None:
        super().__init__()
        self.functional = functional
        self.stem = _conv(3, 16)
        self.convs = nn.ModuleList(_conv(4, 4) for _ in range(3))
        self.head = _conv(16, 4, k=1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        pieces = torch.split(x, 4, 1) if self.functional else x.split(4, 1)
        out = [pieces[0]]
        sp = pieces[1]
        for i, conv in enumerate(self.convs):
            sp = conv(sp if i == 0 else sp + pieces[i + 1])
            out.append(sp)
        return self.head(torch.cat(out, 1))


class ChunkUnbind(nn.Module):
    """``chunk`` into three branches with different dilations, and ``unbind`` over a stacked axis."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = _conv(3, 12)
        self.branches = nn.ModuleList(_conv(4, 4, d=d) for d in (1, 2, 3))

    def forward(self, x: Tensor) -> Tensor:
        parts = self.stem(x).chunk(3, dim=1)
        y = torch.stack([b(p) for b, p in zip(self.branches, parts)], dim=1)  # B 3 C H W
        a, b, c = torch.unbind(y, dim=1)
        return a + b + c


class ChannelShuffle(nn.Module):
    """ShuffleNet's channel shuffle written with view / transpose / reshape between grouped convs."""

    def __init__(self, groups: int = 4) -> None:
        super().__init__()
        self.groups = groups
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 16, 3, padding=2, dilation=2, groups=groups)
        self.conv3 = nn.Conv2d(16, 16, 3, padding=1, groups=groups)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv2(self.conv1(x))
        b, c, h, w = x.shape
        x = x.view(b, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(b, c, h, w)
        return self.conv3(x)


class ECA(nn.Module):
    """Efficient channel attention: global pool, Conv1d over the channel axis, sigmoid gate."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = _conv(3, 16)
        self.eca = nn.Conv1d(1, 1, 3, padding=1, bias=False)
        self.head = _conv(16, 4)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        y = x.mean((2, 3), keepdim=True)  # B C 1 1
        y = self.eca(y.squeeze(-1).transpose(-1, -2)).transpose(-1, -2).unsqueeze(-1)
        return self.head(x * y.sigmoid())


class SpaceToDepth(nn.Module):
    """TResNet's space-to-depth stem written with view / permute, then a conv."""

    def __init__(self, block: int = 4) -> None:
        super().__init__()
        self.bs = block
        self.conv = _conv(3 * block * block, 8)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        s = self.bs
        x = x.view(b, c, h // s, s, w // s, s).permute(0, 3, 5, 1, 2, 4).reshape(b, c * s * s, h // s, w // s)
        return self.conv(x)


class PixelUnshuffleShuffle(nn.Module):
    """``F.pixel_unshuffle`` down, a dilated conv, ``nn.PixelShuffle`` back up (a sub-pixel decoder)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = _conv(12, 12, d=2)
        self.up = nn.PixelShuffle(2)

    def forward(self, x: Tensor) -> Tensor:
        return self.up(self.conv(F.pixel_unshuffle(x, 2)))


class Resize(nn.Module):
    """A strided conv, a resize back up (mode / align_corners / ratio as given), a conv."""

    def __init__(self, mode: str = "bilinear", align_corners: bool | None = None, scale: float = 2.0) -> None:
        super().__init__()
        self.mode, self.align, self.scale = mode, align_corners, scale
        self.down = _conv(3, 8, s=2)
        self.head = _conv(8, 4)

    def forward(self, x: Tensor) -> Tensor:
        y = F.interpolate(self.down(x), scale_factor=self.scale, mode=self.mode, align_corners=self.align)
        return self.head(y)


class ResizeToSize(nn.Module):
    """A stride-2 feature map resized to a non-integer multiple of its size (3 -> 7 style ratios)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = _conv(3, 8, s=2)
        self.head = _conv(8, 4)

    def forward(self, x: Tensor) -> Tensor:
        y = self.down(x)
        size = [n * 7 // 3 for n in y.shape[2:]]
        return self.head(F.interpolate(y, size=size, mode="bilinear", align_corners=False))


class PyramidPooling(nn.Module):
    """PSPNet / UPerNet pyramid pooling: adaptive pools to 1, 2, 3, 6 (unequal windows), upsample, concat."""

    def __init__(self, bins: tuple[int, ...] = (1, 2, 3, 6)) -> None:
        super().__init__()
        self.stem = _conv(3, 8, s=2)
        self.pools = nn.ModuleList(nn.Sequential(nn.AdaptiveAvgPool2d(b), nn.Conv2d(8, 2, 1)) for b in bins)
        self.head = _conv(8 + 2 * len(bins), 4)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        size = x.shape[2:]
        ys = [x] + [F.interpolate(p(x), size=size, mode="bilinear", align_corners=False) for p in self.pools]
        return self.head(torch.cat(ys, 1))


class UnequalAdaptivePool(nn.Module):
    """An adaptive average pool whose windows differ in size (8 -> 3), followed by a conv: a local answer."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = _conv(3, 8)
        self.pool = nn.AdaptiveAvgPool2d(3)
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.pool(self.stem(x)))


class SDPA(nn.Module):
    """Patch embedding, ``F.scaled_dot_product_attention`` over tokens, back to a map, a conv."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Conv2d(3, 16, 4, stride=4)
        self.qkv = nn.Linear(16, 48)
        self.head = _conv(16, 4)

    def forward(self, x: Tensor) -> Tensor:
        x = self.embed(x)
        b, c, h, w = x.shape
        t = x.flatten(2).transpose(1, 2)
        q, k, v = self.qkv(t).chunk(3, dim=-1)
        t = t + F.scaled_dot_product_attention(q, k, v)
        return self.head(t.transpose(1, 2).reshape(b, c, h, w))


class NonLocal(nn.Module):
    """A non-local block written with ``torch.matmul`` and softmax over positions."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = _conv(3, 8)
        self.theta, self.phi, self.g = nn.Conv2d(8, 4, 1), nn.Conv2d(8, 4, 1), nn.Conv2d(8, 4, 1)
        self.out = nn.Conv2d(4, 8, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        b, _, h, w = x.shape
        q = self.theta(x).flatten(2).transpose(1, 2)
        k = self.phi(x).flatten(2)
        v = self.g(x).flatten(2).transpose(1, 2)
        a = torch.matmul(q, k).softmax(-1)
        y = torch.matmul(a, v).transpose(1, 2).reshape(b, 4, h, w)
        return x + self.out(y)


class GlobalLayerNorm(nn.GroupNorm):
    """Conv-TasNet's global layer norm, written (as usual) as a subclass of GroupNorm with one group."""

    def __init__(self, channels: int) -> None:
        super().__init__(1, channels)


class CumulativeLayerNorm(nn.Module):
    """Conv-TasNet's causal cumulative layer norm: running mean and variance over time with ``cumsum``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        count = torch.arange(1, x.shape[-1] + 1, device=x.device, dtype=x.dtype) * x.shape[1]
        mean = x.sum(1, keepdim=True).cumsum(-1) / count
        var = (x * x).sum(1, keepdim=True).cumsum(-1) / count - mean * mean
        return self.weight * (x - mean) / (var + 1e-5).sqrt()


class SeparationTCN(nn.Module):
    """A Conv-TasNet-style dilated 1-D stack with a norm between convs (global or cumulative layer norm)."""

    def __init__(self, norm: str = "gln") -> None:
        super().__init__()
        self.inp = nn.Conv1d(1, 8, 3, padding=1)
        self.convs = nn.ModuleList(nn.Conv1d(8, 8, 3, padding=d, dilation=d) for d in (1, 2, 4, 8))
        make: Callable[[int], nn.Module] = GlobalLayerNorm if norm == "gln" else CumulativeLayerNorm
        self.norms = nn.ModuleList(make(8) for _ in range(4))

    def forward(self, x: Tensor) -> Tensor:
        x = self.inp(x)
        for conv, norm in zip(self.convs, self.norms):
            x = x + norm(F.relu(conv(x)))
        return x


class SegNetUnpool(nn.Module):
    """SegNet / ENet: max-pool with ``return_indices=True``, a conv, ``MaxUnpool2d`` with those indices."""

    def __init__(self) -> None:
        super().__init__()
        self.enc = _conv(3, 8)
        self.pool = nn.MaxPool2d(2, 2, return_indices=True)
        self.mid = _conv(8, 8, d=2)
        self.unpool = nn.MaxUnpool2d(2, 2)
        self.dec = _conv(8, 4)

    def forward(self, x: Tensor) -> Tensor:
        y, idx = self.pool(self.enc(x))
        return self.dec(self.unpool(self.mid(y), idx, output_size=x.shape[-2:]))


class MultiOutput(nn.Module):
    """A two-scale network that returns its maps as a list, a tuple or a dict."""

    def __init__(self, kind: str = "list") -> None:
        super().__init__()
        self.kind = kind
        self.a = _conv(3, 8, s=2)
        self.b = _conv(8, 8, s=2, d=2)

    def forward(self, x: Tensor) -> object:
        a = self.a(x)
        b = self.b(a)
        if self.kind == "list":
            return [a, b]
        if self.kind == "tuple":
            return a, b
        return {"fine": a, "coarse": b}


class ShapeCheck(nn.Module):
    """A forward that checks the input size in Python (``if x.shape[-1] % 8``), as smp does."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(_conv(3, 8, s=2), nn.ReLU(), _conv(8, 8, d=2), nn.ReLU(), _conv(8, 4, s=2))

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] % 8 or x.shape[-2] % 8:
            raise ValueError(f"input size must be a multiple of 8, got {tuple(x.shape[-2:])}")
        return self.net(x)


class ReshapeAs(nn.Module):
    """LeViT-style ``reshape_as`` back to the map's shape after a per-token Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = _conv(3, 8)
        self.fc = nn.Linear(8, 8)
        self.head = _conv(8, 4)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        t = self.fc(x.flatten(2).transpose(1, 2))
        return self.head(x + t.transpose(1, 2).reshape_as(x))


class DilatedStack1d(nn.Module):
    """A plain dilated 1-D stack with residuals: the case atrous was written for (a control)."""

    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Conv1d(1, 8, 1)
        self.convs = nn.ModuleList(nn.Conv1d(8, 8, 3, padding=d, dilation=d) for d in (1, 2, 4, 8, 16))

    def forward(self, x: Tensor) -> Tensor:
        x = self.inp(x)
        for conv in self.convs:
            x = x + F.relu(conv(x))
        return x


def backbone_dict() -> nn.Module:
    """A torchvision resnet18 wrapped in ``IntermediateLayerGetter``: a dict of the layer2 and layer3 maps."""
    import torchvision
    from torchvision.models._utils import IntermediateLayerGetter

    body = torchvision.models.resnet18(weights=None)
    return IntermediateLayerGetter(body, {"layer2": "fine", "layer3": "coarse"})


#: name -> (builder, input shape)
HANDWRITTEN: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "token_mlp_residual": (lambda: TokenMLP(residual=True), (1, 3, 32, 32)),
    "token_mlp_plain": (lambda: TokenMLP(residual=False), (1, 3, 32, 32)),
    "res2net_split_method": (lambda: Res2NetSplit(functional=False), (1, 3, 32, 32)),
    "res2net_torch_split": (lambda: Res2NetSplit(functional=True), (1, 3, 32, 32)),
    "chunk_unbind": (ChunkUnbind, (1, 3, 32, 32)),
    "channel_shuffle": (ChannelShuffle, (1, 3, 32, 32)),
    "eca_channel_conv1d": (ECA, (1, 3, 32, 32)),
    "space_to_depth": (SpaceToDepth, (1, 3, 32, 32)),
    "pixel_unshuffle_shuffle": (PixelUnshuffleShuffle, (1, 3, 32, 32)),
    "interp_bilinear": (lambda: Resize("bilinear", False), (1, 3, 32, 32)),
    "interp_align_corners": (lambda: Resize("bilinear", True), (1, 3, 32, 32)),
    "interp_bicubic": (lambda: Resize("bicubic", False), (1, 3, 32, 32)),
    "interp_nearest_x1.5": (lambda: Resize("nearest", None, 1.5), (1, 3, 32, 32)),
    "interp_size_7_over_3": (ResizeToSize, (1, 3, 24, 24)),
    "pyramid_pooling": (PyramidPooling, (1, 3, 32, 32)),
    "adaptive_pool_8_to_3": (UnequalAdaptivePool, (1, 3, 8, 8)),
    "sdpa_attention": (SDPA, (1, 3, 32, 32)),
    "nonlocal_matmul": (NonLocal, (1, 3, 16, 16)),
    "groupnorm_subclass_gln": (lambda: SeparationTCN("gln"), (1, 1, 256)),
    "cumsum_cln": (lambda: SeparationTCN("cln"), (1, 1, 256)),
    "maxpool_indices_unpool": (SegNetUnpool, (1, 3, 32, 32)),
    "outputs_list": (lambda: MultiOutput("list"), (1, 3, 32, 32)),
    "outputs_tuple": (lambda: MultiOutput("tuple"), (1, 3, 32, 32)),
    "outputs_dict": (lambda: MultiOutput("dict"), (1, 3, 32, 32)),
    "shape_check_in_forward": (ShapeCheck, (1, 3, 32, 32)),
    "reshape_as": (ReshapeAs, (1, 3, 32, 32)),
    "intermediate_layer_getter": (backbone_dict, (1, 3, 64, 64)),
    "dilated_stack_1d": (DilatedStack1d, (1, 1, 256)),
}
