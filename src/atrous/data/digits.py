"""Sequential and permuted digits: scikit-learn's bundled 8×8 digits read one pixel per time step.

This is the offline stand-in for sequential / permuted MNIST (Bai et al. 2018, Table 1): MNIST cannot be
downloaded on the machines atrous is built on, while scikit-learn ships the 1,797 images of the UCI optdigits
test set (43 writers, 8×8 pixels with values 0..16, 10 classes) inside the package. The sequences are 64
steps long instead of MNIST's 784, so they test much shorter memory; numbers are not comparable with MNIST's.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from atrous.data._common import check_count, require, split_id

__all__ = ["TEST_SIZE", "SequentialDigits"]

#: images held out for testing (20 % of 1,797); the rest (1,437) are the training split
TEST_SIZE = 360


@functools.lru_cache(maxsize=1)
def _load() -> tuple[np.ndarray, np.ndarray]:
    datasets = require("sklearn.datasets", "SequentialDigits")
    bunch = datasets.load_digits()
    return np.asarray(bunch.data, dtype=np.float32), np.asarray(bunch.target, dtype=np.int64)


class SequentialDigits(Dataset[tuple[Tensor, Tensor]]):
    """scikit-learn's digits as 64-step sequences of one pixel each, in raster order or permuted.

    Args:
        split: ``"train"`` (1,437 images) or ``"test"`` (360 images). The split is a permutation of the 1,797
            images drawn from ``seed``, so it is fixed for a given seed and the two splits never overlap.
        permute: read the pixels in a fixed random order (the "permuted" task), drawn from ``seed``.
        seed: the data seed (split and permutation).

    Pixels are scaled to ``[0, 1]`` and standardised with the mean and standard deviation of the training
    split's pixels.

    Shape:
        ``x``: ``(1, 64)`` float32; ``y``: ``()`` int64 in ``0..9``.

    >>> train, test = SequentialDigits("train"), SequentialDigits("test")
    >>> len(train), len(test), train[0][0].shape
    (1437, 360, torch.Size([1, 64]))
    """

    steps = 64
    classes = 10

    def __init__(self, split: str = "train", permute: bool = False, seed: int = 0) -> None:
        where = type(self).__name__
        self.split = split
        index = split_id(where, split)
        self.seed = check_count(where, "seed", seed, minimum=0)
        self.permute = bool(permute)
        images, labels = _load()
        rng = np.random.default_rng([self.seed, 7])
        order = rng.permutation(len(images))
        test, train = order[:TEST_SIZE], order[TEST_SIZE:]
        pixels = images / 16.0
        mean, std = float(pixels[train].mean()), float(pixels[train].std())
        chosen = (train, test)[index]
        seqs = (pixels[chosen] - mean) / std
        #: the order in which the pixels are read (the identity unless ``permute``)
        self.permutation = rng.permutation(self.steps) if self.permute else np.arange(self.steps)
        self._x = torch.from_numpy(np.ascontiguousarray(seqs[:, self.permutation], dtype=np.float32)).unsqueeze(1)
        self._y = torch.from_numpy(labels[chosen])

    def __len__(self) -> int:
        return len(self._y)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self._x[index], self._y[index]
