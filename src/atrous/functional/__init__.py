"""Stateless torch ops for dilated networks."""

from atrous.functional.conv import dilated_conv1d, dilated_conv2d, dilated_conv3d, resolve_padding

__all__ = ["dilated_conv1d", "dilated_conv2d", "dilated_conv3d", "resolve_padding"]
