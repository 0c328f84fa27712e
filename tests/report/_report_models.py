"""Small models whose reports the plot and recommendation tests share (each collected once per session)."""

from __future__ import annotations

from functools import cache

import torch
from torch import nn

from atrous.report import ReportData, collect


class Block(nn.Module):
    """A residual block with a strided shortcut: the growth plot must not step down at the shortcut."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.shortcut = nn.Conv2d(channels, channels, 1, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv2(torch.relu(self.conv1(x)))) + self.shortcut(x)


class Classifier(nn.Module):
    """ResNet-like and undilated: a strided stem, three residual blocks, global pooling, a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.layers = nn.Sequential(Block(4), Block(4), Block(4))
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layers(torch.relu(self.stem(x))).mean(dim=(2, 3)))


def gridding() -> nn.Module:
    """Three 3x3 convs at rate 2: 49 of 169 inputs read."""
    torch.manual_seed(0)
    return nn.Sequential(*[nn.Conv2d(2, 2, 3, dilation=2, padding=2) for _ in range(3)])


def volume() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv3d(1, 2, 3, padding=1), nn.ReLU(), nn.Conv3d(2, 1, 3, dilation=2, padding=2))


@cache
def report(name: str) -> ReportData:
    """The report of one of the small models, by name: tcn (causal 1-D), tcn_short (its lookback exceeds the
    sequence), gridding (2-D dilated), classifier (undilated, its field exceeds the input), volume (3-D)."""
    from atrous.models import create_model

    torch.manual_seed(0)
    if name == "tcn":
        return collect(create_model("tcn"), (1, 1, 128), samples=2, source="atrous:tcn")
    if name == "tcn_short":
        return collect(create_model("tcn"), (1, 1, 40), samples=2, source="atrous:tcn")
    if name == "gridding":
        return collect(gridding(), (1, 2, 48, 48), samples=2, source="rates 2,2,2")
    if name == "classifier":
        return collect(Classifier(), (1, 3, 24, 24), samples=2, source="classifier")
    if name == "volume":
        return collect(volume(), (1, 1, 14, 14, 14), samples=2, source="volume")
    raise KeyError(name)


NAMES = ("tcn", "gridding", "classifier", "volume")
