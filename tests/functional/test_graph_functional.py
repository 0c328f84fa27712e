"""Graph ops against slow, obvious oracles: Floyd–Warshall and BFS for hop sets, sorting every pairwise distance
for dilated k-NN, explicit loops for aggregation and the graph convolution."""

from __future__ import annotations

import contextlib
import itertools
import math
import random
from collections import deque
from collections.abc import Iterator

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from atrous.errors import ConfigError, ShapeError
from atrous.functional import graph as G
from atrous.functional.graph import dilated_graph_conv, dilated_knn, graph_aggregate, graph_conv, hop_edges

INF = math.inf


# ----------------------------------------------------------------------------------------------- oracles


def floyd_warshall(n: int, edges: list[tuple[int, int]]) -> list[list[float]]:
    dist = [[0.0 if i == j else INF for j in range(n)] for i in range(n)]
    for s, t in edges:
        if s != t:
            dist[s][t] = 1.0
    for m in range(n):
        for i in range(n):
            for j in range(n):
                if dist[i][m] + dist[m][j] < dist[i][j]:
                    dist[i][j] = dist[i][m] + dist[m][j]
    return dist


def bfs_distances(n: int, edges: list[tuple[int, int]], source: int) -> dict[int, int]:
    out: list[list[int]] = [[] for _ in range(n)]
    for s, t in edges:
        out[s].append(t)
    dist = {source: 0}
    queue = deque([source])
    while queue:
        u = queue.popleft()
        for v in out[u]:
            if v not in dist:
                dist[v] = dist[u] + 1
                queue.append(v)
    return dist


def oracle_hops(n: int, edges: list[tuple[int, int]], d: int, mode: str, loops: bool = False) -> list[tuple[int, int]]:
    dist = floyd_warshall(n, edges)
    keep = [(j, i) for j in range(n) for i in range(n)
            if (dist[j][i] == d if mode == "exact" else 1 <= dist[j][i] <= d)]
    if loops:
        keep += [(i, i) for i in range(n)]
    return sorted(keep)


def as_pairs(edge_index: torch.Tensor) -> list[tuple[int, int]]:
    return [(int(s), int(t)) for s, t in edge_index.t().tolist()]


def to_index(edges: list[tuple[int, int]]) -> torch.Tensor:
    return torch.tensor(edges, dtype=torch.int64).reshape(-1, 2).t().contiguous()


