"""Argument checks shared by the Python API and the command line: ints, finite numbers, int lists and caps.

Every check raises :class:`~atrous.errors.ConfigError` with the house message
``"<where>: <arg> must be <rule>, got <value!r>"`` and returns the value, converted (``numpy.int64(3)`` -> ``3``).
``where`` is the public entry point (``"TrainConfig"``, ``"atrous rf"``, ``"DilatedConv1d"``); ``arg`` is the name
the caller knows: a keyword argument (``lr``) for the Python API, a flag (``--lr``) where only the command line
checks it. The command line shows a library message with its flags in place of the Python names
(:func:`atrous.cli.main._one_line`).

Caps: a few arguments decide how much memory or time a call needs (a receptive field's support array, a
training set, an ERF input). The estimate is computed from the arguments before anything is allocated and
compared with a cap; past it, :func:`check_cap` names the argument, the estimate, the cap and how to raise it.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Sequence
from typing import Any

from atrous.errors import ConfigError, bad

__all__ = [
    "DEFAULT_MAX_MEMORY_GB",
    "DEFAULT_MAX_TIME_S",
    "MAX_SEED",
    "activation_bytes",
    "check_cap",
    "finite_number",
    "int_in_range",
    "int_list",
    "max_threads",
    "memory_cap_bytes",
    "positive_int",
    "word_list",
]

#: memory a single command may plan to use unless raised with ``--max-memory`` (GB, 10**9 bytes)
DEFAULT_MAX_MEMORY_GB = 2.0
#: time a command may plan to spend on a capped computation unless raised with ``--max-time`` (seconds)
DEFAULT_MAX_TIME_S = 60.0
#: largest seed: torch, numpy and Python all accept a 63-bit seed
MAX_SEED = 2**63 - 1


def _as_int(value: object) -> int | None:
    """``value`` as a Python int when it is an integral number (bools are not), else None."""
    return int(value) if isinstance(value, numbers.Integral) and not isinstance(value, bool) else None


def int_in_range(where: str, arg: str, value: object, minimum: int | None = None,
                 maximum: int | None = None, fix: str = "") -> int:
    """``value`` as an int in ``[minimum, maximum]`` (either bound may be None)."""
    n = _as_int(value)
    if n is not None and (minimum is None or n >= minimum) and (maximum is None or n <= maximum):
        return n
    if minimum is not None and maximum is not None:
        rule = f"an int in {minimum}..{maximum}"
    elif minimum is not None:
        rule = {1: "a positive int", 0: "a non-negative int"}.get(minimum, f"an int >= {minimum}")
    elif maximum is not None:
        rule = f"an int <= {maximum}"
    else:
        rule = "an int"
    raise bad(where, arg, rule, value, fix)


def positive_int(where: str, arg: str, value: object, maximum: int | None = None) -> int:
    """``value`` as an int >= 1 (and <= ``maximum`` when given)."""
    return int_in_range(where, arg, value, 1, maximum)


def finite_number(where: str, arg: str, value: object, *, minimum: float | None = None, positive: bool = False,
                  fix: str = "") -> float:
    """``value`` as a finite float, > 0 when ``positive``, >= ``minimum`` when given (nan and inf never pass)."""
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))
    if ok:
        x = float(value)  # type: ignore[arg-type]
        ok = (not positive or x > 0) and (minimum is None or x >= minimum)
    if ok:
        return float(value)  # type: ignore[arg-type]
    rule = "a finite number" + (" > 0" if positive else "") + (f" >= {minimum:g}" if minimum is not None else "")
    raise bad(where, arg, rule, value, fix)


def word_list(where: str, arg: str, text: str) -> list[str]:
    """``"same,valid"`` -> ``["same", "valid"]``; an empty list or an empty item is an error."""
    items = [t.strip() for t in text.split(",")]
    if any(not t for t in items):
        raise bad(where, arg, "a comma-separated list without empty items", text)
    return items


def int_list(where: str, arg: str, text: str, minimum: int = 1) -> list[int]:
    """``"1,2,4"`` -> ``[1, 2, 4]``; every item an int >= ``minimum`` (decimal digits only: ``1e9`` is refused)."""
    out = []
    for item in word_list(where, arg, text):
        digits = item[1:] if item[:1] in "+-" else item
        if not digits.isdigit() or not digits.isascii() or len(digits) > 1000:
            rule = "a comma-separated list of " + ("positive ints" if minimum == 1 else f"ints >= {minimum}")
            raise bad(where, arg, rule, text)
        out.append(int_in_range(where, arg, int(item), minimum))
    return out


def memory_cap_bytes(where: str, gigabytes: object) -> int:
    """The ``--max-memory`` value (GB) in bytes."""
    gb = finite_number(where, "--max-memory", gigabytes, positive=True)
    return int(gb * 1e9)


def _size(n: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} bytes"


def check_cap(where: str, arg: str, value: object, estimate: float, cap: float, what: str = "memory",
              fix: str = "raise --max-memory") -> None:
    """Refuse a call whose estimated ``what`` exceeds ``cap``: bytes for ``"memory"``, seconds for ``"time"``,
    a plain count otherwise."""
    if estimate <= cap:
        return
    if what == "memory":
        shown = (_size(estimate), _size(cap))
    elif what == "time":
        shown = (f"{estimate:.3g} s", f"{cap:.3g} s")
    else:
        shown = (f"{estimate:.3g}", f"{cap:.3g}")
    raise ConfigError(f"{where}: {arg} must need at most {shown[1]} of {what}, got {value!r} (estimated "
                      f"{shown[0]}); {fix}")


def physical_memory() -> int:
    """Bytes of RAM on this machine (0 when the system does not say)."""
    import os

    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 0


def fits_in_ram(where: str, arg: str, value: object, nbytes: float, what: str) -> None:
    """Refuse, before it is allocated, ``what`` (weights, a buffer) that needs more than half of this machine's
    RAM: such a request fails in the middle of an allocation, or succeeds and leaves nothing to run it with (and on
    a machine that overcommits, takes other processes down with it)."""
    ram = physical_memory()
    if ram:
        check_cap(where, arg, value, nbytes, ram / 2, fix=f"{what} would take more than half of this machine's "
                  "memory")


def max_threads() -> int:
    """Largest ``--threads`` accepted: four per CPU core (more only adds contention; a huge count crashed
    OpenMP)."""
    return 4 * (os.cpu_count() or 1)


#: when a model cannot run on fake tensors, its activations are taken as this many copies of the input
FALLBACK_ACTIVATIONS = 64


def activation_bytes(model: Any, shape: Sequence[int], run: Callable[[Any, Any], Any] | None = None,
                     example: Any = None) -> int:
    """Bytes of every module output of one forward pass ``run(model, x)`` (default ``model(x)``), with ``x`` an
    input of ``shape`` (or ``example``, a batch of real tensors), measured on fake tensors: no memory is allocated
    and no arithmetic is done. A multiple of the input's size when the model cannot run on fake tensors."""
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode

    total = [0]

    def hook(module: Any, inputs: Any, output: Any) -> None:
        for t in output if isinstance(output, (tuple, list)) else [output]:
            if isinstance(t, torch.Tensor):
                total[0] += t.numel() * t.element_size()

    # leaves only: a container's output is its last child's tensor, counted once
    handles = [m.register_forward_hook(hook) for m in model.modules() if next(m.children(), None) is None]
    try:
        with torch.no_grad(), FakeTensorMode(allow_non_fake_inputs=True):
            x = torch.empty(tuple(shape)) if example is None else example
            (run or (lambda m, x: m(x)))(model, x)
    except Exception:
        return FALLBACK_ACTIVATIONS * 4 * math.prod(shape)
    finally:
        for h in handles:
            h.remove()
    return max(total[0], 4 * math.prod(shape))
