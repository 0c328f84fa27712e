"""Dilated convolutions with explicit padding semantics: ``"same"`` for any kernel and dilation (asymmetric when
the span is even), ``"causal"`` (along one chosen axis in N-D), ``"valid"``, ints and per-side pairs.

The arithmetic of the padding words is :mod:`atrous.rf.layer`'s, so a layer's receptive field and its
computation can never disagree.

On the CPU, a 2-D convolution with a padding of 7 or more on an NCHW input measures once (per configuration)
whether the channels-last layout is clearly faster, where oneDNN's NCHW kernel falls back to im2col, and if so
runs there and returns a **channels-last output** (same shape and values, channels-last strides, as ``F.conv2d``
gives for channels-last input); :func:`set_auto_channels_last` turns this off. With ``set_benchmark(True)`` (or
``ATROUS_CONV_BENCHMARK=1``), every call measures all the paths that give the same result (the plain
``F.conv*d`` call, a 1-D fold to an undilated 2-D conv, the channels-last layout). :func:`chosen_paths` shows
what was measured and chosen (see :mod:`atrous.functional._autotune`). Every other call is the plain
``F.conv*d`` call.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, fx

from atrous._validate import fits_in_ram
from atrous.errors import ConfigError, ShapeError
from atrous.functional import _autotune
from atrous.functional._autotune import benchmark_enabled, chosen_paths, clear_chosen_paths, set_benchmark
from atrous.functional._layout import auto_channels_last_enabled, set_auto_channels_last, to_channels_last
from atrous.rf.layer import conv as conv_spec

__all__ = ["auto_channels_last_enabled", "benchmark_enabled", "chosen_paths", "clear_chosen_paths", "conv_path",
           "conv_resolved",
           "dilated_conv1d", "dilated_conv2d", "dilated_conv3d", "resolve_padding", "set_auto_channels_last",
           "set_benchmark", "to_channels_last"]


def resolve_padding(kernel_size: Sequence[int], stride: Any, dilation: Any, padding: Any,
                    causal_axis: int | None = None, where: str = "dilated_conv") -> tuple[tuple[int, int], ...]:
    """Per-axis ``(left, right)`` padding; ``padding="causal"`` in N-D is causal along ``causal_axis``
    (default 0, the first spatial axis) and ``"same"`` along the others.

    >>> resolve_padding((3,), 1, 4, "causal"), resolve_padding((2, 3), 1, 2, "causal", causal_axis=1)
    (((8, 0),), ((1, 1), (4, 0)))
    """
    dims = len(kernel_size)
    if causal_axis is not None and not (isinstance(causal_axis, int) and 0 <= causal_axis < dims):
        raise ConfigError(f"{where}: causal_axis must be a spatial axis in 0..{dims - 1}, got {causal_axis!r}")
    if isinstance(padding, str) and padding.lower() == "causal" and dims > 1:
        axis = 0 if causal_axis is None else causal_axis
        padding = tuple("causal" if a == axis else "same" for a in range(dims))
    try:
        return conv_spec(tuple(kernel_size), stride, dilation, padding, dims=dims).padding
    except ConfigError as e:
        raise e.at(where) from None


def _check(x: Tensor, weight: Tensor, bias: Tensor | None, dims: int, groups: int, where: str) -> None:
    if not isinstance(x, Tensor) or x.dim() != dims + 2:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        letters = "B C " + {1: "L", 2: "H W", 3: "D H W"}[dims]
        raise ShapeError(f"{where}: input must be a {dims + 2}-D tensor ({letters}), got shape {shape}")
    if not isinstance(weight, Tensor) or weight.dim() != dims + 2:
        raise ShapeError(f"{where}: weight must be a {dims + 2}-D tensor (out, in/groups, *kernel), got "
                         f"{tuple(weight.shape) if isinstance(weight, Tensor) else type(weight).__name__}")
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
        raise ConfigError(f"{where}: groups must be a positive int, got {groups!r}")
    if x.shape[1] != weight.shape[1] * groups:
        raise ShapeError(f"{where}: input channels must equal weight.shape[1] * groups = "
                         f"{weight.shape[1]} * {groups}, got {x.shape[1]}")
    if weight.shape[0] % groups:
        raise ShapeError(f"{where}: weight.shape[0] (output channels) must be divisible by groups={groups}, "
                         f"got {weight.shape[0]}")
    if bias is not None and (not isinstance(bias, Tensor) or tuple(bias.shape) != (weight.shape[0],)):
        raise ShapeError(f"{where}: bias must be None or a tensor of shape ({weight.shape[0]},), got "
                         f"{tuple(bias.shape) if isinstance(bias, Tensor) else type(bias).__name__}")


def _conv(x: Tensor, weight: Tensor, bias: Tensor | None, stride: Any, dilation: Any, padding: Any, groups: int,
          causal_axis: int | None, dims: int, where: str) -> Tensor:
    if isinstance(x, fx.Proxy):  # symbolic tracing: one call node, which atrous.analysis maps exactly
        fn = {1: dilated_conv1d, 2: dilated_conv2d, 3: dilated_conv3d}[dims]
        extra = () if dims == 1 else (causal_axis,)
        return x.tracer.create_proxy("call_function", fn, (x, weight, bias, stride, dilation, padding, groups,
                                                            *extra), {})
    if not torch._C._is_torch_function_mode_enabled():
        # under a TorchFunctionMode (atrous.analysis.empirical) the mode owns the tensor ops, channels included
        _check(x, weight, bias, dims, groups, where)
    k = tuple(int(s) for s in weight.shape[2:])
    pads = resolve_padding(k, stride, dilation, padding, causal_axis, where)
    spec = conv_spec(k, stride, dilation, pads, dims=dims)
    sizes = tuple(int(n) for n in x.shape[2:])
    try:
        out = spec.output_length(sizes)
    except ShapeError as e:
        raise e.at(where) from None
    _check_padded(x, weight, pads, out, padding, where)
    if torch.jit.is_scripting():  # type: ignore[attr-defined]
        return _autotune.PATHS["plain"](x, weight, bias, spec.stride, spec.dilation, pads, groups)
    return _autotune.conv(x, weight, bias, spec.stride, spec.dilation, pads, groups)


def _check_padded(x: Tensor, weight: Tensor, pads: Sequence[tuple[int, int]], out: Sequence[int], padding: Any,
                  where: str) -> None:
    """Refuse a padding larger than the input whose padded copy and output would not fit in half the RAM (a
    padding of 10**9 asks for gigabytes); a padding within the input's own size costs one comparison per axis."""
    sizes = x.shape[2:]
    if any(left + right > n for (left, right), n in zip(pads, sizes, strict=True)):
        padded = math.prod(int(n) + left + right for (left, right), n in zip(pads, sizes, strict=True))
        nbytes = x.element_size() * x.shape[0] * (x.shape[1] * padded + weight.shape[0] * math.prod(out))
        if nbytes > 2**28:  # below 256 MB, no need to ask the system
            fits_in_ram(where, "padding", padding, nbytes, "the padded input and the output")