def undirected(edges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    return edges + [(t, s) for s, t in edges]


def path_graph(n: int) -> torch.Tensor:
    return to_index(undirected([(i, i + 1) for i in range(n - 1)]))


def cycle_graph(n: int) -> torch.Tensor:
    return to_index(undirected([(i, (i + 1) % n) for i in range(n)]))


@contextlib.contextmanager
def patched(name: str, value: int) -> Iterator[None]:
    """Shrink a block size inside a hypothesis example (function-scoped fixtures do not reset between examples)."""
    old = getattr(G, name)
    setattr(G, name, value)
    try:
        yield
    finally:
        setattr(G, name, old)


@st.composite
def graphs(draw: st.DrawFn, max_nodes: int = 10, max_edges: int = 30) -> tuple[int, list[tuple[int, int]]]:
    """Random directed or undirected graphs, with duplicates, self-loops and isolated nodes allowed."""
    n = draw(st.integers(0, max_nodes))
    if n == 0:
        return 0, []
    node = st.integers(0, n - 1)
    edges = draw(st.lists(st.tuples(node, node), max_size=max_edges))
    return n, undirected(edges) if draw(st.booleans()) else edges


# ----------------------------------------------------------------------------------------------- hop_edges


@settings(max_examples=150, deadline=None)
@given(g=graphs(), d=st.integers(1, 5), mode=st.sampled_from(G.MODES), loops=st.booleans(),
       block=st.sampled_from([1, 3, 8192]))
def test_hop_edges_match_floyd_warshall(g: tuple[int, list[tuple[int, int]]], d: int, mode: str, loops: bool,
                                        block: int) -> None:
    n, edges = g
    with patched("_HOP_BLOCK", block):
        got = hop_edges(to_index(edges), n, d, mode, add_self_loops=loops)
    assert got.dtype == torch.int64 and got.shape[0] == 2
    assert as_pairs(got) == oracle_hops(n, edges, d, mode, loops)  # sorted by source, then target; no duplicates


@settings(max_examples=80, deadline=None)
@given(g=graphs(), d=st.integers(1, 5))
def test_within_is_the_union_of_exact_layers(g: tuple[int, list[tuple[int, int]]], d: int) -> None:
    n, edges = g
    e = to_index(edges)
    within = set(as_pairs(hop_edges(e, n, d, "within")))
    layers = [set(as_pairs(hop_edges(e, n, t, "exact"))) for t in range(1, d + 1)]
    assert layers[-1] <= within
    assert within == set().union(*layers)
    for a, b in itertools.combinations(layers, 2):  # a node has one shortest-path distance
        assert not a & b


@settings(max_examples=60, deadline=None)
@given(g=graphs())
def test_dilation_one_is_the_input_deduplicated(g: tuple[int, list[tuple[int, int]]]) -> None:
    n, edges = g
    expected = sorted({(s, t) for s, t in edges if s != t})
    for mode in G.MODES:
        assert as_pairs(hop_edges(to_index(edges), n, 1, mode)) == expected


def test_hop_edges_match_python_bfs_on_a_larger_graph_in_blocks() -> None:
    rng = random.Random(4)
    n = 150
    edges = [(rng.randrange(n), rng.randrange(n)) for _ in range(260)]
    e = to_index(edges)
    dist = [bfs_distances(n, edges, s) for s in range(n)]
    for d in (1, 2, 3, 5):
        exact = sorted((s, t) for s in range(n) for t, h in dist[s].items() if h == d)
        within = sorted((s, t) for s in range(n) for t, h in dist[s].items() if 1 <= h <= d)
        with patched("_HOP_BLOCK", 17):
            assert as_pairs(hop_edges(e, n, d, "exact")) == exact
            assert as_pairs(hop_edges(e, n, d, "within")) == within
        assert as_pairs(hop_edges(e, n, d, "exact")) == exact  # one block


@pytest.mark.parametrize("n", [1, 2, 7, 12])
@pytest.mark.parametrize("d", [1, 2, 3, 6, 11])
def test_path_graph_exact_neighbours_are_i_plus_minus_d(n: int, d: int) -> None:
    got = as_pairs(hop_edges(path_graph(n), n, d))
    assert got == sorted((i + s, i) for i in range(n) for s in (-d, d) if 0 <= i + s < n)
    within = as_pairs(hop_edges(path_graph(n), n, d, "within"))
    assert within == sorted((j, i) for i in range(n) for j in range(n) if 1 <= abs(i - j) <= d)


@pytest.mark.parametrize("n", [3, 4, 9, 10])
@pytest.mark.parametrize("d", [1, 2, 4, 5, 7])
def test_cycle_known_answers(n: int, d: int) -> None:
    def ring(i: int, j: int) -> int:
        return min((i - j) % n, (j - i) % n)

    exact = sorted((j, i) for i in range(n) for j in range(n) if ring(i, j) == d)
    assert as_pairs(hop_edges(cycle_graph(n), n, d)) == exact
    if d <= n // 2:  # i - d and i + d, one node when d = n / 2
        assert len(exact) == n * (1 if 2 * d == n else 2)
    else:
        assert exact == []
    within = sorted((j, i) for i in range(n) for j in range(n) if 1 <= ring(i, j) <= d)
    assert as_pairs(hop_edges(cycle_graph(n), n, d, "within")) == within


def test_grid_exact_hops_are_the_manhattan_sphere() -> None:
    h, w = 6, 7
    edges = [(r * w + c, r * w + c + 1) for r in range(h) for c in range(w - 1)]
    edges += [(r * w + c, (r + 1) * w + c) for r in range(h - 1) for c in range(w)]
    e = to_index(undirected(edges))
    for d in (1, 2, 3, 5):
        expected = sorted((a, b) for a in range(h * w) for b in range(h * w)
                          if abs(a // w - b // w) + abs(a % w - b % w) == d)
        assert as_pairs(hop_edges(e, h * w, d)) == expected


def test_directed_paths_follow_the_edges() -> None:
    chain = to_index([(0, 1), (1, 2), (2, 3)])  # 0 -> 1 -> 2 -> 3
    assert as_pairs(hop_edges(chain, 4, 2)) == [(0, 2), (1, 3)]
    assert as_pairs(hop_edges(chain, 4, 3)) == [(0, 3)]
    assert as_pairs(hop_edges(chain, 4, 4)) == []
    shortcut = to_index([(0, 1), (1, 2), (0, 2)])  # 2 is one hop from 0, not two
    assert as_pairs(hop_edges(shortcut, 3, 2)) == []


def test_empty_graphs_and_isolated_nodes() -> None:
    none = torch.zeros(2, 0, dtype=torch.int64)
    for mode in G.MODES:
        assert hop_edges(none, 0, 3, mode).shape == (2, 0)
        assert hop_edges(none, 5, 3, mode).shape == (2, 0)
        assert as_pairs(hop_edges(none, 3, 2, mode, add_self_loops=True)) == [(0, 0), (1, 1), (2, 2)]
    # nodes 3 and 4 are isolated; only self-loops on 0
    e = to_index([(0, 0), (0, 1), (1, 0), (1, 2), (2, 1)])
    assert as_pairs(hop_edges(e, 5, 2)) == [(0, 2), (2, 0)]
    assert as_pairs(hop_edges(e, 5, 1, add_self_loops=True)) == [(0, 0), (0, 1), (1, 0), (1, 1), (1, 2), (2, 1),
                                                                  (2, 2), (3, 3), (4, 4)]


def test_hop_edges_leaves_its_input_alone_and_accepts_non_contiguous_input() -> None:
    e = path_graph(6)
    before = e.clone()
    flipped = torch.stack([e[1], e[0]], 1).t()  # a (2, E) view of a (E, 2) tensor
    assert not flipped.is_contiguous()
    assert torch.equal(hop_edges(flipped, 6, 2), hop_edges(e, 6, 2))
    assert torch.equal(e, before)


@pytest.mark.parametrize(("args", "error", "match"), [
    ((torch.zeros(3, 2, dtype=torch.int64), 4, 1), ShapeError, r"^hop_edges: edge_index must be a \(2, E\)"),
    ((torch.zeros(2, dtype=torch.int64), 4, 1), ShapeError, r"got shape \(2,\)"),
    (([[0, 1], [1, 0]], 4, 1), ShapeError, "got shape list"),
    ((torch.zeros(2, 2, dtype=torch.int32), 4, 1), ConfigError, r"torch.int64, got torch.int32; call .*\.long\(\)"),
    ((torch.tensor([[0, 4], [1, 0]]), 4, 1), ConfigError, r"must lie in 0\.\.3 for num_nodes=4, got values in 0\.\.4"),
    ((torch.tensor([[0, -1], [1, 0]]), 4, 1), ConfigError, r"got values in -1\.\.1"),
    ((torch.tensor([[0], [1]]), 4, 0), ConfigError, "^hop_edges: dilation must be a positive int, got 0$"),
    ((torch.tensor([[0], [1]]), 4, True), ConfigError, "dilation must be a positive int, got True"),
    ((torch.tensor([[0], [1]]), -1, 1), ConfigError, "num_nodes must be a non-negative int, got -1"),
    ((torch.tensor([[0], [1]]), 4, 1, "ball"), ConfigError, "mode must be one of 'exact', 'within', got 'ball'"),
    ((torch.tensor([[0], [1]]), 4, 1, "exact", 1), ConfigError, "add_self_loops must be a bool, got 1"),
])
def test_hop_edges_bad_input(args: tuple[object, ...], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        hop_edges(*args)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------- dilated_knn


def oracle_knn(pos: list[list[float]], k: int, d: int, batch: list[int] | None, loop: bool) -> list[tuple[int, int]]:
    n = len(pos)
    graph = batch or [0] * n
    out = []
    for i in range(n):
        cand = [j for j in range(n) if graph[j] == graph[i] and (loop or j != i)]
        cand.sort(key=lambda j: (sum((a - b) ** 2 for a, b in zip(pos[i], pos[j])), j))
        out += [(j, i) for j in cand[:k * d][::d]]
    return out


@st.composite
def clouds(draw: st.DrawFn) -> tuple[torch.Tensor, torch.Tensor | None]:
    n = draw(st.integers(0, 24))
    dims = draw(st.integers(1, 3))
    if draw(st.booleans()):  # integer grid: many exact ties, which the (distance, index) rule settles
        coords = st.integers(-3, 3).map(float)
    else:
        coords = st.floats(-10, 10, allow_nan=False, width=64)
    pos = torch.tensor(draw(st.lists(st.lists(coords, min_size=dims, max_size=dims), min_size=n, max_size=n)),
                       dtype=torch.float64).reshape(n, dims)
    batch = None
    if draw(st.booleans()):
        batch = torch.tensor(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)), dtype=torch.int64)
    return pos, batch


@settings(max_examples=150, deadline=None)
@given(cloud=clouds(), k=st.integers(1, 5), d=st.integers(1, 4), loop=st.booleans(),
       block=st.sampled_from([1, 40, 1 << 23]))
def test_dilated_knn_matches_sorting_every_distance(cloud: tuple[torch.Tensor, torch.Tensor | None], k: int, d: int,
                                                    loop: bool, block: int) -> None:
    pos, batch = cloud
    with patched("_KNN_BLOCK", block):
        got = dilated_knn(pos, k, d, batch, loop)
    expected = oracle_knn(pos.tolist(), k, d, None if batch is None else batch.tolist(), loop)
    assert got.dtype == torch.int64
    assert as_pairs(got) == expected  # target-major, neighbours in rank order


@settings(max_examples=50, deadline=None)
@given(cloud=clouds(), k=st.integers(1, 4), d=st.integers(1, 4), loop=st.booleans())
def test_dilated_knn_is_every_dth_of_the_plain_knd_list(cloud: tuple[torch.Tensor, torch.Tensor | None], k: int,
                                                         d: int, loop: bool) -> None:
    """DeepGCN's definition, relationally: k·d nearest neighbours, then ``[::d]`` per point."""
    pos, batch = cloud
    plain = dilated_knn(pos, k * d, 1, batch, loop)
    expected = []
    for i in range(len(pos)):
        row = [s for s, t in as_pairs(plain) if t == i]
        expected += [(s, i) for s in row[::d]]
    assert as_pairs(dilated_knn(pos, k, d, batch, loop)) == expected


def test_dilated_knn_on_a_line() -> None:
    pos = torch.arange(10.0).unsqueeze(1)
    e = dilated_knn(pos, k=2, dilation=2)
    rows = {i: [s for s, t in as_pairs(e) if t == i] for i in range(10)}
    assert rows[0] == [1, 3]  # ranked 1, 2, 3, 4
    assert rows[5] == [4, 3]  # ranked 4, 6, 3, 7: ties go to the lower index
    assert rows[9] == [8, 6]
    assert e.shape == (2, 20)
    with_self = dilated_knn(pos, k=2, dilation=2, loop=True)
    assert [s for s, t in as_pairs(with_self) if t == 5] == [5, 6]  # ranked 5, 4, 6, 3: self first, always kept


def test_dilated_knn_batches_never_cross_and_equal_separate_calls() -> None:
    torch.manual_seed(0)
    a, b = torch.randn(30, 3), torch.randn(20, 3) + 0.01  # overlapping clouds
    batch = torch.tensor([0] * 30 + [1] * 20)
    perm = torch.randperm(50)  # an unsorted batch vector
    pos, bat = torch.cat([a, b])[perm], batch[perm]
    e = dilated_knn(pos, k=4, dilation=3, batch=bat)
    assert torch.equal(bat[e[0]], bat[e[1]])
    assert e.shape == (2, 50 * 4)
    for graph, cloud in ((0, a), (1, b)):
        ids = (bat == graph).nonzero().view(-1)
        local = dilated_knn(pos[ids], k=4, dilation=3)
        mine = e[:, bat[e[1]] == graph]
        assert torch.equal(ids[local], mine)
        assert torch.equal(pos[ids], cloud[perm[ids] - (0 if graph == 0 else 30)])


def test_dilated_knn_small_graphs_use_the_candidates_they_have() -> None:
    pos = torch.randn(7, 2)
    batch = torch.tensor([0, 0, 0, 1, 2, 2, 2])  # graph 1 is a single point
    e = dilated_knn(pos, k=3, dilation=2, batch=batch)
    counts = torch.bincount(e[1], minlength=7).tolist()
    assert counts == [1, 1, 1, 0, 1, 1, 1]  # 2 candidates, ranks 0 (and 2, missing)
    assert dilated_knn(pos[:1], k=3, dilation=2).shape == (2, 0)
    assert dilated_knn(torch.zeros(0, 3), k=3).shape == (2, 0)
    assert as_pairs(dilated_knn(pos[:1], k=3, dilation=2, loop=True)) == [(0, 0)]


def test_dilated_knn_float32_and_duplicate_points() -> None:
    pos = torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
    e = dilated_knn(pos, k=2, dilation=1)
    assert as_pairs(e) == [(1, 0), (2, 0), (0, 1), (2, 1), (0, 2), (1, 2), (2, 3), (0, 3)]


def test_dilated_knn_never_picks_itself_when_distances_overflow() -> None:
    pos = torch.tensor([[-3e38], [3e38], [3e38]])  # float32: 0 is at distance inf from both others
    assert as_pairs(dilated_knn(pos, k=2)) == [(1, 0), (2, 0), (2, 1), (0, 1), (1, 2), (0, 2)]


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"pos": torch.zeros(5)}, ShapeError, r"^dilated_knn: pos must be a 2-D tensor \(N, D\)"),
    ({"pos": torch.zeros(5, 2, dtype=torch.int64)}, ConfigError, "pos dtype must be a floating-point dtype"),
    ({"pos": torch.tensor([[0.0], [math.nan]])}, ConfigError, "pos must be finite"),
    ({"k": 0}, ConfigError, "^dilated_knn: k must be a positive int, got 0$"),
    ({"dilation": 0}, ConfigError, "dilation must be a positive int, got 0"),
    ({"loop": None}, ConfigError, "loop must be a bool, got None"),
    ({"batch": torch.zeros(4, dtype=torch.int64)}, ShapeError, r"one graph id per point \(5,\), got shape \(4,\)"),
    ({"batch": torch.zeros(5, dtype=torch.int32)}, ConfigError, r"call batch\.long\(\)"),
    ({"batch": torch.tensor([0, 0, -1, 0, 0])}, ConfigError, "non-negative graph ids, got -1"),
])
def test_dilated_knn_bad_input(kwargs: dict[str, object], error: type[Exception], match: str) -> None:
    args: dict[str, object] = {"pos": torch.zeros(5, 2), "k": 2, "dilation": 1, "batch": None, "loop": False}
    with pytest.raises(error, match=match):
        dilated_knn(**(args | kwargs))  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------- aggregation


