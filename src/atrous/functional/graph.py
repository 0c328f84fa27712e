"""Dilated aggregation on graphs and point clouds: d-hop neighbourhoods, dilated k-NN, scatter aggregation.

Edges follow the torch_geometric convention without importing it: ``edge_index`` is an ``int64`` tensor of shape
``(2, E)`` whose rows are ``(source, target)``; a message flows from the source to the target, and an undirected
graph lists both directions. Nothing here builds a dense ``N x N`` matrix: hop sets are found by a breadth-first
search over the compressed adjacency, one layer at a time, and k-NN distances are computed a block of rows at a
time.

The dilation has two explicit meanings on a graph (``mode``):

* ``"exact"``: the neighbours of ``i`` are the nodes at shortest-path distance exactly ``d`` from it, the graph
  analogue of the taps ``i ± d`` of a dilated 1-D kernel (on a path graph they are exactly those);
* ``"within"``: every node at distance ``1..d``, a ``d``-hop ball without its centre.
"""

from __future__ import annotations

import torch
from torch import Tensor

from atrous._validate import int_in_range
from atrous.errors import ConfigError, ShapeError, bad

__all__ = ["MODES", "REDUCES", "check_edge_index", "dilated_graph_conv", "dilated_knn", "graph_aggregate", "graph_conv",
           "hop_edges"]

MODES = ("exact", "within")
REDUCES = ("mean", "sum", "max", "min")

# Source nodes whose searches run together, and elements of one k-NN distance block: both bound the working
# memory on large graphs and change nothing in the result (tests shrink them to exercise the blocking).
_HOP_BLOCK = 8192
_KNN_BLOCK = 1 << 22


def _check_count(value: object, arg: str, where: str, minimum: int) -> int:
    return int_in_range(where, arg, value, minimum)


def _check_choice(value: object, choices: tuple[str, ...], arg: str, where: str) -> str:
    if value not in choices:
        raise bad(where, arg, "one of " + ", ".join(repr(c) for c in choices), value)
    return str(value)


def check_edge_index(edge_index: object, num_nodes: int, where: str = "edge_index") -> Tensor:
    """Validate a torch_geometric ``edge_index`` against ``num_nodes``; returns it unchanged.

    Raises :class:`~atrous.errors.ShapeError` for a wrong type or shape and :class:`~atrous.errors.ConfigError`
    for a wrong dtype or a node id outside ``0..num_nodes - 1``.

    >>> check_edge_index(torch.tensor([[0, 1], [1, 2]]), 3).shape
    torch.Size([2, 2])
    """
    if not isinstance(edge_index, Tensor) or edge_index.dim() != 2 or edge_index.shape[0] != 2:
        shape = tuple(edge_index.shape) if isinstance(edge_index, Tensor) else type(edge_index).__name__
        raise ShapeError(f"{where}: edge_index must be a (2, E) tensor of (source, target) rows, got shape {shape}")
    if edge_index.dtype != torch.int64:
        raise bad(where, "edge_index dtype", "torch.int64", edge_index.dtype, "call edge_index.long()")
    if edge_index.numel():
        lo, hi = int(edge_index.min()), int(edge_index.max())
        if lo < 0 or hi >= num_nodes:
            raise ConfigError(f"{where}: edge_index node ids must lie in 0..{num_nodes - 1} for num_nodes="
                              f"{num_nodes}, got values in {lo}..{hi}")
    return edge_index


