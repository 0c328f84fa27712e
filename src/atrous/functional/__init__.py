"""Stateless torch ops for dilated networks: convolutions, graph gathers, losses."""

from atrous.functional._autotune import benchmark_enabled, chosen_paths, clear_chosen_paths, set_benchmark
from atrous.functional._layout import auto_channels_last_enabled, set_auto_channels_last, to_channels_last
from atrous.functional.conv import dilated_conv1d, dilated_conv2d, dilated_conv3d, resolve_padding
from atrous.functional.graph import (
    dilated_graph_conv,
    dilated_knn,
    graph_aggregate,
    graph_conv,
    hop_edges,
)
from atrous.functional.losses import shift_consistency_loss

__all__ = [
    "auto_channels_last_enabled",
    "benchmark_enabled",
    "chosen_paths",
    "clear_chosen_paths",
    "dilated_conv1d",
    "dilated_conv2d",
    "dilated_conv3d",
    "dilated_graph_conv",
    "dilated_knn",
    "graph_aggregate",
    "graph_conv",
    "hop_edges",
    "resolve_padding",
    "set_auto_channels_last",
    "set_benchmark",
    "shift_consistency_loss",
    "to_channels_last",
]
