"""Fractional strides: periods, phases, and the exact read patterns of phase-dependent output units.

A layer with ``upsample = u`` (a transposed convolution, an integer resize) runs its kernel over the input
with ``u - 1`` zeros inserted between samples, so its jump is ``stride / u``, a fraction. Neighbouring output
units then no longer read translated copies of one pattern; the pattern is periodic instead. Per axis a node
has a period ``P`` and a shift ``Q`` (integers): output unit ``i + P`` reads exactly the inputs of unit ``i``
moved by ``Q`` samples, so the jump is ``Q / P`` and unit ``i`` is described by its *phase* ``i mod P``.
Without fractional strides ``P = 1`` and ``Q`` is the usual product of strides.

Recurrences (per axis). Zero insertion by ``u`` turns ``(P, Q)`` into ``(P u, Q)``; a kernel of stride ``s``
then gives ``(P' , Q') = (P_z / g, Q s / g)`` with ``g = gcd(P_z, s)``. Tap ``t`` of unit ``r`` sits at
zero-inserted position ``z = r s + t d - left``; it reads input unit ``j = z / u`` when ``u`` divides ``z``
(nothing otherwise), which is phase ``j mod P`` moved by ``(j div P) Q``. ``P`` is a period, not always the
smallest one; :func:`minimal_period` finds that.

:func:`propagate` pushes N-D patterns (path counts, or booleans) of only the phases that the requested unit
needs through a graph, so an FCN's ``x8`` bilinear head costs a few shifted copies of the backbone's pattern.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from atrous.rf.graph import Graph
from atrous.rf.layer import Layer

__all__ = ["Pattern", "Period", "after", "is_phase_free", "periods", "propagate", "taps"]

#: ``(origin, array)``: the unit reads input ``origin + index`` with weight ``array[index]``; None reads nothing
Pattern = tuple[tuple[int, ...], np.ndarray] | None


@dataclass(frozen=True)
class Period:
    """Unit ``i + period`` reads the inputs of unit ``i`` moved by ``shift`` samples (one axis)."""

    period: int
    shift: int

    @property
    def jump(self) -> Fraction:
        return Fraction(self.shift, self.period)

    def unit(self, j: int) -> tuple[int, int]:
        """Phase of unit ``j`` and the translation of its pattern relative to that phase's unit."""
        return j % self.period, (j // self.period) * self.shift


def after(layer: Layer, a: int, src: Period) -> Period:
    """The period of ``layer``'s output along axis ``a``, given its input's."""
    if layer.is_global:
        return src
    pz = src.period * layer.upsample[a]
    g = math.gcd(pz, layer.stride[a])
    return Period(pz // g, src.shift * layer.stride[a] // g)


def taps(layer: Layer, a: int, r: int, src: Period) -> list[tuple[int, int]]:
    """``(input phase, translation)`` of every tap of output unit ``r`` that lands on an input sample."""
    if layer.is_global:
        return [(r % src.period, (r // src.period) * src.shift)]
    u = layer.upsample[a]
    out = []
    for t in range(layer.kernel[a]):
        z = r * layer.stride[a] + t * layer.dilation[a] - layer.padding[a][0]
        if z % u == 0:
            out.append(src.unit(z // u))
    return out


def periods(graph: Graph, upto: int | None = None) -> list[tuple[Period, ...]]:
    """Per node, per axis: its :class:`Period` (merges take the least common multiple of their branches')."""
    last = len(graph.nodes) - 1 if upto is None else upto
    out: list[tuple[Period, ...]] = []
    for node in graph.nodes[: last + 1]:
        if node.op == "input":
            out.append((Period(1, 1),) * graph.dims)
        elif node.op == "layer":
            assert node.layer is not None
            layer = node.layer
            out.append(tuple(after(layer, a, p) for a, p in enumerate(out[node.inputs[0]])))
        else:
            out.append(tuple(merged(tuple(out[i][a] for i in node.inputs)) for a in range(graph.dims)))
    return out


def merged(branches: tuple[Period, ...]) -> Period:
    """A common period of merged branches; the shift follows the first branch's jump."""
    p = math.lcm(*(b.period for b in branches))
    first = branches[0]
    return Period(p, first.shift * p // first.period)


def is_phase_free(graph: Graph, upto: int | None = None) -> list[bool]:
    """Per node: no fractional stride on any path from the input (every unit reads one translated pattern)."""
    last = len(graph.nodes) - 1 if upto is None else upto
    free: list[bool] = []
    for node in graph.nodes[: last + 1]:
        if node.op == "input":
            free.append(True)
        elif node.op == "layer":
            assert node.layer is not None
            free.append(free[node.inputs[0]] and not node.layer.upsamples)
        else:
            free.append(all(free[i] for i in node.inputs))
    return free


def _needed(graph: Graph, per: list[tuple[Period, ...]], axes: tuple[int, ...], targets: dict[int, int],
            upto: int) -> list[list[set[int]]]:
    """Per node and per (selected) axis, the phases the targets' phase-0 units depend on."""
    need: list[list[set[int]]] = [[set() for _ in axes] for _ in range(upto + 1)]
    for i in targets:
        for k in range(len(axes)):
            need[i][k].add(0)
    for i in range(upto, 0, -1):
        node = graph.nodes[i]
        for k, a in enumerate(axes):
            if not need[i][k]:
                continue
            if node.op == "layer":
                assert node.layer is not None
                src = node.inputs[0]
                for r in need[i][k]:
                    need[src][k].update(h for h, _ in taps(node.layer, a, r, per[src][a]))
            else:
                for src in node.inputs:
                    need[src][k].update(r % per[src][a].period for r in need[i][k])
    return need


def _union(parts: list[tuple[tuple[int, ...], np.ndarray]], dtype: type) -> Pattern:
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    dims = len(parts[0][0])
    lo = tuple(min(o[a] for o, _ in parts) for a in range(dims))
    hi = tuple(max(o[a] + c.shape[a] for o, c in parts) for a in range(dims))
    out = np.zeros(tuple(h - low for low, h in zip(lo, hi)), dtype=dtype)
    for o, c in parts:
        view = out[tuple(slice(o[a] - lo[a], o[a] - lo[a] + c.shape[a]) for a in range(dims))]
        if dtype is bool:
            view |= c
        else:
            view += c
    return lo, out


def _moved(p: tuple[tuple[int, ...], np.ndarray], k: int, by: int) -> tuple[tuple[int, ...], np.ndarray]:
    origin, arr = p
    return (*origin[:k], origin[k] + by, *origin[k + 1:]), arr


def propagate(
    graph: Graph,
    axes: tuple[int, ...],
    targets: dict[int, int] | int,
    dtype: type = float,
    seed: Callable[[int], Pattern] | None = None,
) -> Iterator[tuple[int, Pattern]]:
    """Yield ``(node, pattern of its output unit 0)`` for every target node, over the given axes.

    Args:
        graph: the graph.
        axes: the spatial axes to resolve (one axis gives that axis's projection of the path counts).
        targets: a node index, or the node indices to report (all computed in one pass).
        dtype: ``float`` for path counts, ``bool`` for the read pattern.
        seed: optional fast pattern of unit 0 of a phase-free node (see :func:`is_phase_free`); when it
            returns a pattern, that node is not recomputed from its inputs.

    Only the phases that the targets' unit 0 depends on are computed; a phase may read nothing (a transposed
    convolution whose kernel is shorter than its stride), which is ``None``.
    """
    wanted = {targets: 0} if isinstance(targets, int) else dict.fromkeys(targets, 0)
    upto = max(wanted)
    per = periods(graph, upto)
    need = _needed(graph, per, axes, wanted, upto)
    free = is_phase_free(graph, upto)
    last_use: dict[int, int] = {}
    for i, node in enumerate(graph.nodes[: upto + 1]):
        for j in node.inputs:
            last_use[j] = i
    zero = (0,) * len(axes)
    state: dict[int, dict[tuple[int, ...], Pattern]] = {}
    for i, node in enumerate(graph.nodes[: upto + 1]):
        if not any(need[i]):
            continue
        fast = seed(i) if seed is not None and free[i] else None
        if node.op == "input":
            state[i] = {zero: (zero, np.ones((1,) * len(axes), dtype=dtype))}
        elif fast is not None:
            state[i] = {zero: fast}
        elif node.op == "layer":
            assert node.layer is not None
            state[i] = _layer(state[node.inputs[0]], node.layer, axes, need[i], per[node.inputs[0]], dtype)
        else:
            state[i] = _merge([(state[j], per[j]) for j in node.inputs], axes, need[i], dtype)
        if i in wanted:
            yield i, state[i][zero]
        for j in set(node.inputs):
            if last_use.get(j) == i and j in state and j not in wanted:
                del state[j]


def _layer(cur: dict[tuple[int, ...], Pattern], layer: Layer, axes: tuple[int, ...], need: list[set[int]],
           src: tuple[Period, ...], dtype: type) -> dict[tuple[int, ...], Pattern]:
    if layer.is_global:
        return cur
    for k, a in enumerate(axes):  # one axis at a time: keys hold new phases on axes < k, input phases after
        rests = {key[:k] + key[k + 1:] for key in cur}
        new: dict[tuple[int, ...], Pattern] = {}
        for rest in rests:
            for r in need[k]:
                parts = []
                for h, by in taps(layer, a, r, src[a]):
                    p = cur[(*rest[:k], h, *rest[k:])]
                    if p is not None:
                        parts.append(_moved(p, k, by))
                new[(*rest[:k], r, *rest[k:])] = _union(parts, dtype)
        cur = new
    return cur


def _merge(branches: list[tuple[dict[tuple[int, ...], Pattern], tuple[Period, ...]]], axes: tuple[int, ...],
           need: list[set[int]], dtype: type) -> dict[tuple[int, ...], Pattern]:
    out: dict[tuple[int, ...], Pattern] = {}
    for key in itertools.product(*(sorted(n) for n in need)):
        parts = []
        for pats, per in branches:
            units = [per[a].unit(r) for r, a in zip(key, axes)]
            p = pats[tuple(h for h, _ in units)]
            if p is not None:
                origin = tuple(o + by for o, (_, by) in zip(p[0], units))
                parts.append((origin, p[1]))
        out[key] = _union(parts, dtype)
    return out


def minimal_period(per: Period, same: Callable[[int, int], bool]) -> int:
    """The smallest ``p`` dividing ``per.period`` such that ``same(r, p)`` holds for every phase ``r``.

    ``same(r, p)`` must say whether unit ``r + p`` reads the inputs of unit ``r`` moved by ``p * jump``.
    """
    for p in range(1, per.period):
        if per.period % p == 0 and (p * per.shift) % per.period == 0 and all(same(r, p) for r in range(per.period)):
            return p
    return per.period
