"""Gridding diagnostics: the HDC rule, common factors, border layers and small objects slipping between taps.

The hybrid dilated convolution (HDC) rule of Wang et al. 2018 ("Understanding convolution for semantic
segmentation") is a published heuristic; the exact support (:func:`atrous.rf.support.support`) is the
ground truth, and :func:`gridding_report` checks one against the other.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from atrous.errors import ConfigError, bad
from atrous.rf._counts import TapCounts
from atrous.rf.graph import Graph, Spec, as_graph
from atrous.rf.layer import IntArg, _per_axis
from atrous.rf.reads import Reads
from atrous.rf.reads import reads as read_pattern
from atrous.rf.schedule import _chain_hole_free, _int, _is_int, _rates, design
from atrous.rf.stack import RFResult, receptive_field

__all__ = [
    "AxisGridding", "GriddingReport", "HDCVerdict", "common_factor", "exact_miss_probability",
    "gridding_report", "hdc_check", "hdc_m_values", "miss_probability", "support_miss_probability",
]


def hdc_m_values(rates: Sequence[int]) -> list[int]:
    """The HDC quantities ``M_1 .. M_n`` of Wang et al. 2018 for rates ``r_1 .. r_n``.

    ``M_n = r_n`` and ``M_i = max[M_{i+1} - 2 r_i, M_{i+1} - 2 (M_{i+1} - r_i), r_i]``: the largest distance
    between two neighbouring nonzero taps that layers ``i .. n`` leave; the rule asks for ``M_2 <= K``.

    Args:
        rates: dilation rates, first layer first (a non-empty list of positive ints).

    Returns:
        ``[M_1, ..., M_n]``.

    >>> hdc_m_values([1, 2, 5]), hdc_m_values([1, 2, 9])
    ([1, 2, 5], [3, 5, 9])
    """
    r = _rates("hdc_m_values", rates)
    m = [r[-1]]
    for ri in reversed(r[:-1]):
        nxt = m[-1]
        m.append(max(nxt - 2 * ri, nxt - 2 * (nxt - ri), ri))
    return m[::-1]


def common_factor(rates: Sequence[int]) -> int:
    """Greatest common divisor of the rates; above 1, the output reads one input offset in that many.

    >>> common_factor([2, 4, 8]), common_factor([1, 2, 5])
    (2, 1)
    """
    return math.gcd(*_rates("common_factor", rates))


def _fmt(values: Sequence[int]) -> str:
    return ", ".join(str(v) for v in values)


@dataclass(frozen=True)
class HDCVerdict:
    """Both HDC rules for one list of rates.

    ``m2`` is None for a single layer (the M-rule is then vacuous); ``messages`` is empty when ``ok``.
    """

    rates: tuple[int, ...]
    kernel: int
    m_values: tuple[int, ...]
    m2: int | None
    common_factor: int
    m_ok: bool
    factor_ok: bool
    messages: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.m_ok and self.factor_ok

    @property
    def message(self) -> str:
        """All messages on one line (empty when ``ok``)."""
        return "; ".join(self.messages)


def _alternative(rates: Sequence[int], kernel: int, deeper: bool = True) -> str:
    """A hole-free schedule to recommend in place of ``rates``: of the same depth when one reaches the same
    receptive field, otherwise (when ``deeper``) the shallowest one."""
    if kernel < 2:
        return ""
    rf = 1 + (kernel - 1) * sum(rates)
    try:
        alt = design(rf, kernel, depth=len(rates))
        return f"use rates without holes such as {_fmt(alt.rates)} (RF {alt.rf})"
    except ConfigError:
        if not deeper:
            return ""
        alt = design(rf, kernel)
        n = len(rates)
        return (f"no hole-free schedule of {n} layer{'s' if n > 1 else ''} with kernel {kernel} reaches "
                f"RF {rf}; use {alt.depth} layers with rates {_fmt(alt.rates)} (RF {alt.rf})")


def _verdict(rates: tuple[int, ...], kernel: int, hole_free: bool, prefix: str = "",
             suggest: bool = True, subject: str = "the output", deeper: bool = True) -> HDCVerdict:
    m = tuple(hdc_m_values(rates))
    m2 = m[1] if len(m) > 1 else None
    g = math.gcd(*rates)
    m_ok = m2 is None or m2 <= kernel
    factor_ok = g == 1
    fix = _alternative(rates, kernel, deeper) if suggest and not hole_free else ""
    if hole_free:
        tail = "; the exact support has no holes all the same, so nothing is skipped"
        gaps = ""
    else:
        tail = f"; {fix}" if fix else ""
        gaps = ", so the receptive field has gaps"
    messages = []
    if not factor_ok:
        what = (f"rates {_fmt(rates)} share the factor {g}" if len(rates) > 1
                else f"a single rate {g} (common factor {g})")
        messages.append(f"{prefix}{what}: {subject} reads only one input offset in {g}{tail}")
    elif not m_ok:
        messages.append(f"{prefix}rates {_fmt(rates)} break the HDC rule of Wang et al. 2018: M_2 = {m2} > "
                        f"kernel {kernel}{gaps}{tail}")
    return HDCVerdict(rates, kernel, m, m2, g, m_ok, factor_ok, tuple(messages))


def hdc_check(rates: Sequence[int], kernel: int = 3) -> HDCVerdict:
    """Both HDC rules for a chain of stride-1 layers: ``M_2 <= kernel`` and no common factor above 1.

    A failing verdict's message recommends a hole-free schedule of the same depth when one reaches the same
    receptive field (from :func:`atrous.rf.schedule.design`), or says that the exact support has no holes
    anyway (the M-rule fails on hole-free schedules such as ``1, 3, 2`` or, with kernel 4, ``1, 4, 16``).

    Args:
        rates: dilation rates, first layer first (a non-empty list of positive ints).
        kernel: kernel size ``K`` of the rule.

    Returns:
        An :class:`HDCVerdict`.

    >>> v = hdc_check([1, 2, 9])
    >>> v.ok, v.m2
    (False, 5)
    >>> print(v.message.replace("; ", ";\\n"))
    rates 1, 2, 9 break the HDC rule of Wang et al. 2018: M_2 = 5 > kernel 3, so the receptive field has gaps;
    use rates without holes such as 1, 3, 8 (RF 25)
    >>> hdc_check([1, 2, 5]).ok, hdc_check([2, 4, 8]).common_factor
    (True, 2)
    """
    r = _rates("hdc_check", rates)
    k = _int("hdc_check", "kernel", kernel)
    hole_free = _chain_hole_free(r, k)
    return _verdict(r, k, hole_free)


@dataclass(frozen=True)
class AxisGridding:
    """HDC diagnostics of the main path along one spatial axis.

    The main path is the chain from input to output with the largest receptive field; ``layers`` are its
    layers with kernel > 1, ``rates`` their effective rates in input samples (``dilation * jump``), and
    ``kernel`` the kernel of the first of them (1 when there is none). ``holes`` are the offsets along this
    axis that the exact support of the whole network never reads (its projection onto the axis).
    """

    axis: int
    layers: tuple[str, ...]
    rates: tuple[int, ...]
    kernel: int
    m2: int | None
    common_factor: int
    m_ok: bool
    factor_ok: bool
    holes: tuple[int, ...]

    @property
    def ok(self) -> bool:
        return self.m_ok and self.factor_ok


@dataclass(frozen=True)
class GriddingReport(TapCounts):
    """Gridding diagnostics of a network.

    ``hdc_ok`` is True when every axis passes both HDC rules; ``taps`` / ``volume`` count the offsets read in
    the receptive-field box (exact N-D support when ``support_exact``, otherwise the product of the per-axis
    supports); ``messages`` hold one actionable line each.
    """

    hdc_ok: bool
    messages: tuple[str, ...]
    axes: tuple[AxisGridding, ...]
    border_layers: tuple[str, ...]
    taps: int
    volume: int
    support_exact: bool

    @property
    def rates(self) -> tuple[tuple[int, ...], ...]:
        """Effective rates of the main path, per axis."""
        return tuple(a.rates for a in self.axes)

    @property
    def m2(self) -> tuple[int | None, ...]:
        return tuple(a.m2 for a in self.axes)

    @property
    def common_factor(self) -> tuple[int, ...]:
        return tuple(a.common_factor for a in self.axes)

    @property
    def unread(self) -> float:
        """Fraction of the receptive-field box never read."""
        return self.holes / self.volume

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form (the ``gridding`` object of the machine-readable output, plus details)."""
        return {
            "hdc_ok": self.hdc_ok,
            "messages": list(self.messages),
            "rates": [list(r) for r in self.rates],
            "m2": list(self.m2),
            "common_factor": list(self.common_factor),
            "border_layers": list(self.border_layers),
            "taps": self.taps,
            "volume": self.volume,
            "unread": self.unread,
        }


