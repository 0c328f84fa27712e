"""The process-wide settings that change a run's numbers, applied for the length of a run and restored after.

A run records them in its config (:class:`~atrous.train.config.TrainConfig`: ``threads``, ``deterministic``,
``dtype``, ``conv_benchmark``, ``conv_auto_channels_last``, ``device``) and, in ``last.pt``, the convolution
paths it measured; a resumed run applies the saved values instead of the caller's, so that it continues with the
numbers of a run that never stopped. What cannot be restored (a device this machine lacks) is refused.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import Any

import torch

from atrous.errors import ConfigError
from atrous.functional import (
    _autotune,
    auto_channels_last_enabled,
    benchmark_enabled,
    set_auto_channels_last,
    set_benchmark,
)
from atrous.train.config import TrainConfig

__all__ = ["applied", "device_for_resume", "pin_paths", "saved_paths"]


@contextlib.contextmanager
def applied(cfg: TrainConfig) -> Iterator[None]:
    """Run the body under ``cfg``'s threads, deterministic flag, default dtype and convolution path settings,
    with no convolution paths pinned (a resumed run pins its checkpoint's, :func:`pin_paths`); restore the
    caller's settings, pins included, afterwards."""
    assert cfg.threads is not None and cfg.dtype is not None  # resolved
    saved = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled(), torch.get_default_dtype(),
             torch.backends.cudnn.benchmark, benchmark_enabled(), auto_channels_last_enabled())
    old_pins = _autotune.pin_choices({})
    try:
        torch.set_num_threads(cfg.threads)
        if cfg.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS needs it to be deterministic
            torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(bool(cfg.deterministic))
        torch.set_default_dtype(getattr(torch, cfg.dtype))
        set_benchmark(bool(cfg.conv_benchmark))
        set_auto_channels_last(bool(cfg.conv_auto_channels_last))
        yield
    finally:
        threads, det, warn_only, dtype, cudnn_benchmark, benchmark, auto = saved
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(det, warn_only=warn_only)
        torch.set_default_dtype(dtype)
        torch.backends.cudnn.benchmark = cudnn_benchmark
        set_benchmark(benchmark)
        set_auto_channels_last(auto)
        _autotune.pin_choices(old_pins)


def device_for_resume(saved: str | None, device: str) -> str:
    """The ``device`` a resumed run uses: the saved device type for ``auto``; a different type, or a CUDA run
    on a machine without CUDA, is refused (its numbers would not continue)."""
    if saved is None:  # a run saved before the device was recorded
        return device
    if device == "auto":
        device = saved
    try:
        asked = torch.device(device).type
    except (RuntimeError, TypeError):
        return device  # the device check names the bad value
    if asked != saved:
        raise ConfigError(f"fit: device must be a {saved} device like the run being resumed (the numbers depend "
                          f"on it), got {device!r}; start a new run from its weights with init_from to change it")
    if saved == "cuda" and not torch.cuda.is_available():
        raise ConfigError("fit: the run being resumed trained on cuda and this machine has no CUDA device; resume "
                          "it where one is available, or start a new run from its weights with init_from")
    return device


def saved_paths() -> dict[str, str]:
    """The convolution paths chosen so far in this process, for a checkpoint."""
    return _autotune.export_choices()


def pin_paths(checkpoint: Mapping[str, Any]) -> None:
    """Take the convolution paths a checkpoint saved (none for a checkpoint older than this) without measuring."""
    paths = checkpoint.get("conv_paths") or {}
    try:
        _autotune.pin_choices(paths)
    except ConfigError:
        raise ConfigError("fit: the checkpoint's conv_paths must map configurations to path names; the file was "
                          "not written by this version of atrous train") from None
