"""Segmentation data (docs/data.md, "Segmentation"): generated dashed lanes, and real nuclei masks.

* :class:`Lanes`: near-vertical lane lines drawn as dashes (``dash`` pixels of ink, then ``gap`` pixels of
  nothing) crossing the whole image, among isolated dashes of the same look (distractors). The label is the whole
  line, gaps included; distractors are background. A pixel in the middle of a gap has no ink within ``gap / 2``
  rows, and a lane dash looks exactly like a distractor until a second dash of the same line is in view: the task
  needs a tall receptive field, not a wide one.
* :class:`NucleiTiles`: the 2-D fluorescence nuclei image and its instance mask that ship inside the ``stardist``
  wheel (512 × 512, 125 nuclei, from the 2018 Data Science Bowl; Caicedo et al. 2019). Training tiles are cut at
  random from the top 384 rows, with flips and quarter turns; the test split is the bottom 128 rows, whole.

Every generated sample comes from its own generator, a function of ``(seed, split, index)`` only
(:func:`~atrous.data._common.item_rng`).
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from atrous.data._common import MissingDependencyError, check_count, item_rng, require, split_id
from atrous.errors import bad

__all__ = ["LANE_REGIONS", "Lanes", "NucleiTiles", "load_nuclei"]

#: the region codes of :class:`Lanes` (the third tensor of a sample)
LANE_REGIONS = {"background": 0, "dash": 1, "gap": 2, "distractor": 3}

#: a pixel is on a line when its column is within this distance of the line's centre (lines are 3 pixels wide)
_HALF_WIDTH = 1.5


def _number(where: str, arg: str, value: object, low: float, high: float | None = None) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= low and \
        (high is None or value <= high)
    if not ok:
        rule = f"a number >= {low}" if high is None else f"a number in [{low}, {high}]"
        raise bad(where, arg, rule, value)
    return float(value)  # type: ignore[arg-type]


class Lanes(Dataset[tuple[Tensor, Tensor, Tensor]]):
    """Dashed lanes among look-alike dashes: segment the whole lane, gaps included, and nothing else.

    Each image (``image × image``, noise of standard deviation ``noise``) holds 1 to ``max_lanes`` lines from
    the top row to the bottom row, 3 pixels wide, with a slope of at most ``slope`` columns per row, at least 12
    columns apart. Along each line the ink is on for ``dash`` rows and off for ``gap`` rows, from a random phase.
    ``distractors`` isolated dashes (one dash of a line, same width, length and amplitude) lie at least 6
    columns away from every line and from each other.

    Why the receptive field must be tall: a gap pixel more than ``r`` rows from the nearest dash row has no ink
    in its ``(2r + 1)``-pixel window (other lines and distractors are more than 6 columns away), so a window of
    side below ``min(gap, 12)`` cannot tell it from background; and a lone dash in a window shorter than
    ``dash + gap`` rows could be a distractor or part of a lane. Lines cross the whole image, so a window
    ``dash + gap`` rows tall always sees a lane's second dash.

    Args:
        image: side of the square image (>= 32).
        count: number of samples.
        split: ``"train"`` or ``"test"``; the two draw from disjoint streams.
        seed: the data seed.
        noise: standard deviation of the background noise.
        dash: rows of ink per dash (>= 2).
        gap: rows without ink between dashes (>= 1).
        max_lanes: the largest number of lines per image (1 to 4; the count is uniform in 1..max_lanes).
        distractors: isolated dashes per image.
        slope: the largest column change per row, in ``[0, 0.5]``.

    Shape:
        ``x``: ``(1, image, image)`` float32; ``y``: ``(image, image)`` int64, 1 on lanes; ``region``:
        ``(image, image)`` int64, :data:`LANE_REGIONS` (0 background, 1 dash, 2 gap, 3 distractor).

    >>> ds = Lanes(image=64, count=2, noise=0.0)
    >>> x, y, region = ds[0]
    >>> ink, lane = (region == 1) | (region == 3), (region == 1) | (region == 2)
    >>> x.shape, bool((x[0] > 0).eq(ink).all()), bool(y.eq(lane).all())
    (torch.Size([1, 64, 64]), True, True)
    """

    def __init__(self, image: int = 128, count: int = 2_000, split: str = "train", seed: int = 0,
                 noise: float = 0.3, dash: int = 8, gap: int = 40, max_lanes: int = 3, distractors: int = 4,
                 slope: float = 0.25) -> None:
        where = type(self).__name__
        self.image = check_count(where, "image", image, minimum=32)
        self.count = check_count(where, "count", count)
        self.split, self._split = split, split_id(where, split)
        self.seed = check_count(where, "seed", seed, minimum=0)
        self.noise = _number(where, "noise", noise, 0.0)
        self.dash = check_count(where, "dash", dash, minimum=2)
        self.gap = check_count(where, "gap", gap, minimum=1)
        if dash + gap > image:
            raise bad(where, "gap", f"at most image - dash = {image - dash} (a line must show two dashes)", gap)
        self.max_lanes = check_count(where, "max_lanes", max_lanes)
        if max_lanes > 4:
            raise bad(where, "max_lanes", "an int in 1..4 (lines are at least 12 columns apart)", max_lanes)
        self.distractors = check_count(where, "distractors", distractors, minimum=0)
        self.slope = _number(where, "slope", slope, 0.0, 0.5)

    def __len__(self) -> int:
        return self.count

    def _centres(self, rng: np.random.Generator, lanes: int) -> np.ndarray:
        """Column of each line's centre at every row, ``(lanes, image)``, at least 12 columns apart."""
        n = self.image
        rows = np.arange(n, dtype=np.float64)
        for _ in range(100):
            slopes = rng.uniform(-self.slope, self.slope, size=lanes)
            starts = rng.uniform(4, n - 5, size=lanes)
            cols = starts[:, None] + slopes[:, None] * rows[None, :]
            inside = (cols >= 2).all() and (cols <= n - 3).all()
            apart = lanes == 1 or all(np.abs(cols[i] - cols[j]).min() >= 12
                                      for i in range(lanes) for j in range(i + 1, lanes))
            if inside and apart:
                return cols
        return cols[:1]  # no room for more: one line (rare; only for small images with steep slopes)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor, Tensor]:
        if not 0 <= index < self.count:
            raise IndexError(f"{type(self).__name__}: index {index} out of range for size {self.count}")
        rng = item_rng(self.seed, self._split, index)
        n = self.image
        x = rng.standard_normal((n, n)) * self.noise  # drawn first, so the noise never depends on the layout
        region = np.zeros((n, n), dtype=np.int64)
        column = np.arange(n, dtype=np.float64)[None, :]
        lanes = self._centres(rng, int(rng.integers(1, self.max_lanes + 1)))
        period = self.dash + self.gap
        for cols in lanes:
            on_line = np.abs(column - cols[:, None]) < _HALF_WIDTH
            phase = int(rng.integers(period))
            inked = ((np.arange(n) + phase) % period < self.dash)[:, None]
            region[on_line & inked] = LANE_REGIONS["dash"]
            region[on_line & ~inked] = LANE_REGIONS["gap"]
        # distractors: one dash each, >= 6 columns from every line and every other distractor
        taken = list(lanes)
        for _ in range(self.distractors):
            for _ in range(50):
                top = int(rng.integers(0, n - self.dash + 1))
                s = rng.uniform(-self.slope, self.slope)
                start = rng.uniform(4, n - 5)
                rows = np.arange(top, top + self.dash)
                cols = start + s * (rows - top)
                if (cols < 2).any() or (cols > n - 3).any():
                    continue
                if all(np.abs(other[rows] - cols).min() >= 6 + 2 * _HALF_WIDTH for other in taken):
                    full = np.full(n, np.inf)
                    full[rows] = cols
                    taken.append(full)
                    on = np.abs(column - cols[:, None]) < _HALF_WIDTH
                    region[rows] = np.where(on, LANE_REGIONS["distractor"], region[rows])
                    break
        ink = (region == LANE_REGIONS["dash"]) | (region == LANE_REGIONS["distractor"])
        x = (x + ink).astype(np.float32)
        label = (region == LANE_REGIONS["dash"]) | (region == LANE_REGIONS["gap"])
        return torch.from_numpy(x)[None], torch.from_numpy(label.astype(np.int64)), torch.from_numpy(region)