def oracle_aggregate(x: torch.Tensor, edges: list[tuple[int, int]], num_nodes: int, reduce: str) -> torch.Tensor:
    out = torch.zeros(num_nodes, x.shape[1], dtype=torch.float64)
    for i in range(num_nodes):
        msgs = [x[s].double() for s, t in edges if t == i]
        for c in range(x.shape[1]):
            vals = [float(m[c]) for m in msgs]
            if vals:
                out[i, c] = {"sum": sum(vals), "mean": sum(vals) / len(vals), "max": max(vals),
                             "min": min(vals)}[reduce]
    return out


@pytest.mark.parametrize("reduce", G.REDUCES)
@pytest.mark.parametrize("num_nodes", [None, 3, 9])
def test_graph_aggregate_matches_loops(reduce: str, num_nodes: int | None) -> None:
    rng = random.Random(1)
    n_src = 6
    n_out = n_src if num_nodes is None else num_nodes
    edges = [(rng.randrange(n_src), rng.randrange(n_out - 1)) for _ in range(20)]  # the last node hears nothing
    edges += edges[:4]  # duplicates are separate messages
    x = torch.randn(n_src, 5, dtype=torch.float64)
    got = graph_aggregate(x, to_index(edges), num_nodes, reduce)
    assert got.shape == (n_out, 5)
    torch.testing.assert_close(got, oracle_aggregate(x, edges, n_out, reduce))
    silent = sorted(set(range(n_out)) - {t for _, t in edges})
    assert silent and torch.all(got[silent] == 0)