def conv_resolved(x: Tensor, weight: Tensor, bias: Tensor | None, stride: tuple[int, ...],
                  dilation: tuple[int, ...], pads: tuple[tuple[int, int], ...], groups: int, where: str) -> Tensor:
    """The convolution with settings that a module resolved and checked once (stride, dilation and
    ``(left, right)`` padding per axis): each call checks only the tensors (their shapes, and that the input is
    at least one span long) before the path :mod:`atrous.functional._autotune` picks. ``where`` names the module
    in messages. A module's forward, not a public entry point: the arguments are trusted.
    """
    dims = len(stride)
    if isinstance(x, fx.Proxy) or torch.jit.is_scripting():  # type: ignore[attr-defined]
        return _conv(x, weight, bias, stride, dilation, pads, groups, None, dims, where)
    if not torch._C._is_torch_function_mode_enabled():
        _check(x, weight, bias, dims, groups, where)
    for axis, (n, (left, right), k, d) in enumerate(zip(x.shape[2:], pads, weight.shape[2:], dilation)):
        span = (k - 1) * d + 1
        if n + left + right < span:
            raise ShapeError(f"{where}: input length must be at least {span - left - right} on axis {axis} (span "
                             f"{span}, padding {left}+{right}), got {n}")
    # rare: a padding larger than the input, whose padded copy is checked against the RAM once per call
    if any(left + right > n for (left, right), n in zip(pads, x.shape[2:], strict=True)):
        spec = conv_spec(tuple(int(k) for k in weight.shape[2:]), stride, dilation, pads, dims=dims)
        _check_padded(x, weight, pads, spec.output_length(tuple(int(n) for n in x.shape[2:])), pads, where)
    return _autotune.conv(x, weight, bias, stride, dilation, pads, groups)


