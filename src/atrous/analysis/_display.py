"""How an :class:`~atrous.analysis.Analysis` shows itself in Jupyter: a summary table and the per-node table."""

from __future__ import annotations

import html
from typing import Any

__all__ = ["analysis_html"]


def _axes(values: Any) -> str:
    return " × ".join(str(v) for v in values) if values is not None else ""


def analysis_html(summary: dict[str, Any]) -> str:
    e = html.escape
    rf, sup, grid = summary["rf"], summary["support"], summary["gridding"]
    size = _axes(rf["size"]) + (" + global" if rf["global"] else "") + ("" if rf.get("exact", True) else " (bound)")
    rows = [("node", summary.get("graph_node", summary.get("node"))), ("receptive field", size),
            ("stride (jump)", _axes(rf["stride"])), ("centre of output 0", _axes(rf["offset"]))]
    if "lookback" in rf and len(rf["size"]) == 1:
        rows.append(("lookback / lookahead", f"{_axes(rf['lookback'])} / {_axes(rf['lookahead'])}"))
    rows += [("inputs read", f"{sup['taps']} ({sup['coverage']:.1%}), {sup['holes']} holes"),
             ("aligned", summary.get("aligned")), ("HDC", "passes" if grid["hdc_ok"] else "fails"),
             ("method", summary.get("method"))]
    head = "".join(f"<tr><th style='text-align:left'>{e(str(k))}</th><td style='text-align:left'>{e(str(v))}</td>"
                   "</tr>" for k, v in rows)
    cols = ("name", "op", "kernel", "dilation", "stride", "rf", "jump", "length")

    def cell(row: dict[str, Any], c: str) -> str:
        text = str(row.get(c)) if c in ("name", "op") else _axes(row.get(c))
        return f"<td style='text-align:left'>{e(text)}</td>"

    body = "".join("<tr>" + "".join(cell(r, c) for c in cols) + "</tr>" for r in summary.get("layers", []))
    notes = "".join(f"<li>{e(n)}</li>" for n in summary.get("notes", []))
    return (f"<div><table>{head}</table>"
            + (f"<ul>{notes}</ul>" if notes else "")
            + f"<details><summary>{len(summary.get('layers', []))} nodes</summary><table><tr>"
            + "".join(f"<th>{c}</th>" for c in cols) + f"</tr>{body}</table></details></div>")
