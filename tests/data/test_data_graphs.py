"""Graph data: the d-ring label depends on the nodes exactly d hops away and on nothing else; karate club."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch

from atrous.data.graphs import HopRings, KarateClub, collate_graphs, ring_labels, ring_matrix
from atrous.errors import ConfigError


def _nx(edge_index: torch.Tensor, n: int) -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from(edge_index.t().tolist())
    return g


def _distances(edge_index: torch.Tensor, n: int) -> np.ndarray:
    """The oracle: networkx's shortest-path lengths, -1 where unreachable."""
    dist = np.full((n, n), -1)
    for v, lengths in nx.all_pairs_shortest_path_length(_nx(edge_index, n)):
        for u, k in lengths.items():
            dist[v, u] = k
    return dist


@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_ring_matrix_is_shortest_path_distance_exactly_d(d):
    x, edge_index, y, mask = HopRings(d=d, nodes=80, size=1, seed=4)[0]
    dist = _distances(edge_index, 80)
    assert np.array_equal(ring_matrix(edge_index, 80, d), dist == d)
    # the stored labels are the rule recomputed from the oracle's rings: sign of the ring's mean feature
    for v in range(80):
        ring = np.flatnonzero(dist[v] == d)
        assert bool(mask[v]) == (len(ring) > 0)
        if len(ring):
            assert int(y[v]) == int(x[ring, 0].double().mean() > 0)


@pytest.mark.parametrize("d", [1, 2, 4])
def test_label_changes_only_with_the_d_ring(d):
    x, edge_index, y, mask = HopRings(d=d, nodes=120, size=1, seed=1)[0]
    dist = _distances(edge_index, 120)
    gen = torch.Generator().manual_seed(d)
    checked = 0
    for v in torch.nonzero(mask).flatten().tolist()[:25]:
        ring = torch.from_numpy(dist[v] == d)
        # every other node (v itself, the closer rings, the farther ones, other components) gets a new, huge value
        other = torch.randn(x.shape, generator=gen) * 100.0
        moved = torch.where(ring.unsqueeze(1), x, other)
        assert int(ring_labels(moved, edge_index, d)[0][v]) == int(y[v])
        closer = torch.from_numpy((dist[v] >= 0) & (dist[v] < d)).unsqueeze(1)
        assert int(ring_labels(torch.where(closer, other, x), edge_index, d)[0][v]) == int(y[v])
        # and the d-ring decides it: flipping the ring's signs flips the label
        flipped = torch.where(ring.unsqueeze(1), -x, x)
        assert int(ring_labels(flipped, edge_index, d)[0][v]) == 1 - int(y[v])
        checked += 1
    assert checked == 25


def test_closer_rings_carry_no_information():
    """Empirically (the proof is in the docstring of HopRings): the sign of the mean of ring k predicts the label
    of ring d = 3 at chance for every k != 3 and perfectly for k = 3."""
    d, ds = 3, HopRings(d=3, nodes=200, size=12, seed=0)
    agree = {k: [] for k in range(0, 6)}
    for i in range(len(ds)):
        x, edge_index, y, mask = ds[i]
        for k in agree:
            ring = torch.eye(200, dtype=torch.bool) if k == 0 else torch.from_numpy(ring_matrix(edge_index, 200, k))
            has = mask & ring.any(1)
            pred = (ring.double() @ x[:, 0].double() > 0).long()
            agree[k] += (pred[has] == y[has]).tolist()
    rates = {k: sum(v) / len(v) for k, v in agree.items()}
    assert rates[d] == 1.0
    assert all(abs(rates[k] - 0.5) < 0.06 for k in agree if k != d), rates


def test_hop_rings_is_deterministic_and_splits_differ():
    a, b = HopRings(d=2, nodes=50, size=3, seed=7), HopRings(d=2, nodes=50, size=3, seed=7)
    for i in range(3):
        assert all(torch.equal(s, t) for s, t in zip(a[i], b[i]))
    other_seed, test = HopRings(d=2, nodes=50, size=3, seed=8)[0], HopRings(d=2, nodes=50, size=3, split="test",
                                                                             seed=7)[0]
    assert not torch.equal(a[0][0], other_seed[0]) and not torch.equal(a[0][0], test[0])
    x, edge_index, y, mask = a[0]
    assert x.dtype == torch.float32 and edge_index.dtype == torch.int64 and y.dtype == torch.int64
    assert mask.dtype == torch.bool and x.shape == (50, 1) and edge_index.shape[0] == 2
    # undirected: every edge in both directions, no self-loops
    pairs = set(map(tuple, edge_index.t().tolist()))
    assert all((t, s) in pairs and s != t for s, t in pairs)


def test_collate_is_a_disjoint_union_with_the_same_labels():
    ds = HopRings(d=2, nodes=40, size=3, seed=2)
    x, edge_index, y, mask = collate_graphs([ds[0], ds[1], ds[2]])
    assert x.shape == (120, 1) and edge_index.shape[1] == sum(ds[i][1].shape[1] for i in range(3))
    y2, mask2 = ring_labels(x, edge_index, 2)
    assert torch.equal(y, y2) and torch.equal(mask, mask2)
    assert collate_graphs([ds[0]])[0] is ds[0][0]


def test_karate_club_matches_networkx_and_splits():
    g = nx.karate_club_graph()
    x, edge_index, y, mask = KarateClub("train", seed=0)[0]
    assert x.shape == (34, 34) and torch.equal(x, torch.eye(34)) and edge_index.shape == (2, 156)
    assert set(map(tuple, edge_index.t().tolist())) == {e for u, v in g.edges for e in ((u, v), (v, u))}
    assert y.tolist() == [int(g.nodes[v]["club"] != "Mr. Hi") for v in range(34)]
    assert int(y.sum()) == 17
    test_mask = KarateClub("test", seed=0)[0][3]
    assert int(mask.sum()) == 4 and not bool((mask & test_mask).any()) and bool((mask | test_mask).all())
    assert sorted(y[mask].tolist()) == [0, 0, 1, 1]
    assert torch.equal(mask, KarateClub("train", seed=0)[0][3])
    assert not torch.equal(mask, KarateClub("train", seed=1)[0][3])
    assert int(KarateClub("train", train_size=10)[0][3].sum()) == 10


@pytest.mark.parametrize(("make", "match"), [
    (lambda: HopRings(d=0), r"HopRings: d must be an int >= 1, got 0"),
    (lambda: HopRings(split="valid"), r"HopRings: split must be one of 'train', 'test', got 'valid'"),
    (lambda: HopRings(nodes=10, degree=20), r"HopRings: degree must be a number in \(0, nodes\), got 20"),
    (lambda: KarateClub(train_size=5), r"KarateClub: train_size must be an even number from 2 to 32, got 5"),
    (lambda: ring_matrix(torch.zeros(2, 0, dtype=torch.long), 3, 0), r"ring_matrix: d must be an int >= 1"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ConfigError, match=match):
        make()
