"""The generated 2-D tasks (MarkPairs, TinyShapes) have the properties they claim; checkerboard_energy on known maps."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
import torch

from atrous import rf
from atrous.data.shapes import MARK_CLASSES, MarkPairs, TinyShapes, checkerboard_energy
from atrous.errors import ConfigError, ShapeError
from atrous.models.small_cnn import DilatedCNN

# ------------------------------------------------------------------------------------------------- MarkPairs


@pytest.mark.parametrize("size", [3, 13, 21])
def test_mark_pairs_object_has_size_s_and_nothing_closer_to_the_centre(size):
    ds = MarkPairs(size=size, image=size + 7, count=40, noise=0.0)
    h = (size - 1) // 2
    seen = set()
    for i in range(len(ds)):
        x, y, (cy, cx) = ds[i]
        assert x.shape == (1, size + 7, size + 7) and x.dtype == torch.float32
        rows, cols = (t.numpy() for t in torch.nonzero(x[0], as_tuple=True))
        assert len(rows) == 2 and torch.equal(x[0][x[0] != 0], torch.ones(2))
        # both dots at Chebyshev distance exactly h from the centre, on the class's line, opposite each other
        assert set(np.maximum(abs(rows - int(cy)), abs(cols - int(cx)))) == {h}
        dy, dx = MARK_CLASSES[int(y)][1]
        assert sorted(zip(rows - int(cy), cols - int(cx))) == sorted([(-h * dy, -h * dx), (h * dy, h * dx)])
        # the object spans exactly `size` pixels along its direction
        assert max(rows.max() - rows.min(), cols.max() - cols.min()) + 1 == size
        # the window of side size - 1 (any receptive field smaller than the object) around the centre is empty
        window = x[0, max(cy - h + 1, 0):cy + h, max(cx - h + 1, 0):cx + h]
        assert window.abs().sum() == 0
        seen.add(int(y))
    assert seen == {0, 1, 2, 3}


def test_mark_pairs_background_does_not_depend_on_the_class():
    """The noise is drawn before the label: equal seeds with noise give noise + dots, the dots alone differ."""
    noisy, clean = MarkPairs(size=9, image=20, count=30, noise=0.5), MarkPairs(size=9, image=20, count=30, noise=0.0)
    for i in range(len(noisy)):
        (xn, yn, cn), (xc, yc, cc) = noisy[i], clean[i]
        assert int(yn) == int(yc) and torch.equal(cn, cc)
        background = xn - xc
        assert background.std() > 0.3
    # the class frequencies are roughly uniform and the background statistics equal across classes
    ds = MarkPairs(size=9, image=20, count=400, noise=1.0)
    centre_window = {c: [] for c in range(4)}
    for i in range(len(ds)):
        x, y, (cy, cx) = ds[i]
        centre_window[int(y)].append(float(x[0, cy - 3:cy + 4, cx - 3:cx + 4].mean()))
    assert all(len(v) > 60 for v in centre_window.values())
    assert all(abs(np.mean(v)) < 0.1 for v in centre_window.values())


def test_mark_pairs_is_deterministic_and_splits_differ():
    a, b = MarkPairs(count=5, seed=3), MarkPairs(count=5, seed=3)
    for i in (4, 0, 2):
        assert all(torch.equal(u, v) for u, v in zip(a[i], b[i]))
    assert not torch.equal(MarkPairs(count=5, split="test", seed=3)[0][0], a[0][0])
    assert not torch.equal(MarkPairs(count=5, seed=4)[0][0], a[0][0])


def test_mark_pairs_rejects_bad_arguments():
    with pytest.raises(ConfigError, match=r"MarkPairs: size must be an odd int >= 3"):
        MarkPairs(size=12)
    with pytest.raises(ConfigError, match=r"MarkPairs: image must be an int >= 21, got 20"):
        MarkPairs(size=21, image=20)
    with pytest.raises(ConfigError, match=r"MarkPairs: noise must be a number >= 0"):
        MarkPairs(noise=-1)
    with pytest.raises(IndexError):
        MarkPairs(count=3)[3]


# ------------------------------------------------------------------------------------------------ TinyShapes


def _components(mask: np.ndarray) -> list[list[tuple[int, int]]]:
    """8-connected components of a boolean map (plain breadth-first search)."""
    seen = np.zeros_like(mask, dtype=bool)
    out = []
    for start in zip(*np.nonzero(mask)):
        if seen[start]:
            continue
        seen[start] = True
        queue, comp = deque([start]), []
        while queue:
            r, c = queue.popleft()
            comp.append((r, c))
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    q = (r + dr, c + dc)
                    if 0 <= q[0] < mask.shape[0] and 0 <= q[1] < mask.shape[1] and mask[q] and not seen[q]:
                        seen[q] = True
                        queue.append(q)
        out.append(comp)
    return out


def test_tiny_shapes_label_is_the_size_of_the_pixels_component_within_a_2x2_box():
    ds = TinyShapes(image=24, count=30, noise=0.0)
    sizes = []
    for i in range(len(ds)):
        x, y = ds[i]
        y_np = y.numpy()
        assert torch.equal(x[0], (y > 0).float())
        for comp in _components(y_np > 0):
            rows, cols = zip(*comp)
            assert max(rows) - min(rows) <= 1 and max(cols) - min(cols) <= 1  # fits in a 2x2 box
            assert {int(y_np[p]) for p in comp} == {len(comp)}
            sizes.append(len(comp))
    counts = np.bincount(sizes, minlength=5)[1:]
    assert (counts > 40).all(), counts  # every size occurs


def test_tiny_shapes_label_is_invisible_to_a_rate_2_stack_and_visible_to_hdc():
    """Every other pixel of a shape is at an offset with an odd coordinate; the 2,2,2 stack reads none of them,
    the 1,2,5 stack reads them all (exact supports from atrous.rf)."""
    def offsets(rates):
        support = rf.support(DilatedCNN(rates=rates, width=1).rf_graph())
        return {(int(r) + support.origin[0], int(c) + support.origin[1]) for r, c in np.argwhere(support.counts > 0)}

    sparse, dense = offsets([2, 2, 2]), offsets([1, 2, 5])
    assert len(sparse) == 49 and (0, 0) in sparse and (1, 0) not in sparse and len(dense) == 17 * 17
    y_np = TinyShapes(image=24, count=1, noise=0.0)[0][1].numpy()
    for comp in _components(y_np > 0):
        for p in comp:
            others = {(q[0] - p[0], q[1] - p[1]) for q in comp if q != p}
            assert all(dy % 2 or dx % 2 for dy, dx in others)
            assert not others & sparse
            assert others <= dense


def test_tiny_shapes_is_deterministic_and_noise_is_added():
    a, b = TinyShapes(count=3, seed=1)[2], TinyShapes(count=3, seed=1)[2]
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    clean = TinyShapes(count=3, seed=1, noise=0.0)[2]
    assert torch.equal(clean[1], a[1]) and 0.15 < float((a[0] - clean[0]).std()) < 0.25
    with pytest.raises(ConfigError, match=r"TinyShapes: density must be a number in \[0, 1\], got 2"):
        TinyShapes(density=2)
    assert int(TinyShapes(count=1, density=0.0)[0][1].sum()) == 0


# ------------------------------------------------------------------------------------------ checkerboard_energy


def _sublattice_share(z: np.ndarray, p: int, q: int) -> float:
    """Oracle: the share of the (mean-removed) map's energy explained by the mean of each p x q sub-lattice."""
    z = z[: z.shape[0] // p * p, : z.shape[1] // q * q].astype(np.float64)
    z = z - z.mean()
    means = np.zeros_like(z)
    for a in range(p):
        for b in range(q):
            means[a::p, b::q] = z[a::p, b::q].mean()
    return float((means ** 2).sum() / (z ** 2).sum())


def test_checkerboard_energy_on_known_maps():
    i, j = np.meshgrid(np.arange(16), np.arange(16), indexing="ij")
    checker = torch.tensor((-1.0) ** (i + j))
    stripes = torch.tensor((-1.0) ** i)
    smooth = torch.tensor(np.sin(2 * np.pi * i / 16) + np.cos(2 * np.pi * 2 * j / 16))
    assert float(checkerboard_energy(checker)) == pytest.approx(1.0)
    assert float(checkerboard_energy(stripes)) == pytest.approx(1.0)
    assert float(checkerboard_energy(smooth)) == pytest.approx(0.0, abs=1e-12)
    assert float(checkerboard_energy(smooth + 0.5 * checker)) == pytest.approx(0.25 * 256 / (0.25 * 256 + 256))
    assert float(checkerboard_energy(torch.full((8, 8), 3.0))) == 0.0
    # a period-3 pattern is all at the period-3 frequencies and none at period 2's (12 = 2 * 2 * 3)
    tri = torch.tensor(np.where(i[:12, :12] % 3 == 0, 1.0, 0.0))
    assert float(checkerboard_energy(tri, 3)) == pytest.approx(1.0)
    assert float(checkerboard_energy(tri, 2)) == pytest.approx(0.0, abs=1e-12)


def test_checkerboard_energy_matches_the_sublattice_oracle_and_white_noise_level():
    gen = torch.Generator().manual_seed(0)
    maps = torch.randn(6, 3, 21, 18, generator=gen, dtype=torch.float64)
    maps[0, 0, ::2, ::2] += 2.0  # a map with a strong period-2 component
    for period in ((3, 2), 2, (2, 5)):
        got = checkerboard_energy(maps, period)
        assert got.shape == (6, 3) and got.dtype == torch.float64
        p, q = period if isinstance(period, tuple) else (period, period)
        for b in range(6):
            for c in range(3):
                assert float(got[b, c]) == pytest.approx(_sublattice_share(maps[b, c].numpy(), p, q), rel=1e-9)
    # +2 on one of the 4 sub-lattices: a periodic part of variance 0.75 over unit white noise -> 0.75 / 1.75
    assert float(checkerboard_energy(maps, 2)[0, 0]) == pytest.approx(0.75 / 1.75, abs=0.08)
    white = checkerboard_energy(torch.randn(400, 24, 24, generator=gen), 2)
    assert float(white.mean()) == pytest.approx(3 / 575, rel=0.15)


def test_checkerboard_energy_rejects_bad_input():
    with pytest.raises(ConfigError, match=r"checkerboard_energy: period must be an int >= 2"):
        checkerboard_energy(torch.zeros(4, 4), 1)
    with pytest.raises(ShapeError, match=r"checkerboard_energy: maps must be \(\.\.\., H, W\) with H >= 2"):
        checkerboard_energy(torch.zeros(4), 2)
