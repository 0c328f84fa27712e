"""Sequential / permuted digits from scikit-learn's bundled 8x8 images."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from atrous.data import MissingDependencyError, SequentialDigits
from atrous.data import digits as digits_module


def test_split_sizes_and_standardisation():
    train, test = SequentialDigits("train"), SequentialDigits("test")
    assert (len(train), len(test)) == (1437, 360)
    x, y = train[0]
    assert x.shape == (1, 64) and y.dtype == torch.int64 and 0 <= int(y) <= 9
    assert float(train._x.mean()) == pytest.approx(0.0, abs=1e-4)
    assert float(train._x.std()) == pytest.approx(1.0, abs=1e-3)
    assert sorted(set(test._y.tolist())) == list(range(10))


def test_splits_partition_the_bundled_images():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    train, test = SequentialDigits("train"), SequentialDigits("test")
    values = torch.cat([train._x, test._x]).squeeze(1).double().numpy()
    # the standardisation is affine: pixel 0 is the smallest value and one grey level is the smallest step
    levels = np.unique(values)
    pixels = np.rint((values - levels[0]) / np.diff(levels).min()).astype(int)
    labels = torch.cat([train._y, test._y]).tolist()
    ours = sorted((label, *row) for label, row in zip(labels, pixels.tolist()))
    theirs = sorted((int(label), *row) for label, row in zip(bunch.target, bunch.data.astype(int).tolist()))
    assert ours == theirs


def test_permutation_is_fixed_and_reorders_pixels():
    plain, perm = SequentialDigits("test", seed=4), SequentialDigits("test", permute=True, seed=4)
    p = perm.permutation
    assert sorted(p.tolist()) == list(range(64)) and p.tolist() != list(range(64))
    assert torch.equal(perm._x[:, 0, :], plain._x[:, 0, p])
    assert torch.equal(perm._y, plain._y)
    assert np.array_equal(SequentialDigits("train", permute=True, seed=4).permutation, p)
    assert not np.array_equal(SequentialDigits("train", permute=True, seed=5).permutation, p)


def test_missing_scikit_learn_names_the_extra(monkeypatch):
    digits_module._load.cache_clear()
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    try:
        with pytest.raises(MissingDependencyError, match=r"'sklearn'.*pip install atrous\[data\]"):
            SequentialDigits()
    finally:
        digits_module._load.cache_clear()
