"""Shared test settings."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

ONE_THREAD_DIRS = {"train", "data"}


@pytest.fixture(autouse=True)
def _one_thread(request: pytest.FixtureRequest) -> Iterator[None]:
    """Training and data tests run torch on one thread: on a small shared machine, OpenMP threads spinning against
    other processes make tiny models 10 to 40 times slower."""
    if request.node.path.parent.name not in ONE_THREAD_DIRS:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
