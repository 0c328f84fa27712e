"""The channels-last layout: a fast conversion, and the automatic switch that lets 2-D convolutions with a large
padding run there.

oneDNN, behind ``F.conv2d`` on CPU, keeps its direct (brgemm) kernels for a channels-last input, while an NCHW input
with a padding of 7 or more falls back to an im2col GEMM, about 1.8x slower (docs/benchmarks_conv.md). With the
switch on (:func:`set_auto_channels_last`, the default unless ``ATROUS_CONV_AUTO_CHANNELS_LAST=0``), such a
convolution measures once whether converting the input is clearly faster (:mod:`atrous.functional._autotune`
measures and caches the choice) and then returns a channels-last output: same shape and values, channels-last
strides, exactly what ``F.conv2d`` returns for a channels-last input. Every torch op downstream accepts it; code
that calls ``.view`` on the output needs ``.reshape`` (or ``.contiguous()``) instead.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
from torch import Tensor

from atrous.errors import ConfigError, ShapeError

__all__ = ["auto_channels_last_enabled", "layout_of", "may_hit_cliff", "set_auto_channels_last", "to_channels_last"]

Pads = tuple[tuple[int, int], ...]

_ENV_AUTO = "ATROUS_CONV_AUTO_CHANNELS_LAST"
_CLIFF_PAD = 7           # oneDNN's NCHW direct kernel takes paddings up to 6 here; from 7 it may fall back to im2col
_FORMATS = {2: torch.channels_last, 3: torch.channels_last_3d}


def env_default(name: str, default: bool) -> bool:
    """A boolean environment switch: ``1``, ``true``, ``yes``, ``on`` (any case) are on; unset or empty is
    ``default``; anything else is off."""
    value = os.environ.get(name, "").strip().lower()
    return default if not value else value in ("1", "true", "yes", "on")


# ---------------------------------------------------------------------------------------------------------
# The layout conversion. ``x.contiguous(memory_format=torch.channels_last)`` runs a generic strided copy whose
# inner loop reads the channels H*W apart; one 2-D transpose per sample, ``(C, H*W) -> (H*W, C)``, which torch
# copies in 60x60 blocks, moves the same data about twice as fast. That copy runs on one thread, so the
# transposes of a large tensor are spread over ``torch.get_num_threads()`` Python threads (``copy_`` releases
# the GIL): one sample each, or column ranges of one sample when there are fewer samples than threads. Measured
# on a 2-core machine for 4x64x128x128 float32: 4.7 ms on one thread, 2.4 ms on two (docs/benchmarks_conv.md).

_PARALLEL_MIN = 1 << 20  # elements: smaller tensors are transposed on the calling thread
_pool: tuple[int, int, ThreadPoolExecutor] | None = None  # (pid, workers, pool): a forked child makes its own
_pool_lock = threading.Lock()


def _workers() -> ThreadPoolExecutor | None:
    global _pool
    n = torch.get_num_threads()
    if n < 2:
        return None
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid() or _pool[1] != n:
            if _pool is not None and _pool[0] == os.getpid():
                _pool[2].shutdown(wait=False)  # the thread count changed: let the old workers exit
            _pool = (os.getpid(), n, ThreadPoolExecutor(n, thread_name_prefix="atrous-transpose"))
        return _pool[2]


def _transpose_each(src: Tensor, dst: Tensor) -> None:
    """``dst[i] = src[i].t()`` for 3-D ``src`` ``(B, R, S)`` and ``dst`` ``(B, S, R)``, spread over threads."""
    batch, _, cols = src.shape
    pool = _workers() if src.numel() >= _PARALLEL_MIN else None
    if pool is None:
        for i in range(batch):
            dst[i].copy_(src[i].t())
        return
    threads = torch.get_num_threads()
    pieces = max(1, -(-threads // batch))  # column ranges per sample, so that every thread has work
    step = -(-cols // pieces)
    jobs = [(i, a, min(a + step, cols)) for i in range(batch) for a in range(0, cols, step)]
    inference = torch.is_inference_mode_enabled()

    def run(job: tuple[int, int, int]) -> None:
        i, a, b = job
        # grad and inference mode are per thread: a worker starts with grad on, which forbids writing a view made
        # under no_grad, and outside inference mode, which forbids writing an inference tensor. This is a plain
        # copy: autograd sees the conversion as a whole (_ToChannelsLast)
        with torch.inference_mode(inference), torch.no_grad():
            dst[i, a:b].copy_(src[i, :, a:b].t())

    for _ in pool.map(run, jobs):  # re-raises a worker's error here
        pass


def _nchw_to_nhwc(x: Tensor) -> Tensor:
    batch, channels, *space = x.shape
    out = torch.empty((batch, *space, channels), dtype=x.dtype, device=x.device)
    if x.is_contiguous():
        _transpose_each(x.reshape(batch, channels, -1), out.view(batch, -1, channels))
    else:
        out.copy_(x.movedim(1, -1))
    return out.movedim(-1, 1)


def _nhwc_to_nchw(y: Tensor) -> Tensor:
    batch, channels = y.shape[:2]
    out = torch.empty(y.shape, dtype=y.dtype, device=y.device)
    if y.is_contiguous(memory_format=_FORMATS[y.dim() - 2]):
        _transpose_each(y.movedim(1, -1).reshape(batch, -1, channels), out.view(batch, channels, -1))
    else:
        out.copy_(y)
    return out


class _ToChannelsLast(torch.autograd.Function):
    """Contiguous (or strided) to channels-last; the gradient goes back contiguous, the input's layout."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        return _nchw_to_nhwc(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return _ToContiguous.apply(grad) if not grad.is_contiguous() else grad