def _csr(edge_index: Tensor, num_nodes: int) -> tuple[Tensor, Tensor, Tensor]:
    """Deduplicated edges without self-loops as sorted keys ``source * N + target``, plus CSR ``rowptr, col``."""
    src, dst = edge_index[0], edge_index[1]
    keep = src != dst  # a self-loop is a path of length 1 from i to i, but i is at distance 0 from itself
    keys = torch.unique(src[keep] * num_nodes + dst[keep])  # sorted: source-major, like torch_geometric's coalesce
    col = keys % num_nodes
    counts = torch.bincount(keys // num_nodes, minlength=num_nodes)
    rowptr = torch.zeros(num_nodes + 1, dtype=torch.int64, device=edge_index.device)
    torch.cumsum(counts, 0, out=rowptr[1:])
    return keys, rowptr, col


def _expand(frontier: Tensor, rowptr: Tensor, col: Tensor, n: int) -> Tensor:
    """Keys ``s * n + v`` for every edge ``u -> v`` leaving a frontier pair ``(s, u)``; sorted and unique."""
    s, u = frontier // n, frontier % n
    start, count = rowptr[u], rowptr[u + 1] - rowptr[u]
    which = torch.repeat_interleave(torch.arange(len(frontier), device=frontier.device), count)
    first = torch.cumsum(count, 0) - count
    pos = torch.arange(len(which), device=frontier.device) - first[which] + start[which]
    keys: Tensor = torch.unique(s[which] * n + col[pos])
    return keys


def _not_in(keys: Tensor, sorted_set: Tensor) -> Tensor:
    """The entries of ``keys`` missing from the sorted tensor ``sorted_set``."""
    if not len(sorted_set) or not len(keys):
        return keys
    pos = torch.searchsorted(sorted_set, keys).clamp_(max=len(sorted_set) - 1)
    return keys[sorted_set[pos] != keys]


def hop_edges(edge_index: Tensor, num_nodes: int, dilation: int = 1, mode: str = "exact",
              add_self_loops: bool = False) -> Tensor:
    """The ``dilation``-hop edge set of a directed graph given by ``edge_index``.

    An edge ``(j, i)`` is returned when the shortest directed path from ``j`` to ``i`` has exactly ``dilation``
    edges (``mode="exact"``) or ``1..dilation`` edges (``mode="within"``). Paths follow the input's direction, so
    messages still flow source to target; an undirected graph (both directions listed) gives a symmetric result.
    Self-loops and duplicates in the input are ignored (a node is at distance 0 from itself), so ``dilation=1``
    with either mode returns the input's distinct non-loop edges. ``add_self_loops`` then adds ``(i, i)`` for
    every node.

    Args:
        edge_index: ``(2, E)`` int64, rows ``(source, target)``.
        num_nodes: ``N``; every id in ``edge_index`` must be below it.
        dilation: the hop distance ``d >= 1``.
        mode: ``"exact"`` (distance ``d``) or ``"within"`` (distance ``1..d``).
        add_self_loops: add ``(i, i)`` for every node.

    Returns:
        ``(2, E_d)`` int64, coalesced: sorted by source, then target, no duplicates.

    Shape:
        ``(2, E) -> (2, E_d)``; ``E_d`` is at most ``N * (N - 1)`` (plus ``N`` self-loops).

    Work is one breadth-first search per node, run together on ``int64`` pair keys ``source * N + node``; the
    memory is proportional to the number of pairs within distance ``d`` (of a block of sources).

    >>> path = torch.tensor([[0, 1, 1, 2, 2, 3, 3, 4], [1, 0, 2, 1, 3, 2, 4, 3]])   # 0 - 1 - 2 - 3 - 4
    >>> hop_edges(path, 5, dilation=2)                  # i -> i ± 2
    tensor([[0, 1, 2, 2, 3, 4],
            [2, 3, 0, 4, 1, 2]])
    >>> hop_edges(path, 5, dilation=2, mode="within")[:, :4]
    tensor([[0, 0, 1, 1],
            [1, 2, 0, 2]])
    """
    where = "hop_edges"
    n = _check_count(num_nodes, "num_nodes", where, 0)
    d = _check_count(dilation, "dilation", where, 1)
    mode = _check_choice(mode, MODES, "mode", where)
    if not isinstance(add_self_loops, bool):
        raise bad(where, "add_self_loops", "a bool", add_self_loops)
    check_edge_index(edge_index, n, where)
    device = edge_index.device
    keys, rowptr, col = _csr(edge_index, n)
    if d > 1 and len(keys):
        found: list[Tensor] = []
        arange = torch.arange(n, device=device)
        bounds = rowptr.tolist()
        for lo in range(0, n, _HOP_BLOCK):
            hi = min(lo + _HOP_BLOCK, n)
            frontier = keys[bounds[lo]:bounds[hi]]  # distance 1 from the sources lo..hi-1
            block_self = arange[lo:hi] * (n + 1)
            visited = torch.cat([frontier, block_self]).sort().values
            for _ in range(d - 1):
                if not len(frontier):
                    break
                frontier = _not_in(_expand(frontier, rowptr, col, n), visited)
                visited = torch.cat([visited, frontier]).sort().values
            if mode == "exact":
                found.append(frontier)  # empty when the search ran out before d
            else:
                found.append(_not_in(visited, block_self))
        keys = torch.cat(found)
    if add_self_loops:
        keys = torch.cat([keys, torch.arange(n, device=device) * (n + 1)]).sort().values
    return torch.stack([keys // n, keys % n]) if n else keys.new_zeros(2, 0)


def _check_points(pos: object, where: str) -> Tensor:
    if not isinstance(pos, Tensor) or pos.dim() != 2:
        shape = tuple(pos.shape) if isinstance(pos, Tensor) else type(pos).__name__
        raise ShapeError(f"{where}: pos must be a 2-D tensor (N, D) of point coordinates, got shape {shape}")
    if not pos.is_floating_point():
        raise bad(where, "pos dtype", "a floating-point dtype", pos.dtype)
    if pos.numel() and not bool(torch.isfinite(pos).all()):
        raise ConfigError(f"{where}: pos must be finite, got a NaN or infinite coordinate")
    return pos


def _check_batch(batch: object, num_points: int, where: str) -> Tensor | None:
    if batch is None:
        return None
    if not isinstance(batch, Tensor) or batch.dim() != 1 or batch.shape[0] != num_points:
        shape = tuple(batch.shape) if isinstance(batch, Tensor) else type(batch).__name__
        raise ShapeError(f"{where}: batch must be a 1-D tensor with one graph id per point ({num_points},), "
                         f"got shape {shape}")
    if batch.dtype != torch.int64:
        raise bad(where, "batch dtype", "torch.int64", batch.dtype, "call batch.long()")
    if batch.numel() and int(batch.min()) < 0:
        raise bad(where, "batch", "non-negative graph ids", int(batch.min()))
    return batch


def _knn_one(pos: Tensor, k: int, d: int, loop: bool) -> tuple[Tensor, Tensor]:
    """Dilated k-NN inside one point set: ``(source, target)`` local ids, target-major, rank order."""
    m, dims = pos.shape
    need = min(k * d, m if loop else m - 1)
    empty = pos.new_zeros(0, dtype=torch.int64)
    if need <= 0:
        return empty, empty
    rows = max(1, _KNN_BLOCK // m)
    src: list[Tensor] = []
    dst: list[Tensor] = []
    for r0 in range(0, m, rows):
        r1 = min(r0 + rows, m)
        own = torch.arange(r0, r1, device=pos.device)
        # explicit differences summed axis by axis, not the |a|^2 + |b|^2 - 2ab expansion: a point is at exactly
        # 0 from itself and exact ties (points on a grid) stay exact, so the (distance, index) order is defined
        dist = pos.new_zeros(r1 - r0, m)
        for axis in range(dims):
            dist += (pos[r0:r1, axis, None] - pos[None, :, axis]).square()
        if not loop:
            dist[own - r0, own] = float("inf")
        values, cols = torch.topk(dist, need, dim=1, largest=False)
        tau = values[:, -1:]
        # topk chooses freely among points tied at the need-th distance: rows with more tied points than room
        # choose again, giving the places to the lowest indices, so the kept set is deterministic
        crowded = ((dist <= tau).sum(1) > need).nonzero().view(-1)
        if len(crowded):
            sub, bound = dist[crowded], tau[crowded]
            ties = sub == bound
            if not loop:  # the point itself, at inf, can only tie when every other distance overflowed
                ties[torch.arange(len(crowded), device=pos.device), own[crowded]] = False
            strict = sub < bound
            room = need - strict.sum(1, keepdim=True)
            chosen = strict | (ties & (torch.cumsum(ties, 1) <= room))
            cols[crowded] = chosen.nonzero()[:, 1].view(-1, need)
        cols = cols.sort(1).values  # index order, then a stable sort by distance: rank by (distance, index)
        kept = cols.gather(1, torch.argsort(dist.gather(1, cols), dim=1, stable=True))[:, ::d]
        src.append(kept.reshape(-1))
        dst.append(own.repeat_interleave(kept.shape[1]))
    return torch.cat(src), torch.cat(dst)


def dilated_knn(pos: Tensor, k: int, dilation: int = 1, batch: Tensor | None = None, loop: bool = False) -> Tensor:
    """Dilated k-nearest-neighbour graph of a point cloud (DeepGCN's dilated k-NN), as ``edge_index``.

    For every point ``i`` the candidates are the other points of its graph (``i`` itself too when ``loop``),
    ranked by Euclidean distance, ties broken by the lower point index. Of the first ``k * dilation``
    candidates, the ranks ``0, d, 2d, ...`` (0-based; the 1st, ``(d+1)``-th, ``(2d+1)``-th nearest) are kept:
    DeepGCN's ``neighbours[::d]`` of the sorted ``k * d`` list, so ``k`` neighbours spanning the ``k * d``
    neighbourhood. With ``loop=True`` the point itself is rank 0 (distance 0) and is always kept, exactly as in
    DeepGCN, where the self match is not removed. A graph with fewer than ``k * d`` candidates uses those it has,
    so a point keeps ``ceil(min(k * d, candidates) / d)`` neighbours.

    Args:
        pos: ``(N, D)`` floating point, finite.
        k: neighbours kept per point, ``>= 1``.
        dilation: ``d >= 1``; ``d = 1`` is the plain k-NN graph.
        batch: optional ``(N,)`` int64 graph id per point (need not be sorted); points only connect inside
            their graph.
        loop: count the point itself as its own nearest neighbour.

    Returns:
        ``(2, N * k)`` int64 (fewer where a graph is small), rows ``(neighbour, point)``: messages flow from the
        neighbours to the point, as in torch_geometric's ``knn_graph``. Sorted by target; each target's
        neighbours are in rank order.

    Shape:
        ``(N, D) -> (2, E)``, ``E = sum_i ceil(min(k * d, c_i) / d)`` with ``c_i`` the candidates of point ``i``.

    >>> pos = torch.arange(6.0).unsqueeze(1)             # points 0, 1, ..., 5 on a line
    >>> dilated_knn(pos, k=2, dilation=2)[:, :4]          # point 0: ranks 1, 2, 3, 4 -> keeps 1 and 3
    tensor([[1, 3, 0, 3],
            [0, 0, 1, 1]])
    """
    where = "dilated_knn"
    pos = _check_points(pos, where)
    k = _check_count(k, "k", where, 1)
    d = _check_count(dilation, "dilation", where, 1)
    if not isinstance(loop, bool):
        raise bad(where, "loop", "a bool", loop)
    batch = _check_batch(batch, pos.shape[0], where)
    if batch is None:
        src, dst = _knn_one(pos, k, d, loop)
    else:
        srcs: list[Tensor] = []
        dsts: list[Tensor] = []
        for graph in torch.unique(batch).tolist():
            ids = (batch == graph).nonzero().view(-1)
            s, t = _knn_one(pos[ids], k, d, loop)
            srcs.append(ids[s])
            dsts.append(ids[t])
        empty = pos.new_zeros(0, dtype=torch.int64)
        src, dst = torch.cat([empty, *srcs]), torch.cat([empty, *dsts])
        order = torch.argsort(dst, stable=True)
        src, dst = src[order], dst[order]
    return torch.stack([src, dst])


def graph_aggregate(x: Tensor, edge_index: Tensor, num_nodes: int | None = None, reduce: str = "mean") -> Tensor:
    """Aggregate source features at each edge's target: ``out[i] = reduce_{(j, i) in E} x[j]``.

    Every edge is one message, so a duplicated edge counts twice for ``"sum"`` and ``"mean"``. A node that
    receives no message gets zeros (for every ``reduce``, as in torch_geometric).

    Args:
        x: ``(N_src, C)`` floating point; row ``j`` is the feature of source node ``j``.
        edge_index: ``(2, E)`` int64, sources below ``N_src``, targets below ``num_nodes``.
        num_nodes: number of output rows; defaults to ``N_src``.
        reduce: ``"mean"``, ``"sum"``, ``"max"`` or ``"min"``.

    Returns:
        ``(num_nodes, C)``.

    Shape:
        ``(N, C) -> (num_nodes, C)``.

    >>> x = torch.tensor([[1.0], [2.0], [4.0]])
    >>> e = torch.tensor([[0, 1, 2], [2, 2, 0]])
    >>> graph_aggregate(x, e, reduce="sum").view(-1), graph_aggregate(x, e, reduce="max").view(-1)
    (tensor([4., 0., 3.]), tensor([4., 0., 2.]))
    """
    where = "graph_aggregate"
    if not isinstance(x, Tensor) or x.dim() != 2:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ShapeError(f"{where}: x must be a 2-D tensor (N, C) of node features, got shape {shape}")
    if not x.is_floating_point():
        raise bad(where, "x dtype", "a floating-point dtype", x.dtype)
    out_nodes = x.shape[0] if num_nodes is None else _check_count(num_nodes, "num_nodes", where, 0)
    reduce = _check_choice(reduce, REDUCES, "reduce", where)
    if out_nodes == x.shape[0]:
        check_edge_index(edge_index, out_nodes, where)
    else:  # sources index x, targets the output: say which bound broke
        check_edge_index(edge_index, max(x.shape[0], out_nodes), where)
        src, dst = edge_index[0], edge_index[1]
        if len(src) and (int(src.max()) >= x.shape[0] or int(dst.max()) >= out_nodes):
            raise ConfigError(f"{where}: edge_index sources must be below x.shape[0]={x.shape[0]} and targets below "
                              f"num_nodes={out_nodes}, got max source {int(src.max())}, max target {int(dst.max())}")
    return _aggregate(x, edge_index[0], edge_index[1], out_nodes, reduce)


def _aggregate(x: Tensor, src: Tensor, dst: Tensor, num_nodes: int, reduce: str) -> Tensor:
    out = x.new_zeros(num_nodes, x.shape[1])
    messages = x[src]
    if reduce in ("sum", "mean"):
        out = out.index_add(0, dst, messages)
        if reduce == "mean":
            count = torch.bincount(dst, minlength=num_nodes).clamp_(min=1).to(x.dtype)
            out = out / count.unsqueeze(1)
        return out
    index = dst.unsqueeze(1).expand_as(messages)
    return out.scatter_reduce(0, index, messages, "amax" if reduce == "max" else "amin", include_self=False)


def _check_conv(x: Tensor, weight_self: Tensor, weight_neigh: Tensor, bias: Tensor | None, where: str) -> None:
    if not isinstance(x, Tensor) or x.dim() != 2:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ShapeError(f"{where}: x must be a 2-D tensor (N, C_in) of node features, got shape {shape}")
    for arg, w in (("weight_self", weight_self), ("weight_neigh", weight_neigh)):
        if not isinstance(w, Tensor) or w.dim() != 2 or w.shape[1] != x.shape[1]:
            shape = tuple(w.shape) if isinstance(w, Tensor) else type(w).__name__
            raise ShapeError(f"{where}: {arg} must be (C_out, C_in) with C_in = x.shape[1] = {x.shape[1]}, "
                             f"got shape {shape}")
    if weight_self.shape != weight_neigh.shape:
        raise ShapeError(f"{where}: weight_self and weight_neigh must have the same shape, got "
                         f"{tuple(weight_self.shape)} and {tuple(weight_neigh.shape)}")
    if bias is not None and (not isinstance(bias, Tensor) or tuple(bias.shape) != (weight_self.shape[0],)):
        shape = tuple(bias.shape) if isinstance(bias, Tensor) else type(bias).__name__
        raise ShapeError(f"{where}: bias must be ({weight_self.shape[0]},) or None, got shape {shape}")


def graph_conv(x: Tensor, edge_index: Tensor, weight_self: Tensor, weight_neigh: Tensor, bias: Tensor | None = None,
               aggr: str = "mean") -> Tensor:
    """One graph convolution over the given edges: ``out = x W_self^T + aggr_{(j, i) in E}(x_j) W_neigh^T + b``.

    The edges are used as given (each one is a message); :func:`dilated_graph_conv` builds the hop edges first.

    Args:
        x: ``(N, C_in)``.
        edge_index: ``(2, E)`` int64, ids below ``N``.
        weight_self, weight_neigh: ``(C_out, C_in)``, like ``nn.Linear.weight``.
        bias: optional ``(C_out,)``.
        aggr: ``"mean"``, ``"sum"``, ``"max"`` or ``"min"``.

    Returns:
        ``(N, C_out)``.

    Shape:
        ``(N, C_in) -> (N, C_out)``.

    >>> x, w = torch.ones(3, 2), torch.ones(1, 2)
    >>> graph_conv(x, torch.tensor([[0, 1], [2, 2]]), w, w, aggr="sum").view(-1)
    tensor([2., 2., 6.])
    """
    where = "graph_conv"
    _check_conv(x, weight_self, weight_neigh, bias, where)
    aggr = _check_choice(aggr, REDUCES, "aggr", where)
    check_edge_index(edge_index, x.shape[0], where)
    neigh = _aggregate(x, edge_index[0], edge_index[1], x.shape[0], aggr)
    out = torch.nn.functional.linear(x, weight_self, bias)
    return out + torch.nn.functional.linear(neigh, weight_neigh)


def dilated_graph_conv(x: Tensor, edge_index: Tensor, weight_self: Tensor, weight_neigh: Tensor,
                       bias: Tensor | None = None, dilation: int = 1, mode: str = "exact",
                       aggr: str = "mean") -> Tensor:
    """Graph convolution over the ``dilation``-hop neighbourhood of each node.

    ``out_i = x_i W_self^T + aggr_{j in H_d(i)} x_j W_neigh^T + b`` with ``H_d(i)`` the sources of
    :func:`hop_edges` ``(edge_index, N, dilation, mode)`` into ``i``: the nodes at shortest-path distance exactly
    ``d`` (``mode="exact"``) or ``1..d`` (``"within"``). Each neighbour counts once, whatever the duplicates or
    self-loops of ``edge_index``. On a path graph, ``"exact"`` reads ``i - d, i, i + d``: a dilated kernel of 3.

    Args:
        x: ``(N, C_in)``.
        edge_index: ``(2, E)`` int64 one-hop edges, rows ``(source, target)``.
        weight_self, weight_neigh: ``(C_out, C_in)``.
        bias: optional ``(C_out,)``.
        dilation: ``d >= 1``.
        mode: ``"exact"`` or ``"within"``.
        aggr: ``"mean"``, ``"sum"``, ``"max"`` or ``"min"``.

    Returns:
        ``(N, C_out)``.

    Shape:
        ``(N, C_in) -> (N, C_out)``.

    >>> x = torch.arange(5.0).unsqueeze(1)
    >>> path = torch.tensor([[0, 1, 1, 2, 2, 3, 3, 4], [1, 0, 2, 1, 3, 2, 4, 3]])
    >>> w0, w1 = torch.zeros(1, 1), torch.ones(1, 1)
    >>> dilated_graph_conv(x, path, w0, w1, dilation=2, aggr="sum").view(-1)   # x[i - 2] + x[i + 2]
    tensor([2., 3., 4., 1., 2.])
    """
    where = "dilated_graph_conv"
    _check_conv(x, weight_self, weight_neigh, bias, where)
    _check_choice(aggr, REDUCES, "aggr", where)
    try:
        hops = hop_edges(edge_index, x.shape[0], dilation, mode)
    except (ConfigError, ShapeError) as e:
        raise e.at(where) from None
    return graph_conv(x, hops, weight_self, weight_neigh, bias, aggr)
