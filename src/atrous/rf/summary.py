"""One JSON-ready summary of a spec: the machine-readable contract described in docs/cli.md.

Keys: ``rf`` (size, stride, offset, global), ``support`` (taps, coverage, holes), ``gridding`` (hdc_ok,
messages) and ``layers`` (one entry per node after the input), plus a few extras (lookback, lookahead,
alignment, per-axis support, output length).

After a fractional stride (a transposed convolution, an upsampling) the receptive field depends on the output
unit's phase (its index modulo ``rf.phases``): ``rf.size`` is then the largest extent over the phases,
``rf.phase_sizes`` lists every phase's extent, ``rf.stride`` is the jump as a number (``0.5``) and
``rf.stride_exact`` as an exact fraction (``"1/2"``); ``rf.offset``/``rf.start`` and the whole ``support``
object describe output unit 0 (phase 0); a note says so.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from atrous.rf.graph import Graph, Spec, as_graph
from atrous.rf.layer import IntArg
from atrous.rf.reads import node_reads, reads
from atrous.rf.stack import receptive_field

__all__ = ["summarize"]

#: hole offsets listed per axis in the summary (the full list is on ``support(...).per_axis``)
MAX_LISTED_HOLES = 64


def _number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


def jump_text(x: Fraction) -> str:
    """An exact jump for people and for JSON: ``"8"``, ``"1/2"``, ``"3/4"``."""
    return str(Fraction(x))


def summarize(spec: Spec, input_size: IntArg | None = None, node: str | int | None = None) -> dict[str, Any]:
    """Receptive field, exact support, gridding verdicts and per-layer rows of a spec, as plain data.

    ``node`` (a name or an index) describes that node instead of the graph's output; the rows stop there.

    >>> from atrous.rf import conv
    >>> s = summarize([conv(3, dilation=d, padding="same") for d in (1, 2, 4)])
    >>> s["rf"], s["support"]["holes"], s["gridding"]["hdc_ok"]
    ({'size': [15], 'stride': [1], 'offset': [0], 'global': False, 'start': [-7], 'lookback': [7], \
'lookahead': [7], 'size_min': [15], 'size_max': [15], 'stride_exact': ['1'], 'phases': [1], 'phase_sizes': \
[[15]]}, 0, True)
    """
    graph = as_graph(spec)
    if node is None:
        return _summarize(graph, input_size)
    keep = graph.output
    graph.set_output(graph.index(node) if isinstance(node, str) else node)
    try:
        return _summarize(graph, input_size)
    finally:
        graph.set_output(keep)


def _summarize(graph: Graph, input_size: IntArg | None) -> dict[str, Any]:
    from atrous.rf.gridding import gridding_report

    result = receptive_field(graph, input_size)
    out = result.output
    sup = reads(graph)
    rows = node_reads(graph)
    grid = gridding_report(graph, input_size, reads=sup)
    messages = list(grid.messages)
    if out.is_global:
        messages.append("a global operation makes every output depend on the whole input; rf.size describes "
                        "the local path")
    notes = [n for node in result.nodes for n in node.notes]
    if out.phase_dependent:
        notes.insert(0, phase_note(out.phases, out.phase_sizes, out.jump_exact))
    layers = []
    for node, row in zip(result.nodes[1:], rows[1:]):
        layer = node.layer
        entry: dict[str, Any] = {
            "name": node.name,
            "op": layer.kind if layer is not None else node.op,
            "inputs": list(node.inputs),
            "kernel": list(layer.kernel) if layer is not None else None,
            "stride": list(layer.stride) if layer is not None else None,
            "upsample": list(layer.upsample) if layer is not None else None,
            "dilation": list(layer.dilation) if layer is not None else None,
            "padding": [list(p) for p in layer.padding] if layer is not None else None,
            "rf": list(node.size),
            "jump": [_number(j) for j in node.jump],
            "jump_exact": [jump_text(j) for j in node.jump_exact],
            "phases": list(node.phases),
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
            "stride": [_number(j) for j in out.jump],
            "offset": [_number(v) for v in out.offset],
            "global": out.is_global,
            "start": list(out.start),
            "lookback": list(out.lookback),
            "lookahead": list(out.lookahead),
            "size_min": list(out.size_min),
            "size_max": list(out.size_max),
            "stride_exact": [jump_text(j) for j in out.jump_exact],
            "phases": list(out.phases),
            "phase_sizes": [list(p) for p in out.phase_sizes],
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
        "notes": notes,
        "layers": layers,
    }
    if out.length is not None:
        summary["output_length"] = list(out.length)
    return summary


def phase_note(phases: tuple[int, ...], sizes: tuple[tuple[int, ...], ...], jump: tuple[Fraction, ...]) -> str:
    """The note that says the receptive field varies with the output unit's phase."""
    per_axis = "; ".join(
        f"{'' if len(phases) == 1 else f'axis {a}: '}{p} phases, extents {_extents(s)}, jump {jump_text(j)}"
        for a, (p, s, j) in enumerate(zip(phases, sizes, jump)) if p > 1
    )
    return ("the receptive field varies with the output unit's phase (a fractional stride: a transposed "
            f"convolution or an upsampling): {per_axis}; rf.size is the largest extent, rf.offset and the "
            "support describe output unit 0")


def _extents(sizes: tuple[int, ...]) -> str:
    if len(set(sizes)) == 1:
        return f"all {sizes[0]}"
    return f"{min(sizes)} to {max(sizes)}"
