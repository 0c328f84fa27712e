"""Hypothesis strategies: random layers, chains and DAGs (1-D and 2-D) of modest total size."""

from __future__ import annotations

import math

from hypothesis import strategies as st

from atrous.rf import Graph, Layer, conv, conv_transpose, pool, upsample

PADDINGS = st.one_of(
    st.integers(0, 3),
    st.sampled_from(["same", "valid", "causal"]),
    st.tuples(st.integers(0, 3), st.integers(0, 3)),
)


@st.composite
def layers(draw, dims: int = 1, max_stride: int = 3, max_kernel: int = 5, max_dilation: int = 4) -> Layer:
    kind = draw(st.sampled_from(["conv", "conv", "conv", "maxpool", "avgpool"]))
    k = tuple(draw(st.integers(1, max_kernel)) for _ in range(dims))
    s = tuple(draw(st.integers(1, max_stride)) for _ in range(dims))
    d = tuple(draw(st.integers(1, max_dilation)) for _ in range(dims))
    if dims == 1:
        pad = draw(PADDINGS)
    else:
        pad = tuple(draw(st.one_of(st.integers(0, 3), st.sampled_from(["same", "valid", "causal"])))
                    for _ in range(dims))
    if kind == "conv":
        return conv(k, stride=s, dilation=d, padding=pad, dims=dims)
    # torch pooling needs padding <= kernel // 2; the arithmetic does not, so any padding is fine here
    return pool(k, stride=s, dilation=d, padding=pad, kind=kind, ceil_mode=draw(st.booleans()), dims=dims)


def _jump(chain: list[Layer]) -> int:
    return max(math.prod(layer.stride[a] for layer in chain) for a in range(chain[0].dims))


@st.composite
def chains(draw, dims: int = 1, max_layers: int = 5, max_jump: int = 8) -> list[Layer]:
    n = draw(st.integers(1, max_layers))
    out: list[Layer] = []
    for _ in range(n):
        layer = draw(layers(dims=dims))
        if _jump([*out, layer]) > max_jump:
            layer = Layer(layer.kernel, (1,) * dims, layer.dilation, layer.padding, layer.kind, layer.name,
                          layer.ceil_mode)
        out.append(layer)
    return out


@st.composite
def graphs(draw, dims: int = 1) -> Graph:
    """A trunk, 2-3 parallel branches (stride 1 inside, so lengths can line up), a merge, maybe a tail."""
    g = Graph(dims=dims)
    trunk = g.chain(draw(chains(dims=dims, max_layers=2, max_jump=4)))
    branches = []
    for _ in range(draw(st.integers(2, 3))):
        chain = [Layer(x.kernel, (1,) * dims, x.dilation, x.padding, x.kind) for x in
                 draw(chains(dims=dims, max_layers=2))]
        branches.append(g.chain(chain, trunk))
    if draw(st.booleans()):
        branches.append(trunk)  # a residual (identity) path
    g.merge(branches, op=draw(st.sampled_from(["add", "cat", "mul"])))
    if draw(st.booleans()):
        g.chain(draw(chains(dims=dims, max_layers=1, max_jump=2)))
    return g


def extent_bound(graph: Graph) -> int:
    """A generous bound on any receptive field in the graph (sum of every layer's reach at its jump)."""
    jump, total = 1, 1
    for node in graph.nodes:
        if node.layer is not None:
            reach = max(node.layer.span) + max(p for ax in node.layer.padding for p in ax)
            total += reach * jump
            jump *= max(node.layer.stride)
    return total * 2 + jump * 4


@st.composite
def upsamplers(draw, dims: int = 1, factor: int | None = None) -> Layer:
    """A transposed convolution (kernel at least its stride, dilation coprime with it, so that every output
    reads some input) or an integer upsampling (nearest or linear), by 2 or 3 (or ``factor``)."""
    s = tuple(factor or draw(st.integers(2, 3)) for _ in range(dims))
    if draw(st.booleans()):
        return upsample(s, draw(st.sampled_from(["nearest", "linear"])), dims=dims)
    d = tuple(draw(st.sampled_from([x for x in (1, 2, 3, 4) if math.gcd(x, u) == 1])) for u in s)
    k = tuple(draw(st.integers(u, u + 2)) for u in s)
    p = tuple(draw(st.integers(0, (kk - 1) * dd + 1)) for kk, dd in zip(k, d))
    op = tuple(draw(st.integers(0, max(u, dd) - 1)) for u, dd in zip(s, d))
    return conv_transpose(k, s, p, op, d, dims=dims)


@st.composite
def up_chains(draw, dims: int = 1, max_layers: int = 4) -> list[Layer]:
    """Chains with one or two fractional strides among ordinary (possibly strided) layers."""
    out = draw(chains(dims=dims, max_layers=2, max_jump=4))
    for _ in range(draw(st.integers(1, 2))):
        out.append(draw(upsamplers(dims=dims)))
        if draw(st.booleans()):
            out.extend(draw(chains(dims=dims, max_layers=max_layers - 2, max_jump=3)))
    return out


@st.composite
def unets(draw, dims: int = 1) -> Graph:
    """A U-Net-like graph: a full-resolution path, a strided path upsampled back, merged, maybe a tail."""
    g = Graph(dims=dims)
    trunk = g.chain(draw(chains(dims=dims, max_layers=1, max_jump=1)))
    s = draw(st.integers(2, 3))
    down = g.chain([pool(s, dims=dims), *draw(chains(dims=dims, max_layers=1, max_jump=1))], trunk)
    up = g.add(draw(upsamplers(dims=dims, factor=s)), down)
    g.merge([trunk, up], op=draw(st.sampled_from(["add", "cat"])))
    if draw(st.booleans()):
        g.chain(draw(chains(dims=dims, max_layers=1, max_jump=2)))
    return g
