"""One self-contained HTML page: tables, advice and inline SVG figures (no scripts, no network)."""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from typing import Any

from atrous._version import __version__
from atrous.report.data import ReportData
from atrous.report.plots import erf_figure, frequency_figure, growth_figure, support_figure

__all__ = ["render_html"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;
     color:#1d2330;line-height:1.45;padding:0 1rem}
h1{font-size:1.5rem;margin-bottom:.2rem} h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #dde}
.sub{color:#667;margin-top:0} table{border-collapse:collapse;margin:.5rem 0}
td,th{border:1px solid #dde;padding:.25rem .6rem;text-align:left;font-variant-numeric:tabular-nums}
th{background:#f3f5fa} .bad{color:#b3261e;font-weight:600} .ok{color:#1b7a3a;font-weight:600}
.warn{color:#a05a00;font-weight:600} figure{margin:.8rem 0} img{max-width:100%;height:auto}
figcaption{color:#556;font-size:.9rem} ul.advice li{margin:.3rem 0} code{background:#f3f5fa;padding:0 .2rem}
"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _axes(values: Any) -> str:
    return " × ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


def _table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _figure(draw: Callable[[ReportData], str], data: ReportData, alt: str, caption: str) -> str:
    svg = draw(data)
    uri = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
    return f'<figure><img src="{uri}" alt="{_e(alt)}"><figcaption>{_e(caption)}</figcaption></figure>'


def _verdict(ok: bool | None, yes: str, no: str) -> str:
    if ok is None:
        return '<span class="warn">unknown</span>'
    return f'<span class="ok">{_e(yes)}</span>' if ok else f'<span class="bad">{_e(no)}</span>'


def _summary(data: ReportData) -> str:
    s = data.summary
    if s is None:
        return f'<p class="bad">The model could not be traced: {_e(data.analysis_error)}</p>'
    part = s["last_spatial"] if s["rf"]["global"] and "last_spatial" in s else s
    rf, sup, grid = part["rf"], part["support"], part["gridding"]
    rows = [
        ("analysed node", _e(part.get("node", s.get("graph_node", "output")))),
        ("receptive field", _e(_axes(rf["size"])) + (" (+ global path at the output)" if s["rf"]["global"] else "")),
        ("stride (jump)", _e(_axes(rf["stride"]))),
        ("centre of output 0", _e(_axes(rf["offset"]))),
        ("coverage", f"{sup['taps']} inputs read, {sup['holes']} holes ({sup['coverage']:.1%})"),
        ("alignment", _verdict(s.get("aligned"), "all merges aligned", "misaligned merges")),
        ("HDC verdict", _verdict(grid["hdc_ok"], "passes", "fails")),
    ]
    border = s.get("gridding", {}).get("border_layers")
    if border:
        rows.append(("border layers", _e(", ".join(border))))
    return _table(rows)


def _erf_tables(data: ReportData) -> str:
    e = data.erf
    if e is None:
        return f'<p class="warn">The ERF was not measured: {_e(data.erf_error or "disabled (--no-erf)")}</p>'
    d = e.as_dict(data.box[1] if data.box else None)
    rows = [
        ("node, unit", _e(f"{e.node}, {list(e.unit)} of {list(e.output_size)}")),
        ("samples", _e(e.samples)),
        ("Gaussian centre", _e(_axes(round(c, 2) for c in e.center))),
        ("Gaussian σ", _e(_axes(round(s, 2) for s in e.sigma))),
        ("fit R²", _e(_axes(round(r, 4) for r in e.r2))),
        ("95% mass width", _e(_axes(d["width95"]))),
    ]
    if "erf_trf" in d:
        rows.append(("ERF / TRF (95% width)", _e(_axes(d["erf_trf"]))))
    ratios = ", ".join(f"t={t}: " + ("not reached" if v is None else f"{100 * v:.2f}%")
                       for t, v in d["area_ratio"].items())
    rows.append(("area ratio (RepLKNet)", _e(ratios)))
    rows.append(("radial mass", _e(", ".join(f"r≤{r}: {v:.0%}" for r, v in d["radial_mass"].items()))))
    return _table(rows)


def _frequency_table(data: ReportData) -> str:
    rows = []
    for f in data.frequency:
        cut = "none (passes all)" if f.cutoff is None else f"{f.cutoff:.4f} rad/sample"
        rows.append((f"axis {f.axis}", f"cut-off {_e(cut)}; stride {f.stride:g}; alias-free stride "
                     f"{_e(f.alias_free_stride)}; aliased energy {f.aliased_energy:.1%}; gridding risk "
                     f"<b>{_e(f.verdict)}</b> ({_e(f.why)})"))
    return _table(rows)


def render_html(data: ReportData) -> str:
    """The whole report as one HTML string."""
    parts = [f"<h1>atrous report: {_e(data.source)}</h1>",
             f'<p class="sub">input {_e(_axes(data.input_shape))} · atrous {_e(__version__)}</p>',
             "<h2>Summary</h2>", _summary(data),
             "<h2>Recommendations</h2>", '<ul class="advice">'
             + "".join(f"<li>{_e(a)}</li>" for a in data.advice) + "</ul>"]
    if data.growth:
        parts += ["<h2>Receptive-field growth</h2>",
                  _figure(growth_figure, data, "receptive field per layer",
                          "Receptive-field size after each traced node, per spatial axis.")]
    if data.support is not None:
        parts += ["<h2>Support and holes</h2>",
                  _figure(support_figure, data, "support map",
                          "Path counts from each input offset to output 0 of the analysed node; red cells "
                          "inside the box are never read.")]
    parts += ["<h2>Effective receptive field</h2>", _erf_tables(data)]
    if data.erf is not None:
        parts.append(_figure(erf_figure, data, "effective receptive field",
                             "Mean absolute input gradient of one output unit, with the fitted Gaussian and the "
                             "theoretical receptive field; the data-free panel shows the path counts of the "
                             "linearised uniform-weight network."))
    if data.frequency:
        parts += ["<h2>Frequency response</h2>", _frequency_table(data),
                  _figure(frequency_figure, data, "frequency responses",
                          "|H(ω)| of each dilated layer (uniform kernel at its rate in input samples) and of "
                          "the whole linearised stack.")]
    notes = (data.summary or {}).get("notes", [])
    if notes:
        parts += ["<h2>Notes</h2>", "<ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>"]
    body = "\n".join(parts)
    title = _e(f"atrous report: {data.source}")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<style>{_CSS}</style></head><body>\n{body}\n</body></html>\n")

