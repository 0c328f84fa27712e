"""Node classification on graphs: generated d-hop ring graphs with a known answer, and Zachary's karate club.

Every item is one whole graph, as a tuple ``(x, edge_index, y, mask)`` in the torch_geometric convention
(without importing it):

* ``x``: ``(N, F)`` float32 node features;
* ``edge_index``: ``(2, E)`` int64, rows ``(source, target)``, both directions of every undirected edge;
* ``y``: ``(N,)`` int64 node labels;
* ``mask``: ``(N,)`` bool, the nodes the split scores (the loss and the metrics ignore the others).

:func:`collate_graphs` joins several graphs into one disjoint union (ids shifted), so a batch is again one graph.

The generated task (:class:`HopRings`) is built so that the label is a function of the features of the nodes at
shortest-path distance **exactly** ``d`` (the "SPD kernel" meaning of d-hop, not the walk meaning; see
docs/data.md): the features are i.i.d. and symmetric, so the label is independent of every feature at any other
distance, including the node's own.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from atrous.data._common import check_count, item_rng, require, split_id
from atrous.errors import bad

__all__ = ["Graph", "HopRings", "KarateClub", "collate_graphs", "ring_labels", "ring_matrix"]

#: one graph: node features (N, F), edge_index (2, E), labels (N,), mask of the scored nodes (N,)
Graph = tuple[Tensor, Tensor, Tensor, Tensor]

#: nodes above which the dense breadth-first search of :func:`ring_matrix` is refused (N x N booleans)
MAX_NODES = 5000


def ring_matrix(edge_index: Tensor | np.ndarray, num_nodes: int, d: int) -> np.ndarray:
    """Which nodes lie at shortest-path distance exactly ``d`` from which: ``ring[v, u] = SPD(u -> v) == d``.

    A breadth-first search from every node at once on a dense ``(N, N)`` boolean matrix (the generated graphs
    are small); edges are followed from source to target, so an undirected graph must list both directions.

    Args:
        edge_index: ``(2, E)`` integer ids below ``num_nodes``.
        num_nodes: ``N``.
        d: the distance, ``>= 1``.

    Returns:
        ``(N, N)`` bool; row ``v`` marks the ``d``-ring of ``v``.

    >>> path = np.array([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    >>> ring_matrix(path, 4, 2).astype(int)
    array([[0, 0, 1, 0],
           [0, 0, 0, 1],
           [1, 0, 0, 0],
           [0, 1, 0, 0]])
    """
    where = "ring_matrix"
    n = check_count(where, "num_nodes", num_nodes, minimum=0)
    d = check_count(where, "d", d)
    if n > MAX_NODES:
        raise bad(where, "num_nodes", f"at most {MAX_NODES} (a dense search)", n)
    edges = np.asarray(edge_index, dtype=np.int64).reshape(2, -1)
    edges = edges[:, edges[0] != edges[1]]
    order = np.argsort(edges[1], kind="stable")
    src, dst = edges[0, order], edges[1, order]
    targets, starts = np.unique(dst, return_index=True)
    # rows are the sources of the search: frontier[s, v] = "v is at distance k from s"; gathering and or-reducing
    # over the edges (grouped by target) avoids a BLAS matrix product, which spins threads on a shared machine
    visited = np.eye(n, dtype=bool)
    frontier = visited.copy()
    for _ in range(d):
        reached = np.zeros((n, n), dtype=bool)
        if len(src):
            reached[:, targets] = np.logical_or.reduceat(frontier[:, src], starts, axis=1)
        frontier = reached & ~visited
        visited |= frontier
    return frontier.T.copy()  # row v: the sources s at distance d from v (undirected: the same as v's own ring)


def ring_labels(x: Tensor, edge_index: Tensor, d: int) -> tuple[Tensor, Tensor]:
    """The labelling rule of :class:`HopRings`: ``y[v] = 1`` when the mean of ``x[:, 0]`` over the nodes at
    distance exactly ``d`` from ``v`` is positive, else 0; ``mask[v]`` is false where that ring is empty.

    >>> path = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    >>> ring_labels(torch.tensor([[1.0], [-2.0], [-3.0], [4.0]]), path, 2)   # rings {2}, {3}, {0}, {1}
    (tensor([0, 1, 1, 0]), tensor([True, True, True, True]))
    """
    ring = torch.from_numpy(ring_matrix(edge_index.cpu().numpy(), x.shape[0], d))
    count = ring.sum(1)
    total = ring.double() @ x[:, 0].double().cpu()
    return (total > 0).long(), count > 0


def _geometric_edges(pos: np.ndarray, radius: float) -> np.ndarray:
    diff = pos[:, None, :] - pos[None, :, :]
    close = (diff**2).sum(-1) < radius**2
    np.fill_diagonal(close, False)
    src, dst = np.nonzero(close)  # symmetric, so both directions; sorted by source
    return np.stack([src, dst]).astype(np.int64)


class HopRings(Dataset[Graph]):
    """Random geometric graphs whose node labels are decided by the nodes exactly ``d`` hops away.

    Each graph has ``nodes`` points drawn uniformly in the unit square, joined when closer than
    ``r = sqrt(degree / (pi * nodes))`` (about ``degree`` neighbours away from the border), so hop distances
    grow with Euclidean distance and every ring ``1..d`` is populated for small ``d``. Every node gets one
    feature ``x ~ N(0, 1)``, i.i.d.; its label is whether the mean feature of its ``d``-ring (the nodes at
    shortest-path distance exactly ``d``) is positive (:func:`ring_labels`). Nodes with an empty ``d``-ring
    (small components, corners) are masked out.

    Why closer (and farther) rings carry no information: the features are independent of each other and of the
    graph, so the ``d``-ring's features are independent of the features at every other distance, and the label,
    a function of the ``d``-ring alone, is too. The label is also independent of the graph's shape: ``x`` and
    ``-x`` are equally likely, so ``P(y = 1) = 1/2`` for every node, whatever its ring sizes (a mean of
    continuous values is 0 with probability 0). The Bayes-optimal accuracy is 100 % for a model that reads the
    ``d``-ring's mean, and 50 % for any model that sees only distances other than ``d``.

    Args:
        d: the hop distance the label depends on, ``>= 1``.
        nodes: nodes per graph.
        size: graphs in the split.
        split: ``"train"`` or ``"test"`` (disjoint streams: the test graphs are new graphs, inductive).
        seed: the data seed; item ``i`` is a function of ``(seed, split, i)`` only.
        degree: the expected number of neighbours away from the border (sets the radius).

    Shape:
        ``x (N, 1)`` float32, ``edge_index (2, E)`` int64, ``y (N,)`` int64, ``mask (N,)`` bool.

    >>> x, edge_index, y, mask = HopRings(d=2, nodes=50, size=1)[0]
    >>> x.shape, y.shape, bool(torch.equal(ring_labels(x, edge_index, 2)[0], y))
    (torch.Size([50, 1]), torch.Size([50]), True)
    """

    def __init__(self, d: int = 3, nodes: int = 200, size: int = 32, split: str = "train", seed: int = 0,
                 degree: float = 6.0) -> None:
        where = type(self).__name__
        self.d = check_count(where, "d", d)
        self.nodes = check_count(where, "nodes", nodes, minimum=2)
        if self.nodes > MAX_NODES:
            raise bad(where, "nodes", f"at most {MAX_NODES}", nodes)
        self.size = check_count(where, "size", size)
        self.split = split
        self._split = split_id(where, split)
        self.seed = check_count(where, "seed", seed, minimum=0)
        if not isinstance(degree, (int, float)) or isinstance(degree, bool) or not 0 < degree < nodes:
            raise bad(where, "degree", "a number in (0, nodes)", degree)
        self.degree = float(degree)
        self.radius = math.sqrt(self.degree / (math.pi * self.nodes))
        self._items: dict[int, Graph] = {}

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> Graph:
        if not 0 <= index < self.size:
            raise IndexError(f"{type(self).__name__}: index {index} out of range for size {self.size}")
        if index not in self._items:  # kept: an epoch returns the same tensors, so hop-edge caches can hit
            self._items[index] = self._make(index)
        return self._items[index]

    def _make(self, index: int) -> Graph:
        rng = item_rng(self.seed, self._split, index)
        pos = rng.random((self.nodes, 2))
        x = torch.from_numpy(rng.standard_normal((self.nodes, 1)).astype(np.float32))
        edge_index = torch.from_numpy(_geometric_edges(pos, self.radius))
        y, mask = ring_labels(x, edge_index, self.d)
        return x, edge_index, y, mask


@functools.lru_cache(maxsize=1)
def _karate() -> tuple[np.ndarray, np.ndarray]:
    nx = require("networkx", "KarateClub")
    graph = nx.karate_club_graph()
    nodes = sorted(graph.nodes)
    labels = np.array([0 if graph.nodes[v]["club"] == "Mr. Hi" else 1 for v in nodes], dtype=np.int64)
    src, dst = zip(*graph.edges)
    edges = np.array([src + dst, dst + src], dtype=np.int64)
    order = np.lexsort((edges[1], edges[0]))
    return edges[:, order], labels


class KarateClub(Dataset[Graph]):
    """Zachary's karate club (networkx's bundled copy): 34 members, 78 friendships, two factions after the
    split (``club``: 0 = "Mr. Hi", 17 members; 1 = "Officer", 17 members).

    The graph has no node features, so ``x`` is the identity (one-hot node ids, as in Kipf & Welling's karate
    demo) and the task is transductive: both splits are the same graph with different masks. The training mask
    holds ``train_size`` labelled members, half from each faction, drawn with ``seed``; the test mask holds the
    other ``34 - train_size``.

    Args:
        split: ``"train"`` or ``"test"``.
        seed: the split seed.
        train_size: labelled members, an even number from 2 to 32 (default 4: two per faction).

    Shape:
        ``x (34, 34)`` float32, ``edge_index (2, 156)`` int64, ``y (34,)`` int64, ``mask (34,)`` bool.

    >>> train, test = KarateClub("train"), KarateClub("test")
    >>> int(train[0][3].sum()), int(test[0][3].sum()), bool((train[0][3] & test[0][3]).any())
    (4, 30, False)
    """

    NODES = 34

    def __init__(self, split: str = "train", seed: int = 0, train_size: int = 4) -> None:
        where = type(self).__name__
        self.split = split
        self._split = split_id(where, split)
        self.seed = check_count(where, "seed", seed, minimum=0)
        train_size = check_count(where, "train_size", train_size, minimum=2)
        if train_size % 2 or train_size > self.NODES - 2:
            raise bad(where, "train_size", f"an even number from 2 to {self.NODES - 2}", train_size)
        self.train_size = train_size
        edges, labels = _karate()
        rng = np.random.default_rng([self.seed, 0])  # the same draw for both splits: they partition the nodes
        chosen = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:train_size // 2] for c in (0, 1)])
        train = np.zeros(self.NODES, dtype=bool)
        train[chosen] = True
        mask = train if split == "train" else ~train
        self._item: Graph = (torch.eye(self.NODES), torch.from_numpy(edges), torch.from_numpy(labels),
                             torch.from_numpy(mask))

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: int) -> Graph:
        if index != 0:
            raise IndexError(f"{type(self).__name__}: index {index} out of range for size 1")
        return self._item


def collate_graphs(items: list[Graph]) -> Graph:
    """Join graphs into one disjoint union (node ids of item ``k`` shifted by the nodes before it); a single
    graph is returned as it is (the same tensors, so a module's hop-edge cache stays valid).

    >>> a = (torch.zeros(2, 1), torch.tensor([[0], [1]]), torch.zeros(2).long(), torch.ones(2).bool())
    >>> collate_graphs([a, a])[1]
    tensor([[0, 2],
            [1, 3]])
    """
    if len(items) == 1:
        return items[0]
    offsets = np.cumsum([0] + [int(item[0].shape[0]) for item in items[:-1]])
    return (torch.cat([item[0] for item in items]),
            torch.cat([item[1] + int(off) for item, off in zip(items, offsets)], dim=1),
            torch.cat([item[2] for item in items]), torch.cat([item[3] for item in items]))
