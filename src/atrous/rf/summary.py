"""One JSON-ready summary of a spec: the machine-readable contract of DESIGN.md section 6.

Keys: ``rf`` (size, stride, offset, global), ``support`` (taps, coverage, holes), ``gridding`` (hdc_ok,
messages) and ``layers`` (one entry per node after the input), plus a few extras (lookback, lookahead,
alignment, per-axis support, output length).
"""

from __future__ import annotations

from typing import Any

from atrous.rf.graph import Spec, as_graph
from atrous.rf.layer import IntArg
from atrous.rf.reads import node_reads, reads
from atrous.rf.stack import receptive_field

__all__ = ["summarize"]

#: hole offsets listed per axis in the summary (the full list is on ``support(...).per_axis``)
MAX_LISTED_HOLES = 64


def _number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


def summarize(spec: Spec, input_size: IntArg | None = None) -> dict[str, Any]:
    """Receptive field, exact support, gridding verdicts and per-layer rows of a spec, as plain data.

    >>> from atrous.rf import conv
    >>> s = summarize([conv(3, dilation=d, padding="same") for d in (1, 2, 4)])
    >>> s["rf"], s["support"]["holes"], s["gridding"]["hdc_ok"]
    ({'size': [15], 'stride': [1], 'offset': [0], 'global': False, 'start': [-7], 'lookback': [7], \
'lookahead': [7], 'size_min': [15], 'size_max': [15]}, 0, True)
    """
    from atrous.rf.gridding import gridding_report

    graph = as_graph(spec)
    result = receptive_field(graph, input_size)
    out = result.output
    sup = reads(graph)
    rows = node_reads(graph)
    grid = gridding_report(graph, input_size, reads=sup)
    messages = list(grid.messages)
    if out.is_global:
        messages.append("a global operation makes every output depend on the whole input; rf.size describes "
                        "the local path")
    layers = []
    for node, row in zip(result.nodes[1:], rows[1:]):
        layer = node.layer
        entry: dict[str, Any] = {
            "name": node.name,
            "op": layer.kind if layer is not None else node.op,
            "inputs": list(node.inputs),
            "kernel": list(layer.kernel) if layer is not None else None,
            "stride": list(layer.stride) if layer is not None else None,
            "dilation": list(layer.dilation) if layer is not None else None,
            "padding": [list(p) for p in layer.padding] if layer is not None else None,
            "rf": list(node.size),
            "jump": list(node.jump),
            "offset": [_number(v) for v in node.offset],
            "taps": row.taps,
            "holes": row.holes,
            "coverage": row.coverage,
            "aligned": node.aligned,
        }
        if node.length is not None:
            entry["length"] = list(node.length)
        layers.append(entry)
    summary: dict[str, Any] = {
        "rf": {
            "size": list(out.size),
            "stride": list(out.jump),
            "offset": [_number(v) for v in out.offset],
            "global": out.is_global,
            "start": list(out.start),
            "lookback": list(out.lookback),
            "lookahead": list(out.lookahead),
            "size_min": list(out.size_min),
            "size_max": list(out.size_max),
        },
        "support": {
            "taps": sup.taps,
            "coverage": sup.coverage,
            "holes": sup.holes,
            "exact": True,
            "extent": list(sup.extent),
            "per_axis": [
                {"taps": a.taps, "holes": len(a.holes), "coverage": a.coverage,
                 "hole_offsets": a.holes[:MAX_LISTED_HOLES]}
                for a in sup.per_axis
            ],
        },
        "gridding": {"hdc_ok": grid.hdc_ok, "messages": messages},
        "aligned": result.aligned,
        "alignment": list(result.messages),
        "layers": layers,
    }
    if out.length is not None:
        summary["output_length"] = list(out.length)
    return summary