class _ToContiguous(torch.autograd.Function):
    """The inverse of :class:`_ToChannelsLast` (its backward, so that double backward works too)."""

    @staticmethod
    def forward(ctx: Any, y: Tensor) -> Tensor:
        return _nhwc_to_nchw(y)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return to_channels_last(grad)


def to_channels_last(x: Tensor) -> Tensor:
    """``x`` in the channels-last layout (``torch.channels_last``, or ``channels_last_3d`` for 5-D): the same
    shape and values, stored channel-innermost. A channels-last ``x`` comes back as it is. Faster than
    ``x.contiguous(memory_format=...)`` for contiguous input; the gradient flows back in the contiguous layout.

    >>> x = torch.randn(2, 3, 4, 5)
    >>> y = to_channels_last(x)
    >>> y.is_contiguous(memory_format=torch.channels_last), torch.equal(x, y)
    (True, True)
    """
    if not isinstance(x, Tensor) or x.dim() not in (4, 5):
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ShapeError(f"to_channels_last: input must be a 4-D (B C H W) or 5-D (B C D H W) tensor, got {shape}")
    fmt = _FORMATS[x.dim() - 2]
    if x.is_contiguous(memory_format=fmt) or x.numel() == 0:
        return x.contiguous(memory_format=fmt)
    if x.is_floating_point() and torch.is_grad_enabled() and x.requires_grad:
        return _ToChannelsLast.apply(x)  # type: ignore[no-any-return]
    return _nchw_to_nhwc(x)




def layout_of(x: Tensor) -> str:
    """``"contiguous"``, ``"channels_last"`` or ``"strided"``."""
    if x.is_contiguous():
        return "contiguous"
    fmt = _FORMATS.get(x.dim() - 2)
    return "channels_last" if fmt is not None and x.is_contiguous(memory_format=fmt) else "strided"



def may_hit_cliff(x: Tensor, pads: Pads) -> bool:
    """Whether the automatic channels-last choice measures this configuration: a 2-D float32 convolution that
    torch pads itself (symmetric padding) by at least ``_CLIFF_PAD`` on some axis. oneDNN's direct NCHW kernel
    rejects such paddings for many shapes (oneDNN verbose logs show ``x64:gemm:jit`` from padding 7 for 64 channels,
    3×3, at any dilation); which shapes exactly depends on its register blocking, hence the measurement."""
    return (x.dim() == 4 and x.dtype == torch.float32 and all(left == right for left, right in pads)
            and max(left for left, _ in pads) >= _CLIFF_PAD)



# ---------------------------------------------------------------------------------------------------------
# The automatic switch

_AUTO = [env_default(_ENV_AUTO, True)]


def set_auto_channels_last(enabled: bool) -> bool:
    """Turn the automatic channels-last layout for 2-D convolutions with large padding on or off; returns the
    old setting. On (the default, unless ``ATROUS_CONV_AUTO_CHANNELS_LAST=0``), such a convolution on an NCHW
    input measures once whether converting to channels-last is clearly faster, and if so returns a
    channels-last output from then on. Off, those calls are the plain ``F.conv2d`` call, NCHW in and out."""
    if not isinstance(enabled, bool):
        raise ConfigError(f"set_auto_channels_last: enabled must be True or False, got {enabled!r}")
    old, _AUTO[0] = _AUTO[0], enabled
    return old


def auto_channels_last_enabled() -> bool:
    """Whether 2-D convolutions with large padding may choose the channels-last layout (see
    :func:`set_auto_channels_last`)."""
    return _AUTO[0]

