"""Graph networks: stacked :class:`~atrous.nn.DilatedGraphConv` layers over d-hop neighbourhoods (``dilated_gnn``)
and the plain one-hop baseline it is compared with (``gcn``, Kipf & Welling 2017)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from atrous import rf
from atrous.errors import ConfigError, ShapeError
from atrous.functional.graph import check_edge_index
from atrous.models._registry import register_model
from atrous.nn._rf import ReceptiveFieldMixin
from atrous.nn.graph import DilatedGraphConv

__all__ = ["GCN", "DilatedGNN", "gcn_propagate"]


@register_model("dilated_gnn", description="stacked dilated graph convolutions (d-hop neighbourhoods)",
                input_shape=(64, 8), tags=("graph",))
class DilatedGNN(ReceptiveFieldMixin, nn.Module):
    """Graph convolutions whose layer ``l`` aggregates the nodes ``dilations[l]`` hops away (``mode="exact"``)
    or within that many hops (``"within"``), with ReLU and dropout between layers.

    ``receptive_field()`` is the reach on a path graph in hops, for an interior node: an "exact" layer of
    dilation d reads offsets -d, 0, +d (a 3-tap kernel with dilation d), a "within" layer reads -d..d.

    Shape:
        ``x (N, in_channels), edge_index (2, E) -> (N, out_channels)``.

    >>> DilatedGNN(dilations=(1, 2, 4)).receptive_field().size
    (15,)
    """

    def __init__(self, in_channels: int = 8, hidden_channels: int = 32, out_channels: int = 2,
                 dilations: Sequence[int] = (1, 2, 4), mode: str = "exact", aggr: str = "mean",
                 dropout: float = 0.0) -> None:
        super().__init__()
        if isinstance(dilations, int) or not dilations:
            raise ConfigError(f"DilatedGNN: dilations must be a non-empty list, got {dilations!r}")
        widths = [in_channels] + [hidden_channels] * (len(dilations) - 1) + [out_channels]
        self.layers = nn.ModuleList(DilatedGraphConv(a, b, dilation=d, mode=mode, aggr=aggr, cache=True)
                                    for a, b, d in zip(widths[:-1], widths[1:], dilations))
        self.dilations, self.mode, self.dropout = tuple(dilations), mode, dropout

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x, edge_index)
            if i < len(self.layers) - 1:
                x = F.dropout(F.relu(x), self.dropout, self.training)
        return x

    def rf_spec(self, graph: rf.Graph, src: int, name: str = "") -> int:
        for i, d in enumerate(self.dilations):
            layer = rf.conv(3, dilation=d, padding="same") if self.mode == "exact" else \
                rf.conv(2 * d + 1, padding="same")
            src = graph.add(layer, src, name=f"layer{i}")
        return src


def gcn_propagate(x: Tensor, edge_index: Tensor) -> Tensor:
    """Kipf & Welling's normalised one-hop aggregation: ``out = D^-1/2 (A + I) D^-1/2 x``.

    ``A`` is the adjacency of ``edge_index`` with duplicates and self-loops dropped (``A[i, j] = 1`` for an edge
    ``j -> i``), ``I`` adds each node once, and ``D`` is the in-degree of ``A + I``. Each node reads itself and
    its direct neighbours only: one hop, no dilation.

    Args:
        x: ``(N, C)`` floating point.
        edge_index: ``(2, E)`` int64 rows ``(source, target)``.

    Returns:
        ``(N, C)``.

    Shape:
        ``(N, C) -> (N, C)``.

    >>> path = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    >>> gcn_propagate(torch.tensor([[2.0], [0.0], [0.0]]), path).view(-1)   # node 0: 2/2; node 1: 2/sqrt(2*3)
    tensor([1.0000, 0.8165, 0.0000])
    """
    where = "gcn_propagate"
    if not isinstance(x, Tensor) or x.dim() != 2:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ShapeError(f"{where}: x must be a 2-D tensor (N, C) of node features, got shape {shape}")
    check_edge_index(edge_index, x.shape[0], where)
    return _propagate(x, *_normalised(edge_index, x.shape[0]))


def _normalised(edge_index: Tensor, n: int) -> tuple[Tensor, Tensor, Tensor]:
    """``(source, target, D^-1/2)`` of ``A + I``: deduplicated edges without self-loops, then one loop per node."""
    src, dst = edge_index[0], edge_index[1]
    keep = src != dst
    keys = torch.unique(src[keep] * n + dst[keep])
    loops = torch.arange(n, device=edge_index.device)
    src, dst = torch.cat([keys // n, loops]), torch.cat([keys % n, loops])
    return src, dst, torch.bincount(dst, minlength=n).rsqrt().unsqueeze(1)


def _propagate(x: Tensor, src: Tensor, dst: Tensor, scale: Tensor) -> Tensor:
    scale = scale.to(x.dtype)
    x = x * scale
    return x.new_zeros(x.shape).index_add(0, dst, x[src]) * scale


@register_model("gcn", description="plain graph convolutional network (Kipf & Welling 2017), one hop per layer",
                input_shape=(64, 8), tags=("graph",))
class GCN(ReceptiveFieldMixin, nn.Module):
    """``num_layers`` graph convolutions ``H' = D^-1/2 (A + I) D^-1/2 H W + b`` (:func:`gcn_propagate`), with
    ReLU and dropout between layers: the ordinary one-hop baseline for :class:`DilatedGNN`, the same widths.

    ``receptive_field()`` is the reach on a path graph in hops: every layer reads offsets -1, 0, +1.

    Shape:
        ``x (N, in_channels), edge_index (2, E) -> (N, out_channels)``.

    >>> GCN(num_layers=3).receptive_field().size
    (7,)
    """

    def __init__(self, in_channels: int = 8, hidden_channels: int = 32, out_channels: int = 2,
                 num_layers: int = 3, dropout: float = 0.0) -> None:
        super().__init__()
        for arg, value in (("in_channels", in_channels), ("hidden_channels", hidden_channels),
                           ("out_channels", out_channels), ("num_layers", num_layers)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"GCN: {arg} must be a positive int, got {value!r}")
        widths = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(widths))
        self.dropout = dropout

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        if not isinstance(x, Tensor) or x.dim() != 2:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ShapeError(f"GCN: x must be a 2-D tensor (N, in_channels) of node features, got shape {shape}")
        check_edge_index(edge_index, x.shape[0], "GCN")
        edges = _normalised(edge_index, x.shape[0])
        for i, module in enumerate(self.layers):
            layer = cast(nn.Linear, module)
            # propagate after the linear map (fewer channels), before the bias: Kipf's A H W + b
            x = _propagate(F.linear(x, layer.weight), *edges) + layer.bias
            if i < len(self.layers) - 1:
                x = F.dropout(F.relu(x), self.dropout, self.training)
        return x

    def rf_spec(self, graph: rf.Graph, src: int, name: str = "") -> int:
        for i in range(len(self.layers)):
            src = graph.add(rf.conv(3, padding="same"), src, name=f"layer{i}")
        return src
