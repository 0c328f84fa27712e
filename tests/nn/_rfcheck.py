"""Shared checks for module tests: receptive field against the gradient support, state_dict round trips."""

from __future__ import annotations

import io

import numpy as np
import torch
from torch import nn

from atrous import rf
from atrous.analysis.empirical import empirical_rf


def assert_rf_matches(model: nn.Module, input_shape: tuple[int, ...], result: rf.RFResult,
                      node: str | None = None) -> None:
    """The gradient-measured support equals the rf_spec skeleton's, hole for hole."""
    measured = empirical_rf(model, input_shape, node=node)
    exact = rf.support(result.graph)
    assert measured.size == result.size
    assert measured.stride == result.jump
    assert measured.start == result.start
    assert measured.offset == result.offset
    assert measured.is_global == result.is_global
    assert (measured.taps, measured.holes) == (exact.taps, exact.holes)
    assert np.array_equal(measured.mask.numpy(), exact.counts != 0)


def round_trip(model: nn.Module, fresh: nn.Module) -> nn.Module:
    """``fresh`` after loading ``model``'s state_dict through a byte buffer."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    fresh.load_state_dict(torch.load(buffer))
    return fresh
