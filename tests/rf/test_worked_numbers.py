"""The worked numbers of the subject, each computed by hand in the comment beside it."""

from __future__ import annotations

from atrous.rf import Graph, conv, receptive_field, span, support


def tcn(kernel: int, levels: int, stacks: int = 1) -> Graph:
    """Bai et al. (2018): per level two causal convs with dilation 2**i and a residual add."""
    g = Graph(dims=1)
    x = g.input
    for _ in range(stacks):
        for i in range(levels):
            h = g.chain([conv(kernel, dilation=2**i, padding="causal") for _ in range(2)], x)
            x = g.merge([h, x], op="add")
    return g


def test_exponential_k3():
    # 1 + 2*1 = 3, + 2*2 = 7, + 2*4 = 15
    r = receptive_field([conv(3, dilation=d) for d in (1, 2, 4)])
    assert [n.size[0] for n in r.nodes[1:]] == [3, 7, 15]
    assert support([conv(3, dilation=d) for d in (1, 2, 4)]).holes == 0


def test_single_kernel_span():
    # (5 - 1) * 3 + 1 = 13
    assert receptive_field(conv(5, dilation=3)).size == (13,)
    assert span(5, 3) == 13


def test_2d_rate_2_reads_9_of_25():
    s = support(conv((3, 3), dilation=2))
    assert (s.taps, s.volume, s.holes) == (9, 25, 16)


def test_three_layers_of_rate_2_leave_holes():
    # offsets are sums of three values in {-2, 0, 2}: only the 7 even offsets of -6..6 are read
    s = support([conv(3, dilation=2, padding="same")] * 3)
    assert s.extent == (13,) and s.taps == 7 and s.holes == 6
    assert s.per_axis[0].holes == [-5, -3, -1, 1, 3, 5]


def test_wavenet_cycle_reaches_1024():
    # 1 + (2 - 1) * (1 + 2 + ... + 512) = 1024
    r = receptive_field([conv(2, dilation=2**i, padding="causal") for i in range(10)])
    assert r.size == (1024,) and r.lookahead == (0,) and r.lookback == (1023,)
    assert support([conv(2, dilation=2**i) for i in range(10)]).holes == 0


def test_bai_tcn_k7_8_levels():
    # 1 + 2 * (7 - 1) * (1 + 2 + ... + 128) = 1 + 2 * 6 * 255 = 3061
    r = receptive_field(tcn(7, 8))
    assert r.size == (3061,) and r.lookahead == (0,) and r.aligned
    assert r.output.size_min == (1,)  # the all-residual path reads only the current sample


def test_context_module_table():
    # Yu & Koltun 2016, 3x3 convs with dilations 1,1,2,4,8,16,1 then a 1x1: 3, 5, 9, 17, 33, 65, 67, 67
    layers = [conv((3, 3), dilation=d, padding="same") for d in (1, 1, 2, 4, 8, 16, 1)] + [conv((1, 1))]
    r = receptive_field(layers)
    assert [n.size for n in r.nodes[1:]] == [(s, s) for s in (3, 5, 9, 17, 33, 65, 67, 67)]
    assert r.offset == (0.0, 0.0)


def test_aspp_union_of_branches():
    # branches at rates 6, 12, 18 on one 3x3 grid each: 1 + 8 + 8 + 8 distinct taps (the centre is shared)
    g = Graph(dims=2)
    branches = [g.add(conv(1, dims=2), 0)] + [g.add(conv((3, 3), dilation=r, padding="same"), 0)
                                               for r in (6, 12, 18)]
    g.merge(branches, op="cat")
    s = support(g)
    assert s.extent == (37, 37) and s.taps == 25
    assert receptive_field(g).aligned


def test_misaligned_branches_are_reported():
    g = Graph(dims=1)
    a = g.add(conv(3, padding="same"), 0)
    b = g.add(conv(3, padding="causal"), 0)
    g.merge([a, b])
    r = receptive_field(g)
    assert not r.aligned
    assert "not aligned" in r.messages[0] and "centre" in r.messages[0]


def test_causal_branch_against_same_branch_is_misaligned():
    g = Graph(dims=1)
    a = g.add(conv(3, dilation=2, padding="causal"), 0)
    b = g.add(conv(3, padding="valid"), 0)
    g.merge([a, b, 0])
    r = receptive_field(g)
    # the identity path ends where the causal branch ends, so only the valid branch is named
    assert not r.aligned and len(r.messages) == 1 and "'layer2'" in r.messages[0]
