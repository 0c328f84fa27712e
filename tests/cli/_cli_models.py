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