# ---- nuclei ---------------------------------------------------------------------------------------------------

#: rows of the nuclei image used for training; the rest is the test split
NUCLEI_TRAIN_ROWS = 384


def _stardist_images() -> Path:
    # the data files only: importing stardist itself would need csbdeep, numba and scikit-image
    spec = importlib.util.find_spec("stardist")
    if spec is None or spec.origin is None:
        raise MissingDependencyError(
            "NucleiTiles: needs the nuclei image that ships inside the 'stardist' wheel; install it with "
            "`pip install --no-deps stardist==0.9.2` (its data files only; `make test` does this)")
    return Path(spec.origin).parent / "data" / "images"


@lru_cache(maxsize=1)
def load_nuclei() -> tuple[np.ndarray, np.ndarray]:
    """The nuclei image, scaled so its 1st and 99.8th percentiles are 0 and 1 (float32), and its instance mask
    (int64; 0 background, 1..125 nuclei), both 512 × 512."""
    tifffile = require("tifffile", "NucleiTiles")
    folder = _stardist_images()
    img = np.asarray(tifffile.imread(folder / "img2d.tif"), dtype=np.float64)
    mask = np.asarray(tifffile.imread(folder / "mask2d.tif"), dtype=np.int64)
    lo, hi = np.percentile(img, [1.0, 99.8])
    return ((img - lo) / (hi - lo)).astype(np.float32), mask


