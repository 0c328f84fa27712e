"""Brute-force oracle for receptive fields: a one-hot pushed backwards through explicit 0/1 matrices.

Nothing here uses the formulas of atrous.rf: every layer becomes, per axis, a dense matrix built by a
plain loop over output indices and taps on a finite input, zero padding and all. A one-hot at a middle
output unit is pushed back to the input (the adjoint, i.e. a gradient with all-ones weights), which gives
the path count from every input position. Jump = how far that pattern moves when the unit moves by one.
"""

from __future__ import annotations

import numpy as np

from atrous.rf import Graph, Layer


def axis_length(layer: Layer, a: int, n_in: int) -> int:
    """Number of output positions, by walking windows over the padded input."""
    if layer.kind == "global":
        return 1
    k, s, d = layer.kernel[a], layer.stride[a], layer.dilation[a]
    left, right = layer.padding[a]
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


def axis_matrix(layer: Layer, a: int, n_in: int) -> np.ndarray:
    """Dense (n_out, n_in) matrix: entry (i, j) counts the taps of output i that read input j."""
    n_out = axis_length(layer, a, n_in)
    m = np.zeros((n_out, n_in))
    if layer.kind == "global":
        m[:] = 1.0
        return m
    k, s, d = layer.kernel[a], layer.stride[a], layer.dilation[a]
    left = layer.padding[a][0]
    for i in range(n_out):
        for t in range(k):
            j = i * s + t * d - left
            if 0 <= j < n_in:
                m[i, j] += 1.0
    return m


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
    shapes = node_shapes(graph, n)
    grads = {node: np.zeros(shapes[node])}
    grads[node][unit] = 1.0
    for i in range(node, 0, -1):
        if i not in grads:
            continue
        g = grads.pop(i)
        spec = graph.nodes[i]
        for src in spec.inputs:
            grads.setdefault(src, np.zeros(shapes[src]))
        if spec.op == "layer":
            src = spec.inputs[0]
            back = g
            for a in range(graph.dims):
                m = axis_matrix(spec.layer, a, shapes[src][a])
                back = np.moveaxis(np.tensordot(m.T, np.moveaxis(back, a, 0), axes=1), 0, a)
            grads[src] += back
        else:
            for src in spec.inputs:
                grads[src][tuple(slice(0, k) for k in g.shape)] += g
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
