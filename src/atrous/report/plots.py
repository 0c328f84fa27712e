"""The report's figures, drawn with matplotlib (imported here, inside functions only) as SVG text."""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np

from atrous.errors import ConfigError
from atrous.report.data import ReportData

__all__ = ["erf_figure", "frequency_figure", "growth_figure", "support_figure"]

_AXIS = ("H", "W", "D")


def _plt() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ConfigError("atrous report needs matplotlib: pip install 'atrous[report]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    _plt().close(fig)
    return buf.getvalue()


def _axis_names(dims: int) -> list[str]:
    return ["L"] if dims == 1 else list(("D", "H", "W")[3 - dims:])


def growth_figure(data: ReportData) -> str:
    """Receptive-field size after every traced node, per axis (log scale)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    sizes = np.array([g[2] for g in data.growth], dtype=float)
    for a, name in enumerate(_axis_names(sizes.shape[1])):
        ax.step(np.arange(1, len(sizes) + 1), sizes[:, a], where="post", label=f"axis {name}")
    ax.set_yscale("log")
    ax.set_xlabel("traced node (graph order)")
    ax.set_ylabel("receptive field (samples)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left")
    ax.set_title("Receptive-field growth")
    return _svg(fig)


def support_figure(data: ReportData) -> str:
    """Which inputs one output unit reads (path counts, log scale), holes marked."""
    plt = _plt()
    counts = data.support
    assert counts is not None and data.support_origin is not None
    origin = data.support_origin
    if counts.ndim == 1:
        fig, ax = plt.subplots(figsize=(7.5, 2.4))
        x = np.arange(counts.size) + origin[0]
        ax.bar(x, np.log10(counts + 1), width=1.0, color="#3b6ea8")
        holes = x[counts == 0]
        ax.plot(holes, np.zeros_like(holes), "|", color="#d62728", markersize=12, label=f"holes ({holes.size})")
        ax.set_xlabel("input offset from output 0")
        ax.set_ylabel("log10(paths + 1)")
        if holes.size:
            ax.legend(loc="upper right")
    else:
        if counts.ndim == 3:  # the central slice of a 3-D support
            counts = counts[counts.shape[0] // 2]
            origin = origin[1:]
        fig, ax = plt.subplots(figsize=(5.2, 4.6))
        img = np.ma.masked_where(counts == 0, np.log10(counts + 1))
        cmap = plt.get_cmap("viridis").with_extremes(bad="#d62728")
        extent = (origin[1] - 0.5, origin[1] + counts.shape[1] - 0.5, origin[0] + counts.shape[0] - 0.5,
                  origin[0] - 0.5)
        shown = ax.imshow(img, cmap=cmap, extent=extent, interpolation="nearest")
        fig.colorbar(shown, ax=ax, label="log10(paths + 1)")
        ax.set_xlabel("input offset (W)")
        ax.set_ylabel("input offset (H)")
    holes = int((counts == 0).sum())
    ax.set_title(f"Support of output 0: {holes} holes (red) in {counts.size} cells")
    return _svg(fig)


def erf_figure(data: ReportData) -> str:
    """The measured ERF with its Gaussian fit and the theoretical box, beside the data-free path counts."""
    plt = _plt()
    e = data.erf
    assert e is not None
    m = e.map / e.map.sum()
    panels = [("measured ERF", m)] + ([("data-free (path counts)", data.data_free)]
                                      if data.data_free is not None else [])
    if m.ndim == 1:
        fig, ax = plt.subplots(figsize=(7.5, 3.0))
        x = np.arange(m.size)
        ax.plot(x, m, lw=1.2, label=f"measured ERF ({e.samples} samples)")
        if data.data_free is not None:
            ax.plot(x, data.data_free, lw=1.0, ls="--", label="data-free path counts")
        fit = e.fits[0]
        ax.plot(x, fit.amplitude * np.exp(-0.5 * ((x - fit.center) / fit.sigma) ** 2), lw=0.8, color="k",
                label=f"Gaussian fit: centre {fit.center:.1f}, sigma {fit.sigma:.1f}, R² {fit.r2:.3f}")
        if data.box is not None:
            start, size = data.box[0][0], data.box[1][0]
            ax.axvspan(start - 0.5, start + size - 0.5, color="#ff7f0e", alpha=0.12, label="theoretical RF")
        ax.set_xlabel("input position")
        ax.set_ylabel("share of gradient")
        ax.legend(loc="upper right", fontsize=7)
        ax.set_title(f"Effective receptive field of {e.node} unit {list(e.unit)}")
        return _svg(fig)
    if m.ndim == 3:
        mid = round(e.center[0])
        panels = [(t, p[min(max(mid, 0), p.shape[0] - 1)]) for t, p in panels]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.4), squeeze=False, layout="constrained")
    from matplotlib.patches import Ellipse, Rectangle

    fits = e.fits[-2:]
    for ax, (title, img) in zip(axes[0], panels):
        shown = ax.imshow(img, cmap="magma", interpolation="nearest")
        fig.colorbar(shown, ax=ax, shrink=0.85)
        if data.box is not None:
            (y0, x0), (hy, wx) = data.box[0][-2:], data.box[1][-2:]
            ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), wx, hy, fill=False, ec="#4fc3f7", lw=1.2, ls="--"))
        for k in (1, 2):
            ax.add_patch(Ellipse((fits[1].center, fits[0].center), 2 * k * fits[1].sigma, 2 * k * fits[0].sigma,
                                 fill=False, ec="#7CFC00", lw=1.0))
        ax.set_xlim(-0.5, img.shape[1] - 0.5)
        ax.set_ylim(img.shape[0] - 0.5, -0.5)
        ax.set_title(title)
        ax.set_xlabel("W")
        ax.set_ylabel("H")
    fig.suptitle(f"{e.node} unit {list(e.unit)}: Gaussian 1σ/2σ (green), theoretical RF (dashed blue)")
    return _svg(fig)


def frequency_figure(data: ReportData) -> str:
    """|H(ω)| of the linearised stack and of each dilated layer, per axis, with cut-off and Nyquist lines."""
    plt = _plt()
    freqs = data.frequency
    fig, axes = plt.subplots(1, len(freqs), figsize=(6.0 * len(freqs), 3.2), squeeze=False)
    names = _axis_names(len(freqs))
    for ax, f in zip(axes[0], freqs):
        w = f.omega / math.pi
        for name, kernel, rate, mag in f.layers[:10]:
            ax.plot(w, mag, lw=0.7, alpha=0.6, label=f"{name} (k={kernel}, rate {rate})")
        ax.plot(w, f.stack, lw=2.0, color="k", label="whole stack")
        if f.cutoff is not None:
            ax.axvline(f.cutoff / math.pi, color="#2ca02c", ls="--", lw=1, label="stack -3 dB")
        if f.stride > 1:
            ax.axvline(1 / f.stride, color="#d62728", ls=":", lw=1, label=f"Nyquist after stride {f.stride:g}")
        ax.set_xlabel("frequency (× π rad/sample)")
        ax.set_ylabel("|H|")
        ax.set_xlim(0, 1)
        ax.set_title(f"axis {names[f.axis]}: gridding risk {f.verdict}")
        ax.legend(fontsize=6, loc="upper right")
    return _svg(fig)