class NucleiTiles(Dataset[tuple[Tensor, Tensor, Tensor]]):
    """Foreground / background segmentation of real nuclei (the image and mask bundled with stardist).

    ``split="train"``: ``count`` tiles of ``tile × tile`` cut at random from the top
    :data:`NUCLEI_TRAIN_ROWS` rows, each flipped and turned by a random multiple of 90° (a function of
    ``(seed, index)``). ``split="test"``: one sample, the bottom 128 × 512 rows, whole (a fully convolutional
    model takes any size); ``count`` and ``tile`` are ignored. Nuclei cut by the split line are partly in both
    splits; there is one image, so the test split is small (36 nuclei): see docs/data.md.

    Shape:
        ``x``: ``(1, H, W)`` float32; ``y``: ``(H, W)`` int64, 1 on nuclei; ``instances``: ``(H, W)`` int64, the
        nucleus id (0 background), for per-object scores.
    """

    def __init__(self, tile: int = 128, count: int = 1_000, split: str = "train", seed: int = 0) -> None:
        where = type(self).__name__
        self.tile = check_count(where, "tile", tile, minimum=16)
        if tile > NUCLEI_TRAIN_ROWS:
            raise bad(where, "tile", f"an int in 16..{NUCLEI_TRAIN_ROWS}", tile)
        self.count = check_count(where, "count", count)
        self.split, self._split = split, split_id(where, split)
        self.seed = check_count(where, "seed", seed, minimum=0)
        self.image, self.instances = load_nuclei()

    def __len__(self) -> int:
        return self.count if self.split == "train" else 1

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor, Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(f"{type(self).__name__}: index {index} out of range for size {len(self)}")
        if self.split == "test":
            img, ids = self.image[NUCLEI_TRAIN_ROWS:], self.instances[NUCLEI_TRAIN_ROWS:]
        else:
            rng = item_rng(self.seed, self._split, index)
            t = self.tile
            r = int(rng.integers(0, NUCLEI_TRAIN_ROWS - t + 1))
            c = int(rng.integers(0, self.image.shape[1] - t + 1))
            img, ids = self.image[r:r + t, c:c + t], self.instances[r:r + t, c:c + t]
            turns, flip = int(rng.integers(4)), bool(rng.integers(2))
            img, ids = np.rot90(img, turns), np.rot90(ids, turns)
            if flip:
                img, ids = img[:, ::-1], ids[:, ::-1]
        ids = np.ascontiguousarray(ids)
        return (torch.from_numpy(np.ascontiguousarray(img))[None], torch.from_numpy((ids > 0).astype(np.int64)),
                torch.from_numpy(ids))
