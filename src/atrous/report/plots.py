"""The report's figures as SVG text, drawn with matplotlib's object API.

Nothing here imports ``matplotlib.pyplot`` or calls ``matplotlib.use``: every figure is a
``matplotlib.figure.Figure`` rendered straight to SVG, so the caller's backend (inline plots in a notebook, a GUI
window) is left as it was. matplotlib is imported inside the functions only (``import atrous`` stays cheap).

Public figures (each takes a :class:`~atrous.report.data.ReportData` and returns SVG text):

- :func:`erf_figure`: the measured ERF (log or linear colour scale, normalised to its peak), the data-free ERF,
  the cross-sections through the peak, the theoretical box clipped to the input; a causal 1-D ERF is drawn
  against the lag with its one-sided statistics instead of a Gaussian.
- :func:`frequency_figure`: |H(ω)| of the stack (dB or linear, log or linear frequency) with the dilated layers'
  curves grouped by (kernel, rate), or their min–max envelope when there are too many to read.
- :func:`growth_figure`: receptive field and jump after every layer, by module path.
- :func:`support_figure`: the exact support of output 0 (path counts, holes).
- :func:`timeline_figure`: 1-D stacks: the taps of every layer as seen from one output, with the lookback.

:func:`erf_notes` gives the sentences a caption should carry (a clipped box, a degenerate fit).
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

import numpy as np

from atrous.errors import ConfigError, bad
from atrous.report.data import PLOT_POINTS, Frequency, Layer, ReportData
from atrous.report.recommend import ErfView, erf_view, layer_label, module_path

__all__ = ["MAX_LAYER_CURVES", "erf_figure", "erf_notes", "frequency_figure", "growth_figure", "support_figure",
           "timeline_figure"]

#: at most this many distinct (kernel, rate) curves are drawn in the frequency figure; beyond, an envelope
MAX_LAYER_CURVES = 6
#: the timeline draws at most this many layer rows (evenly thinned beyond)
MAX_TIMELINE_ROWS = 80
_TEXT = 8  # the smallest font used for text a reader needs (legends, notes, tick labels)
_STYLE: dict[str, Any] = {
    "font.size": 9, "axes.titlesize": 9.5, "axes.labelsize": 9, "legend.fontsize": _TEXT, "xtick.labelsize": _TEXT,
    "ytick.labelsize": _TEXT, "figure.titlesize": 10.5, "axes.grid": False, "svg.hashsalt": "atrous",
    "image.interpolation": "nearest",
}
_BOX = "#1f9bd1"  # the theoretical receptive field
_FIT = "#3fb950"  # the Gaussian fit
_HOLE = "#d62728"
_ZERO = "#cfcfcf"  # cells that receive no gradient at all
_IMAGE_DPI = 96  # resolution of the raster part (the maps) inside the SVG
#: 1-D curves longer than this are rasterised inside the SVG (vector paths of 10,000 steps weigh a megabyte)
_VECTOR_SAMPLES = 2000
#: maps up to this many cells a side are embedded as they are (the viewer scales them); larger ones are
#: resampled to the figure's resolution, which keeps the SVG small
_NATIVE_SIDE = 400


@contextmanager
def _style() -> Iterator[Any]:
    """matplotlib with its default style plus ours, whatever the caller's rcParams; restored afterwards."""
    try:
        import matplotlib
    except ImportError:
        raise ConfigError("atrous report needs matplotlib: pip install 'atrous[report]'") from None
    with matplotlib.rc_context():
        matplotlib.rcdefaults()  # leaves the backend alone (it is on matplotlib's style blacklist)
        cast(Any, matplotlib.rcParams).update(_STYLE)
        yield matplotlib


def _new(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None}, dpi=_IMAGE_DPI)
    return buf.getvalue()


def _axis_names(dims: int) -> list[str]:
    return ["L"] if dims == 1 else list(("D", "H", "W")[3 - dims:])


def _fmt(values: Sequence[float], sep: str = "×") -> str:
    return sep.join(f"{v:g}" for v in values)


# --------------------------------------------------------------------------------------------------- ERF


def erf_notes(data: ReportData) -> list[str]:
    """Sentences a caption of :func:`erf_figure` should carry: the theoretical box clipped to the input, a
    degenerate Gaussian fit (and why), the one-sided statistics of a causal ERF. Empty without an ERF."""
    return erf_view(data).notes if data.erf is not None else []


