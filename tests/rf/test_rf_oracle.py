"""Every quantity of atrous.rf.receptive_field and atrous.rf.support against the brute-force oracle."""

from __future__ import annotations

import numpy as np
import pytest
from _oracle import oracle
from _strategies import chains, extent_bound, graphs
from hypothesis import HealthCheck, given, settings

from atrous.errors import ShapeError
from atrous.rf import Graph, as_graph, reads, receptive_field, support

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