def _main_path(graph: Graph, rf: RFResult, axis: int) -> tuple[int, ...]:
    """Layer nodes (kernel > 1 along ``axis``) of the input-to-output path with the largest receptive
    field. Layers with a fractional stride, or running at a fractional jump (after an upsampling), are left
    out: they interpolate between input samples, and the HDC rules are about integer rates."""
    reach: list[Fraction] = []
    path: list[tuple[int, ...]] = []
    for i, node in enumerate(graph.nodes):
        if node.op == "input":
            reach.append(Fraction(0))
            path.append(())
        elif node.op == "layer":
            assert node.layer is not None
            src = node.inputs[0]
            layer = node.layer
            jump = rf.nodes[src].jump_exact[axis]
            if layer.is_global or layer.kernel[axis] == 1 or layer.upsample[axis] > 1 or jump.denominator > 1:
                reach.append(reach[src])
                path.append(path[src])
            else:
                reach.append(reach[src] + (layer.span[axis] - 1) * jump)
                path.append((*path[src], i))
        else:
            best = max(node.inputs, key=lambda s: reach[s])  # the first of equals
            reach.append(reach[best])
            path.append(path[best])
    return path[graph.output]


def _axes_label(axes: Sequence[int], dims: int) -> str:
    if dims == 1 or len(axes) == dims:
        return ""
    return f"axis {axes[0]}: " if len(axes) == 1 else f"axes {_fmt(axes)}: "


