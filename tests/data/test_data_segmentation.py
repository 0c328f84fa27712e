"""The segmentation data (Lanes, NucleiTiles) have the properties they claim; the per-object counts against a loop."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from atrous.data.segmentation import LANE_REGIONS, Lanes, NucleiTiles
from atrous.errors import ConfigError
from atrous.train.tasks_seg import iou_counts, object_iou_counts, object_recall_counts

# ----------------------------------------------------------------------------------------------------- Lanes


def test_lanes_labels_and_ink_follow_the_regions():
    ds = Lanes(image=64, count=30, noise=0.0, dash=6, gap=14)
    for i in range(len(ds)):
        x, y, region = ds[i]
        assert x.shape == (1, 64, 64) and x.dtype == torch.float32 and y.dtype == torch.int64
        ink = (region == LANE_REGIONS["dash"]) | (region == LANE_REGIONS["distractor"])
        assert torch.equal(x[0], ink.float())  # clean: ink exactly on dashes and distractors
        assert torch.equal(y, ((region == LANE_REGIONS["dash"]) | (region == LANE_REGIONS["gap"])).long())


def test_lanes_cross_the_image_with_repeating_dashes():
    ds = Lanes(image=64, count=30, noise=0.0, dash=6, gap=14, max_lanes=1, distractors=0)
    for i in range(len(ds)):
        _, y, region = ds[i]
        assert bool(y.any(dim=1).all())  # some lane pixel on every row: the line runs top to bottom
        inked = (region == LANE_REGIONS["dash"]).any(dim=1).long().tolist()
        runs = [len(run) for run in "".join(map(str, inked)).split("0") if run]
        assert len(runs) >= 3 and all(r == 6 for r in runs[1:-1])  # dash, gap, dash, ...: interior dashes whole
        gaps = [len(run) for run in "".join(map(str, inked)).split("1") if run]
        assert all(g == 14 for g in gaps[1:-1])


def _windows_without_ink(x: np.ndarray, r: int) -> np.ndarray:
    """True where the (2r + 1)-square window around a pixel holds no ink (zero padding outside)."""
    n = x.shape[0]
    padded = np.pad(x != 0, r)
    out = np.zeros_like(x, dtype=bool)
    for i in range(n):
        for j in range(n):
            out[i, j] = not padded[i:i + 2 * r + 1, j:j + 2 * r + 1].any()
    return out


def test_a_small_window_cannot_tell_a_gap_from_background():
    """Windows of side 11 with no ink at all occur on gap pixels (label 1) and on background (label 0): no
    function of such a window can label both right, so a receptive field below the gap cannot solve the task."""
    ds = Lanes(image=64, count=12, noise=0.0, dash=6, gap=20)
    empty_gap, empty_background = 0, 0
    for i in range(len(ds)):
        x, _, region = ds[i]
        empty = _windows_without_ink(x[0].numpy(), 5)
        empty_gap += int((empty & (region.numpy() == LANE_REGIONS["gap"])).sum())
        empty_background += int((empty & (region.numpy() == LANE_REGIONS["background"])).sum())
    assert empty_gap > 100 and empty_background > 1000


def test_distractors_are_isolated_dashes():
    ds = Lanes(image=96, count=20, noise=0.0)
    found = 0
    for i in range(len(ds)):
        _, y, region = ds[i]
        d = (region == LANE_REGIONS["distractor"]).numpy()
        lane = y.numpy().astype(bool)
        for r in np.nonzero(d.any(axis=1))[0]:
            cols, lane_cols = np.nonzero(d[r])[0], np.nonzero(lane[r])[0]
            found += 1
            # no lane pixel within 6 columns of a distractor on its row
            assert len(lane_cols) == 0 or np.abs(cols[:, None] - lane_cols[None, :]).min() > 6
    assert found > 0


def test_lanes_is_deterministic_and_splits_differ():
    a, b = Lanes(count=3, seed=1), Lanes(count=3, seed=1)
    assert all(torch.equal(u, v) for i in range(3) for u, v in zip(a[i], b[i], strict=True))
    assert not torch.equal(Lanes(count=3, split="test", seed=1)[0][0], a[0][0])
    assert not torch.equal(Lanes(count=3, seed=2)[0][0], a[0][0])


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"image": 16}, "Lanes: image must be an int >= 32"),
    ({"gap": 200}, "Lanes: gap must be at most image - dash"),
    ({"max_lanes": 5}, "Lanes: max_lanes must be an int in 1..4"),
    ({"slope": 2.0}, r"Lanes: slope must be a number in \[0.0, 0.5\]"),
    ({"split": "valid"}, "Lanes: split must be one of"),
])
def test_lanes_bad_arguments(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        Lanes(**kwargs)


# ---------------------------------------------------------------------------------------------------- nuclei

needs_stardist = pytest.mark.skipif(importlib.util.find_spec("stardist") is None or
                                    importlib.util.find_spec("tifffile") is None,
                                    reason="the stardist wheel (data files) and tifffile are not installed")


@needs_stardist
def test_nuclei_splits_and_labels():
    train, test = NucleiTiles(tile=64, count=5, seed=3), NucleiTiles(split="test")
    x, y, ids = test[0]
    assert len(test) == 1 and x.shape == (1, 128, 512) and torch.equal(y, (ids > 0).long())
    assert 15 < len(ids.unique()) < 60  # a few dozen nuclei in the bottom 128 rows
    for i in range(len(train)):
        x, y, ids = train[i]
        assert x.shape == (1, 64, 64) and torch.equal(y, (ids > 0).long())
    again = NucleiTiles(tile=64, count=5, seed=3)
    assert all(torch.equal(u, v) for u, v in zip(train[2], again[2], strict=True))
    assert not torch.equal(NucleiTiles(tile=64, count=5, seed=4)[2][0], train[2][0])


@needs_stardist
def test_nuclei_training_tiles_come_from_the_training_rows():
    from atrous.data.segmentation import NUCLEI_TRAIN_ROWS, load_nuclei

    image, _ = load_nuclei()
    x = NucleiTiles(tile=32, count=3, seed=0)[1][0][0].numpy()
    top, bottom = image[:NUCLEI_TRAIN_ROWS], image[NUCLEI_TRAIN_ROWS:]

    def occurs(block: np.ndarray, where: np.ndarray) -> bool:
        for turns in range(4):
            for flip in (False, True):
                t = np.rot90(block[:, ::-1] if flip else block, -turns)
                windows = np.lib.stride_tricks.sliding_window_view(where, t.shape)
                if (windows == t).all(axis=(2, 3)).any():
                    return True
        return False

    assert occurs(x, top) and not occurs(x, bottom)


# ------------------------------------------------------------------------------------------------- the scores


def test_object_recall_counts_against_a_loop():
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(0, 6, (3, 10, 10), generator=gen)
    pred = torch.rand(3, 10, 10, generator=gen) > 0.5
    keep = torch.tensor([False, True, False, True, True, False])
    found, total, kept_found, kept_total = 0, 0, 0, 0
    for p, m in zip(pred, ids, strict=True):
        for k in m.unique().tolist():
            if k == 0:
                continue
            hit = float(p[m == k].float().mean()) >= 0.5
            found, total = found + hit, total + 1
            if keep[k]:
                kept_found, kept_total = kept_found + hit, kept_total + 1
    assert object_recall_counts(pred, ids) == (found, total)
    assert object_recall_counts(pred, ids, keep) == (kept_found, kept_total)
    assert iou_counts(torch.tensor([True, True, False]), torch.tensor([True, False, False])) == (1.0, 2)


def test_object_iou_counts_against_a_loop():
    gen = torch.Generator().manual_seed(1)
    ids = torch.zeros(2, 20, 20, dtype=torch.int64)
    ids[0, 2:6, 3:8], ids[0, 12:15, 12:14], ids[1, 5:9, 5:9] = 1, 2, 3
    pred = torch.rand(2, 20, 20, generator=gen) > 0.6
    expected, n = 0.0, 0
    for b, k, (r0, r1, c0, c1) in ((0, 1, (2, 6, 3, 8)), (0, 2, (12, 15, 12, 14)), (1, 3, (5, 9, 5, 9))):
        box = (slice(max(r0 - 3, 0), r1 + 3), slice(max(c0 - 3, 0), c1 + 3))
        truth, found = ids[b][box] == k, pred[b][box]
        expected += float((truth & found).sum()) / float((truth | found).sum())
        n += 1
    total, count = object_iou_counts(pred, ids)
    assert count == n and total == pytest.approx(expected)
    perfect = ids > 0
    assert object_iou_counts(perfect, ids) == (3.0, 3)
    assert object_iou_counts(perfect, ids, torch.tensor([False, False, True, False])) == (1.0, 1)
