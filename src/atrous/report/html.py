"""The report as HTML: one self-contained page (inline CSS, script, data and SVG figures; no network).

``render_fragment(data)`` is the part a notebook shows inline (``_repr_html_``); ``render_html(data)`` wraps it in a
document. The interactive explorer (pick a node and an output unit, see the inputs it reads) is ``page.js`` over the
data of :mod:`atrous.report.explorer`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from importlib import resources

from atrous._version import __version__
from atrous.report.data import ReportData
from atrous.report.sections import (
    axes,
    e,
    erf_table,
    frequency_table,
    layer_table,
    run_table,
    summary_table,
)

__all__ = ["render_fragment", "render_html"]

_CSS = """
.atrous-report{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1d2330;line-height:1.45;
  max-width:1100px;margin:0 auto}
.atrous-report h1{font-size:1.5rem;margin-bottom:.2rem}
.atrous-report h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #dde}
.atrous-report .sub{color:#667;margin-top:0}
.atrous-report table{border-collapse:collapse;margin:.5rem 0}
.atrous-report td,.atrous-report th{border:1px solid #dde;padding:.25rem .6rem;text-align:left;
  font-variant-numeric:tabular-nums;vertical-align:top}
.atrous-report th{background:#f3f5fa}
.atrous-report .bad{color:#b3261e;font-weight:600} .atrous-report .ok{color:#1b7a3a;font-weight:600}
.atrous-report .warn{color:#a05a00;font-weight:600}
.atrous-report figure{margin:.8rem 0} .atrous-report img{max-width:100%;height:auto}
.atrous-report figcaption{color:#556;font-size:.9rem}
.atrous-report code{background:#f3f5fa;padding:0 .2rem;overflow-wrap:anywhere}
.atrous-report .scroll{max-height:28rem;overflow:auto;border:1px solid #dde}
.atrous-report table.layers{margin:0;font-size:.85rem;width:100%}
.atrous-report table.layers thead th{position:sticky;top:0}
.atrous-report table.layers tr[data-node]{cursor:pointer}
.atrous-report table.layers tr[data-node]:hover td{background:#eef4fc}
.atrous-report .explore{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}
.atrous-report .controls{flex:1 1 260px;min-width:240px;max-width:340px}
.atrous-report .controls select,.atrous-report .controls input{width:100%;box-sizing:border-box}
.atrous-report .controls label{display:block;margin:.5rem 0 .2rem;font-size:.9rem;color:#445}
.atrous-report .panel{flex:2 1 420px;min-width:300px}
.atrous-report canvas{border:1px solid #cfd5e3;max-width:100%;image-rendering:pixelated;display:block}
.atrous-report canvas.atrous-output{cursor:crosshair}
.atrous-report .atrous-info{font-size:.9rem;margin-top:.5rem;overflow-wrap:anywhere}
.atrous-report .notes li{color:#5a4a00}
"""

_NO_SCRIPT = ("<noscript><p class=\"warn\">The explorer needs JavaScript; the tables and figures below do "
              "not.</p></noscript>")


def _figure(draw: Callable[[ReportData], str], data: ReportData, alt: str, caption: str) -> str:
    svg = draw(data)
    uri = "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()
    return f'<figure><img src="{uri}" alt="{e(alt)}"><figcaption>{e(caption)}</figcaption></figure>'


def _root_id(data: ReportData) -> str:
    digest = hashlib.sha1(f"{data.source}{data.input_shape}{id(data)}".encode()).hexdigest()[:10]
    return f"atrous-{digest}"


def _explorer(data: ReportData) -> str:
    if data.explorer is None or not data.explorer.nodes:
        return ""
    payload = json.dumps(data.explorer.as_json(), separators=(",", ":")).replace("</", "<\\/")
    dims = data.explorer.dims
    width = 560 if dims > 1 else 900
    height = 560 if dims > 1 else 80
    if dims > 1:  # keep the input's aspect ratio
        h, w = data.explorer.input_size[-2:]
        height = max(60, round(width * h / max(w, 1)))
    out_h = 240 if dims > 1 else 40
    out_w = 240 if dims > 1 else 900
    unit = ('<label>output unit (newest sample on the right)</label><input type="range" class="atrous-unit" min="0">'
            if dims == 1 else '<input type="range" class="atrous-unit" min="0" hidden>')
    return f"""
<h2>Explore: which inputs does one output unit read?</h2>
<p class="sub">Pick a node (or click a row of the layer table), then an output unit; the panel shows exactly the inputs
that unit reads, coloured by the number of paths (log scale), its never-read holes in red and its field's box in
blue. The layer slider walks through the network at the same place of the input, so the field grows.</p>
{_NO_SCRIPT}
<script type="application/json" class="atrous-data">{payload}</script>
<div class="explore atrous-explore">
  <div class="controls">
    <label>node</label><select class="atrous-node"></select>
    <label>layer slider (graph order)</label><input type="range" class="atrous-slider" min="0" value="0">
    <label class="atrous-outlabel"></label>
    <canvas class="atrous-output" width="{out_w}" height="{out_h}"></canvas>
    {unit}
  </div>
  <div class="panel">
    <canvas class="atrous-input" width="{width}" height="{height}"></canvas>
    <div class="atrous-info"></div>
  </div>
</div>"""


def _script(root: str, data: ReportData) -> str:
    if data.explorer is None or not data.explorer.nodes:
        return ""
    code = resources.files("atrous.report").joinpath("page.js").read_text(encoding="utf-8")
    return f"<script>{code}\natrousPage({json.dumps(root)});</script>"


def _figures(data: ReportData) -> list[str]:
    from atrous.report import plots

    parts = []
    f = data.field
    if f is not None and f.dims == 1 and data.layers:
        parts += ["<h2>Taps per layer</h2>",
                  _figure(plots.timeline_figure, data, "taps per layer",
                          "Each layer's taps relative to the newest output sample, the field accumulated so far, "
                          "and the lookback.")]
    if data.growth:
        parts += ["<h2>Receptive-field growth</h2>",
                  _figure(plots.growth_figure, data, "receptive field per layer",
                          "The largest receptive field reached so far (over every path) after each layer, by module "
                          "path; grey dots are each layer's own path, dashed the jump.")]
    parts += ["<h2>Effective receptive field</h2>", erf_table(data)]
    if data.erf is not None:
        caption = ("Mean absolute input gradient of one output unit (share of its peak), with the theoretical "
                   "receptive field; the data-free panel shows the path counts of the linearised uniform-weight "
                   "network.")
        notes = plots.erf_notes(data)
        parts.append(_figure(plots.erf_figure, data, "effective receptive field",
                             " ".join([caption, *notes])))
    if data.frequency:
        parts += ["<h2>Frequency response</h2>", frequency_table(data),
                  _figure(plots.frequency_figure, data, "frequency responses",
                          "|H(ω)| in dB over log frequency: the dilated layers (uniform kernel at their rate in input "
                          "samples, one curve per kernel and rate, or their min–max envelope) and the whole "
                          "linearised stack.")]
    return parts


def render_fragment(data: ReportData) -> str:
    """The report as one ``<div>`` with its own style and script (what a notebook shows inline)."""
    root = _root_id(data)
    run = data.run
    sub = f"input {e(axes(data.input_shape))} · atrous {e(__version__)}"
    if run is not None:
        sub += f" · trained: {e(run.task)}" + (f", epoch {run.epoch}" if run.epoch is not None else "")
    parts = [f"<h1>atrous report: {e(data.source)}</h1>", f'<p class="sub">{sub}</p>']
    if run is not None:
        parts += ["<h2>Training run</h2>", run_table(data)]
    parts += ["<h2>Summary</h2>", summary_table(data)]
    if data.notes:
        parts += ["<h2>Notes from the model</h2>",
                  '<ul class="notes">' + "".join(f"<li>{e(n)}</li>" for n in data.notes) + "</ul>"]
    parts += ["<h2>Recommendations</h2>",
              '<ul class="advice">' + "".join(f"<li>{e(a)}</li>" for a in data.advice) + "</ul>"]
    parts.append(_explorer(data))
    if data.layers:
        parts += ["<h2>Layers</h2>", layer_table(data)]
    parts += _figures(data)
    notes = (data.summary or {}).get("notes", [])
    if notes:
        parts += ["<h2>Analysis notes</h2>", "<ul>" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>"]
    body = "\n".join(p for p in parts if p)
    return (f'<div class="atrous-report" id="{root}"><style>{_CSS}</style>\n{body}\n{_script(root, data)}</div>')


def render_html(data: ReportData) -> str:
    """The whole report as one self-contained HTML document."""
    title = e(f"atrous report: {data.source}")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<style>body{{margin:2rem auto;padding:0 1rem}}</style></head><body>\n{render_fragment(data)}\n"
            "</body></html>\n")
