"""Two reports side by side on the same scales: ``atrous report A B`` (two models, two schedules, or a run's
initial and trained weights)."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

from atrous._version import __version__
from atrous.report.data import ReportData
from atrous.report.html import render_fragment
from atrous.report.sections import axes, e

__all__ = ["compare_dict", "compare_figure", "compare_rows", "render_compare"]


def _erf_width(d: ReportData) -> str:
    return axes(d.erf.width()) if d.erf is not None else "not measured"


def compare_rows(a: ReportData, b: ReportData) -> list[tuple[str, str, str]]:
    """(quantity, A, B) for the numbers both reports have."""
    rows: list[tuple[str, str, str]] = [("input", axes(a.input_shape), axes(b.input_shape))]
    fa, fb = a.field, b.field
    if fa is not None and fb is not None:
        rows += [
            ("analysed node", fa.node, fb.node),
            ("receptive field", axes(fa.size) + (" + global" if fa.is_global else ""),
             axes(fb.size) + (" + global" if fb.is_global else "")),
            ("stride (jump)", axes(fa.stride), axes(fb.stride)),
            ("inputs read", f"{fa.taps} ({fa.coverage:.1%})", f"{fb.taps} ({fb.coverage:.1%})"),
            ("never read (holes)", str(fa.holes), str(fb.holes)),
            ("HDC", "passes" if fa.hdc_ok else "fails", "passes" if fb.hdc_ok else "fails"),
            ("largest dilation", str(a.max_dilation), str(b.max_dilation)),
        ]
        if fa.lookback is not None and fb.lookback is not None and fa.dims == 1 and fb.dims == 1:
            rows.append(("lookback / lookahead", f"{axes(fa.lookback)} / {axes(fa.lookahead or ())}",
                         f"{axes(fb.lookback)} / {axes(fb.lookahead or ())}"))
    rows.append(("ERF: 95% mass width", _erf_width(a), _erf_width(b)))
    if a.erf is not None and b.erf is not None:
        rows.append(("ERF: samples", str(a.erf.samples), str(b.erf.samples)))
    rows.append(("parameters of the run", _run(a), _run(b)))
    return rows


def _run(d: ReportData) -> str:
    r = d.run
    if r is None:
        return "—"
    return f"{r.task}, epoch {r.epoch}" + (f" ({r.metric})" if r.metric else "")


def _marginals(d: ReportData) -> list[np.ndarray]:
    assert d.erf is not None
    m = np.asarray(d.erf.map, dtype=float)
    total = m.sum()
    m = m / total if total > 0 else m
    return [m.sum(axis=tuple(k for k in range(m.ndim) if k != a)) for a in range(m.ndim)]


def compare_figure(a: ReportData, b: ReportData, labels: tuple[str, str]) -> str | None:
    """Per axis, both ERFs' marginals (share of the gradient per input position) on one set of axes, and the
    receptive-field growth of both by depth; SVG text, or None when neither has anything to draw."""
    from matplotlib.figure import Figure

    panels: list[tuple[str, Any]] = []
    if a.erf is not None and b.erf is not None and a.erf.map.ndim == b.erf.map.ndim:
        for axis, (ma, mb) in enumerate(zip(_marginals(a), _marginals(b))):
            panels.append((f"ERF marginal, axis {axis}", (ma, mb)))
    if a.growth and b.growth:
        panels.append(("receptive-field growth", None))
    if not panels:
        return None
    fig = Figure(figsize=(5.0 * len(panels), 3.4), layout="constrained")
    for ax, (title, pair) in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels):
        if pair is not None:
            for m, label, style in zip(pair, labels, ("-", "--")):
                ax.plot(np.arange(m.size), m, style, lw=1.4, label=label)
            ax.set_xlabel("input position")
            ax.set_ylabel("share of the gradient")
        else:
            for d, label, style in zip((a, b), labels, ("-", "--")):
                sizes = np.maximum.accumulate(np.array([max(g[2]) for g in d.growth], dtype=float))
                ax.step(np.arange(1, sizes.size + 1), sizes, style, where="post", label=label)
            ax.set_yscale("log")
            ax.set_xlabel("depth (traced nodes in graph order)")
            ax.set_ylabel("largest RF so far (samples)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def render_compare(a: ReportData, b: ReportData) -> str:
    """One self-contained page: a table of both reports' numbers, shared-scale figures, then both reports."""
    labels = (f"A: {a.source}", f"B: {b.source}")
    head = "".join(f"<th>{e(t)}</th>" for t in ("", *labels))
    body = "".join(f"<tr><th>{e(k)}</th><td>{e(x)}</td><td>{e(y)}</td></tr>" for k, x, y in compare_rows(a, b))
    svg = compare_figure(a, b, labels)
    figure = "" if svg is None else (
        '<figure><img src="data:image/svg+xml;base64,' + base64.b64encode(svg.encode()).decode()
        + '" alt="both reports on the same scales"><figcaption>Both effective receptive fields as shares of '
        "their gradient per input position (same axes), and the largest receptive field reached by each depth."
        "</figcaption></figure>")
    width = max(a.input_shape[2:] + b.input_shape[2:], default=1)
    note = "" if a.input_shape == b.input_shape else (
        f'<p class="warn">The two reports use different inputs ({e(axes(a.input_shape))} and '
        f"{e(axes(b.input_shape))}): positions are compared on axes of up to {width} samples.</p>")
    title = e(f"atrous report: {a.source} vs {b.source}")
    style = ("body{margin:2rem auto;padding:0 1rem;max-width:1200px;font-family:system-ui,sans-serif;color:#1d2330}"
             "table.cmp{border-collapse:collapse}table.cmp td,table.cmp th{border:1px solid #dde;padding:.25rem .6rem;"
             "text-align:left}table.cmp th{background:#f3f5fa}.warn{color:#a05a00;font-weight:600}"
             "img{max-width:100%;height:auto}figcaption{color:#556;font-size:.9rem}"
             ".side{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:1.5rem}"
             ".side>div{min-width:0}")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<style>{style}</style></head><body>\n<h1>{title}</h1>"
            f'<p>atrous {e(__version__)}</p>{note}<table class="cmp"><tr>{head}</tr>{body}</table>{figure}'
            f'<div class="side"><div>{render_fragment(a)}</div><div>{render_fragment(b)}</div></div>'
            "\n</body></html>\n")


def compare_dict(a: ReportData, b: ReportData) -> dict[str, Any]:
    """The ``atrous report A B --json`` object: both report objects, in order."""
    return {"compare": [a.as_dict(), b.as_dict()], "same_input": a.input_shape == b.input_shape}
