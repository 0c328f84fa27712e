"""Memory of the gradient passes of :func:`atrous.analysis.empirical.empirical_rf`, measured and planned.

A pass feeds ``samples`` inputs of one spatial size and keeps, for the backward pass, the tensors autograd
saves. Their bytes are counted as the forward pass saves them (``torch.autograd.graph.saved_tensors_hooks``;
each storage once), so the cost per sample and input position is *measured*, not guessed from the model's
structure. A later pass at another size or sample count is planned from the largest cost seen so far: its
samples are split into chunks that each fit ``max_memory``, which gives the same gradients (samples never
interact: the linearised copy runs in eval mode), and a size at which even one sample does not fit is refused
with an error before it is allocated.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor

from atrous.errors import ConfigError

__all__ = ["OVERHEAD", "PassMemory", "saved_bytes"]

#: peak memory of a pass over the bytes its forward pass saves: the gradients in flight during the backward
#: pass, the input and its gradient, and the output and its seed
OVERHEAD = 2.0


@contextmanager
def saved_bytes() -> Iterator[list[int]]:
    """Count the bytes of the tensors autograd saves inside the block (each storage once): ``with saved_bytes()
    as total: ...`` then ``total[0]``."""
    total = [0]
    seen: set[int] = set()

    def pack(t: Tensor) -> Tensor:
        try:
            storage = t.untyped_storage()
            key, nbytes = storage.data_ptr(), storage.nbytes()
        except (RuntimeError, NotImplementedError):  # a tensor without storage (sparse, a subclass)
            key, nbytes = id(t), t.numel() * t.element_size()
        if key not in seen:
            seen.add(key)
            total[0] += nbytes
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        yield total


@dataclass
class PassMemory:
    """The memory plan of one measurement: ``max_memory`` bytes per pass, and the largest cost seen per sample and
    input position (None before the first pass)."""

    max_memory: int
    where: str
    per_position: float | None = None

    def observe(self, samples: int, sizes: tuple[int, ...], nbytes: int) -> None:
        """Record that a pass of ``samples`` inputs of ``sizes`` saved ``nbytes`` for its backward pass."""
        rate = nbytes / (samples * math.prod(sizes))
        self.per_position = rate if self.per_position is None else max(self.per_position, rate)

    def sample_bytes(self, sizes: tuple[int, ...]) -> float:
        """Planned peak bytes of one sample at ``sizes`` (0 before the first pass)."""
        return OVERHEAD * (self.per_position or 0.0) * math.prod(sizes)

    def chunk(self, samples: int, sizes: tuple[int, ...]) -> int:
        """How many of ``samples`` inputs of ``sizes`` one backward pass may take, beside the pass's support masks
        (one byte per sample and position, kept for the whole pass); refuses a size at which one sample alone
        does not fit in ``max_memory``."""
        one = self.sample_bytes(sizes)
        if one <= 0:  # nothing measured yet: one sample at a time until the first pass has been counted
            return 1
        masks = samples * math.prod(sizes)
        if one + masks > self.max_memory:
            raise ConfigError(
                f"{self.where}: max_memory must be at least {_gb(one + masks)} to measure one output unit at input "
                f"{list(sizes)}, got {_gb(self.max_memory)} (the passes so far kept {self.per_position:.3g} bytes per "
                f"input position for the backward pass, a pass peaks at about {OVERHEAD:g} times that, and the "
                f"{samples} support masks take {_gb(masks)}); raise max_memory (the command line's --max-memory), "
                "or measure an earlier feature map with node=..."
            )
        return max(1, min(samples, int((self.max_memory - masks) // one)))


def _gb(n: float, digits: int = 3) -> str:
    return f"{n / 1e9:.{digits}g} GB"
