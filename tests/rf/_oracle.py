"""Brute-force oracle for receptive fields: a one-hot pushed backwards through explicit 0/1 matrices.

Nothing here uses the formulas of atrous.rf: every layer becomes, per axis, a dense matrix built by a
plain loop over output indices and taps on a finite input, zero padding and all. A layer with a fractional
stride (``upsample = u``) is the product of two such matrices: an explicit zero-insertion matrix (input ``j``
goes to position ``j * u`` of a grid of ``(n - 1) * u + 1``) and the kernel's matrix on that grid. A one-hot
at a middle output unit is pushed back to the input (the adjoint, i.e. a gradient with all-ones weights),
which gives the path count from every input position. Jump = how far that pattern moves when the unit moves
by one; after a fractional stride the pattern repeats only every ``P`` units, found by comparing units.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import numpy as np

from atrous.rf import Graph, Layer


def axis_length(layer: Layer, a: int, n_in: int) -> int:
    """Number of output positions, by walking windows over the padded input."""
    if layer.kind == "global":
        return 1
    k, s, d = layer.kernel[a], layer.stride[a], layer.dilation[a]
    left, right = layer.padding[a]
    n_in = (n_in - 1) * layer.upsample[a] + 1  # the zero-inserted grid
    padded = n_in + left + right
    width = (k - 1) * d + 1
    count = 0
    i = 0
    while True:
        first = i * s  # window start in padded coordinates
        if layer.ceil_mode:
            # a window may overhang the right padding by less than one stride, but must start in the data
            ok = first + width - 1 <= padded - 1 + (s - 1) and first <= n_in + left - 1
        else:
            ok = first + width - 1 <= padded - 1
        if not ok:
            return count
        count += 1
        i += 1


@functools.lru_cache(maxsize=4096)
def axis_matrix(layer: Layer, a: int, n_in: int) -> np.ndarray:
    """Dense (n_out, n_in) matrix: entry (i, j) counts the taps of output i that read input j."""
    n_out = axis_length(layer, a, n_in)
    m = np.zeros((n_out, n_in))
    if layer.kind == "global":
        m[:] = 1.0
        return m
    u = layer.upsample[a]
    n_z = (n_in - 1) * u + 1
    zeros = np.zeros((n_z, n_in))
    for j in range(n_in):
        zeros[j * u, j] = 1.0
    k, s, d = layer.kernel[a], layer.stride[a], layer.dilation[a]
    left = layer.padding[a][0]
    m = np.zeros((n_out, n_z))
    for i in range(n_out):
        for t in range(k):
            j = i * s + t * d - left
            if 0 <= j < n_z:
                m[i, j] += 1.0
    return m @ zeros


def node_shapes(graph: Graph, n: int) -> list[tuple[int, ...]]:
    shapes: list[tuple[int, ...]] = []
    for node in graph.nodes:
        if node.op == "input":
            shapes.append((n,) * graph.dims)
        elif node.op == "layer":
            src = shapes[node.inputs[0]]
            shapes.append(tuple(axis_length(node.layer, a, src[a]) for a in range(graph.dims)))
        else:
            shapes.append(tuple(min(shapes[i][a] for i in node.inputs) for a in range(graph.dims)))
    return shapes


def input_gradient(graph: Graph, node: int, unit: tuple[int, ...], n: int) -> np.ndarray:
    """Path counts from every input position to output ``unit`` of ``node`` (input of length n per axis)."""
    return input_gradients(graph, node, [unit], n)[0]


def input_gradients(graph: Graph, node: int, units: list[tuple[int, ...]], n: int) -> np.ndarray:
    """``input_gradient`` of several units at once (a leading batch axis)."""
    shapes = node_shapes(graph, n)
    batch = len(units)
    grads = {node: np.zeros((batch, *shapes[node]))}
    for b, unit in enumerate(units):
        grads[node][(b, *unit)] = 1.0
    for i in range(node, 0, -1):
        if i not in grads:
            continue
        g = grads.pop(i)
        spec = graph.nodes[i]
        for src in spec.inputs:
            grads.setdefault(src, np.zeros((batch, *shapes[src])))
        if spec.op == "layer":
            src = spec.inputs[0]
            back = g
            for a in range(graph.dims):
                m = axis_matrix(spec.layer, a, shapes[src][a])
                back = np.moveaxis(np.tensordot(m.T, np.moveaxis(back, a + 1, 0), axes=1), 0, a + 1)
            grads[src] += back
        else:
            for src in spec.inputs:
                grads[src][(slice(None), *(slice(0, k) for k in g.shape[1:]))] += g
    return grads[0]


def oracle(graph: Graph, node: int, n: int) -> dict:
    """size, start, end, jump, counts (cropped to the box) and output shape of ``node``, by brute force."""
    shapes = node_shapes(graph, n)
    mid = tuple(k // 2 for k in shapes[node])
    g = input_gradient(graph, node, mid, n)
    nz = np.argwhere(g != 0)
    lo, hi = nz.min(axis=0), nz.max(axis=0)
    jump = []
    for a in range(graph.dims):
        nxt = list(mid)
        nxt[a] += 1
        g2 = input_gradient(graph, node, tuple(nxt), n)
        jump.append(int(np.argwhere(g2 != 0).min(axis=0)[a] - lo[a]))
    box = g[tuple(slice(lo[a], hi[a] + 1) for a in range(graph.dims))]
    start = tuple(int(lo[a] - mid[a] * jump[a]) for a in range(graph.dims))
    end = tuple(int(hi[a] - mid[a] * jump[a]) for a in range(graph.dims))
    return {
        "size": tuple(int(h - low + 1) for low, h in zip(lo, hi)),
        "start": start,
        "end": end,
        "jump": tuple(jump),
        "counts": box,
        "shape": shapes[node],
        "touches_border": bool((lo == 0).any() or (hi == n - 1).any()),
    }


def _cells(g: np.ndarray) -> dict[tuple[int, ...], float]:
    return {tuple(int(v) for v in idx): float(g[tuple(idx)]) for idx in np.argwhere(g != 0)}


def _moved(cells: dict[tuple[int, ...], float], a: int, by: int) -> dict[tuple[int, ...], float]:
    return {(*k[:a], k[a] + by, *k[a + 1:]): v for k, v in cells.items()}


def max_period(graph: Graph) -> int:
    """A bound on any period: the product of every zero-insertion factor (per axis, the largest)."""
    return max(math.prod(n.layer.upsample[a] for n in graph.nodes if n.layer is not None) for a in range(graph.dims))


def phase_oracle(graph: Graph, node: int, n: int) -> dict:
    """Period, shift, jump, per-phase extents and unit 0's counts of ``node``, by brute force.

    Units ``mid .. mid + 2 * bound`` are pushed back along each axis; the period is the smallest ``P`` for
    which unit ``v + P`` reads exactly the inputs of unit ``v`` (the set, not the path counts) moved by one common
    positive ``Q``, for every measured ``v``. Unit 0's phase is then measured at a middle unit that is a multiple of
    the lattice period.
    """
    shapes = node_shapes(graph, n)
    bound = max_period(graph)
    mid = tuple(k // 2 - 2 * bound for k in shapes[node])
    period, shift = [], []
    for a in range(graph.dims):
        sweep = []
        for v in range(2 * bound + 1):
            at = list(mid)
            at[a] += v
            sweep.append(tuple(at))
        units = [_cells(g) for g in input_gradients(graph, node, sweep, n)]
        for p in range(1, bound + 1):
            firsts = [min(k[a] for k in units[v]) if units[v] else None for v in range(len(units))]
            q = next((firsts[v + p] - firsts[v] for v in range(len(units) - p)
                      if firsts[v] is not None and firsts[v + p] is not None), None)
            # the read pattern (which inputs, not how many paths) must repeat: path counts can alternate between
            # units that read the same inputs (nearest x3, stride 2, nearest x2, stride 3 reads [2, 2] then [1, 3])
            if q is not None and q > 0 and all(_moved(units[v], a, q).keys() == units[v + p].keys()
                                               for v in range(len(units) - p)):
                period.append(p)
                shift.append(q)
                break
        else:
            raise AssertionError(f"no period up to {bound} on axis {a}")
    # the first unit at or after mid in unit 0's phase: path counts repeat with the lattice period, which divides
    # the product of the axis's zero-insertion factors (the read pattern's period can be shorter)
    lattice = [math.prod(nd.layer.upsample[a] for nd in graph.nodes if nd.layer is not None) for a in range(graph.dims)]
    base = tuple(m + (-m) % lat for m, lat in zip(mid, lattice))
    g = input_gradient(graph, node, base, n)
    nz = np.argwhere(g != 0)
    lo, hi = nz.min(axis=0), nz.max(axis=0)
    phases = []
    for a in range(graph.dims):
        row = []
        sweep = []
        for r in range(period[a]):
            at = list(base)
            at[a] += r
            sweep.append(tuple(at))
        k = base[a] // period[a] * shift[a]
        for grad in input_gradients(graph, node, sweep, n):
            cells = np.argwhere(grad != 0)
            row.append(None if len(cells) == 0 else (int(cells[:, a].min()) - k, int(cells[:, a].max()) - k))
        phases.append(tuple(row))
    start = tuple(int(lo[a]) - base[a] // period[a] * shift[a] for a in range(graph.dims))
    return {
        "period": tuple(period),
        "shift": tuple(shift),
        "jump": tuple(Fraction(q, p) for q, p in zip(shift, period)),
        "phases": tuple(phases),
        "start": start,
        "end": tuple(s + int(h - low) for s, low, h in zip(start, lo, hi)),
        "counts": g[tuple(slice(lo[a], hi[a] + 1) for a in range(graph.dims))],
        "shape": shapes[node],
        "touches_border": bool((lo == 0).any() or (hi == n - 1).any()),
    }
