"""Every quantity of atrous.rf.receptive_field and atrous.rf.support against the brute-force oracle."""

from __future__ import annotations

import numpy as np
import pytest
from _oracle import max_period, oracle, phase_oracle
from _strategies import chains, extent_bound, graphs, unets, up_chains
from hypothesis import HealthCheck, given, settings

from atrous.errors import ShapeError
from atrous.rf import Graph, as_graph, conv, conv_transpose, node_reads, pool, reads, receptive_field, support, upsample

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_graph(graph: Graph) -> None:
    n = extent_bound(graph) * 2 + 8
    result = receptive_field(graph, n)
    for idx in range(1, len(graph.nodes)):
        node = result.nodes[idx]
        truth = oracle(graph, idx, n)
        assert not truth["touches_border"], "oracle input too small"
        assert node.size == truth["size"], node.name
        assert node.start == truth["start"], node.name
        assert node.end == truth["end"], node.name
        assert node.offset == tuple((s + e) / 2 for s, e in zip(truth["start"], truth["end"]))
        assert node.lookahead == truth["end"]
        assert node.length == truth["shape"], node.name
        if node.aligned:
            assert node.jump == truth["jump"], node.name
        pattern = reads(graph, idx)
        np.testing.assert_array_equal(pattern.mask(), truth["counts"] != 0)
        assert pattern.origin == truth["start"] and pattern.taps == np.count_nonzero(truth["counts"])
        sup = support(graph, idx)
        assert sup.origin == truth["start"]
        assert sup.counts is not None
        np.testing.assert_array_equal(sup.counts, truth["counts"])
        assert sup.taps == np.count_nonzero(truth["counts"])
        assert sup.holes == truth["counts"].size - sup.taps
        for a in range(graph.dims):
            projected = np.flatnonzero(np.any(truth["counts"] != 0,
                                              axis=tuple(b for b in range(graph.dims) if b != a)))
            assert sup.per_axis[a].offsets == [truth["start"][a] + int(i) for i in projected]


@SETTINGS
@given(chains(dims=1))
def test_chain_1d(layers):
    check_graph(as_graph(layers))


@SETTINGS
@given(chains(dims=2, max_layers=3, max_jump=4))
def test_chain_2d(layers):
    check_graph(as_graph(layers))


@SETTINGS
@given(graphs(dims=1))
def test_dag_1d(graph):
    check_graph(graph)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs(dims=2))
def test_dag_2d(graph):
    check_graph(graph)


@SETTINGS
@given(chains(dims=1, max_layers=4))
def test_output_length_raises_exactly_when_oracle_has_no_output(layers):
    from _oracle import node_shapes

    graph = as_graph(layers)
    for n in range(1, 12):
        shapes = node_shapes(graph, n)
        if all(s[0] >= 1 for s in shapes):
            assert receptive_field(graph, n).output.length == shapes[-1]
        else:
            with pytest.raises(ShapeError, match="input length must be at least"):
                receptive_field(graph, n)


def check_phases(graph: Graph) -> None:
    """After fractional strides: period, jump, every phase's extent and unit 0's counts against brute force."""
    # 1-D is cheap, so the brute force gets a wide margin (a 600-example run found inputs too small for the
    # narrower one); 2-D keeps the narrower input, since the oracle's cost grows with its square
    n = (2 * extent_bound(graph) + 16 + 8 * max_period(graph) if graph.dims == 1
         else extent_bound(graph) + 8 + 4 * max_period(graph))
    result = receptive_field(graph, n)
    rows = node_reads(graph)
    for idx in range(1, len(graph.nodes)):
        node = result.nodes[idx]
        truth = phase_oracle(graph, idx, n)
        assert not truth["touches_border"], "oracle input too small"
        assert node.length == truth["shape"], node.name
        assert node.phases == truth["period"], node.name
        if node.aligned:
            assert node.jump == truth["jump"], node.name
            for a in range(graph.dims):
                table = node.table[a]
                for r in range(node.phases[a]):
                    unit = table.unit(r)
                    assert (None if unit is None else unit[:2]) == truth["phases"][a][r], (node.name, a, r)
                sizes = [0 if p is None else p[1] - p[0] + 1 for p in truth["phases"][a]]
                assert node.phase_sizes[a] == tuple(sizes) and node.size[a] == max(sizes)
        assert node.start == truth["start"] and node.end == truth["end"], node.name
        pattern = reads(graph, idx)
        np.testing.assert_array_equal(pattern.mask(), truth["counts"] != 0)
        assert pattern.origin == truth["start"]
        assert (rows[idx].taps, rows[idx].volume) == (pattern.taps, pattern.volume)
        sup = support(graph, idx)
        assert sup.origin == truth["start"] and sup.counts is not None
        np.testing.assert_array_equal(sup.counts, truth["counts"])