def conv_path(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, dilation: Any = 1,
              padding: Any = "same", groups: int = 1, causal_axis: int | None = None,
              shared_input: bool = False) -> str:
    """The path ``dilated_conv{1,2,3}d`` takes for these arguments here: ``"plain"`` (the ``F.conv*d`` call),
    ``"channels_last"`` (channels-last output) or ``"fold2d"``; a new configuration is measured first, exactly as
    the convolution itself would. For modules that keep a layout across several convolutions (``ASPP``): with
    ``shared_input=True`` the channels-last path is measured without converting ``x`` (the module converts it
    once for all its convolutions), and the choice is cached apart from the convolution's own.
    Arguments that the convolution would reject give ``"plain"``; the convolution raises.

    >>> conv_path(torch.randn(1, 2, 8, 8), torch.randn(2, 2, 3, 3), dilation=12)   # too small to measure
    'plain'
    """
    dims = x.dim() - 2 if isinstance(x, Tensor) and not isinstance(x, fx.Proxy) else 0
    if dims not in (1, 2, 3) or not isinstance(weight, Tensor) or weight.dim() != dims + 2 or \
            torch.jit.is_scripting():  # type: ignore[attr-defined]
        return "plain"
    try:
        k = tuple(int(s) for s in weight.shape[2:])
        pads = resolve_padding(k, stride, dilation, padding, causal_axis if dims > 1 else None)
        spec = conv_spec(k, stride, dilation, pads, dims=dims)
        spec.output_length(tuple(int(n) for n in x.shape[2:]))
    except (ConfigError, ShapeError):
        return "plain"
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1 or x.shape[1] != weight.shape[1] * groups:
        return "plain"
    return _autotune.choose(x, weight, bias, spec.stride, spec.dilation, pads, groups, shared_input is True)


def dilated_conv1d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int = 1, dilation: int = 1,
                   padding: Any = "same", groups: int = 1) -> Tensor:
    """1-D convolution (cross-correlation, like ``F.conv1d``) with atrous padding words.

    Args:
        x: input ``(B, C_in, L)``.
        weight: ``(C_out, C_in / groups, k)``.
        bias: optional ``(C_out,)``.
        stride, dilation: ints.
        padding: ``"same"``, ``"causal"``, ``"valid"``, an int or a ``(left, right)`` pair.
        groups: channel groups.

    Returns:
        ``(B, C_out, L_out)``.

    Shape:
        ``L_out = floor((L + left + right - (k - 1) * dilation - 1) / stride) + 1``; ``"same"`` and
        ``"causal"`` keep ``L`` when ``stride == 1``.

    >>> x, w = torch.randn(2, 3, 10), torch.randn(4, 3, 2)
    >>> dilated_conv1d(x, w, dilation=3, padding="same").shape   # even span 4: 1 left, 2 right
    torch.Size([2, 4, 10])
    """
    return _conv(x, weight, bias, stride, dilation, padding, groups, None, 1, "dilated_conv1d")


def dilated_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, dilation: Any = 1,
                   padding: Any = "same", groups: int = 1, causal_axis: int | None = None) -> Tensor:
    """2-D convolution with atrous padding words; ``"causal"`` is causal along ``causal_axis`` (default 0: H).

    Shape:
        ``(B, C_in, H, W) -> (B, C_out, H_out, W_out)``, each axis as in :func:`dilated_conv1d`.

    >>> dilated_conv2d(torch.randn(1, 2, 8, 8), torch.randn(2, 2, 3, 3), dilation=2).shape
    torch.Size([1, 2, 8, 8])
    """
    return _conv(x, weight, bias, stride, dilation, padding, groups, causal_axis, 2, "dilated_conv2d")


def dilated_conv3d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, dilation: Any = 1,
                   padding: Any = "same", groups: int = 1, causal_axis: int | None = None) -> Tensor:
    """3-D convolution with atrous padding words; ``"causal"`` is causal along ``causal_axis`` (default 0: D).

    Shape:
        ``(B, C_in, D, H, W) -> (B, C_out, D_out, H_out, W_out)``.

    >>> dilated_conv3d(torch.randn(1, 1, 5, 6, 6), torch.randn(1, 1, 2, 3, 3), padding="causal").shape
    torch.Size([1, 1, 5, 6, 6])
    """
    return _conv(x, weight, bias, stride, dilation, padding, groups, causal_axis, 3, "dilated_conv3d")