def _pct(fraction: float) -> str:
    return f"{100 * fraction:.3g}%"


def gridding_report(spec: Spec, input_size: IntArg | None = None, *, reads: Reads | None = None) -> GriddingReport:
    """HDC rules, exact holes and border layers of a stack or DAG, with one actionable message per problem.

    Per axis, the HDC rules run on the effective rates (``dilation * jump``) of the layers with kernel > 1
    along the path with the largest receptive field, with ``K`` the kernel of the first of them. The exact
    support of the whole network is the ground truth: a message says when the rules pass but offsets stay
    unread (``2, 3`` with kernel 3 leaves offsets -4 and 4), or fail although nothing is skipped.

    Args:
        spec: a :class:`~atrous.rf.graph.Graph`, a list of layers or one layer.
        input_size: input length (one int, or one per axis); when given, layers whose dilated span is longer
            than the feature map they run on are reported as border layers (their outer taps read padding).

    Returns:
        A :class:`GriddingReport`.

    Raises:
        ShapeError: when ``input_size`` is too small for an unpadded layer.

    >>> from atrous.rf import conv
    >>> r = gridding_report([conv((3, 3), dilation=2, padding="same")] * 3)
    >>> r.hdc_ok, r.rates, r.taps, r.volume
    (False, ((2, 2, 2), (2, 2, 2)), 49, 169)
    >>> print("\\n".join(r.messages).replace("; ", ";\\n"))
    rates 2, 2, 2 share the factor 2: the output reads only one input offset in 2;
    use rates without holes such as 1, 2, 3 (RF 13)
    exact support: 49 of 169 offsets read, 71% of the receptive field unread
    >>> r = gridding_report([conv(3, dilation=d, padding="same") for d in (1, 2, 8)], input_size=12)
    >>> r.border_layers
    ('layer3',)
    >>> print(r.messages[-1].replace(": ", ":\\n"))
    layer 'layer3' (kernel 3, dilation 8, span 17) is wider than its 12-long input:
    its outer taps read padding at every output position; use dilation <= 5 so that (k-1)*d+1 <= 12
    """
    graph = as_graph(spec)
    dims = graph.dims
    if input_size is not None:
        _per_axis(input_size, dims, "input_size", "gridding_report", minimum=1)
    rf = receptive_field(graph)
    sup = reads if reads is not None else read_pattern(graph)
    axes = []
    uniform = []  # whether the path is a stride-1 chain of one kernel size, so rates map to dilations
    for a in range(dims):
        nodes = _main_path(graph, rf, a)
        layers = [graph.nodes[i].layer for i in nodes]
        jumps = [int(rf.nodes[graph.nodes[i].inputs[0]].jump[a]) for i in nodes]  # integers on the main path
        rates = tuple(ly.dilation[a] * j for ly, j in zip(layers, jumps, strict=True) if ly is not None)
        kernels = {ly.kernel[a] for ly in layers if ly is not None}
        kernel = layers[0].kernel[a] if layers and layers[0] is not None else 1
        uniform.append(len(kernels) <= 1 and all(j == 1 for j in jumps))
        holes = tuple(sup.per_axis[a].holes)
        if rates:
            v = _verdict(rates, kernel, hole_free=not holes, suggest=False)
            m2, g, m_ok, f_ok = v.m2, v.common_factor, v.m_ok, v.factor_ok
        else:
            m2, g, m_ok, f_ok = None, 1, True, True
        axes.append(AxisGridding(a, tuple(graph.nodes[i].name for i in nodes), rates, kernel, m2, g, m_ok,
                                 f_ok, holes))
    hdc_ok = all(ax.ok for ax in axes)
    taps, volume = sup.taps, sup.volume
    has_holes = taps < volume

    messages: list[str] = []
    groups: dict[tuple[tuple[int, ...], int, bool], list[int]] = {}
    for ax in axes:
        groups.setdefault((ax.rates, ax.kernel, uniform[ax.axis] and bool(ax.holes)), []).append(ax.axis)
    branched = any(n.op not in ("input", "layer") for n in graph.nodes)
    subject = "the main path (the largest receptive field)" if branched else "the output"
    for (rates, kernel, suggest), members in groups.items():
        if not rates:
            continue
        v = _verdict(rates, kernel, hole_free=not has_holes, prefix=_axes_label(members, dims),
                     suggest=suggest, subject=subject, deeper=not branched)
        messages.extend(v.messages)

    if has_holes:
        approx = ""
        counted = f"{approx}{taps} of {volume} offsets read"
        unread = _pct((volume - taps) / volume)
        if dims == 1:
            shown = sup.per_axis[0].holes
            where = f" (offsets {_fmt(shown[:6])}{', ...' if len(shown) > 6 else ''})"
        else:
            where = ""
        if hdc_ok:
            fixes = {_alternative(ax.rates, ax.kernel, not branched)
                     for ax, u in zip(axes, uniform, strict=True) if u and ax.holes and ax.rates}
            fixes.discard("")
            fix = f"; {fixes.pop()}" if len(fixes) == 1 else ""
            messages.append(f"the HDC rule passes but the exact support has {volume - taps} holes: "
                            f"{counted}, {unread} of the receptive field unread{where}; the exact support is "
                            f"the ground truth{fix}")
        else:
            messages.append(f"exact support: {counted}, {unread} of the receptive field unread{where}")

    border: list[str] = []
    if input_size is not None:
        sized = receptive_field(graph, input_size)
        for node in graph.nodes:
            layer = node.layer
            if layer is None or layer.is_global or layer.upsamples:
                continue
            length = sized.nodes[node.inputs[0]].length
            assert length is not None
            found: dict[tuple[int, int, int, int], list[int]] = {}
            for a in range(dims):
                if layer.span[a] > length[a]:
                    key = (layer.kernel[a], layer.dilation[a], layer.span[a], length[a])
                    found.setdefault(key, []).append(a)
            if found:
                border.append(node.name)
            for (k, d, sp, n), members in found.items():
                on = "" if dims == 1 else f" on axis {members[0]}" if len(members) == 1 else \
                    f" on axes {_fmt(members)}"
                most = (n - 1) // (k - 1)
                fix = (f"use dilation <= {most} so that (k-1)*d+1 <= {n}" if most >= 1 else
                       f"no dilation fits: use a kernel of at most {n} taps or a larger input")
                messages.append(f"layer {node.name!r} (kernel {k}, dilation {d}, span {sp}) is wider than "
                                f"its {n}-long input{on}: its outer taps read padding at every output "
                                f"position; {fix}")
    return GriddingReport(hdc_ok, tuple(messages), tuple(axes), tuple(border), taps, volume, True)


