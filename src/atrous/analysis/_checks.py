"""Argument checks shared by the gradient measurements (empirical receptive field and ERF)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch

from atrous.errors import bad


def input_shape(where: str, value: object) -> tuple[int, ...]:
    """``(batch, channels, *spatial)`` with 1 to 3 positive spatial sizes, as a tuple of ints."""
    ok = isinstance(value, (Sequence, torch.Size)) and not isinstance(value, str) and 3 <= len(value) <= 5 and \
        all(isinstance(n, numbers.Integral) and not isinstance(n, bool) and int(n) >= 1 for n in value)
    if not ok:
        raise bad(where, "input_shape", "(batch, channels, *spatial) with 1 to 3 positive spatial sizes, "
                  "e.g. (1, 3, 224, 224)", value)
    return tuple(int(n) for n in value)  # type: ignore[attr-defined]


def float_dtype(where: str, value: object) -> torch.dtype:
    if not isinstance(value, torch.dtype) or not value.is_floating_point:
        raise bad(where, "dtype", "a floating torch dtype such as torch.float64", value)
    return value


def device(where: str, value: str | torch.device) -> torch.device:
    try:
        return torch.device(value)
    except (RuntimeError, TypeError):
        raise bad(where, "device", "a torch device such as 'cpu' or 'cuda'", value) from None
