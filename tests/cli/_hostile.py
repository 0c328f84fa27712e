"""Modules for the SOURCE trust-boundary tests (imported as `_hostile:NAME` sources); nothing here is harmful,
but each function records that it ran, so a test can prove it was never called."""

from __future__ import annotations

from subprocess import run  # noqa: F401  (re-exported on purpose: the rule must refuse it)

import torch
from torch import nn

CALLED: list[str] = []

ones = torch.ones  # a builtin
net = nn.Conv1d(1, 1, 3)  # an instance


def build(channels: int = 1) -> nn.Module:
    CALLED.append("build")
    return nn.Conv1d(channels, channels, 3, padding=1)


def number() -> int:
    CALLED.append("number")
    return 3


def raises() -> nn.Module:
    CALLED.append("raises")
    raise ValueError("bad channels")


def exits() -> nn.Module:
    CALLED.append("exits")
    raise SystemExit(7)


class NotAModule:
    def __init__(self) -> None:
        CALLED.append("NotAModule")


def downloads() -> nn.Module:
    """A builder that fails the way a pretrained-weights download fails offline (an error chained to URLError)."""
    from urllib.error import URLError

    CALLED.append("downloads")
    try:
        raise URLError("[Errno -2] Name or service not known")
    except URLError as e:
        raise RuntimeError("could not fetch the checkpoint") from e
