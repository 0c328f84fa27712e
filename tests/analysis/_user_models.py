"""Models written the way users write them (functional ops, reshapes, splits, several outputs), none of which
the tracer was written for: each is a case from a user report. Shared by the analysis and CLI tests."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class TokenMLP(nn.Module):
    """MetaFormer / Mix-FFN: tokens through LayerNorm and Linear, back to a map (optionally added back)."""

    def __init__(self, c: int = 8, residual: bool = True) -> None:
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(3, c, 3, padding=1), nn.Conv2d(c, c, 3, padding=1)
        self.norm, self.fc = nn.LayerNorm(c), nn.Linear(c, c)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.c1(x)
        b, c, h, w = x.shape
        tokens = self.fc(self.norm(x.flatten(2).transpose(1, 2)))
        y = tokens.transpose(1, 2).reshape(b, c, h, w)
        return self.c2(x + y if self.residual else y)


class Res2Split(nn.Module):
    """Res2Net's hierarchical split into four pieces, as a method or as ``torch.split``."""

    def __init__(self, function: bool = False) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.convs = nn.ModuleList(nn.Conv2d(4, 4, 3, padding=1) for _ in range(3))
        self.function = function

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        pieces = torch.split(x, 4, 1) if self.function else x.split(4, dim=1)
        out, sp = [pieces[0]], pieces[0]
        for i, conv in enumerate(self.convs):
            sp = conv(sp + pieces[i + 1] if i else pieces[i + 1])
            out.append(sp)
        return torch.cat(out, 1)


class ECA(nn.Module):
    """Efficient channel attention: a Conv1d over the channel axis of the pooled map."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.k = nn.Conv1d(1, 1, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        y = x.mean((2, 3), keepdim=True)
        y = self.k(y.squeeze(-1).transpose(-1, -2)).transpose(-1, -2).unsqueeze(-1)
        return x * y.sigmoid()


class SpaceToDepth(nn.Module):
    """TResNet's stem: 2 x 2 blocks moved into channels by view/permute/reshape, then a convolution."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(12, 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        x = x.view(b, c, h // 2, 2, w // 2, 2).permute(0, 3, 5, 1, 2, 4).reshape(b, c * 4, h // 2, w // 2)
        return self.conv(x)


class ShuffleUp(nn.Module):
    """A ShuffleNet channel shuffle, then a sub-pixel (pixel shuffle) upsampling."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.up = nn.Conv2d(8, 32, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        b, _c, h, w = y.shape
        y = y.view(b, 2, 4, h, w).transpose(1, 2).reshape(b, 8, h, w)
        return F.pixel_shuffle(self.up(y), 2)


class Attention(nn.Module):
    """Self-attention over the positions of a map, added back to it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        b, c, h, w = x.shape
        t = x.flatten(2).transpose(1, 2)
        return x + F.scaled_dot_product_attention(t, t, t).transpose(1, 2).reshape(b, c, h, w)


class GlobalLayerNorm(nn.GroupNorm):
    """Conv-TasNet's global layer norm, written as a GroupNorm subclass (statistics over channels and time)."""


class GlobalNormNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 8, 3, padding=1)
        self.norm = GlobalLayerNorm(1, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x))


class Unpool(nn.Module):
    """SegNet / ENet: max pooling with indices, then MaxUnpool2d."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.dec = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)
        self.pool, self.unpool = nn.MaxPool2d(2, return_indices=True), nn.MaxUnpool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, idx = self.pool(self.conv(x))
        return self.dec(self.unpool(y, idx))


class CumulativeNorm(nn.Module):
    """A cumulative layer norm (causal speech separation): the mean of everything so far."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y - y.cumsum(-1) / torch.arange(1, y.shape[-1] + 1, device=y.device)


class ListOutput(nn.Module):
    """A feature pyramid returned as a list: a fine map and a coarse one."""

    def __init__(self) -> None:
        super().__init__()
        self.fine, self.coarse = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        a = self.fine(x)
        return [a, self.coarse(a)]


class DictOutput(ListOutput):
    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:  # type: ignore[override]
        a = self.fine(x)
        return {"fine": a, "coarse": self.coarse(a)}


class ShapeCheck(nn.Module):
    """A forward that checks the input size in Python (as segmentation_models_pytorch does)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 8:
            raise ValueError("the width must be divisible by 8")
        return self.conv(x)