@pytest.mark.parametrize("reduce", G.REDUCES)
def test_graph_aggregate_empty_and_non_contiguous(reduce: str) -> None:
    none = torch.zeros(2, 0, dtype=torch.int64)
    assert torch.equal(graph_aggregate(torch.randn(4, 3), none, reduce=reduce), torch.zeros(4, 3))
    assert graph_aggregate(torch.randn(0, 3), none, reduce=reduce).shape == (0, 3)
    x = torch.randn(3, 5).t()  # (5, 3), not contiguous
    e = cycle_graph(5)
    torch.testing.assert_close(graph_aggregate(x, e, reduce=reduce), graph_aggregate(x.contiguous(), e, reduce=reduce))


@pytest.mark.parametrize("reduce", G.REDUCES)
def test_graph_aggregate_gradcheck(reduce: str) -> None:
    x = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)  # distinct values: max and min are smooth
    e = to_index([(0, 1), (2, 1), (3, 1), (4, 0), (1, 5), (5, 5), (0, 5)])
    assert torch.autograd.gradcheck(lambda t: graph_aggregate(t, e, 7, reduce), (x,))


@pytest.mark.parametrize(("args", "error", "match"), [
    ((torch.zeros(4), torch.zeros(2, 0, dtype=torch.int64)), ShapeError, r"^graph_aggregate: x must be a 2-D"),
    ((torch.zeros(4, 2, dtype=torch.int64), torch.zeros(2, 0, dtype=torch.int64)), ConfigError, "x dtype"),
    ((torch.zeros(4, 2), torch.zeros(2, 0, dtype=torch.int64), None, "prod"), ConfigError,
     "reduce must be one of 'mean', 'sum', 'max', 'min', got 'prod'"),
    ((torch.zeros(4, 2), torch.tensor([[4], [0]])), ConfigError, r"must lie in 0\.\.3 for num_nodes=4, got .* 0\.\.4"),
    ((torch.zeros(2, 2), torch.tensor([[3], [0]]), 4), ConfigError,
     r"sources must be below x.shape\[0\]=2 and targets below num_nodes=4, got max source 3, max target 0"),
    ((torch.zeros(4, 2), torch.tensor([[0], [2]]), 2), ConfigError, "targets below num_nodes=2, .* max target 2"),
    ((torch.zeros(4, 2), torch.tensor([[0], [9]]), 2), ConfigError, r"must lie in 0\.\.3"),
])
def test_graph_aggregate_bad_input(args: tuple[object, ...], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        graph_aggregate(*args)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------- convolution


def oracle_conv(x: torch.Tensor, neigh: list[list[int]], ws: torch.Tensor, wn: torch.Tensor, b: torch.Tensor | None,
                aggr: str) -> torch.Tensor:
    reduce = {"sum": sum, "mean": lambda v: sum(v) / len(v), "max": max, "min": min}[aggr]
    out = torch.zeros(x.shape[0], ws.shape[0], dtype=torch.float64)
    for i in range(x.shape[0]):
        agg = [reduce([float(x[j, c]) for j in neigh[i]]) if neigh[i] else 0.0 for c in range(x.shape[1])]
        for o in range(ws.shape[0]):
            out[i, o] = sum(float(ws[o, c]) * float(x[i, c]) + float(wn[o, c]) * agg[c] for c in range(x.shape[1]))
            out[i, o] += float(b[o]) if b is not None else 0.0
    return out


@settings(max_examples=40, deadline=None)
@given(g=graphs(max_nodes=8), d=st.integers(1, 4), mode=st.sampled_from(G.MODES),
       aggr=st.sampled_from(G.REDUCES), with_bias=st.booleans())
def test_dilated_graph_conv_matches_loops(g: tuple[int, list[tuple[int, int]]], d: int, mode: str, aggr: str,
                                          with_bias: bool) -> None:
    n, edges = g
    gen = torch.Generator().manual_seed(n * 31 + d)
    x = torch.randn(n, 3, dtype=torch.float64, generator=gen)
    ws, wn = torch.randn(2, 3, dtype=torch.float64, generator=gen), torch.randn(2, 3, dtype=torch.float64,
                                                                                 generator=gen)
    b = torch.randn(2, dtype=torch.float64, generator=gen) if with_bias else None
    dist = floyd_warshall(n, edges)
    neigh = [[j for j in range(n) if (dist[j][i] == d if mode == "exact" else 1 <= dist[j][i] <= d)]
             for i in range(n)]
    got = dilated_graph_conv(x, to_index(edges), ws, wn, b, d, mode, aggr)
    torch.testing.assert_close(got, oracle_conv(x, neigh, ws, wn, b, aggr))


def test_graph_conv_counts_duplicates_and_dilated_conv_does_not() -> None:
    x = torch.tensor([[1.0], [10.0]])
    w0, w1 = torch.zeros(1, 1), torch.ones(1, 1)
    twice = to_index([(0, 1), (0, 1), (1, 1)])
    assert graph_conv(x, twice, w0, w1, aggr="sum").view(-1).tolist() == [0.0, 12.0]
    assert dilated_graph_conv(x, twice, w0, w1, aggr="sum").view(-1).tolist() == [0.0, 1.0]


@pytest.mark.parametrize("aggr", G.REDUCES)
@pytest.mark.parametrize("mode", G.MODES)
def test_dilated_graph_conv_gradcheck(aggr: str, mode: str) -> None:
    torch.manual_seed(2)
    x = torch.randn(7, 3, dtype=torch.float64, requires_grad=True)
    ws = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    wn = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, requires_grad=True)
    e = cycle_graph(7)
    assert torch.autograd.gradcheck(lambda *t: dilated_graph_conv(*t[:1], e, *t[1:], 2, mode, aggr), (x, ws, wn, b))