def _log_floor(maps: Sequence[np.ndarray]) -> float:
    """The lowest share of the peak the log colour scale shows: the 1% quantile of the positive cells,
    rounded down to a decade and kept within 1e-6 .. 1e-2 (below it, the lowest colour)."""
    pos = np.concatenate([m[m > 0].ravel() for m in maps])
    if pos.size == 0:
        return 1e-3
    q = float(np.quantile(pos, 0.01))
    return float(min(1e-2, max(1e-6, 10 ** math.floor(math.log10(q)))))


def _norm(scale: str, floor: float) -> Any:
    from matplotlib.colors import LogNorm, Normalize

    return LogNorm(vmin=floor, vmax=1.0, clip=False) if scale == "log" else Normalize(vmin=0.0, vmax=1.0)


def _check_scale(where: str, scale: object) -> str:
    if scale not in ("log", "linear"):
        raise bad(where, "scale", "'log' or 'linear'", scale)
    return str(scale)


def erf_figure(data: ReportData, scale: str = "log") -> str:
    """The measured ERF of one output unit beside the data-free ERF, with cross-sections through the peak.

    Maps are shown as a share of their own peak, on a log colour scale (``scale="log"``, the default: the tails
    of a deep network's ERF are decades below its peak) or a linear one (``scale="linear"``); cells with no
    gradient at all are grey. The theoretical receptive field of the unit is the dashed box, clipped to the
    input (a note says so when it is larger); the fitted Gaussian (1σ and 2σ ellipses) is drawn only where the
    fit is not degenerate (:func:`atrous.analysis.erf_metrics.degenerate_fit`) and its R² is at least 0.5 on
    every axis. A causal 1-D ERF is drawn
    against the lag behind the unit's newest input, with the lags holding 50% and 95% of the mass and the
    cumulative mass; 3-D maps are cut through the peak along D.
    """
    with _style():
        return _svg(_draw_erf(data, scale))


def _draw_erf(data: ReportData, scale: str = "log") -> Any:
    scale = _check_scale("erf_figure", scale)
    if data.erf is None:
        raise ConfigError("erf_figure: the report has no measured ERF (data.erf is None)")
    view = erf_view(data)
    with _style():
        if data.erf.map.ndim == 1:
            fig = _erf_causal(data, view, scale) if view.causal else _erf_1d(data, view, scale)
        else:
            fig = _erf_maps(data, view, scale)
        return fig


def _add_notes(fig: Any, notes: Sequence[str]) -> None:
    if notes:
        import textwrap

        width = int(fig.get_figwidth() * 13)
        text = "\n".join(textwrap.fill(n, width) for n in notes)
        fig.supxlabel(text, fontsize=_TEXT, color="#444444", ha="center")


def _series(ax: Any, x: np.ndarray, y: np.ndarray, **kw: Any) -> None:
    """A non-negative profile on a possibly logarithmic axis: zeros are gaps; isolated values get a marker."""
    pos = y > 0
    lonely = pos & ~np.concatenate([[False], pos[:-1]]) & ~np.concatenate([pos[1:], [False]])
    ax.plot(x, np.where(pos, y, np.nan), rasterized=len(x) > _VECTOR_SAMPLES, **kw)
    if lonely.any():
        ax.plot(x[lonely], y[lonely], "o", ms=3, color=kw.get("color"))


def _profile_axis(ax: Any, scale: str, floor: float) -> None:
    if scale == "log":
        ax.set_yscale("log")
        ax.set_ylim(floor, 1.6)
    else:
        ax.set_ylim(0, 1.05)
    ax.grid(True, which="major", alpha=0.3)


def _erf_1d(data: ReportData, view: ErfView, scale: str) -> Any:
    e = data.erf
    assert e is not None
    m = e.map / e.map.max()
    free = None if data.data_free is None else data.data_free / data.data_free.max()
    floor = _log_floor([m] + ([free] if free is not None else []))
    fig = _new(9.0, 3.6)
    ax = fig.add_subplot()
    x = np.arange(m.size)
    _series(ax, x, m, lw=1.2, color="#5b2a86", label=f"measured ERF ({e.samples} samples)")
    if free is not None:
        _series(ax, x, free, lw=1.0, ls="--", color="#e08214", label="data-free ERF (path counts)")
    if view.box is not None:
        (lo,), (hi,) = view.box
        ax.axvspan(lo - 0.5, hi + 0.5, color=_BOX, alpha=0.12,
                   label="theoretical RF" + (" (clipped to the input)" if view.clipped else ""))
    fit = e.fits[0]
    if view.gaussian_ok:
        marg = m / m.sum()
        g = fit.amplitude * np.exp(-0.5 * ((x - fit.center) / fit.sigma) ** 2) / marg.max()
        ax.plot(x, np.where(g >= floor, g, np.nan), lw=0.9, color=_FIT,
                label=f"Gaussian fit: σ {fit.sigma:.1f}, R² {fit.r2:.2f}")
    _profile_axis(ax, scale, floor)
    ax.set_xlim(-0.5, m.size - 0.5)
    ax.set_xlabel("input position")
    ax.set_ylabel("share of the peak" + (" (log)" if scale == "log" else ""))
    ax.legend(loc="upper right")
    ax.set_title(f"Effective receptive field of {module_path(e.node)} unit {list(e.unit)}", loc="left")
    _add_notes(fig, view.notes)
    return fig