def _pair(where: str, arg: str, value: object) -> tuple[int, int]:
    if _is_int(value):
        v = _int(where, arg, value)
        return (v, v)
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        return (_int(where, arg, value[0]), _int(where, arg, value[1]))
    raise bad(where, arg, "a positive int or a pair of positive ints (axis 0, axis 1)", value)


def miss_probability(object_size: IntArg, dilation: IntArg) -> float:
    """Stylised chance that a ``h x w`` object falls between the taps of a rate-``d`` grid:
    ``max(0, 1 - h * w / d**2)``.

    It is exact, averaged over all placements on an infinite tap lattice, when ``h, w <= d``; for a side
    longer than ``d`` it underestimates the miss (the object then always meets a tap row along that axis).

    Args:
        object_size: object extent in input samples, an int (square) or ``(h, w)`` along axes ``(H, W)``.
        dilation: tap spacing, an int or one per axis.

    Returns:
        A probability in ``[0, 1]``.

    >>> miss_probability(1, 4), miss_probability((2, 3), (4, 6)), miss_probability(5, 4)
    (0.9375, 0.75, 0.0)
    """
    h, w = _pair("miss_probability", "object_size", object_size)
    dh, dw = _pair("miss_probability", "dilation", dilation)
    return max(0.0, float(1 - Fraction(h * w, dh * dw)))