@pytest.mark.parametrize("n", [0, 1, 5])
def test_dilated_graph_conv_shapes(n: int) -> None:
    e = path_graph(n) if n > 1 else torch.zeros(2, 0, dtype=torch.int64)
    out = dilated_graph_conv(torch.randn(n, 3), e, torch.randn(6, 3), torch.randn(6, 3), None, 3)
    assert out.shape == (n, 6)


@pytest.mark.parametrize(("fn", "args", "error", "match"), [
    (dilated_graph_conv, (torch.zeros(4), path_graph(4), torch.zeros(2, 3), torch.zeros(2, 3)), ShapeError,
     r"^dilated_graph_conv: x must be a 2-D tensor \(N, C_in\)"),
    (dilated_graph_conv, (torch.zeros(4, 2), path_graph(4), torch.zeros(2, 3), torch.zeros(2, 3)), ShapeError,
     r"weight_self must be \(C_out, C_in\) with C_in = x.shape\[1\] = 2, got shape \(2, 3\)"),
    (dilated_graph_conv, (torch.zeros(4, 3), path_graph(4), torch.zeros(2, 3), torch.zeros(5, 3)), ShapeError,
     "weight_self and weight_neigh must have the same shape"),
    (dilated_graph_conv, (torch.zeros(4, 3), path_graph(4), torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(3)),
     ShapeError, r"bias must be \(2,\) or None, got shape \(3,\)"),
    (dilated_graph_conv, (torch.zeros(4, 3), path_graph(4), torch.zeros(2, 3), torch.zeros(2, 3), None, 0),
     ConfigError, "^dilated_graph_conv: dilation must be a positive int, got 0$"),
    (dilated_graph_conv, (torch.zeros(4, 3), path_graph(4), torch.zeros(2, 3), torch.zeros(2, 3), None, 1, "near"),
     ConfigError, "^dilated_graph_conv: mode must be one of"),
    (dilated_graph_conv, (torch.zeros(3, 3), path_graph(4), torch.zeros(2, 3), torch.zeros(2, 3)), ConfigError,
     r"^dilated_graph_conv: edge_index node ids must lie in 0\.\.2"),
    (dilated_graph_conv, (torch.zeros(4, 3), path_graph(4), torch.zeros(2, 3), torch.zeros(2, 3), None, 1, "exact",
                          "median"), ConfigError, "aggr must be one of"),
    (graph_conv, (torch.zeros(4, 3), path_graph(4).int(), torch.zeros(2, 3), torch.zeros(2, 3)), ConfigError,
     r"^graph_conv: edge_index dtype must be torch.int64"),
])
def test_conv_bad_input(fn: object, args: tuple[object, ...], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        fn(*args)  # type: ignore[operator]
