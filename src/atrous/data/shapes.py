"""Generated 2-D tasks for dilated CNNs (docs/data.md): receptive field vs object scale, and gridding.

* :class:`MarkPairs`: two dots ``size - 1`` pixels apart around a known centre; the class is their orientation
  (horizontal, vertical, diagonal, anti-diagonal) and is read out at the centre pixel. Every dot lies at
  Chebyshev distance ``(size - 1) / 2`` from the centre, so an output unit at the centre whose square receptive
  field is smaller than ``size`` sees no dot at all: its input has the same distribution for every class, and no
  network of that receptive field can beat chance (25 %). One of size ``>= size`` (without holes) sees both.
* :class:`TinyShapes`: per-pixel segmentation of shapes that fit in a 2×2 box (monomino, domino, L-tromino,
  square); the label of an object pixel is the number of pixels of its shape (1 to 4). Deciding it needs the
  pixel's 8 neighbours, every one of which has an odd offset along some axis: a stack of rate-2 convolutions
  (``2, 2, 2``) reads only the even offsets ``2Z × 2Z``, so it sees nothing of the shape but the pixel itself.
* :func:`checkerboard_energy`: the share of a map's power at the frequencies of a ``period``-periodic pattern,
  the signature of gridding.

Every sample comes from its own generator, a function of ``(seed, split, index)`` only
(:func:`~atrous.data._common.item_rng`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from atrous.data._common import check_count, item_rng, split_id
from atrous.errors import ShapeError, bad

__all__ = ["MARK_CLASSES", "SHAPES", "MarkPairs", "TinyShapes", "checkerboard_energy"]

#: class index -> name, and the (row, column) direction of the two dots from the centre (times ±h)
MARK_CLASSES: tuple[tuple[str, tuple[int, int]], ...] = (
    ("horizontal", (0, 1)), ("vertical", (1, 0)), ("diagonal", (1, 1)), ("anti-diagonal", (1, -1)),
)

#: the shapes of :class:`TinyShapes` by pixel count (their class), each as (row, column) cells in a 2×2 box
SHAPES: dict[int, tuple[tuple[tuple[int, int], ...], ...]] = {
    1: (((0, 0),),),
    2: (((0, 0), (0, 1)), ((0, 0), (1, 0))),
    3: (((0, 0), (0, 1), (1, 0)), ((0, 0), (0, 1), (1, 1)), ((0, 0), (1, 0), (1, 1)), ((0, 1), (1, 0), (1, 1))),
    4: (((0, 0), (0, 1), (1, 0), (1, 1)),),
}


def _noise_level(where: str, noise: object) -> float:
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not noise >= 0:
        raise bad(where, "noise", "a number >= 0", noise)
    return float(noise)


class MarkPairs(Dataset[tuple[Tensor, Tensor, Tensor]]):
    """Receptive field vs object scale: which way do two dots ``size - 1`` pixels apart lie?

    Each image is Gaussian noise (standard deviation ``noise``) plus two dots of amplitude 1 at
    ``centre ± h * u``, with ``h = (size - 1) / 2`` and ``u`` the class's direction (:data:`MARK_CLASSES`:
    ``(0, 1)`` horizontal, ``(1, 0)`` vertical, ``(1, 1)`` diagonal, ``(1, -1)`` anti-diagonal, as (row,
    column)). The object (the two dots) spans ``size`` pixels along its direction and its bounding box is
    ``size × size`` for the diagonals. The centre is uniform over the positions that keep the object inside
    the image, and is returned with the sample: a task reads the model's output **at the centre**.

    Why a receptive field below ``size`` cannot do better than chance: both dots are at Chebyshev distance
    ``h`` from the centre, so a square window of side ``R <= size - 1 = 2h`` centred there contains neither
    dot, and what it contains (noise, and zero padding where the image ends) does not depend on the class.
    A window of side ``R >= size`` contains both dots for every class.

    Args:
        size: the object size ``s``, an odd int >= 3 (the distance between the dots is ``s - 1``).
        image: side of the square image, at least ``size``.
        count: number of samples.
        split: ``"train"`` or ``"test"``; the two draw from disjoint streams.
        seed: the data seed.
        noise: standard deviation of the background noise (0: a clean image, two ones in zeros).

    Shape:
        ``x``: ``(1, image, image)`` float32; ``y``: ``()`` int64 in ``0..3``; ``centre``: ``(2,)`` int64 (row,
        column).

    >>> ds = MarkPairs(size=9, image=20, count=4, noise=0.0)
    >>> x, y, c = ds[0]
    >>> x.shape, int(x.sum()), int(y) in range(4)
    (torch.Size([1, 20, 20]), 2, True)
    >>> rows, cols = torch.nonzero(x[0], as_tuple=True)
    >>> int((rows - c[0]).abs().max().maximum((cols - c[1]).abs().max()))     # Chebyshev distance h
    4
    """

    classes = len(MARK_CLASSES)

    def __init__(self, size: int = 13, image: int = 28, count: int = 2_000, split: str = "train", seed: int = 0,
                 noise: float = 0.2) -> None:
        where = type(self).__name__
        self.size = check_count(where, "size", size, minimum=3)
        if size % 2 == 0:
            raise bad(where, "size", "an odd int >= 3 (the dots sit at centre ± (size - 1) / 2)", size)
        self.image = check_count(where, "image", image, minimum=size)
        self.count = check_count(where, "count", count)
        self.split, self._split = split, split_id(where, split)
        self.seed = check_count(where, "seed", seed, minimum=0)
        self.noise = _noise_level(where, noise)

    @property
    def half(self) -> int:
        """``h``: the Chebyshev distance of each dot from the centre."""
        return (self.size - 1) // 2

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor, Tensor]:
        if not 0 <= index < self.count:
            raise IndexError(f"{type(self).__name__}: index {index} out of range for size {self.count}")
        rng = item_rng(self.seed, self._split, index)
        n, h = self.image, self.half
        # the noise first, whatever the class (so the background never depends on the label), and drawn at noise
        # 0 too, so that a clean dataset has the labels and positions of the noisy one with the same seed
        x = (rng.standard_normal((n, n)) * self.noise).astype(np.float32)
        label = int(rng.integers(self.classes))
        cy, cx = (int(v) for v in rng.integers(h, n - h, size=2))
        dy, dx = MARK_CLASSES[label][1]
        for sign in (-1, 1):
            x[cy + sign * h * dy, cx + sign * h * dx] += 1.0
        return (torch.from_numpy(x)[None], torch.tensor(label, dtype=torch.int64),
                torch.tensor([cy, cx], dtype=torch.int64))


class TinyShapes(Dataset[tuple[Tensor, Tensor]]):
    """Gridding: label every pixel with the size of the tiny shape it belongs to (0 = background).

    The image is cut into cells of 4 × 4 pixels (the cell grid is shifted by a random offset in ``0..3`` along
    each axis, so that no position is special); each cell holds, with probability ``density``, one shape of
    :data:`SHAPES`: its pixel count ``1..4`` uniformly, then one of its orientations uniformly, placed at a
    uniform offset ``0..1`` inside the cell's top-left 3 × 3 corner. A shape occupies at most 2 × 2 pixels and
    the last row and column of every cell stay empty, so two shapes never touch, not even diagonally: the label
    of an object pixel is the size of its 8-connected component. Shapes have amplitude 1; Gaussian noise of
    standard deviation ``noise`` is added everywhere. A shape cut by the image border is labelled with the
    number of its pixels left inside.

    Why a ``2, 2, 2`` stack fails: the other pixels of a pixel's shape are at offsets in ``{-1, 0, 1}²`` with an
    odd coordinate, and a chain of rate-2 convolutions reads only offsets in ``2Z × 2Z``. Its output at an
    object pixel sees that pixel and other shapes (independent of this one), so among object pixels it can do
    no better than always answering 4 (the class with the largest share of pixels, 4 / 10 when the sizes
    are uniform): 40 % foreground accuracy. A stack that reads offset 1 (rates ``1, 2, 5``; a smoothed
    dilated convolution) can reach 100 % on clean images.

    Args:
        image: side of the square image (a multiple of 4 is not required).
        count: number of samples.
        split: ``"train"`` or ``"test"``.
        seed: the data seed.
        noise: standard deviation of the noise.
        density: probability that a cell holds a shape.

    Shape:
        ``x``: ``(1, image, image)`` float32; ``y``: ``(image, image)`` int64 in ``0..4``.

    >>> x, y = TinyShapes(image=16, count=2, noise=0.0)[0]
    >>> x.shape, y.shape, bool(((x[0] > 0) == (y > 0)).all())
    (torch.Size([1, 16, 16]), torch.Size([16, 16]), True)
    """

    classes = 5
    cell = 4

    def __init__(self, image: int = 32, count: int = 2_000, split: str = "train", seed: int = 0,
                 noise: float = 0.2, density: float = 0.75) -> None:
        where = type(self).__name__
        self.image = check_count(where, "image", image, minimum=4)
        self.count = check_count(where, "count", count)
        self.split, self._split = split, split_id(where, split)
        self.seed = check_count(where, "seed", seed, minimum=0)
        self.noise = _noise_level(where, noise)
        if isinstance(density, bool) or not isinstance(density, (int, float)) or not 0 <= density <= 1:
            raise bad(where, "density", "a number in [0, 1]", density)
        self.density = float(density)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        if not 0 <= index < self.count:
            raise IndexError(f"{type(self).__name__}: index {index} out of range for size {self.count}")
        rng = item_rng(self.seed, self._split, index)
        n, c = self.image, self.cell
        x = (rng.standard_normal((n, n)) * self.noise).astype(np.float32)  # drawn at noise 0 too: same labels
        y = np.zeros((n, n), np.int64)
        origin = rng.integers(c, size=2) - c  # the first cell starts at -3..0 and may be cut by the border
        tops = np.arange(origin[0], n, c)
        lefts = np.arange(origin[1], n, c)
        cells = len(tops) * len(lefts)
        present = rng.random(cells) < self.density
        sizes = rng.integers(1, 5, size=cells)
        choice = rng.random(cells)
        offsets = rng.integers(2, size=(cells, 2))
        for k in np.flatnonzero(present):
            top, left = tops[k // len(lefts)] + offsets[k, 0], lefts[k % len(lefts)] + offsets[k, 1]
            variants = SHAPES[int(sizes[k])]
            cells_in = [(top + dy, left + dx) for dy, dx in variants[int(choice[k] * len(variants))]
                        if 0 <= top + dy < n and 0 <= left + dx < n]
            for r, q in cells_in:  # a shape cut by the border is labelled with the pixels left of it
                y[r, q] = len(cells_in)
        x += (y > 0).astype(np.float32)
        return torch.from_numpy(x)[None], torch.from_numpy(y)


def _pair(where: str, arg: str, value: object) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and
            all(isinstance(v, int) and not isinstance(v, bool) and v >= 2 for v in pair)):
        raise bad(where, arg, "an int >= 2 or 2 of them (rows, columns)", value)
    return int(pair[0]), int(pair[1])


def checkerboard_energy(maps: Tensor, period: int | Sequence[int] = 2) -> Tensor:
    """Share of each map's power at the frequencies of a ``period``-periodic pattern (gridding's signature).

    For a map ``z`` of ``H × W`` (cropped at the bottom and right to multiples of the period ``(p, q)``) with its
    mean removed, this is

        ``sum |Z[a H / p, b W / q]|² / sum |Z[u, v]|²``  over ``0 <= a < p``, ``0 <= b < q``, all ``u, v``,

    where ``Z`` is the 2-D DFT of ``z``: the frequencies ``(2 pi a / p, 2 pi b / q)``, which for ``p = q = 2``
    are ``(pi, 0)``, ``(0, pi)`` and ``(pi, pi)`` (the ``(0, 0)`` term is zero after removing the mean). These
    bins span exactly the ``p × q``-periodic maps, so the value is also the share of the map's variance
    explained by the sub-lattice a pixel sits on: 1 for a pure checkerboard ``(-1)^(i + j)``, 0 for a map that
    is constant on each row and column phase, about ``(pq - 1) / (HW - 1)`` for white noise. A rate-``d``
    stack computes each of the ``d²`` sub-lattices of its output from disjoint inputs, so differences between
    them show up here. A constant map gives 0.

    Args:
        maps: ``(..., H, W)``; every leading index is a separate map.
        period: ``p`` or ``(p, q)``, each >= 2 (the dilation of the stack under study).

    Returns:
        ``(...)``: one share in ``[0, 1]`` per map, in ``maps``' (floating) dtype.

    >>> i, j = torch.meshgrid(torch.arange(8), torch.arange(8), indexing="ij")
    >>> float(checkerboard_energy(((-1.0) ** (i + j))))
    1.0
    >>> round(float(checkerboard_energy(torch.sin(i / 3.0) + torch.cos(j / 4.0))), 3) < 0.05
    True
    """
    where = "checkerboard_energy"
    p, q = _pair(where, "period", period)
    if not isinstance(maps, Tensor) or maps.dim() < 2 or maps.shape[-2] < p or maps.shape[-1] < q:
        shape = tuple(maps.shape) if isinstance(maps, Tensor) else type(maps).__name__
        raise ShapeError(f"{where}: maps must be (..., H, W) with H >= {p} and W >= {q}, got {shape}")
    h, w = maps.shape[-2] // p * p, maps.shape[-1] // q * q
    z = maps[..., :h, :w]
    z = (z if z.is_floating_point() else z.float()).to(torch.float64)
    z = z - z.mean(dim=(-2, -1), keepdim=True)
    power = torch.fft.fft2(z).abs().square()
    total = power.sum(dim=(-2, -1))
    periodic = power[..., :: h // p, :: w // q].sum(dim=(-2, -1))
    share = torch.where(total > 0, periodic / total.clamp_min(torch.finfo(torch.float64).tiny), 0.0)
    return share.to(maps.dtype if maps.is_floating_point() else torch.float32)
