"""The synthetic long-memory tasks of Bai, Kolter & Koltun (2018): the adding problem and copy memory.

Every sample is drawn from its own generator, a function of ``(seed, split, index)`` only
(:func:`~atrous.data._common.item_rng`): a dataset is deterministic, costs no memory up front, reads the
same in any order and in any process, and its train and test splits never share a sample.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from atrous._validate import check_cap, physical_memory
from atrous.data._common import check_count, item_rng, split_id

__all__ = ["AddingProblem", "CopyMemory"]

#: bytes per time step of one sample while it is built (float32 values and marks, their stacked copy; int64 targets)
SAMPLE_BYTES_PER_STEP = 16


class _Generated(Dataset[tuple[Tensor, Tensor]]):
    """``size`` samples of one split, each drawn from its own generator (``seed``, split, index)."""

    def __init__(self, length: int, size: int, split: str, seed: int, min_length: int) -> None:
        where = type(self).__name__
        self.length = check_count(where, "length", length, minimum=min_length)
        ram = physical_memory()
        if ram:  # a sample is built when it is read: refuse here one that a batch of 16 could not hold
            check_cap(where, "length", length, SAMPLE_BYTES_PER_STEP * (self.length + 20), ram / 16,
                      fix="one sample would take more than 1/16 of this machine's memory")
        self.size = check_count(where, "size", size)
        self.split = split
        self._split = split_id(where, split)
        self.seed = check_count(where, "seed", seed, minimum=0)

    def __len__(self) -> int:
        return self.size

    def _rng(self, index: int) -> np.random.Generator:
        if not 0 <= index < self.size:
            raise IndexError(f"{type(self).__name__}: index {index} out of range for size {self.size}")
        return item_rng(self.seed, self._split, index)


class AddingProblem(_Generated):
    """The adding problem (Hochreiter & Schmidhuber 1997, in the form of Bai et al.'s ``add_test.py``).

    Channel 0 holds ``length`` values drawn uniformly from ``[0, 1)``; channel 1 is zero except for a 1 at two
    distinct positions drawn uniformly from the whole sequence. The target is the sum of the two marked values,
    so predicting its mean (1.0) scores an MSE of about 0.167, the level the recurrent baselines of the paper
    stall at.

    Args:
        length: sequence length ``T`` (the paper reports T = 200, 400 and 600).
        size: number of samples (Bai et al.: 50,000 to train on, 1,000 to test).
        split: ``"train"`` or ``"test"``; the two draw from disjoint streams.
        seed: the data seed; the same seed gives the same samples.

    Shape:
        ``x``: ``(2, T)`` float32; ``y``: ``()`` float32.

    >>> ds = AddingProblem(length=50, size=4)
    >>> x, y = ds[0]
    >>> x.shape, y.shape, int(x[1].sum())
    (torch.Size([2, 50]), torch.Size([]), 2)
    >>> bool(torch.isclose((x[0] * x[1]).sum(), y))
    True
    """

    def __init__(self, length: int = 600, size: int = 50_000, split: str = "train", seed: int = 0) -> None:
        super().__init__(length, size, split, seed, min_length=2)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        rng = self._rng(index)
        values = rng.random(self.length, dtype="float32")
        first, second = rng.choice(self.length, size=2, replace=False)
        marks = torch.zeros(self.length)
        marks[[int(first), int(second)]] = 1.0
        x = torch.stack([torch.from_numpy(values), marks])
        y = torch.tensor(values[first] + values[second], dtype=torch.float32)
        return x, y


class CopyMemory(_Generated):
    """Copy memory (Bai et al.'s ``copymem_test.py``): remember 10 symbols across a blank of ``length`` steps.

    The input (one channel, the symbol's value as a float, as in the paper's code) is 10 symbols drawn from
    ``1..8``, then ``length - 1`` blanks (0), then 11 markers (9); its length is ``length + 20``. The target
    is 0 at the first ``length + 10`` steps and the 10 symbols, in order, at the last 10. The loss is the
    cross-entropy over 10 classes averaged over all ``length + 20`` steps, so a model that outputs blanks and
    then guesses uniformly among the 8 symbols scores ``10 ln 8 / (length + 20)`` (0.0204 at T = 1000: the
    recurrent baselines' level in the paper's Table 1).

    Args:
        length: the blank length ``T`` (the paper: 500, 1000, 2000).
        size: number of samples (Bai et al.: 10,000 to train on, 1,000 to test).
        split: ``"train"`` or ``"test"``.
        seed: the data seed.

    Shape:
        ``x``: ``(1, T + 20)`` float32; ``y``: ``(T + 20,)`` int64, classes ``0..9``.

    >>> x, y = CopyMemory(length=30, size=2)[1]
    >>> x.shape, y.shape, bool((y[-10:] == x[0, :10].long()).all()), x[0, -11:].tolist() == [9.0] * 11
    (torch.Size([1, 50]), torch.Size([50]), True, True)
    """

    symbols = 10
    #: classes: 0 blank, 1..8 symbols, 9 the recall marker
    classes = 10

    def __init__(self, length: int = 1000, size: int = 10_000, split: str = "train", seed: int = 0) -> None:
        super().__init__(length, size, split, seed, min_length=1)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        rng = self._rng(index)
        seq = torch.from_numpy(rng.integers(1, 9, size=self.symbols)).long()
        total = self.length + 2 * self.symbols
        x = torch.zeros(total)
        x[: self.symbols] = seq.float()
        x[self.symbols + self.length - 1:] = 9.0
        y = torch.zeros(total, dtype=torch.long)
        y[-self.symbols:] = seq
        return x.unsqueeze(0), y