def _axis_hits(size: int, kernel: int, dilation: int) -> tuple[int, int]:
    """(placements that contain a tap, placements) of an interval inside one kernel's span."""
    span = (kernel - 1) * dilation + 1
    if size >= span:
        return 1, 1
    placements = span - size + 1
    misses = (kernel - 1) * max(0, dilation - size)  # room inside each of the k - 1 gaps
    return placements - misses, placements


def exact_miss_probability(object_size: IntArg, kernel: IntArg, dilation: IntArg) -> float:
    """Fraction of the integer placements of a ``h x w`` object inside one dilated kernel's span box that
    contain no tap.

    Along each axis the kernel has ``k`` taps at spacing ``d`` (span ``(k - 1) d + 1``); an object longer
    than the span along an axis covers the span there.

    Args:
        object_size: object extent in input samples, an int (square) or ``(h, w)``.
        kernel: taps per axis, an int or a pair.
        dilation: tap spacing, an int or a pair.

    Returns:
        The miss fraction in ``[0, 1]``.

    >>> exact_miss_probability(1, 3, 2)
    0.64
    >>> exact_miss_probability(2, 3, 2), exact_miss_probability((1, 9), 3, 4)
    (0.0, 0.6666666666666666)
    """
    where = "exact_miss_probability"
    h, w = _pair(where, "object_size", object_size)
    kh, kw = _pair(where, "kernel", kernel)
    dh, dw = _pair(where, "dilation", dilation)
    hit_h, n_h = _axis_hits(h, kh, dh)
    hit_w, n_w = _axis_hits(w, kw, dw)
    return float(1 - Fraction(hit_h * hit_w, n_h * n_w))


def support_miss_probability(mask: np.ndarray, object_size: IntArg) -> float:
    """Fraction of the integer placements of a ``h x w`` object inside a 2-D support box that contain no
    read offset (an object larger than the box along an axis covers the box there).

    Args:
        mask: 2-D array over the receptive-field box, nonzero where an offset is read (for example
            ``support(spec).counts`` of a 2-D stack).
        object_size: object extent in input samples, an int (square) or ``(h, w)``.

    Returns:
        The miss fraction in ``[0, 1]``.

    >>> from atrous.rf import conv, support
    >>> support_miss_probability(support(conv((3, 3), dilation=2)).counts, 1)
    0.64
    >>> support_miss_probability(support([conv((3, 3), dilation=d) for d in (1, 2)]).counts, 2)
    0.0
    """
    where = "support_miss_probability"
    h, w = _pair(where, "object_size", object_size)
    arr = np.asarray(mask)
    if arr.ndim != 2 or arr.size == 0:
        raise bad(where, "mask", "a non-empty 2-D array", f"an array of shape {arr.shape}")
    read = (arr != 0).astype(np.int64)
    rows, cols = read.shape
    eh, ew = min(h, rows), min(w, cols)
    table = np.zeros((rows + 1, cols + 1), dtype=np.int64)
    table[1:, 1:] = read.cumsum(axis=0).cumsum(axis=1)
    inside = (table[eh:, ew:] - table[: rows + 1 - eh, ew:] - table[eh:, : cols + 1 - ew]
              + table[: rows + 1 - eh, : cols + 1 - ew])
    return float(np.count_nonzero(inside == 0) / inside.size)
