"""Small models for command-line tests (imported as `_cli_models:NAME` sources)."""

from __future__ import annotations

import torch
from torch import nn


class _Detached(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.detach())  # no gradient reaches the input


class _Unused(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 1, 3, padding=1)
        self.spare = nn.Conv1d(1, 1, 3, padding=1)  # never called

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def detached() -> nn.Module:
    return _Detached()


def unused() -> nn.Module:
    return _Unused()


class _Branchy(nn.Module):
    """A dilated stack whose forward branches on the data: only the gradient measurement can answer."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.Sequential(*(nn.Conv1d(1, 1, 3, dilation=d, padding=d) for d in (1, 2, 4)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.convs(x)
        return y * 2 if y.sum() > 0 else y


def branchy() -> nn.Module:
    return _Branchy()


class _Pyramid(nn.Module):
    """A fine and a coarse map, returned as a dict."""

    def __init__(self) -> None:
        super().__init__()
        self.fine = nn.Conv1d(1, 2, 3, padding=1)
        self.coarse = nn.Conv1d(2, 2, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        a = self.fine(x)
        return {"fine": a, "coarse": self.coarse(a)}


def pyramid() -> nn.Module:
    return _Pyramid()