def _erf_causal(data: ReportData, view: ErfView, scale: str) -> Any:
    """A one-sided ERF against the lag: share of the peak (top) and the mass held within each lag (bottom)."""
    e = data.erf
    assert e is not None and view.newest is not None and view.lags is not None
    newest, stats = view.newest, view.lags
    m = e.map / e.map.max()
    free = None if data.data_free is None else data.data_free / data.data_free.max()
    floor = _log_floor([m] + ([free] if free is not None else []))
    lag = newest - np.arange(m.size)  # samples behind the newest input the unit reads
    fig = _new(9.0, 5.2)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    _series(top, lag, m, lw=1.2, color="#5b2a86", label=f"measured ERF ({e.samples} samples)")
    if free is not None:
        _series(top, lag, free, lw=1.0, ls="--", color="#e08214", label="data-free ERF (path counts)")
    lookback = data.field.lookback[0] if data.field is not None and data.field.lookback else None
    if lookback is not None:
        reach = min(lookback, newest)
        top.axvspan(-0.5, reach + 0.5, color=_BOX, alpha=0.12,
                    label=f"lookback {lookback}" + (f" (the input holds {reach})" if reach < lookback else ""))
    marks = [(stats.lag50, "--", f"50% of the mass within lag {stats.lag50}"),
             (stats.lag95, ":", f"95% within lag {stats.lag95}"),
             (stats.mean_lag, "-", f"mass-weighted lag {stats.mean_lag:.1f}")]
    for x, ls, label in marks:
        top.axvline(x, color="#333333", ls=ls, lw=0.9, label=label)
        bottom.axvline(x, color="#333333", ls=ls, lw=0.9)
    _profile_axis(top, scale, floor)
    top.set_ylabel("share of the peak" + (" (log)" if scale == "log" else ""))
    # the cumulative mass is near 1 far in the past: the lower left of that panel is free for the legend
    handles, labels = top.get_legend_handles_labels()
    bottom.legend(handles, labels, loc="lower left", ncols=2, framealpha=0.9)
    order = np.argsort(lag)
    cum = np.cumsum(e.map[order]) / e.map.sum()
    shown = lag[order] >= (lag.min() if stats.future > 0 else 0)  # no future inputs: the curve starts at lag 0
    bottom.plot(lag[order][shown], cum[shown], color="#5b2a86", lw=1.2)
    for q in (0.5, 0.95):
        bottom.axhline(q, color="#999999", lw=0.7)
    bottom.set_ylim(0, 1.02)
    bottom.set_ylabel("share of the mass\nat lags ≤ L")
    bottom.grid(True, alpha=0.3)
    right = min(newest, max(stats.span, lookback or 0) + max(2, stats.span // 20))
    bottom.set_xlim(right + 0.5, min(-0.5, float(lag.min()) if stats.future > 0 else -0.5))
    bottom.set_xlabel("lag L: samples behind the unit's newest input (the past is to the left)")
    from matplotlib.ticker import MaxNLocator

    bottom.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
    fig.suptitle(f"Causal ERF of {module_path(e.node)} unit {list(e.unit)}: half the mass within lag "
                 f"{stats.lag50}, 95% within lag {stats.lag95}" + (f" (lookback {lookback})" if lookback else ""))
    _add_notes(fig, [n for n in view.notes if not n.startswith("One-sided")])
    return fig


def _erf_maps(data: ReportData, view: ErfView, scale: str) -> Any:
    from matplotlib.patches import Ellipse, Rectangle

    e = data.erf
    assert e is not None
    full = e.map / e.map.max()
    peak = tuple(int(i) for i in np.unravel_index(int(np.argmax(full)), full.shape))
    free_full = None if data.data_free is None else data.data_free / data.data_free.max()
    names = _axis_names(full.ndim)
    cut = ""
    m, free = full, free_full
    if full.ndim == 3:  # the slice through the peak along D
        m = full[peak[0]]
        free = None if free_full is None else free_full[peak[0]]
        cut = f", slice D = {peak[0]}"
    floor = _log_floor([m] + ([free] if free is not None else []))
    norm = _norm(scale, floor)
    import matplotlib

    cmap = matplotlib.colormaps["magma"].with_extremes(bad=_ZERO, under=matplotlib.colormaps["magma"](0.0))
    panels = [(f"measured ERF ({e.samples} samples{cut})", m)]
    if free is not None:
        panels.append((f"data-free ERF (path counts{cut})", free))
    fig = _new(max(8.0, 4.6 * len(panels) + 1.2), 7.4)
    grid = fig.add_gridspec(2, max(len(panels), full.ndim), height_ratios=[3.0, 1.35])
    bad_fit = not view.gaussian_ok
    shown = None
    for i, (title, img) in enumerate(panels):
        ax = fig.add_subplot(grid[0, i] if len(panels) > 1 else grid[0, :])
        masked = np.ma.masked_where(img <= 0, img)
        native = max(img.shape) <= _NATIVE_SIDE
        shown = ax.imshow(masked, cmap=cmap, norm=norm, interpolation="none" if native else "antialiased",
                          origin="upper", extent=(-0.5, img.shape[1] - 0.5, img.shape[0] - 0.5, -0.5))
        if view.box is not None:
            lo, hi = view.box[0][-2:], view.box[1][-2:]
            ax.add_patch(Rectangle((lo[1] - 0.5, lo[0] - 0.5), hi[1] - lo[1] + 1, hi[0] - lo[0] + 1, fill=False,
                                   ec=_BOX, lw=1.4, ls="--"))
        if not bad_fit:
            fy, fx = e.fits[-2], e.fits[-1]
            for k in (1, 2):
                ax.add_patch(Ellipse((fx.center, fy.center), 2 * k * fx.sigma, 2 * k * fy.sigma, fill=False,
                                     ec=_FIT, lw=1.0))
        ax.set_xlim(-0.5, img.shape[1] - 0.5)
        ax.set_ylim(img.shape[0] - 0.5, -0.5)
        ax.set_title(title, loc="left")
        ax.set_xlabel(names[-1])
        ax.set_ylabel(names[-2])
    label = ("share of the peak (log scale)" if scale == "log" else "share of the peak") + "; grey: no gradient"
    fig.colorbar(shown, ax=fig.axes[: len(panels)], label=label, shrink=0.9,
                 extend="min" if scale == "log" else "neither")
    # cross-sections through the peak, one small panel per axis
    for a, name in enumerate(names):
        ax = fig.add_subplot(grid[1, a])  # the grid has at least one column per axis
        index: list[Any] = list(peak)
        index[a] = slice(None)
        x = np.arange(full.shape[a])
        _series(ax, x, full[tuple(index)], lw=1.1, color="#5b2a86", label="measured")
        if free_full is not None:
            _series(ax, x, free_full[tuple(index)], lw=0.9, ls="--", color="#e08214", label="data-free")
        if view.box is not None:
            ax.axvspan(view.box[0][a] - 0.5, view.box[1][a] + 0.5, color=_BOX, alpha=0.12, label="theoretical RF")
        _profile_axis(ax, scale, floor)
        ax.set_xlim(-0.5, full.shape[a] - 0.5)
        ax.set_xlabel(f"{name} (other axes at the peak {[p for b, p in enumerate(peak) if b != a]})")
        if a == 0:
            ax.set_ylabel("share of the peak")
            ax.legend(loc="upper right")
        ax.set_title(f"cross-section along {name}", loc="left")
    keys = []
    if view.box is not None:
        keys.append("theoretical RF (dashed blue" + (", clipped to the input)" if view.clipped else ")"))
    if not bad_fit:
        keys.append("Gaussian 1σ/2σ (green)")
    fig.suptitle(f"ERF of {module_path(e.node)} unit {list(e.unit)}" + ("\n" + "; ".join(keys) if keys else ""))
    _add_notes(fig, view.notes)
    return fig


# --------------------------------------------------------------------------------------------------- frequency


def _db(mag: np.ndarray) -> np.ndarray:
    return np.asarray(20 * np.log10(np.maximum(mag, 1e-6)))


def _groups(freq: Frequency) -> list[tuple[int, int, list[str], np.ndarray]]:
    """The dilated layers grouped by (kernel, rate): equal pairs have equal responses."""
    out: dict[tuple[int, int], tuple[list[str], np.ndarray]] = {}
    for name, kernel, rate, mag in freq.layers:
        out.setdefault((kernel, rate), ([], mag))[0].append(module_path(name))
    return [(k, r, names, mag) for (k, r), (names, mag) in sorted(out.items(), key=lambda kv: (kv[0][1], kv[0][0]))]


def _names(names: list[str], limit: int = 2) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def frequency_figure(data: ReportData, scale: str = "db", log_frequency: bool = True) -> str:
    """|H(ω)| of the linearised stack per axis, with the dilated layers that shape it.

    ``scale="db"`` (default) draws 20·log10|H| (floored at -60 dB), ``"linear"`` draws |H|; ``log_frequency``
    (default) puts frequency on a log axis, where the low-pass corner and the Nyquist line after the stride are
    readable. Layers with the same kernel and rate (in input samples) share one curve, named by module paths;
    with more than :data:`MAX_LAYER_CURVES` such pairs, their min–max envelope is drawn instead (the legend says
    so). Axes with identical responses share one panel.
    """
    with _style():
        return _svg(_draw_frequency(data, scale, log_frequency))


def _draw_frequency(data: ReportData, scale: str = "db", log_frequency: bool = True) -> Any:
    if scale not in ("db", "linear"):
        raise bad("frequency_figure", "scale", "'db' or 'linear'", scale)
    if not data.frequency:
        raise ConfigError("frequency_figure: the report has no frequency view (data.frequency is empty)")
    names = _axis_names(len(data.frequency))
    panels: list[tuple[str, Frequency]] = []
    for f in data.frequency:
        same = next((i for i, (_, g) in enumerate(panels) if _same_response(g, f)), None)
        if same is None:
            panels.append((names[f.axis], f))
        else:
            panels[same] = (panels[same][0] + ", " + names[f.axis], panels[same][1])
    with _style():
        fig = _new(max(6.5, 5.2 * len(panels)), 4.6)
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, (label, f) in zip(axes, panels):
            _frequency_panel(ax, f, scale, log_frequency)
            ax.set_title(f"axis {label}: gridding risk {f.verdict}", loc="left")
        return fig


def _same_response(a: Frequency, b: Frequency) -> bool:
    return (a.stride == b.stride and np.array_equal(a.stack, b.stack)
            and [(k, r) for _, k, r, _ in a.layers] == [(k, r) for _, k, r, _ in b.layers])


def _frequency_panel(ax: Any, f: Frequency, scale: str, log_frequency: bool) -> None:
    w = f.omega / math.pi
    keep = w > 0 if log_frequency else np.ones_like(w, dtype=bool)
    w = w[keep]

    def y(mag: np.ndarray) -> np.ndarray:
        return _db(mag[keep]) if scale == "db" else mag[keep]

    # a curve is drawn for a (kernel, rate) pair only when there are few pairs and its ripples (period 2π/rate)
    # span at least 16 frequency samples; the others go into one min–max envelope
    groups = _groups(f)
    fine = [g for g in groups if g[1] <= PLOT_POINTS / 8]
    too_many = len(fine) > MAX_LAYER_CURVES
    if too_many:
        fine = []
    coarse = [g for g in groups if g not in fine]
    colors = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860"]
    for (kernel, rate, paths, mag), color in zip(fine, colors):
        count = f" ×{len(paths)}" if len(paths) > 1 else ""
        ax.plot(w, y(mag), lw=0.9, alpha=0.75, color=color, label=f"k={kernel}, rate {rate}{count}: {_names(paths)}")
    if coarse:
        stacked = np.stack([y(mag) for _, _, _, mag in coarse])
        layers = sum(len(paths) for _, _, paths, _ in coarse)
        rates = sorted({r for _, r, _, _ in coarse})
        span = f"rate {rates[0]}" if len(rates) == 1 else f"rates {rates[0]}–{rates[-1]}"
        why = "too many to draw one by one" if too_many else "ripples finer than the plot"
        ax.fill_between(w, stacked.min(axis=0), stacked.max(axis=0), color="#8c8c8c", alpha=0.3, lw=0,
                        label=f"min–max envelope of {layers} dilated layer{'s' if layers > 1 else ''} ({span}; "
                              f"{why})")
    ax.plot(w, y(f.stack), lw=2.0, color="k", label="whole stack (linearised)")
    if f.cutoff is not None:
        step = f.cutoff_step or (float(f.omega[1] - f.omega[0]) if f.omega.size > 1 else 0.0)
        # the cut-off is the first grid frequency below -3 dB: within ten steps of 0 that is a coarse answer
        coarse_grid = step > 0 and f.cutoff <= 10.5 * step
        where = (f"between {(f.cutoff - step) / math.pi:.3g}π and {f.cutoff / math.pi:.3g}π (one step of the "
                 "frequency grid)" if coarse_grid else f"at {f.cutoff / math.pi:.3g}π")
        ax.axvline(f.cutoff / math.pi, color="#2ca02c", ls="--", lw=1, label=f"stack -3 dB {where}")
    if f.stride > 1:
        ax.axvline(1 / f.stride, color=_HOLE, ls=":", lw=1.2, label=f"Nyquist after stride {f.stride:g}")
    if log_frequency:
        ax.set_xscale("log")
        ax.set_xlim(w.min(), 1)
    else:
        ax.set_xlim(0, 1)
    if scale == "db":
        ax.set_ylim(-60, 5)
        ax.set_ylabel("|H| (dB)")
    else:
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("|H|")
    ax.set_xlabel("frequency (× π rad/sample" + (", log scale)" if log_frequency else ")"))
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=1, frameon=False)


# --------------------------------------------------------------------------------------------------- growth


def _rows(data: ReportData) -> list[Layer]:
    """The per-layer rows by module path; a module traced as several nodes (a causal conv's padding and
    convolution) keeps its last row, which carries the module's field."""
    out: list[Layer] = []
    for layer in data.layers:
        name = module_path(layer.name)
        if out and module_path(out[-1].name) == name:
            out[-1] = layer
        else:
            out.append(layer)
    return out


def _ticks(values: np.ndarray, limit: int) -> list[int]:
    """At most ``limit`` row indices to label, at least ``len / limit`` rows apart so that labels never touch:
    the rows where the running maximum grows most first, then the first and the last row where they fit."""
    n = len(values)
    gap = max(1, math.ceil(n / limit))
    ratio = [values[i] / values[i - 1] if i and values[i - 1] > 0 else 1.0 for i in range(n)]
    order = [*sorted((i for i in range(n) if ratio[i] > 1), key=lambda i: (-ratio[i], i)), 0, n - 1]
    chosen: list[int] = []
    for i in order:
        if i not in chosen and all(abs(i - j) >= gap for j in chosen) and len(chosen) < limit:
            chosen.append(i)
    return sorted(chosen)


def growth_figure(data: ReportData) -> str:
    """Receptive field after every layer (by module path, graph order), per axis, on a log scale.

    Grey dots: the field of each layer's own path; the line: the largest field reached so far (the maximum over
    paths, so it never steps down at a shortcut); dashed: the jump (stride in input samples); dotted: the input
    size. Axes with equal values share one curve.
    """
    with _style():
        return _svg(_draw_growth(data))


def _draw_growth(data: ReportData) -> Any:
    rows = _rows(data)
    if not rows:
        raise ConfigError("growth_figure: the report has no layer table (the model could not be traced)")
    sizes = np.array([r.rf for r in rows], dtype=float)
    jumps = np.array([r.jump for r in rows], dtype=float)
    names = _axis_names(sizes.shape[1])
    series: list[tuple[str, int]] = []
    for a, name in enumerate(names):
        twin = next((i for i, (_, b) in enumerate(series) if np.array_equal(sizes[:, a], sizes[:, b])
                     and np.array_equal(jumps[:, a], jumps[:, b])), None)
        if twin is None:
            series.append((name, a))
        else:
            series[twin] = (series[twin][0] + " = " + name, series[twin][1])
    limit = 36
    with _style():
        fig = _new(10.0, 4.8)
        ax = fig.add_subplot()
        x = np.arange(len(rows))
        colors = ["#4c72b0", "#dd8452", "#55a868"]
        for (label, a), color in zip(series, colors):
            running = np.maximum.accumulate(sizes[:, a])
            tag = f" ({label})" if len(series) > 1 or label != "L" else ""
            ax.plot(x, sizes[:, a], ".", color="#9a9a9a", ms=3.5,
                    label="field of each layer's own path" + tag if a == series[0][1] else None)
            edges = np.arange(len(rows) + 1) - 0.5  # each layer's value spans its own slot on the x axis
            ax.stairs(running, edges, baseline=None, color=color, lw=1.8,
                      label=f"largest field so far, max over paths{tag}")
            ax.stairs(jumps[:, a], edges, baseline=None, color=color, lw=1.0, ls="--", label=f"jump (stride){tag}")
            if data.input_shape and len(data.input_shape) == 2 + sizes.shape[1]:
                n = data.input_shape[2 + a]
                ax.axhline(n, color=color, ls=":", lw=1.0, label=f"input size {n}{tag}")
        ax.set_yscale("log")
        ax.set_ylabel("samples (log scale)")
        ticks = _ticks(np.maximum.accumulate(sizes.max(axis=1)), limit)
        ax.set_xticks(ticks, [layer_label(rows[i].name, rows[i].op) for i in ticks], rotation=90, fontsize=_TEXT)
        ax.set_xlim(-0.5, len(rows) - 0.5)
        ax.grid(True, which="major", alpha=0.3)
        ax.set_xlabel(f"layer (module path, graph order; {len(ticks)} of {len(rows)} labelled, where the field "
                      "grows most)")
        ax.legend(loc="upper left", ncols=2 if len(series) > 1 else 1)
        ax.set_title("Receptive-field growth", loc="left")
        return fig


# --------------------------------------------------------------------------------------------------- support


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of the runs of True in a 1-D mask."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(s), int(e - s)) for s, e in zip(starts, ends)]


def support_figure(data: ReportData) -> str:
    """Which inputs output 0 of the described node reads: path counts (log scale), holes in red.

    The title says how many cells of the field's box are never read and what share is read (the coverage).
    3-D supports are cut through the middle along D.
    """
    with _style():
        return _svg(_draw_support(data))


def _draw_support(data: ReportData) -> Any:
    counts, origin = data.support, data.support_origin
    if counts is None or origin is None:
        raise ConfigError("support_figure: the report has no support map (data.support is None)")
    holes = int((counts == 0).sum())
    read = counts.size - holes
    box = f"{counts.size}-sample" if counts.ndim == 1 else "×".join(str(n) for n in counts.shape)
    field = data.field
    causal = field is not None and field.causal
    node = module_path(data.node)
    head = "Support of output 0" + ("" if node == "output" else f" of {node}")
    tail = f"{holes} holes (red); {read / counts.size:.1%} of the {box} field is read ({read} inputs)"
    with _style():
        import matplotlib

        if counts.ndim == 1:
            fig = _new(9.0, 3.0)
            ax = fig.add_subplot()
            x = np.arange(counts.size) + origin[0]
            # long supports (thousands of samples) are drawn as raster inside the SVG, which stays small
            raster = counts.size > _VECTOR_SAMPLES
            logs = np.log10(np.maximum(counts, 1)) * (counts > 0)
            ax.fill_between(x, logs, step="mid", color="#3b6ea8", lw=0, label="log10(paths)", rasterized=raster)
            ax.step(x, logs, where="mid", color="#1d3f66", lw=0.8, rasterized=raster)
            runs = _runs(counts == 0)
            if runs:
                top = max(float(np.log10(max(counts.max(), 1))), 0.3)
                ax.broken_barh([(origin[0] + s - 0.5, n) for s, n in runs], (-0.06 * top, 0.06 * top),
                               color=_HOLE, label=f"holes ({holes})", rasterized=len(runs) > _VECTOR_SAMPLES // 4)
                ax.legend(loc="upper left")
            ax.set_xlim(origin[0] - 0.5, origin[0] + counts.size - 0.5)
            ax.set_xlabel("input offset from output 0" + (" (negative: past)" if causal else ""))
            ax.set_ylabel("log10(path count)")
            ax.grid(True, alpha=0.3)
        else:
            cut = ""
            if counts.ndim == 3:  # the middle slice of a 3-D support
                mid = counts.shape[0] // 2
                cut = f"; slice D = {origin[0] + mid}"
                counts, origin = counts[mid], origin[1:]
            fig = _new(6.4, 5.6)
            ax = fig.add_subplot()
            img = np.ma.masked_where(counts == 0, np.log10(np.maximum(counts, 1)))
            cmap = matplotlib.colormaps["viridis"].with_extremes(bad=_HOLE)
            extent = (origin[1] - 0.5, origin[1] + counts.shape[1] - 0.5, origin[0] + counts.shape[0] - 0.5,
                      origin[0] - 0.5)
            shown = ax.imshow(img, cmap=cmap, extent=extent, interpolation="nearest")
            fig.colorbar(shown, ax=ax, label="log10(path count)", shrink=0.85)
            ax.set_xlabel("input offset from output 0 (W)")
            ax.set_ylabel("input offset from output 0 (H)")
            tail += cut
        fig.suptitle(f"{head}\n{tail}")
        return fig


# --------------------------------------------------------------------------------------------------- timeline


def timeline_figure(data: ReportData) -> str:
    """1-D stacks: one row per layer (module path, graph order) with the input samples its kernel taps reach
    for output 0, relative to the newest input that output reads (causal) or to its field's centre.

    The bar behind the taps is the field accumulated up to that layer; the dashed line marks the lookback
    (and the lookahead, when the stack reads future samples). Pointwise layers (kernel 1) are left out.
    """
    with _style():
        return _svg(_draw_timeline(data))


def _draw_timeline(data: ReportData) -> Any:
    field = data.field
    if field is None or field.dims != 1:
        raise ConfigError("timeline_figure: draws 1-D stacks only (the report's field is "
                          + ("missing" if field is None else f"{field.dims}-D") + ")")
    rows = [r for r in _rows(data) if r.kernel[0] > 1]
    if not rows:
        raise ConfigError("timeline_figure: the stack has no layer with a kernel wider than 1")
    total = len(rows)
    if total > MAX_TIMELINE_ROWS:
        pick = sorted(set(np.linspace(0, total - 1, MAX_TIMELINE_ROWS).round().astype(int)))
        rows = [rows[i] for i in pick]
    causal = field.causal
    # a causal stack is drawn against the lag behind output 0's newest input (the past to the left, as in the
    # ERF figure); any other against the position relative to the centre of output 0's field
    ref = field.start[0] + field.size[0] - 1 if causal else field.start[0] + (field.size[0] - 1) / 2
    sign = -1.0 if causal else 1.0
    with _style():
        fig = _new(10.0, min(1.6 + 0.22 * len(rows), 20.0))
        ax = fig.add_subplot()
        for i, r in enumerate(rows):
            k = r.kernel[0]
            step = r.dilation[0] * r.jump[0] / r.stride[0]  # the dilation in input samples
            half = (r.rf[0] - 1) / 2
            # the unit of this layer that output 0 reads at its newest input (causal) or centre: the layer's
            # output 0 shifted by a whole number of its own jumps (not the same unit where borders are cropped)
            anchor = r.offset[0] + (half if causal else 0.0)
            shift = round((ref - anchor) / r.jump[0]) * r.jump[0] if r.jump[0] > 0 else 0.0
            centre = r.offset[0] + shift - ref
            if causal:  # a unit's time is its newest input: the taps end there
                taps = centre + half - (k - 1 - np.arange(k)) * step
            else:
                taps = centre + (np.arange(k) - (k - 1) / 2) * step
            lo, hi = sorted((sign * (centre - half - 0.5), sign * (centre + half + 0.5)))
            ax.barh(i, hi - lo, left=lo, height=0.62, color="#dbe6f3", lw=0)
            ax.plot(sign * taps, np.full(k, i), "o", ms=3.2, color="#1d3f66")
            ax.plot(sign * taps[[0, -1]], [i, i], color="#1d3f66", lw=0.6)
        labels = [f"{layer_label(r.name, r.op)}  k={r.kernel[0]} d={r.dilation[0]}"
                  + (f" s={r.stride[0]}" if r.stride[0] > 1 else "") for r in rows]
        ax.set_yticks(range(len(rows)), labels, fontsize=_TEXT)
        ax.set_ylim(len(rows) - 0.4, -0.6)
        if causal and field.lookback is not None:
            ax.axvline(field.lookback[0], color=_HOLE, ls="--", lw=1.1, label=f"lookback {field.lookback[0]}")
        elif not causal:
            edge = (field.size[0] - 1) / 2
            ax.axvline(-edge, color=_HOLE, ls="--", lw=1.1, label=f"edges of the {field.size[0]}-sample field")
            ax.axvline(edge, color=_HOLE, ls="--", lw=1.1)
        ax.axvline(0, color="#333333", lw=0.8)
        ax.grid(True, axis="x", alpha=0.3)
        if causal:
            from matplotlib.ticker import MaxNLocator

            ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
            ax.invert_xaxis()
            ax.set_xlabel("lag: samples behind output 0's newest input (the past is to the left)")
        else:
            ax.set_xlabel("input samples relative to the centre of output 0's field")
        shown = "" if total == len(rows) else f"; {len(rows)} of {total} layers shown"
        ax.set_title(f"Taps per layer (dots) and the field so far (bar){shown}", loc="left")
        ax.legend(loc="lower left" if causal else "lower right")
        return fig
