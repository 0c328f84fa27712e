"""The adding problem and copy memory: shapes, determinism, and targets recomputed here from the inputs."""

from __future__ import annotations

import math

import pytest
import torch

from atrous.data import AddingProblem, CopyMemory
from atrous.errors import ConfigError
from atrous.train.tasks import TASKS


@pytest.mark.parametrize("length", [2, 7, 600])
def test_adding_shapes_and_target(length):
    ds = AddingProblem(length=length, size=50, seed=3)
    assert len(ds) == 50
    for i in range(50):
        x, y = ds[i]
        assert x.shape == (2, length) and x.dtype == torch.float32 and y.shape == ()
        marked = [t for t in range(length) if x[1, t] == 1.0]
        assert len(marked) == 2 and int((x[1] != 0).sum()) == 2
        assert 0.0 <= float(x[0].min()) and float(x[0].max()) < 1.0
        assert float(y) == pytest.approx(float(x[0, marked[0]]) + float(x[0, marked[1]]), abs=1e-6)


def test_adding_is_deterministic_and_splits_differ():
    a, b = AddingProblem(40, 10, seed=1), AddingProblem(40, 10, seed=1)
    assert all(torch.equal(a[i][0], b[i][0]) for i in range(10))
    # reading order does not matter: an item is a function of (seed, split, index)
    assert torch.equal(AddingProblem(40, 10, seed=1)[7][0], a[7][0])
    assert not torch.equal(AddingProblem(40, 10, seed=2)[0][0], a[0][0])
    assert not torch.equal(AddingProblem(40, 10, split="test", seed=1)[0][0], a[0][0])


def test_adding_mean_predictor_scores_one_sixth():
    # var(U + U') = 2/12: the level the paper's recurrent baselines stall at (0.164 to 0.177)
    ys = torch.stack([AddingProblem(10, 4000, seed=0)[i][1] for i in range(4000)])
    assert float((ys - 1.0).square().mean()) == pytest.approx(1 / 6, abs=0.01)


@pytest.mark.parametrize("length", [1, 5, 1000])
def test_copy_memory_layout_and_target(length):
    ds = CopyMemory(length=length, size=20, seed=5)
    for i in range(20):
        x, y = ds[i]
        assert x.shape == (1, length + 20) and y.shape == (length + 20,) and y.dtype == torch.int64
        seq = [int(v) for v in x[0, :10]]
        assert all(1 <= s <= 8 for s in seq)
        assert x[0, 10:10 + length - 1].eq(0).all() and x[0, 10 + length - 1:].eq(9).all()
        assert int((x[0] == 9).sum()) == 11
        assert y[: length + 10].eq(0).all() and y[length + 10:].tolist() == seq


def test_copy_memory_blank_then_guess_baseline_is_the_papers_0_0204():
    length = 1000
    x, y = CopyMemory(length, 4, seed=0)[0]
    logits = torch.full((1, 10, length + 20), -1e4)
    logits[0, 0, : length + 10] = 0.0  # blank, certain
    logits[0, 1:9, length + 10:] = 0.0  # uniform over the 8 symbols
    loss = TASKS["copy"].loss(logits, (x.unsqueeze(0), y.unsqueeze(0)))
    assert float(loss) == pytest.approx(10 * math.log(8) / (length + 20), rel=1e-5)
    assert float(loss) == pytest.approx(0.0204, abs=5e-5)


def test_copy_memory_deterministic_and_bad_input():
    assert torch.equal(CopyMemory(30, 5, seed=2)[4][1], CopyMemory(30, 5, seed=2)[4][1])
    assert not torch.equal(CopyMemory(30, 5, seed=2)[0][1], CopyMemory(30, 5, seed=3)[0][1])
    with pytest.raises(ConfigError, match=r"AddingProblem: length must be an int >= 2, got 1"):
        AddingProblem(length=1)
    with pytest.raises(ConfigError, match=r"CopyMemory: split must be one of 'train', 'test', got 'valid'"):
        CopyMemory(split="valid")
    with pytest.raises(IndexError):
        CopyMemory(10, 3)[3]


def test_a_sample_too_long_to_build_is_refused_when_the_dataset_is_made():
    # a sample is only built when it is read, so without this check the first read would try to allocate 16 GB
    from atrous._validate import physical_memory

    if physical_memory() / 16 >= 16e9:
        pytest.skip("this machine could hold a batch of 16 such samples")
    for cls in (AddingProblem, CopyMemory):
        with pytest.raises(ConfigError, match=rf"^{cls.__name__}: length must need at most .* of memory, got "
                                              r"1000000000 \(estimated 16 GB\); one sample would take more than"):
            cls(length=10**9, size=1)
    assert len(AddingProblem(length=10**6, size=1)[0][0][0]) == 10**6  # a long one that fits is still built
