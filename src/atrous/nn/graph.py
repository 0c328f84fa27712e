"""Dilated graph modules: a graph convolution over d-hop neighbourhoods and a dilated k-NN graph builder.

``forward`` calls into :mod:`atrous.functional.graph`; the hop edges, which depend on the graph only, can be
cached between calls.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from atrous.errors import ConfigError, ShapeError, bad
from atrous.functional import graph as _F
from atrous.functional.graph import _check_choice as _choice
from atrous.functional.graph import _check_count

__all__ = ["DilatedGraphConv", "DilatedKNNGraph"]


def _positive(value: object, arg: str, where: str) -> int:
    return _check_count(value, arg, where, 1)


class DilatedGraphConv(nn.Module):
    """Graph convolution over the ``dilation``-hop neighbourhood of each node.

    ``out_i = x_i W_self^T + aggr_{j in H_d(i)} x_j W_neigh^T + b``, where ``H_d(i)`` holds the nodes at
    shortest-path distance exactly ``d`` from ``i`` (``mode="exact"``, the graph analogue of a dilated kernel's
    taps ``i ± d``) or ``1..d`` (``mode="within"``). Paths follow the edges' direction, source to target.

    Args:
        in_channels, out_channels: feature sizes.
        dilation: hop distance ``d >= 1``.
        mode: ``"exact"`` or ``"within"``.
        aggr: ``"mean"``, ``"sum"``, ``"max"`` or ``"min"``.
        bias: learn an additive bias.
        cache: keep the hop edges of the last ``edge_index`` seen and reuse them while the same tensor object
            comes back unmodified (same object, same in-place version counter, same node count). A new tensor
            with equal values is recomputed, never trusted. The cache holds a reference to that ``edge_index``;
            it is not part of the ``state_dict``; :meth:`clear_cache` drops it.

    Shape:
        ``x: (N, C_in)``, ``edge_index: (2, E)`` int64 rows ``(source, target)`` -> ``(N, C_out)``.

    >>> conv = DilatedGraphConv(4, 8, dilation=2)
    >>> ring = torch.tensor([[i for i in range(10)] + [(i + 1) % 10 for i in range(10)],
    ...                      [(i + 1) % 10 for i in range(10)] + [i for i in range(10)]])
    >>> conv(torch.randn(10, 4), ring).shape
    torch.Size([10, 8])
    """

    def __init__(self, in_channels: int, out_channels: int, dilation: int = 1, mode: str = "exact",
                 aggr: str = "mean", bias: bool = True, cache: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        where = type(self).__name__
        self.in_channels = _positive(in_channels, "in_channels", where)
        self.out_channels = _positive(out_channels, "out_channels", where)
        self.dilation = _positive(dilation, "dilation", where)
        self.mode = _choice(mode, _F.MODES, "mode", where)
        self.aggr = _choice(aggr, _F.REDUCES, "aggr", where)
        if not isinstance(cache, bool):
            raise bad(where, "cache", "a bool", cache)
        self.cache = cache
        self._cached: tuple[Tensor, int, int, Tensor] | None = None  # (edge_index, version, num_nodes, hops)
        factory = {"device": device, "dtype": dtype}
        self.weight_self = nn.Parameter(torch.empty(out_channels, in_channels, **factory))
        self.weight_neigh = nn.Parameter(torch.empty(out_channels, in_channels, **factory))
        self.bias = nn.Parameter(torch.empty(out_channels, **factory)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The initialisation of ``torch.nn.Linear``, for each weight."""
        nn.init.kaiming_uniform_(self.weight_self, a=math.sqrt(5))
        nn.init.kaiming_uniform_(self.weight_neigh, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1 / math.sqrt(self.in_channels)
            nn.init.uniform_(self.bias, -bound, bound)

    def clear_cache(self) -> None:
        """Forget the cached hop edges."""
        self._cached = None

    def hop_edges(self, edge_index: Tensor, num_nodes: int) -> Tensor:
        """This layer's neighbourhood edges for a graph (from the cache when it applies)."""
        c = self._cached
        if (self.cache and c is not None and c[0] is edge_index and c[1] == edge_index._version
                and c[2] == num_nodes):
            return c[3]
        try:
            hops = _F.hop_edges(edge_index, num_nodes, self.dilation, self.mode)
        except (ConfigError, ShapeError) as e:  # name this module, keep the type
            raise e.at(type(self).__name__) from None
        if self.cache:
            self._cached = (edge_index, edge_index._version, num_nodes, hops)
        return hops

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.dim() != 2:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ShapeError(f"{type(self).__name__}: x must be a 2-D tensor (N, C_in) of node features, got "
                             f"shape {shape}")
        hops = self.hop_edges(edge_index, x.shape[0])
        return _F.graph_conv(x, hops, self.weight_self, self.weight_neigh, self.bias, self.aggr)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, dilation={self.dilation}, mode={self.mode!r}, "
                f"aggr={self.aggr!r}, bias={self.bias is not None}, cache={self.cache}")


class DilatedKNNGraph(nn.Module):
    """Builds the dilated k-NN graph of a point cloud: :func:`atrous.functional.graph.dilated_knn` as a module.

    Keeps the ranks ``0, d, 2d, ...`` of each point's ``k * d`` nearest neighbours (DeepGCN); no parameters.

    Shape:
        ``pos: (N, D)``, optional ``batch: (N,)`` int64 -> ``edge_index: (2, E)``, rows ``(neighbour, point)``,
        ``E = N * k`` when every graph has at least ``k * d`` candidates per point.

    >>> DilatedKNNGraph(k=4, dilation=3)(torch.randn(50, 3)).shape
    torch.Size([2, 200])
    """

    def __init__(self, k: int, dilation: int = 1, loop: bool = False) -> None:
        super().__init__()
        where = type(self).__name__
        self.k = _positive(k, "k", where)
        self.dilation = _positive(dilation, "dilation", where)
        if not isinstance(loop, bool):
            raise bad(where, "loop", "a bool", loop)
        self.loop = loop

    def forward(self, pos: Tensor, batch: Tensor | None = None) -> Tensor:
        return _F.dilated_knn(pos, self.k, self.dilation, batch, self.loop)

    def extra_repr(self) -> str:
        return f"k={self.k}, dilation={self.dilation}, loop={self.loop}"
