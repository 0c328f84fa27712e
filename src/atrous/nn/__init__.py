"""Modules for dilated networks: each holds configuration and parameters and calls into atrous.functional."""

from atrous.nn.conv import CausalConv1d, DilatedConv1d, DilatedConv2d, DilatedConv3d

__all__ = ["CausalConv1d", "DilatedConv1d", "DilatedConv2d", "DilatedConv3d"]
