"""The ``--max-memory`` / ``--max-time`` flags of the commands whose cost grows with their arguments."""

from __future__ import annotations

import argparse
from typing import Any

from atrous._validate import DEFAULT_MAX_MEMORY_GB, DEFAULT_MAX_TIME_S, finite_number, memory_cap_bytes


def add_cap_flags(p: Any, time: bool = False) -> None:
    """Add ``--max-memory GB`` (and ``--max-time S``) to a subcommand's parser."""
    p.add_argument("--max-memory", type=float, default=DEFAULT_MAX_MEMORY_GB, metavar="GB",
                   help=f"refuse work estimated to need more memory than this (default {DEFAULT_MAX_MEMORY_GB:g} "
                        "GB; see docs/security.md)")
    if time:
        p.add_argument("--max-time", type=float, default=DEFAULT_MAX_TIME_S, metavar="S",
                       help=f"refuse work estimated to take longer than this (default {DEFAULT_MAX_TIME_S:g} s)")


def memory_cap(args: argparse.Namespace, where: str) -> int:
    """``--max-memory`` in bytes (checked: a finite number > 0)."""
    return memory_cap_bytes(where, args.max_memory)


def time_cap(args: argparse.Namespace, where: str) -> float:
    """``--max-time`` in seconds (checked: a finite number > 0)."""
    return finite_number(where, "--max-time", args.max_time, positive=True)


def check_gradient_memory(where: str, model: Any, shape: tuple[int, ...], cap: int, copies: int = 3) -> None:
    """Refuse a gradient measurement at ``shape`` whose activations (kept for backward, plus their gradients
    and the input's) would exceed ``cap`` bytes, before the model runs on real data."""
    from atrous._validate import activation_bytes, check_cap

    estimate = copies * activation_bytes(model, shape)
    check_cap(where, "--input-shape", ",".join(map(str, shape)), estimate, cap, "memory",
              "the gradient measurement keeps every activation; use a smaller input or raise --max-memory (GB)")


def gradient_batch(where: str, model: Any, shape: tuple[int, ...], cap: int, batch: int, copies: int = 3) -> int:
    """The largest batch (at most ``batch``) whose gradient measurement at ``shape`` fits in ``cap`` bytes; one
    line naming the input shape when not even one input fits. Fewer inputs per pass give the same result."""
    from atrous._validate import activation_bytes

    one = copies * activation_bytes(model, (1, *shape[1:]))
    fits = int(cap // max(one, 1))
    if fits < 1:
        check_gradient_memory(where, model, (1, *shape[1:]), cap, copies)
    return max(1, min(batch, fits))
