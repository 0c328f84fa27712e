"""The report's tables, as HTML text: summary, run, per-layer table, ERF and frequency figures in numbers."""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

from atrous.report.data import ReportData

__all__ = ["erf_table", "frequency_table", "layer_table", "run_table", "summary_table"]


def e(value: object) -> str:
    return html.escape(str(value))


def axes(values: Iterable[Any]) -> str:
    return " × ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


def table(rows: list[tuple[str, str]], cls: str = "kv") -> str:
    body = "".join(f"<tr><th>{e(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="{cls}">{body}</table>'


def verdict(ok: bool | None, yes: str, no: str) -> str:
    if ok is None:
        return '<span class="warn">unknown</span>'
    return f'<span class="ok">{e(yes)}</span>' if ok else f'<span class="bad">{e(no)}</span>'


def summary_table(data: ReportData) -> str:
    f = data.field
    if f is None:
        return f"<p class=\"bad\">The model could not be traced: {e(data.analysis_error)}</p>"
    s = data.summary or {}
    rows: list[tuple[str, str]] = []
    if f.causal and f.lookback is not None:
        rows.append(("lookback / lookahead", f"<b>{e(axes(f.lookback))}</b> past samples, "
                                             f"<b>{e(axes(f.lookahead or ()))}</b> future samples (causal)"))
    elif f.dims == 1 and f.lookback is not None:
        rows.append(("lookback / lookahead", f"{e(axes(f.lookback))} past, {e(axes(f.lookahead or ()))} future "
                                             "samples (not causal)"))
    size = e(axes(f.size)) + ("" if f.exact else " (an enclosing bound, not exact)")
    if f.is_global:
        size += " (+ a global path at the output: every output also reads the whole input)"
    rows += [
        ("analysed node", f"<code>{e(f.node)}</code>"),
        ("receptive field", size),
        ("stride (jump)", e(axes(f.stride))),
        ("centre of output 0", e(axes(f.offset))),
        ("inputs read", f"{f.taps} of {e(axes(f.extent))} = {f.taps + f.holes} in the field "
                        f"({f.coverage:.1%} read, {f.holes} never read)"),
        ("alignment", verdict(s.get("aligned"), "all merges aligned", "misaligned merges")),
        ("HDC verdict", verdict(f.hdc_ok, "passes", "fails")),
    ]
    border = s.get("gridding", {}).get("border_layers")
    if border:
        rows.append(("border layers", e(", ".join(border))))
    return table(rows)


def run_table(data: ReportData) -> str:
    r = data.run
    if r is None:
        return ""
    rows = [("task", e(r.task)), ("model", e(r.model))]
    if r.epoch is not None or r.step is not None:
        rows.append(("checkpoint", e(", ".join(p for p in (f"epoch {r.epoch}" if r.epoch is not None else "",
                                                           f"step {r.step}" if r.step is not None else "") if p))))
    if r.metric is not None:
        rows.append(("metric", e(f"{r.metric} = {r.value:.6g}" if r.value is not None else r.metric)))
    if r.model_args:
        rows.append(("model arguments", e(", ".join(f"{k}={v!r}" for k, v in sorted(r.model_args.items())))))
    return table(rows)


_LAYER_HEAD = ("module path", "op", "kernel", "dilation", "stride", "output size", "RF", "jump", "centre of 0",
               "read")


def layer_table(data: ReportData) -> str:
    """Every traced node with a kernel; a row selects that node in the explorer when there is one."""
    index = {n["name"]: i for i, n in enumerate(data.explorer.nodes)} if data.explorer is not None else {}
    head = "".join(f"<th>{e(h)}</th>" for h in _LAYER_HEAD)
    rows = []
    for layer in data.layers:
        cells = (f"<code>{e(layer.name)}</code>", e(layer.op), e(axes(layer.kernel)), e(axes(layer.dilation)),
                 e(axes(layer.stride)), e(axes(layer.length or ())), e(axes(layer.rf)), e(axes(layer.jump)),
                 e(axes(layer.offset)), f"{layer.coverage:.0%}")
        at = index.get(layer.name)
        attr = f' data-node="{at}" title="show this node\'s field above"' if at is not None else ""
        rows.append(f"<tr{attr}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (f'<div class="scroll"><table class="layers"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def erf_table(data: ReportData) -> str:
    """The ERF in numbers: one-sided lags for a causal model, the Gaussian (flagged when degenerate) otherwise,
    then the RepLKNet area ratios and radial mass for maps centred on their unit."""
    from atrous.report.recommend import erf_statistics, erf_view

    m = data.erf
    if m is None:
        why = data.erf_error or "disabled (erf=False, or --no-erf on the command line)"
        return f'<p class="warn">The ERF was not measured: {e(why)}</p>'
    rows = [(label, e(value)) for label, value in erf_statistics(data)]
    if not erf_view(data).causal:
        d = m.as_dict(data.box[1] if data.box else None)
        ratios = ", ".join(f"t={t}: " + ("not reached" if v is None else f"{100 * v:.2f}%")
                           for t, v in d["area_ratio"].items())
        rows.append(("area ratio (RepLKNet)", e(ratios)))
        rows.append(("radial mass", e(", ".join(f"r≤{r}: {v:.0%}" for r, v in d["radial_mass"].items()))))
    return table(rows)


def frequency_table(data: ReportData) -> str:
    rows = []
    for f in data.frequency:
        cut = "none (passes all)" if f.cutoff is None else f"{f.cutoff:.4f} rad/sample"
        rows.append((f"axis {f.axis}", f"cut-off {e(cut)}; stride {f.stride:g}; alias-free stride "
                     f"{e(f.alias_free_stride)}; aliased energy {f.aliased_energy:.1%}; gridding risk "
                     f"<b>{e(f.verdict)}</b> ({e(f.why)})"))
    return table(rows)
