"""Frequency view of dilated kernels and stacks: responses, cut-offs and alias-safe strides.

Frequencies ``omega`` are in radians per input sample on ``[0, pi]`` (``pi`` is the Nyquist frequency of
the input). A kernel ``w`` at dilation ``d`` has the response ``H(omega) = sum_t w[t] exp(-i omega t d)``,
which is the undilated response evaluated at ``d * omega``: dilation squeezes the spectrum by ``d`` and
repeats it every ``2 pi / d``. A dilated kernel on its own is therefore *not* a low-pass filter; only the
undilated layers before it (or a pooling) remove the replicas.

Stacks are linearised with uniform box weights, as in :mod:`atrous.rf.support`: the response of a stack is
the DTFT of the path-count distribution of one output unit (for chains exactly
``support(spec).distribution()``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from atrous._validate import positive_int
from atrous.errors import bad
from atrous.rf.graph import Spec, as_graph
from atrous.rf.layer import _is_int
from atrous.rf.stack import receptive_field

__all__ = ["alias_free_stride", "aliased_energy", "cutoff", "frequency_response", "stack_response"]

#: A kernel: an int kernel size (a uniform box normalised to sum 1) or explicit 1-D weights.
KernelArg = int | Sequence[float] | np.ndarray
#: A sampled response as returned by :func:`frequency_response` or :func:`stack_response`.
Response = tuple[np.ndarray, np.ndarray]

_TOL = 1e-9
#: the most frequency points of one grid (64 MB a complex array), and the most terms ``points x taps`` one response
#: may sum (seconds; evaluated in blocks of 16 MB): past these a call is refused rather than left to run or to fill
#: the RAM
MAX_POINTS, MAX_TERMS = 2**22, 2**28


def frequency_response(
    weights_or_kernel_size: KernelArg, dilation: int = 1, n: int = 512
) -> Response:
    """Frequency response of a 1-D kernel at a dilation, sampled on ``n`` points of ``[0, pi]``.

    Args:
        weights_or_kernel_size: the taps ``w[0..k-1]`` (used as given, not normalised), or an int ``k``
            for a uniform box ``w[t] = 1 / k`` (so ``H(0) = 1``).
        dilation: spacing ``d`` between taps.
        n: number of grid points, at least 2; ``omega = linspace(0, pi, n)``.

    Returns:
        ``(omega, H)``: float64 ``omega`` of shape ``(n,)`` and complex128
        ``H[j] = sum_t w[t] exp(-1j * omega[j] * t * d)``. Dilating by ``d`` maps ``H(omega)`` to
        ``H(d omega)``.

    >>> omega, H = frequency_response(3, dilation=2, n=5)
    >>> np.round(omega / np.pi, 2).tolist(), np.round(np.abs(H), 3).tolist()
    ([0.0, 0.25, 0.5, 0.75, 1.0], [1.0, 0.333, 0.333, 0.333, 1.0])
    """
    w = _weights(weights_or_kernel_size, "frequency_response")
    d = _positive_int(dilation, "frequency_response", "dilation")
    if _is_int(weights_or_kernel_size):  # a box: closed form, one term a point
        omega = _grid(n, "frequency_response")
        return omega, _box_dtft(w.size, d, omega)
    omega = _grid(n, "frequency_response", w.size, "kernel taps")
    return omega, _dtft(w, d, omega)


def cutoff(
    weights_or_kernel_size: KernelArg, dilation: int = 1, level: float = 1 / math.sqrt(2)
) -> float | None:
    """First frequency in ``(0, pi]`` where ``|H(omega)| / |H(0)|`` falls to ``level`` or below.

    A dilation only rescales the frequency axis (``cutoff(w, d) == cutoff(w, 1) / d``, exactly: ``|H|`` of real
    taps is even and ``2 pi``-periodic), so the search runs on the undilated taps: a scan on a grid of at least
    64 points per ``pi / k`` finds the first grid point at or below ``level``; bisection then narrows the
    crossing to ``1e-9`` rad and returns its upper end (a frequency where the ratio is at or below ``level``),
    divided by ``d``. Dips narrower than the grid step are not seen. The scan is refused past
    ``MAX_POINTS`` points or ``MAX_TERMS`` terms (about 65,000 taps for a box given as an int, 2,000 explicit
    taps).

    Args:
        weights_or_kernel_size: taps, or an int kernel size for a uniform box.
        dilation: spacing between taps; ``cutoff(w, d) == cutoff(w, 1) / d``.
        level: the relative magnitude, in ``(0, 1)``; the default ``1 / sqrt(2)`` is the -3 dB point.

    Returns:
        The cut-off in radians per input sample, never above ``pi``; ``None`` when the ratio stays above
        ``level`` on all of ``(0, pi]`` (for example a single tap, which passes every frequency).

    >>> round(cutoff(3), 6), round(cutoff(3, dilation=4), 6)
    (0.975613, 0.243903)
    >>> cutoff(1) is None
    True
    """
    w = _weights(weights_or_kernel_size, "cutoff")
    d = _positive_int(dilation, "cutoff", "dilation")
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise bad("cutoff", "level", "a number in (0, 1)", level)
    if abs(float(w.sum())) <= 1e-12 * float(np.abs(w).sum()):
        raise bad("cutoff", "weights", "taps with a non-zero sum (|H(0)| > 0)", w.tolist())
    found = _first_crossing(w, float(level), _TOL, "cutoff", box=_is_int(weights_or_kernel_size))
    return None if found is None else found / d


def _first_crossing(w: np.ndarray, level: float, tol: float, where: str, box: bool = False) -> float | None:
    """First grid crossing of ``|H| / |H(0)| <= level`` of the undilated taps ``w``, bisected to ``tol`` (0: to
    the last bit). ``box``: ``w`` is a uniform box, whose response has a closed form."""
    h0 = 1.0 if box else abs(float(w.sum()))  # the closed form is that of the box normalised to sum 1

    def ratio(om: np.ndarray) -> np.ndarray:
        h = _box_dtft(len(w), 1, om) if box else _dtft(w, 1, om)
        return np.asarray(np.abs(h) / h0)

    n = max(2049, 64 * len(w) + 1)  # 64 points per pi / taps
    if box and n > MAX_POINTS:
        raise bad(where, "kernel_size", f"an int in 1..{(MAX_POINTS - 1) // 64} (the cut-off is scanned on 64 points "
                  "per pi / kernel_size)", len(w))
    if not box and n * len(w) > MAX_TERMS:
        raise bad(where, "weights", f"at most {math.isqrt(MAX_TERMS // 64)} taps (the cut-off is scanned on 64 "
                  "points per pi / taps, each summing every tap)", f"{len(w)} taps")
    grid = np.linspace(0.0, math.pi, n)
    below = np.flatnonzero(ratio(grid) <= level)
    if below.size == 0:
        return None
    idx = int(below[0])  # ratio(0) == 1 > level, so idx >= 1 and grid[idx - 1] is above level
    lo, hi = float(grid[idx - 1]), float(grid[idx])
    while hi - lo > tol:
        mid = 0.5 * (lo + hi)
        if not lo < mid < hi:
            break
        if float(ratio(np.array([mid]))[0]) <= level:
            hi = mid
        else:
            lo = mid
    return hi


def stack_response(spec: Spec, n: int = 512, axis: int = 0) -> Response:
    """Frequency response, in input frequency, of a stack or DAG linearised with uniform box weights.

    Every non-global layer (conv or pooling) acts as a box of its kernel, normalised to sum 1, at its
    dilation times the jump ``J`` of its input, shifted by its left padding: a layer after a chain with jump
    ``J`` multiplies the response by ``B_k(omega * J * d) * exp(1j * omega * left * J)``. The response is
    that of output index 0 at input position 0, i.e. the DTFT of its path-count distribution over input
    offsets. Strides subsample the output; the response is that of the filter *before* subsampling (the
    stride only raises the jump of later layers). Global layers pass the response through unchanged.

    Merges (``add``, ``cat``, ``mul``) average their branches' responses: the sum divided by the number
    of branches, so ``H(0) == 1`` everywhere. This equals the DTFT of ``support(spec).distribution()``
    when every branch has the same number of paths (for example ASPP branches of one kernel size);
    otherwise :func:`~atrous.rf.support.support` weights each branch by its path count and this function
    weights branches equally.

    Args:
        spec: a :class:`~atrous.rf.graph.Graph`, a list of layers (a chain) or one layer.
        n: number of grid points on ``[0, pi]``, at least 2.
        axis: the spatial axis to look along.

    Returns:
        ``(omega, H)`` like :func:`frequency_response`, with ``H(0) == 1``.

    >>> from atrous.rf import conv
    >>> omega, H = stack_response([conv(3, dilation=d, padding="same") for d in (1, 2, 4)], n=3)
    >>> np.round(np.abs(H), 4).tolist()
    [1.0, 0.1111, 0.3333]
    """
    graph = as_graph(spec)
    if not _is_int(axis) or not 0 <= axis < graph.dims:
        raise bad("stack_response", "axis", f"an int in 0..{graph.dims - 1}", axis)
    omega = _grid(n, "stack_response", len(graph.nodes), "graph nodes")
    state: dict[int, tuple[np.ndarray, Fraction]] = {}
    last_use = {j: i for i, node in enumerate(graph.nodes[: graph.output + 1]) for j in node.inputs}
    for i, node in enumerate(graph.nodes[: graph.output + 1]):
        if node.op == "input":
            state[i] = (np.ones(omega.shape, dtype=np.complex128), Fraction(1))
        elif node.op == "layer":
            assert node.layer is not None
            h, jump = state[node.inputs[0]]
            layer = node.layer
            if not layer.is_global:
                # after a zero insertion by u the kernel's taps are jump / u input samples apart: the response
                # of the interpolation, averaged over the output phases
                jump = jump / layer.upsample[axis]
                step = layer.dilation[axis] * jump
                h = h * _box_dtft(int(layer.kernel[axis]), step, omega) * np.exp(
                    1j * omega * float(layer.padding[axis][0] * jump))
                jump *= layer.stride[axis]
            state[i] = (h, jump)
        else:
            branches = [state[j][0] for j in node.inputs]
            state[i] = (sum(branches[1:], branches[0]) / len(branches), state[node.inputs[0]][1])
        for j in set(node.inputs):  # keep only the responses a later node still reads
            if last_use[j] == i:
                del state[j]
    return omega, state[graph.output][0]


def alias_free_stride(rates: int | Sequence[int], kernel: int = 3) -> int:
    """Largest stride ``M`` with ``omega_c / min(rates) <= pi / M``: ``floor(pi * min(rates) / omega_c)``.

    ``omega_c = cutoff(kernel)`` is the -3 dB cut-off of the undilated box of ``kernel`` taps; at rate
    ``r`` the main lobe ends at ``omega_c / r``, so the smallest rate, with the widest main lobe, sets the
    stride. Caveat: this only looks at the main lobe. A dilated kernel alone is not low-pass; it passes
    replicas of its main lobe around every multiple of ``2 pi / r``, and those alias after subsampling
    unless earlier undilated layers removed them. Measure what actually aliases in a real stack with
    :func:`aliased_energy`.

    Args:
        rates: one dilation rate or several (for example the rates of parallel ASPP branches).
        kernel: taps of the box kernel, at least 2 (a single tap has no cut-off).

    Returns:
        The stride, at least ``min(rates)``; exact integer bounds (``2 * r`` for ``kernel=2``, where
        ``omega_c = pi / 2``) are kept despite rounding.

    >>> alias_free_stride([6, 12, 18]), alias_free_stride(1), alias_free_stride(2, kernel=5)
    (19, 3, 11)
    """
    values: list[int] = []
    if _is_int(rates):
        values = [rates]  # type: ignore[list-item]
    elif isinstance(rates, Sequence) and not isinstance(rates, (str, bytes)):
        values = list(rates)
    if not values or not all(_is_int(r) and r >= 1 for r in values):
        raise bad("alias_free_stride", "rates", "a positive int or a non-empty list of positive ints", rates)
    most = (MAX_POINTS - 1) // 64  # the cut-off scan's grid, 64 points per pi / kernel
    if not _is_int(kernel) or not 2 <= kernel <= most:
        raise bad("alias_free_stride", "kernel", f"an int in 2..{most} (a single tap has no cut-off)", kernel)
    omega_c = _first_crossing(np.ones(kernel), 1 / math.sqrt(2), 0.0, "alias_free_stride", box=True)  # last bit
    assert omega_c is not None  # every box of two or more taps falls below -3 dB before pi
    # the relative slack absorbs the last-bit error of omega_c where the bound is an integer (kernel 2)
    return math.floor(math.pi * min(values) / omega_c * (1 + 1e-12))


def aliased_energy(spec_or_response: Spec | Response, stride: int, axis: int = 0) -> float:
    """Fraction of the energy ``|H|^2`` on ``[0, pi]`` that lies above the new Nyquist ``pi / stride``.

    That is the part of the spectrum that folds back (aliases) when the output is subsampled by ``stride``.
    The integrals use the trapezoidal rule on the sampled grid (a response is integrated between its first
    and last sample); a spec is sampled with :func:`stack_response` on at least 128 points per
    ``pi / rf_size``, which keeps the quadrature error far below 1e-3.

    Args:
        spec_or_response: a stack spec (anything :func:`~atrous.rf.graph.as_graph` takes), or an
            ``(omega, H)`` pair from :func:`frequency_response` / :func:`stack_response`.
        stride: the subsampling factor, a positive int (1 gives 0.0).
        axis: the axis of a spec to look along (ignored for a response).

    Returns:
        A float in ``[0, 1]``.

    >>> from atrous.rf import conv
    >>> alias_free_stride(4)
    12
    >>> round(aliased_energy(conv(3, dilation=4), 12), 3)  # the replicas of a lone dilated kernel alias
    0.802
    >>> round(aliased_energy([conv(3, dilation=r) for r in (1, 2, 4)], alias_free_stride([1, 2, 4])), 3)
    0.114
    """
    if not _is_int(stride) or stride < 1:
        raise bad("aliased_energy", "stride", "a positive int", stride)
    if isinstance(spec_or_response, tuple) and len(spec_or_response) == 2 and \
            all(isinstance(a, np.ndarray) for a in spec_or_response):
        omega = np.asarray(spec_or_response[0], dtype=np.float64)
        h = np.asarray(spec_or_response[1])
        if omega.ndim != 1 or omega.shape != h.shape or omega.size < 2 or not np.all(np.diff(omega) > 0):
            raise bad("aliased_energy", "response", "an (omega, H) pair of equal 1-D arrays with omega "
                      "increasing", f"shapes {omega.shape} and {h.shape}")
    else:
        graph = as_graph(spec_or_response)  # type: ignore[arg-type]
        if not _is_int(axis) or not 0 <= axis < graph.dims:
            raise bad("aliased_energy", "axis", f"an int in 0..{graph.dims - 1}", axis)
        size = receptive_field(graph).size[axis]
        n = max(4097, 128 * size + 1)
        if n > MAX_POINTS or n * len(graph.nodes) > MAX_TERMS:
            most = (min(MAX_POINTS, MAX_TERMS // len(graph.nodes)) - 1) // 128
            raise bad("aliased_energy", "spec_or_response", f"a stack whose receptive field along axis {axis} is at "
                      f"most {most} samples (it is integrated on 128 points per pi / RF), or an (omega, H) pair "
                      "sampled as finely as you choose", f"a receptive field of {size} samples")
        omega, h = stack_response(graph, n=n, axis=axis)
    power = np.abs(h) ** 2
    total = _trapezoid(power, omega)
    if total <= 0:
        raise bad("aliased_energy", "response", "a response with non-zero energy", "|H| == 0 everywhere")
    cut = math.pi / stride
    keep = omega > cut
    if not keep.any():
        return 0.0
    om = np.concatenate([[max(cut, float(omega[0]))], omega[keep]])
    pw = np.concatenate([[float(np.interp(om[0], omega, power))], power[keep]])
    return float(min(1.0, _trapezoid(pw, om) / total))


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2)


def _box_dtft(k: int, step: int | Fraction, omega: np.ndarray) -> np.ndarray:
    """``_dtft`` of the box ``1/k`` (k taps, ``step`` apart) in closed form, ``O(n)`` rather than ``O(n k)``:
    ``exp(-i w s (k-1)/2) sin(k w s/2) / (k sin(w s/2))``, whose limit where ``sin(w s/2) = 0`` is
    ``cos(k w s/2) / cos(w s/2)``."""
    x = omega * (float(step) / 2)
    sin_x = np.sin(x)
    small = np.abs(sin_x) < 1e-9
    ratio = np.where(small, np.cos(k * x) / np.where(small, np.cos(x), 1.0),
                     np.sin(k * x) / (k * np.where(small, 1.0, sin_x)))
    return np.asarray(ratio * np.exp(-1j * x * (k - 1)))


def _dtft(w: np.ndarray, step: int | Fraction, omega: np.ndarray) -> np.ndarray:
    taps = np.arange(len(w)) * float(step)
    weights = w.astype(np.complex128)
    block = max(1, 2**20 // len(w))  # frequencies per block: the exponentials of a block stay near 16 MB
    return np.concatenate([np.exp(-1j * np.outer(omega[i:i + block], taps)) @ weights
                           for i in range(0, omega.size, block)])


def _grid(n: object, where: str, per_point: int = 1, what: str = "") -> np.ndarray:
    """``n`` points on ``[0, pi]``; refused past MAX_POINTS, or past MAX_TERMS when each point costs ``per_point``
    terms (kernel taps, graph nodes)."""
    if not _is_int(n) or not 2 <= n <= MAX_POINTS:  # type: ignore[operator]
        raise bad(where, "n", f"an int in 2..{MAX_POINTS}", n)
    if n * per_point > MAX_TERMS:  # type: ignore[operator]
        raise bad(where, "n", f"at most {MAX_TERMS // per_point} for {per_point} {what} (n x {what} <= {MAX_TERMS})",
                  n)
    return np.linspace(0.0, math.pi, n)  # type: ignore[call-overload, no-any-return]


def _positive_int(value: object, where: str, arg: str) -> int:
    return positive_int(where, arg, value)


def _weights(value: object, where: str) -> np.ndarray:
    rule = "a positive int kernel size or a non-empty 1-D sequence of finite real numbers"
    if _is_int(value):
        if value < 1:  # type: ignore[operator]
            raise bad(where, "kernel_size", "a positive int", value)
        if value > MAX_POINTS:  # type: ignore[operator]
            raise bad(where, "kernel_size", f"an int in 1..{MAX_POINTS}", value)
        k: int = value  # type: ignore[assignment]
        return np.full(k, 1.0 / k)
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        raise bad(where, "weights", rule, value)
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise bad(where, "weights", rule, value) from None
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
        raise bad(where, "weights", rule, value)
    return arr
