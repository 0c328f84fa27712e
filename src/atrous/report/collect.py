"""Everything a report shows, computed once: analysis, support map, ERF, frequency view, recommendations."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from torch import nn

from atrous import rf
from atrous.analysis.erf import ERF, effective_rf, path_count_erf
from atrous.errors import AtrousError, UnsupportedOpError
from atrous.report.data import MAX_CUT_POINTS, PLOT_POINTS, Frequency, ReportData, RunInfo
from atrous.report.explorer import explore
from atrous.report.recommend import erf_verdict, recommendations
from atrous.report.result import Report

__all__ = ["collect", "noted"]

#: largest support box drawn cell by cell; larger ones are drawn per axis
MAX_MAP_CELLS = 4_000_000


def _graph_node(summary: dict[str, Any]) -> str:
    last = summary.get("last_spatial")
    return str(last["node"] if summary["rf"]["global"] and last else summary["graph_node"])


def _frequency_grid(span: int, nodes: int = 1) -> tuple[int, np.ndarray]:
    """Points on [0, pi] of a grid fine enough for a field of ``span`` inputs (its cut-off lies near pi / span),
    and the indices of it that are plotted: every m-th point (PLOT_POINTS of them, evenly spaced) and, when the
    grid is finer than that, up to PLOT_POINTS more spaced evenly on a log scale (the figure's frequency axis)."""
    most = min(MAX_CUT_POINTS, rf.frequency.MAX_TERMS // max(1, nodes))  # a stack response costs points x nodes
    m = max(1, min(most // (PLOT_POINTS - 1), -(-32 * span // (PLOT_POINTS - 1))))
    n = (PLOT_POINTS - 1) * m + 1  # so that the plotted even points are points of the fine grid
    even = np.arange(0, n, m)
    logs = np.geomspace(1, n - 1, PLOT_POINTS).round().astype(np.int64) if m > 1 else np.zeros(0, np.int64)
    return n, np.union1d(even, logs)


def _frequency(graph: rf.Graph, result: rf.RFResult, holes: int, hdc_ok: bool) -> list[Frequency]:
    out = []
    node_rf = result.output
    for axis in range(graph.dims):
        # the cut-off and the aliased energy on the fine grid; the figure draws a subset of it
        n, shown = _frequency_grid(max(1, int(node_rf.size[axis])), len(graph.nodes))
        omega_all, h_all = rf.stack_response(graph, n=n, axis=axis)
        below = np.flatnonzero(np.abs(h_all) <= 1 / math.sqrt(2))
        cut = float(omega_all[below[0]]) if below.size else None
        layers = []
        for node in graph.nodes[: graph.output + 1]:
            layer = node.layer
            if node.op != "layer" or layer is None or layer.is_global or layer.dilation[axis] <= 1:
                continue
            in_jump = result.nodes[node.inputs[0]].jump[axis]
            if int(in_jump) != in_jump:  # a layer running after an upsampling, at a fractional jump
                continue
            rate = int(layer.dilation[axis] * in_jump)
            _, hl = rf.frequency_response(layer.kernel[axis], rate, n=n)
            layers.append((node.name, int(layer.kernel[axis]), rate, np.abs(hl[shown])))
        stride = float(node_rf.jump[axis])
        energy = float(rf.aliased_energy((omega_all, h_all), max(1, round(stride)))) if stride >= 1 else 0.0
        free = None if cut is None else max(1, math.floor(math.pi / cut))
        if holes > 0:
            verdict, why = "high", (f"{holes} input offsets inside the receptive field are never read: outputs "
                                    "sample a sparse grid (checkerboard artifacts)")
        elif not hdc_ok or energy > 0.25:
            parts = []
            if not hdc_ok:
                parts.append("the HDC rules fail (rates share a factor or jump too far)")
            if energy > 0.25:
                parts.append(f"{energy:.0%} of the stack's energy lies above the output Nyquist pi/{stride:g}")
            verdict, why = "moderate", "; ".join(parts)
        else:
            verdict, why = "low", "every offset is read and the HDC rules hold"
        out.append(Frequency(axis, omega_all[shown], np.abs(h_all[shown]), layers, cut, stride, free, energy, verdict,
                             why, float(omega_all[1])))
    return out


def _growth(summary: dict[str, Any]) -> list[tuple[str, str, list[float]]]:
    return [(row["name"], str(row["op"]), [float(v) for v in row["rf"]]) for row in summary["layers"]]


@contextmanager
def noted(notes: list[str]) -> Iterator[None]:
    """Record the warnings the model's own code raises as notes (shown in the page, one line on a terminal)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for w in caught:
                text = f"{w.category.__name__}: {w.message}"
                if text not in notes:
                    notes.append(text)


def collect(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    source: str = "model",
    node: str | None = None,
    samples: int = 16,
    inits: int = 1,
    seed: int = 0,
    device: str = "cpu",
    erf: bool = True,
    progress: Callable[[int, int], None] | None = None,
    run: RunInfo | None = None,
    batch_size: int = 16,
) -> Report:
    """Analyse ``model`` and measure its ERF; failures of one part are recorded, not raised, when the other
    part can still be shown (an untraceable model still gets its ERF, and the reverse).

    Warnings raised by the model's own code are recorded in ``notes`` instead of being printed."""
    notes: list[str] = []
    with noted(notes):
        data = _collect(model, input_shape, source, node, samples, inits, seed, device, erf, progress, batch_size)
    data.notes = [*data.notes, *(n for n in notes if n not in data.notes)]
    data.run = run
    data.advice = recommendations(data)
    data.erf_verdict = erf_verdict(data)
    return data


def _collect(model: nn.Module, input_shape: Sequence[int], source: str, node: str | None, samples: int, inits: int,
             seed: int, device: str, erf: bool, progress: Callable[[int, int], None] | None,
             batch_size: int) -> Report:
    from atrous.analysis.analyze import analyze

    shape = tuple(int(n) for n in input_shape)
    summary: dict[str, Any] | None = None
    analysis_error = None
    graph = None
    try:
        analysis = analyze(model, shape, node=node)
        summary = analysis.summary
        graph = analysis.traced.graph
    except UnsupportedOpError as e:
        analysis_error = str(e)
    measured: ERF | None = None
    erf_error = None
    erf_node = node if node is not None and node in dict(model.named_modules()) else None
    if erf:
        try:
            measured = effective_rf(model, shape, node=erf_node, samples=samples, inits=inits, seed=seed,
                                    device=device, progress=progress, batch_size=batch_size)
        except UnsupportedOpError as e:
            erf_error = str(e)
    if summary is None and measured is None:
        raise UnsupportedOpError(analysis_error or erf_error or "report: nothing could be measured")

    data = Report(source=source, input_shape=shape, summary=summary, analysis_error=analysis_error,
                      node=measured.node if measured else "output", box=None, growth=[], support=None,
                      support_origin=None, erf=measured, erf_error=erf_error, data_free=None)
    if summary is not None and graph is not None:
        _fill_from_analysis(data, analysis, model, shape, measured)
        described = data.field.node if data.field is not None else None
        target = graph.index(described) if described in graph._names else analysis.node
        data.explorer = explore(graph, summary["layers"], target, analysis.traced.input_size)
    return data


def _fill_from_analysis(data: ReportData, analysis: Any, model: nn.Module, shape: tuple[int, ...],
                        measured: ERF | None) -> None:
    summary = analysis.summary
    traced = analysis.traced
    graph = traced.graph
    name = _graph_node(summary)
    data.node = name
    data.growth = _growth(summary)
    target = traced.resolve(name)
    if measured is not None:
        try:
            target = traced.resolve(measured.node) if measured.node != "output" else target
            data.node = measured.node
        except AtrousError:
            pass
    graph.set_output(target)
    try:
        result = rf.receptive_field(graph)
        out = result.output
        holes = int(summary["support"]["holes"]) if not summary["rf"]["global"] or "last_spatial" not in summary \
            else int(summary["last_spatial"]["support"]["holes"])
        hdc_ok = bool(summary["gridding"]["hdc_ok"])
        if math.prod(out.size) <= MAX_MAP_CELLS:
            sup = rf.support(graph)
            if sup.counts is not None:
                data.support, data.support_origin = sup.counts, sup.origin
        if measured is not None and not out.phase_dependent:
            start = tuple(float(s) + u * float(j) for s, u, j in zip(out.start, measured.unit, out.jump))
            data.box = (start, tuple(float(s) for s in out.size))
            try:
                data.data_free = path_count_erf(model, shape, node=None if measured.node == "output"
                                                else measured.node, unit=measured.unit, analysis=analysis)
            except AtrousError:
                data.data_free = None
        data.frequency = _frequency(graph, result, holes, hdc_ok)
    finally:
        graph.set_output(analysis.node)
