"""A dilated graph network: stacked :class:`~atrous.nn.DilatedGraphConv` layers over d-hop neighbourhoods."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from atrous import rf
from atrous.errors import ConfigError
from atrous.models._registry import register_model
from atrous.nn._rf import ReceptiveFieldMixin
from atrous.nn.graph import DilatedGraphConv

__all__ = ["DilatedGNN"]


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
