"""Modules for dilated networks: each holds configuration and parameters and calls into atrous.functional.

Every module has ``rf_spec(graph, src)`` (its receptive-field skeleton) and ``receptive_field()``.
"""

from atrous.nn.aspp import ASPP, DEEPLAB_RATES
from atrous.nn.blocks import GatedResidualBlock, TemporalBlock
from atrous.nn.context import ContextModule
from atrous.nn.conv import CausalConv1d, DilatedConv1d, DilatedConv2d, DilatedConv3d
from atrous.nn.degrid import HybridDilatedBlock, SmoothedDilatedConv2d
from atrous.nn.graph import DilatedGraphConv, DilatedKNNGraph

__all__ = [
    "ASPP", "DEEPLAB_RATES", "CausalConv1d", "ContextModule", "DilatedConv1d", "DilatedConv2d", "DilatedConv3d",
    "DilatedGraphConv", "DilatedKNNGraph",
    "GatedResidualBlock", "HybridDilatedBlock", "SmoothedDilatedConv2d", "TemporalBlock",
]
