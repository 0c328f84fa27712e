"""Which input offsets one output unit reads (taps and holes), fast, for every node of a large graph.

:mod:`atrous.rf.support` counts paths with dense float arrays; that is what an ERF needs, but for a
DenseNet-121 (receptive field 2071 x 2071, 183 nodes) it means gigabytes of arithmetic. Taps and holes need
only the boolean pattern, and most networks keep it a *product* of per-axis patterns: a kernel is a product
over axes, and a merge of product patterns stays a product when the branches agree on every axis but one,
or when one branch contains the others on every axis (a residual add, a dense block's concatenation).
Only other merges (an Inception block's 1x7 and 7x1 branches) fall back to a dense boolean array.

Nodes after a fractional stride (a transposed convolution, an upsampling) are phase-dependent: their unit 0
is computed densely by :func:`atrous.rf.phases.propagate`, starting from the fast patterns of the phase-free
nodes that feed them (an FCN's backbone is done as before).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from atrous.errors import bad
from atrous.rf._counts import TapCounts
from atrous.rf.graph import Graph, Spec, as_graph
from atrous.rf.layer import Layer
from atrous.rf.phases import is_phase_free, propagate
from atrous.rf.support import MAX_CELLS, AxisSupport, _check_extent, _first_reading_unit, shifted_to_unit

__all__ = ["NodeReads", "Reads", "node_reads", "reads"]


@dataclass(frozen=True)
class Reads(TapCounts):
    """The read pattern of one output unit: a product of per-axis patterns, or a dense N-D mask."""

    origin: tuple[int, ...]
    axes: tuple[np.ndarray, ...] | None  # per-axis boolean patterns when the pattern is a product
    dense: np.ndarray | None  # N-D boolean mask otherwise

    @property
    def extent(self) -> tuple[int, ...]:
        if self.axes is not None:
            return tuple(int(a.shape[0]) for a in self.axes)
        assert self.dense is not None
        return tuple(int(n) for n in self.dense.shape)

    @property
    def volume(self) -> int:
        return math.prod(self.extent)

    @property
    def taps(self) -> int:
        if self.axes is not None:
            return math.prod(int(np.count_nonzero(a)) for a in self.axes)
        assert self.dense is not None
        return int(np.count_nonzero(self.dense))

    @property
    def is_product(self) -> bool:
        return self.axes is not None

    def mask(self) -> np.ndarray:
        """The N-D boolean mask (built from the per-axis patterns when it is a product)."""
        if self.dense is not None:
            return self.dense
        assert self.axes is not None
        out = self.axes[0]
        for a in self.axes[1:]:
            out = np.multiply.outer(out, a)
        return np.asarray(out, dtype=bool)

    @property
    def per_axis(self) -> tuple[AxisSupport, ...]:
        """Projections onto each axis (``counts`` is 1 where some input with that coordinate is read)."""
        if self.axes is not None:
            pats = self.axes
        else:
            assert self.dense is not None
            d = self.dense.ndim
            pats = tuple(np.asarray(self.dense.any(axis=tuple(b for b in range(d) if b != a))) for a in range(d))
        return tuple(AxisSupport(o, p.astype(np.float64)) for o, p in zip(self.origin, pats))


def _shift_or(arr: np.ndarray, axis: int, kernel: int, step: int) -> np.ndarray:
    if kernel == 1:
        return arr
    n = arr.shape[axis]
    shape = list(arr.shape)
    shape[axis] = n + (kernel - 1) * step
    out = np.zeros(shape, dtype=bool)
    moved = np.moveaxis(out, axis, 0)
    src = np.moveaxis(arr, axis, 0)
    for t in range(kernel):
        moved[t * step: t * step + n] |= src
    return out


def _apply(r: Reads, jump: tuple[int, ...], layer: Layer) -> tuple[Reads, tuple[int, ...]]:
    if layer.is_global:
        return r, jump
    origin = tuple(r.origin[a] - layer.padding[a][0] * jump[a] for a in range(len(jump)))
    new_jump = tuple(jump[a] * layer.stride[a] for a in range(len(jump)))
    if r.axes is not None:
        axes = tuple(_shift_or(p, 0, layer.kernel[a], layer.dilation[a] * jump[a]) for a, p in enumerate(r.axes))
        return Reads(origin, axes, None), new_jump
    dense = r.dense
    assert dense is not None
    for a in range(dense.ndim):
        dense = _shift_or(dense, a, layer.kernel[a], layer.dilation[a] * jump[a])
    return Reads(origin, None, dense), new_jump


def _aligned_axis(parts: list[Reads], a: int) -> tuple[int, list[np.ndarray]]:
    lo = min(p.origin[a] for p in parts)
    hi = max(p.origin[a] + p.extent[a] for p in parts)
    out = []
    for p in parts:
        assert p.axes is not None
        padded = np.zeros(hi - lo, dtype=bool)
        padded[p.origin[a] - lo: p.origin[a] - lo + p.extent[a]] = p.axes[a]
        out.append(padded)
    return lo, out


def _merge(parts: list[Reads]) -> Reads:
    dims = len(parts[0].origin)
    if all(p.axes is not None for p in parts):
        aligned = [_aligned_axis(parts, a) for a in range(dims)]
        differ = [a for a in range(dims) if any(not np.array_equal(x, aligned[a][1][0]) for x in aligned[a][1])]
        if len(differ) <= 1:
            pats = tuple(np.logical_or.reduce(aligned[a][1]) for a in range(dims))
            return Reads(tuple(lo for lo, _ in aligned), pats, None)
        for i in range(len(parts)):  # one branch containing all the others on every axis
            if all(np.array_equal(aligned[a][1][i] | x, aligned[a][1][i]) for a in range(dims)
                   for x in aligned[a][1]):
                return Reads(tuple(lo for lo, _ in aligned), tuple(aligned[a][1][i] for a in range(dims)), None)
    lo = tuple(min(p.origin[a] for p in parts) for a in range(dims))
    hi = tuple(max(p.origin[a] + p.extent[a] for p in parts) for a in range(dims))
    out = np.zeros(tuple(h - low for low, h in zip(lo, hi)), dtype=bool)
    for p in parts:
        out[tuple(slice(p.origin[a] - lo[a], p.origin[a] - lo[a] + p.extent[a]) for a in range(dims))] |= p.mask()
    return Reads(lo, None, out)


@dataclass(frozen=True)
class NodeReads(TapCounts):
    """Taps, holes and coverage of one node (what a per-node table needs)."""

    name: str
    taps: int
    volume: int


def _walk(graph: Graph, upto: int) -> Iterator[tuple[int, Reads]]:
    last_use: dict[int, int] = {}
    for i, node in enumerate(graph.nodes[: upto + 1]):
        for j in node.inputs:
            last_use[j] = i
    state: dict[int, tuple[Reads, tuple[int, ...]]] = {}
    dims = graph.dims
    for i, node in enumerate(graph.nodes[: upto + 1]):
        if node.op == "input":
            r = Reads((0,) * dims, tuple(np.ones(1, dtype=bool) for _ in range(dims)), None)
            jump: tuple[int, ...] = (1,) * dims
        elif node.op == "layer":
            assert node.layer is not None
            r, jump = _apply(*state[node.inputs[0]], node.layer)
        else:
            r = _merge([state[k][0] for k in node.inputs])
            jump = state[node.inputs[0]][1]
        state[i] = (r, jump)
        yield i, r
        for k in set(node.inputs):
            if last_use.get(k) == i:
                del state[k]


def reads(spec: Spec, node: str | int | None = None, *, max_cells: int = MAX_CELLS) -> Reads:
    """Read pattern (taps, holes, per-axis projections) of output index 0 of ``node`` (default: the output).

    A field longer than ``max_cells`` inputs along an axis is refused before any array is made (the patterns are
    dense along each axis).

    >>> from atrous.rf import conv
    >>> r = reads([conv((3, 3), dilation=2)] * 3)
    >>> r.taps, r.volume, r.is_product
    (49, 169, True)
    """
    graph = as_graph(spec)
    idx = graph.output if node is None else (graph.index(node) if isinstance(node, str) else node)
    if not isinstance(idx, int) or not 0 <= idx < len(graph.nodes):
        raise bad("reads", "node", f"a node name or an index in 0..{len(graph.nodes) - 1}", node)
    _check_extent(graph, idx, max_cells, "reads")
    if not is_phase_free(graph, idx)[idx]:
        return _phased(graph, [idx])[idx]
    for i, r in _walk(graph, idx):
        if i == idx:
            return r
    raise AssertionError("unreachable")


def _phased(graph: Graph, targets: list[int]) -> dict[int, Reads]:
    """Dense read patterns of unit 0 of phase-dependent nodes (seeded by the fast walk where phase-free)."""
    upto = max(targets)
    free = is_phase_free(graph, upto)
    feeders = {j for i, n in enumerate(graph.nodes[: upto + 1]) if not free[i] for j in n.inputs if free[j]}
    fast: dict[int, tuple[tuple[int, ...], np.ndarray]] = {}
    if feeders:
        for i, r in _walk(graph, max(feeders)):
            if i in feeders:
                fast[i] = (r.origin, r.mask())
    out: dict[int, Reads] = {}
    dims = tuple(range(graph.dims))
    for i, pattern in propagate(graph, dims, dict.fromkeys(targets, 0), dtype=bool, seed=fast.get):
        if pattern is None:  # unit 0 reads nothing: describe the first unit that reads input
            shifted = shifted_to_unit(graph, i, _first_reading_unit(graph, i))
            out[i] = _phased(shifted, [len(shifted.nodes) - 1])[len(shifted.nodes) - 1]
        else:
            out[i] = Reads(pattern[0], None, pattern[1])
    return out


def node_reads(spec: Spec, *, max_cells: int = MAX_CELLS) -> list[NodeReads]:
    """Taps, holes and coverage of every node, in graph order, in one pass (``max_cells`` as in :func:`reads`).

    >>> from atrous.rf import conv
    >>> [(n.taps, n.volume) for n in node_reads([conv(3, dilation=2)] * 2)]
    [(1, 1), (3, 5), (5, 9)]
    """
    graph = as_graph(spec)
    _check_extent(graph, None, max_cells, "node_reads")
    free = is_phase_free(graph)
    last_free = max(i for i, f in enumerate(free) if f)
    rows = {i: r for i, r in _walk(graph, last_free) if free[i]}
    if not all(free):
        rows.update(_phased(graph, [i for i, f in enumerate(free) if not f]))
    return [NodeReads(graph.nodes[i].name, rows[i].taps, rows[i].volume) for i in range(len(graph.nodes))]