PHASE_SETTINGS = settings(max_examples=30, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])


@PHASE_SETTINGS
@given(up_chains(dims=1))
def test_fractional_strides_1d(layers):
    check_phases(as_graph(layers))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(up_chains(dims=2, max_layers=3))
def test_fractional_strides_2d(layers):
    check_phases(as_graph(layers))


@PHASE_SETTINGS
@given(unets(dims=1))
def test_unet_1d(graph):
    check_phases(graph)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(unets(dims=2))
def test_unet_2d(graph):
    check_phases(graph)


def test_upsampling_worked_numbers():
    # nearest x2: output o reads floor(o / 2): extent 1 at both phases, jump 1/2, centre of unit 1 at 0
    r = receptive_field(upsample(2)).output
    assert (r.jump, r.phases, r.phase_sizes, r.start, r.end) == ((0.5,), (2,), ((1, 1),), (0,), (0,))
    assert r.table[0].unit(1)[:2] == (0, 0) and r.table[0].unit(2)[:2] == (1, 1)
    # bilinear x2 (align_corners=False): o reads floor((o + 0.5) / 2 - 0.5) and the next sample
    r = receptive_field(upsample(2, "linear")).output
    assert [r.table[0].unit(o)[:2] for o in range(4)] == [(-1, 0), (0, 1), (0, 1), (1, 2)]
    # linear x3: the middle phase sits exactly on an input sample (the other weight is 0)
    r = receptive_field(upsample(3, "linear")).output
    assert [r.table[0].unit(o)[:2] for o in range(3, 6)] == [(0, 1), (1, 1), (1, 2)]
    assert r.phase_sizes == ((2, 1, 2),) and r.size == (2,) and r.size_min == (1,)
    # ConvTranspose1d(k=4, s=2, p=1): o reads (o + 1 - t) / 2 for the taps t that divide evenly
    r = receptive_field(conv_transpose(4, stride=2, padding=1)).output
    assert [r.table[0].unit(o)[:2] for o in range(4)] == [(-1, 0), (0, 1), (0, 1), (1, 2)]
    # an FCN-like head: down by 8, up by 8 (bilinear): jump 1 again, 2 low-resolution units of 24 inputs at
    # every phase, but where they sit depends on the phase: unit 0 (x = -0.4375) reads low-resolution units -1
    # and 0, i.e. inputs -16 .. 15, centred at -0.5; unit 4 (x = 0.0625) reads units 0 and 1, centred at 7.5
    layers = [pool(8), conv(3, padding=1), upsample(8, "linear")]
    head = receptive_field(layers).output
    assert head.jump == (1,) and head.phases == (8,) and head.phase_sizes == ((32,) * 8,)
    assert (head.start, head.end, head.offset) == ((-16,), (15,), (-0.5,))
    assert head.table[0].unit(4)[:2] == (-8, 23)
    truth = phase_oracle(as_graph(layers), len(layers), 200)
    assert truth["period"] == (8,) and truth["start"] == (-16,) and truth["end"] == (15,)
    # a ConvTranspose2d(4, 2, 1) head after a stride-2 layer: extents 4 then 5, 2 phases
    tail = receptive_field([conv(3, stride=2, padding=1), conv_transpose(4, stride=2, padding=1)]).output
    assert tail.phases == (2,) and tail.jump == (1,) and tail.phase_sizes == ((5, 5),)


def test_misaligned_unet_is_reported():
    g = Graph(dims=1)
    full = g.add(conv(3, padding=1))
    up = g.chain([pool(2), conv(3, padding=1), upsample(2)], full)
    g.merge([full, up], op="cat")
    assert receptive_field(g).aligned  # nearest x2 of a pool-2 path is centred on average over its 2 phases
    g2 = Graph(dims=1)
    full = g2.add(conv(3, padding=1))
    up = g2.chain([pool(2), conv(3, padding=1), upsample(2), conv(1, padding=(1, 0))], full)
    g2.merge([full, up], op="cat")
    r = receptive_field(g2)
    assert not r.aligned and "not aligned" in r.messages[0]
