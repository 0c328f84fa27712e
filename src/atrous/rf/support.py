"""Exact support: which input offsets one output unit reads, and through how many paths.

The support of output index 0 of a node is a dense array of path counts over its receptive-field box
(``counts[i0, i1, ...]`` counts the paths from input offset ``origin + (i0, i1, ...)``). A layer with kernel
``k`` and dilation ``d`` running at jump ``J`` adds ``k`` copies of its input's counts shifted by
``t * d * J`` along each axis (the kernel is a product over axes, so the axes are done one at a time);
a merge adds its branches' counts, so the support of parallel branches (ASPP) is their union. After a
fractional stride (a transposed convolution, an upsampling) the taps of a unit land on different phases of
its input (:mod:`atrous.rf.phases`), and only the phases that output unit 0 needs are computed.

Counts are float64: exact while they stay below 2**53, which covers every practical stack; only whether a
count is zero decides taps and holes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from atrous.errors import ConfigError, UnsupportedOpError, bad
from atrous.rf._counts import TapCounts
from atrous.rf.graph import Graph, Spec, as_graph
from atrous.rf.layer import Layer
from atrous.rf.phases import propagate

__all__ = ["AxisSupport", "Support", "shifted_to_unit", "support"]

#: Largest receptive-field box (in cells) for which the N-D support is built; larger boxes fall back to
#: per-axis supports.
MAX_CELLS = 2**26


@dataclass(frozen=True)
class AxisSupport:
    """The support seen along one axis: which input offsets on this axis are read at all.

    ``counts[i]`` is the number of paths to any input whose coordinate on this axis is ``origin + i``.
    """

    origin: int
    counts: np.ndarray

    @property
    def offsets(self) -> list[int]:
        """Input offsets (relative to output index 0 at position 0) that are read."""
        return [self.origin + int(i) for i in np.flatnonzero(self.counts)]

    @property
    def holes(self) -> list[int]:
        """Offsets inside the extent that are never read."""
        return [self.origin + int(i) for i in np.flatnonzero(self.counts == 0)]

    @property
    def taps(self) -> int:
        return int(np.count_nonzero(self.counts))

    @property
    def extent(self) -> int:
        return int(self.counts.shape[0])

    @property
    def coverage(self) -> float:
        return self.taps / self.extent


@dataclass(frozen=True)
class Support(TapCounts):
    """Exact support of one output unit: path counts over the receptive-field box.

    ``counts`` is None when the box was too large for an N-D array (``per_axis`` then holds the
    per-axis supports, which are exact for the projections of the support onto each axis).
    """

    origin: tuple[int, ...]
    extent: tuple[int, ...]
    counts: np.ndarray | None
    per_axis: tuple[AxisSupport, ...]

    @property
    def dims(self) -> int:
        return len(self.origin)

    @property
    def volume(self) -> int:
        return math.prod(self.extent)

    @property
    def exact(self) -> bool:
        """True when the N-D support was built (always true in 1-D)."""
        return self.counts is not None

    @property
    def taps(self) -> int:
        """Number of input positions read inside the extent (N-D)."""
        if self.counts is None:
            raise UnsupportedOpError(
                f"Support: the {'x'.join(map(str, self.extent))} box exceeds {MAX_CELLS} cells, so only "
                "per-axis taps are known (support.per_axis)"
            )
        return int(np.count_nonzero(self.counts))

    def offsets(self) -> np.ndarray:
        """``(taps, dims)`` array of the input offsets read."""
        assert self.counts is not None
        return np.asarray(np.argwhere(self.counts != 0) + np.asarray(self.origin))

    def hole_offsets(self) -> np.ndarray:
        """``(holes, dims)`` array of the offsets inside the extent that are never read."""
        assert self.counts is not None
        return np.asarray(np.argwhere(self.counts == 0) + np.asarray(self.origin))

    def paths(self, offset: tuple[int, ...] | int) -> int:
        """Number of paths from input ``offset`` to the output unit (0 for a hole or outside the box)."""
        off = (offset,) if isinstance(offset, int) else tuple(offset)
        if len(off) != self.dims:
            raise bad("Support.paths", "offset", f"{self.dims} coordinates", offset)
        idx = tuple(o - s for o, s in zip(off, self.origin))
        if any(not 0 <= i < n for i, n in zip(idx, self.extent)):
            return 0
        if self.counts is None:
            raise UnsupportedOpError("Support.paths: the N-D support was not built (box too large)")
        return int(self.counts[idx])

    def distribution(self) -> np.ndarray:
        """Path counts normalised to sum to 1: the ERF of the linearised uniform-weight stack."""
        assert self.counts is not None
        return np.asarray(self.counts / self.counts.sum())


def support(spec: Spec, node: str | int | None = None, max_cells: int = MAX_CELLS) -> Support:
    """Exact support of output index 0 of ``node`` (default: the graph's output).

    Args:
        spec: a :class:`~atrous.rf.graph.Graph`, a list of layers or one layer.
        node: node name or index; default the output node.
        max_cells: build the N-D path-count array only when the receptive-field box has at most this many
            cells; otherwise ``counts`` is None and only the per-axis supports are given. A field longer than
            this along one axis is refused with a :class:`~atrous.errors.ConfigError` before anything is
            allocated (the per-axis supports are dense too).

    Returns:
        A :class:`Support`.

    >>> from atrous.rf import conv
    >>> s = support(conv((3, 3), dilation=2))
    >>> s.taps, s.volume, s.holes, s.per_axis[0].offsets
    (9, 25, 16, [0, 2, 4])
    >>> s = support([conv(3, dilation=d) for d in (1, 2, 5)])
    >>> s.extent, s.holes
    ((17,), 0)
    """
    graph = as_graph(spec)
    idx = graph.output if node is None else (graph.index(node) if isinstance(node, str) else node)
    if not isinstance(idx, int) or not 0 <= idx < len(graph.nodes):
        raise bad("support", "node", f"a node name or an index in 0..{len(graph.nodes) - 1}", node)
    _check_extent(graph, idx, max_cells)
    per_axis = []
    for a in range(graph.dims):
        origin, counts = _unit0(graph, (a,), idx)
        per_axis.append(AxisSupport(origin[0], counts))
    extent = tuple(p.extent for p in per_axis)
    if graph.dims == 1:
        return Support((per_axis[0].origin,), extent, per_axis[0].counts, tuple(per_axis))
    if math.prod(extent) > max_cells:
        return Support(tuple(p.origin for p in per_axis), extent, None, tuple(per_axis))
    origin, counts = _unit0(graph, tuple(range(graph.dims)), idx)
    marginals = tuple(
        AxisSupport(origin[a], counts.sum(axis=tuple(b for b in range(graph.dims) if b != a)))
        for a in range(graph.dims)
    )
    return Support(origin, extent, counts, marginals)


def _check_extent(graph: Graph, idx: int | None, max_cells: int, where: str = "support") -> None:
    """Refuse, before any array is made, a field that is longer than ``max_cells`` along one axis: the per-axis
    supports are dense (about 13 bytes per cell while they are built), so a rate of 10**9 would ask for gigabytes.
    ``idx`` None checks every node. Sizes come from :func:`~atrous.rf.stack.receptive_field`, which stays exact at
    any rate."""
    from atrous.rf.stack import receptive_field

    if isinstance(max_cells, bool) or not isinstance(max_cells, int) or max_cells < 1:
        raise bad(where, "max_cells", "a positive int", max_cells)
    result = receptive_field(graph, node=idx)
    for i in range(len(graph.nodes)) if idx is None else [idx]:
        for a, n in enumerate(result.nodes[i].size):
            if isinstance(n, int) and n > max_cells:
                raise ConfigError(
                    f"{where}: the receptive field along axis {a} must span at most max_cells={max_cells} inputs "
                    f"for the exact dense support, got {n} (about {13 * n / 1e9:.3g} GB); raise max_cells, or use "
                    "receptive_field(), whose sizes, strides and offsets stay exact at any rate")


def _unit0(graph: Graph, axes: tuple[int, ...], idx: int) -> tuple[tuple[int, ...], np.ndarray]:
    """Path counts of output unit 0 of node ``idx`` (or of the first unit that reads input) over ``axes``."""
    for _, pattern in propagate(graph, axes, idx):
        if pattern is not None:
            return pattern
    first = _first_reading_unit(graph, idx)
    shifted = shifted_to_unit(graph, idx, first)
    return _unit0(shifted, axes, len(shifted.nodes) - 1)


def _first_reading_unit(graph: Graph, idx: int) -> tuple[int, ...]:
    from atrous.rf.stack import receptive_field

    node = receptive_field(graph).nodes[idx]
    return tuple(next(i for i in range(ax.period.period) if ax.unit(i) is not None) for ax in node.table)


def shifted_to_unit(graph: Graph, idx: int, by: tuple[int, ...]) -> Graph:
    """``graph`` up to ``idx`` followed by a crop that makes unit ``by`` the new unit 0."""
    g = Graph(graph.dims)
    for node in graph.nodes[1: idx + 1]:
        if node.op == "layer":
            assert node.layer is not None
            g.add(node.layer, node.inputs[0], name=node.name)
        else:
            g.merge(list(node.inputs), node.op, name=node.name)
    g.add(Layer((1,) * graph.dims, (1,) * graph.dims, (1,) * graph.dims, tuple((-b, 0) for b in by), kind="crop"),
          idx)
    return g
