"""Dilation schedules: exponential (TCN), cyclic (WaveNet), sawtooth (HDC), and the shallowest hole-free
design.

A schedule is a list of dilation rates for a chain of stride-1 convolutions with one kernel size ``k``.
Its receptive field is ``1 + (k - 1) * sum(rates)`` and its exact support is the Minkowski sum of the
tap sets ``{0, r, ..., (k - 1) r}``, which does not depend on the order of the rates.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from atrous._validate import int_in_range
from atrous.errors import bad
from atrous.rf.layer import Layer, PaddingArg, conv
from atrous.rf.support import support

__all__ = ["MAX_DEPTH", "Schedule", "cyclic", "design", "exponential", "sawtooth"]

#: Deepest schedule :func:`design` builds; a deeper one almost always means a missing ``max_dilation``.
MAX_DEPTH = 10_000


def _is_int(v: object) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _int(where: str, arg: str, value: object, minimum: int = 1) -> int:
    return int_in_range(where, arg, value, minimum)


def _rates(where: str, rates: object, arg: str = "rates") -> tuple[int, ...]:
    """Validate a non-empty sequence of positive ints (numpy integers and arrays accepted)."""
    ok = isinstance(rates, (Sequence, np.ndarray)) and not isinstance(rates, (str, bytes))
    values = list(rates) if ok else []  # type: ignore[call-overload]
    if not values or not all(_is_int(r) and int(r) >= 1 for r in values):
        shown = rates.tolist() if isinstance(rates, np.ndarray) else rates
        raise bad(where, arg, "a non-empty list of positive ints", shown)
    return tuple(int(r) for r in values)


def exponential(n_layers: int, base: int = 2) -> list[int]:
    """Rates ``1, base, base**2, ..., base**(n_layers - 1)`` (the TCN schedule).

    Args:
        n_layers: number of layers, at least 1.
        base: growth factor, at least 1.

    Returns:
        The list of rates.

    >>> exponential(4), exponential(3, base=3)
    ([1, 2, 4, 8], [1, 3, 9])
    """
    n = _int("exponential", "n_layers", n_layers)
    b = _int("exponential", "base", base)
    return [b**i for i in range(n)]


def cyclic(cycle_length: int, repeats: int, base: int = 2) -> list[int]:
    """An exponential cycle repeated (WaveNet: ``cyclic(10, 3)`` is ``1, 2, ..., 512`` three times).

    Args:
        cycle_length: layers per cycle, at least 1.
        repeats: number of cycles, at least 1.
        base: growth factor inside a cycle, at least 1.

    Returns:
        The list of ``cycle_length * repeats`` rates.

    >>> cyclic(3, 2)
    [1, 2, 4, 1, 2, 4]
    """
    n = _int("cyclic", "cycle_length", cycle_length)
    r = _int("cyclic", "repeats", repeats)
    b = _int("cyclic", "base", base)
    return [b**i for i in range(n)] * r


def sawtooth(group: Sequence[int], repeats: int) -> list[int]:
    """A group of rates repeated, the HDC pattern of Wang et al. 2018 (for example ``(1, 2, 5)``).

    Args:
        group: the rates of one group, a non-empty list of positive ints.
        repeats: number of groups, at least 1.

    Returns:
        The list of ``len(group) * repeats`` rates.

    >>> sawtooth((1, 2, 5), 2)
    [1, 2, 5, 1, 2, 5]
    """
    g = _rates("sawtooth", group, "group")
    r = _int("sawtooth", "repeats", repeats)
    return list(g) * r


def _chain_hole_free(rates: Sequence[int], kernel: int) -> bool:
    """Whether a chain of stride-1 layers reads every offset of its receptive field: sorted ascending, each
    rate must be at most the width reached before it (see :func:`design`)."""
    if kernel == 1:
        return True
    width = 1
    for r in sorted(rates):
        if r > width:
            return False
        width += (kernel - 1) * r
    return True


@dataclass(frozen=True)
class Schedule:
    """Dilation rates of a chain of stride-1 convolutions sharing one kernel size.

    >>> s = Schedule((1, 2, 5), kernel=3)
    >>> s.rf, s.depth, s.holes, Schedule((2, 2, 2)).holes
    (17, 3, 0, 6)
    """

    rates: tuple[int, ...]
    kernel: int = 3

    def __post_init__(self) -> None:
        object.__setattr__(self, "rates", _rates("Schedule", self.rates))
        object.__setattr__(self, "kernel", _int("Schedule", "kernel", self.kernel))

    @property
    def rf(self) -> int:
        """Receptive field of the chain, ``1 + (kernel - 1) * sum(rates)``."""
        return 1 + (self.kernel - 1) * sum(self.rates)

    @property
    def depth(self) -> int:
        return len(self.rates)

    @property
    def holes(self) -> int:
        """Offsets inside the receptive field that the exact support never reads.

        A hole-free chain is recognised from its rates (sorted ascending, each at most the width before it),
        so a designed schedule with a receptive field of 10**9 answers without a 10**9-long array."""
        if _chain_hole_free(self.rates, self.kernel):
            return 0
        return support(self.layers(padding="valid")).holes

    def layers(self, padding: PaddingArg = "same", dims: int = 1) -> list[Layer]:
        """One :func:`~atrous.rf.layer.conv` spec per rate.

        Args:
            padding: any padding accepted by :func:`~atrous.rf.layer.conv` (``"same"``, ``"causal"``, ...).
            dims: number of spatial axes; every axis gets the same kernel and rate.

        Returns:
            The list of layers, first rate first.

        >>> [layer.padding for layer in Schedule((1, 2), kernel=2).layers(padding="causal")]
        [((1, 0),), ((2, 0),)]
        """
        return [conv(self.kernel, dilation=r, padding=padding, dims=dims) for r in self.rates]


def _front_loaded(total: int, depth: int, k: int, cap: int | None) -> list[int] | None:
    """Rates of ``depth`` layers summing to ``total``, each as large as a contiguous support allows while
    leaving at least 1 to every later layer; None when no hole-free schedule of that depth reaches
    ``total``."""
    rates = []
    width = 1
    left = total
    for i in range(depth):
        d = min(width, left - (depth - 1 - i))
        if cap is not None:
            d = min(d, cap)
        rates.append(d)
        width += (k - 1) * d
        left -= d
    return rates if left == 0 else None


def _greedy_width(depth: int, k: int, cap: int | None) -> int:
    """Widest receptive field of a hole-free schedule of ``depth`` layers."""
    width = 1
    for _ in range(depth):
        width += (k - 1) * (width if cap is None else min(width, cap))
    return width


def _shallowest_depth(target: int, k: int, cap: int | None) -> int:
    width, depth = 1, 0
    while width < target and (cap is None or width < cap):
        width += (k - 1) * width
        depth += 1
    if width < target:  # from here on every layer adds (k - 1) * cap
        step = (k - 1) * cap  # type: ignore[operator]
        depth += -(-(target - width) // step)
    return depth


def design(target_rf: int, kernel: int = 3, max_dilation: int | None = None, *,
           depth: int | None = None) -> Schedule:
    """The shallowest hole-free schedule whose receptive field reaches ``target_rf``.

    Why greedy is optimal: adding a layer of rate ``d`` to a contiguous support of width ``W`` keeps it
    contiguous iff ``d <= W``, and the width becomes ``W + (k - 1) d``. Sorted ascending, a schedule is
    hole-free iff every prefix is contiguous (if ``d_{j+1} > W_j``, offset ``W_j`` can never be read since
    every later rate is larger still), so ``d = min(W, max_dilation)`` at every step gives the widest
    support at every depth. The last rate is then cut to the smallest value that still reaches the target,
    so the receptive field is the smallest value ``>= target_rf`` that any kernel-``k`` chain can have
    (``1 + (k - 1) * n``). The rates are returned in ascending order; the support does not depend on it.

    Every designed schedule starts with rate 1, so it always passes HDC's common-factor rule. The M-rule
    (``M_2 <= K``) holds for every designed schedule with kernel 2 or 3 (checked exhaustively in the tests),
    but fails for kernel >= 4 although the support has no holes (``1, 4, 16`` with kernel 4 has
    ``M_2 = 8``): the published rule is written for 3-tap kernels. Order matters to the M-rule, not to the
    support: ``1, 3, 2`` fails it, ``1, 2, 3`` passes, both read every offset.

    Args:
        target_rf: receptive field to reach, an int >= 2.
        kernel: kernel size of every layer, an int >= 2 (a 1-tap kernel never grows the receptive field).
        max_dilation: largest rate allowed; None for no limit.
        depth: force exactly this many layers (the smallest receptive field >= ``target_rf`` a hole-free
            schedule of that depth can have); None for the shallowest.

    Returns:
        A :class:`Schedule` with ``holes == 0`` and ``rf >= target_rf``.

    >>> design(1024, kernel=2).rates
    (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
    >>> s = design(100)
    >>> s.rates, s.rf, s.holes
    ((1, 3, 9, 10, 27), 101, 0)
    >>> design(13, depth=4).rates
    (1, 1, 1, 3)
    """
    where = "design"
    target = _int(where, "target_rf", target_rf, minimum=2)
    k = _int(where, "kernel", kernel)
    if k < 2:
        raise bad(where, "kernel", "an int >= 2 (a 1-tap kernel never grows the receptive field)", kernel)
    cap = None if max_dilation is None else _int(where, "max_dilation", max_dilation)
    total = -(-(target - 1) // (k - 1))  # smallest sum of rates reaching the target
    if depth is None:
        n = _shallowest_depth(target, k, cap)
        if n > MAX_DEPTH:
            raise bad(where, "target_rf", f"reachable within {MAX_DEPTH} layers with max_dilation={cap}",
                      target_rf, "raise max_dilation")
    else:
        n = _int(where, "depth", depth)
        if n > MAX_DEPTH:
            raise bad(where, "depth", f"at most {MAX_DEPTH}", depth)
        total = max(total, n)
    rates = _front_loaded(total, n, k, cap)
    if rates is None:
        most = _greedy_width(n, k, cap)
        rule = f"at most {most} for a hole-free schedule of {n} layers with kernel {k}"
        fix = f"use at least {_shallowest_depth(target, k, cap)} layers"
        raise bad(where, "target_rf", rule, target_rf, fix)
    return Schedule(tuple(sorted(rates)), k)
