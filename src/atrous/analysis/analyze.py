"""``analyze(model, input_shape)``: receptive field, support, alignment and gridding of every node of a model."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from atrous.analysis import _checks as checks
from atrous.analysis.tracer import TracedModel, trace
from atrous.errors import ConfigError, UnsupportedOpError
from atrous.rf.phases import periods
from atrous.rf.summary import summarize

__all__ = ["Analysis", "analyze"]


@dataclass(frozen=True)
class Analysis:
    """The traced model, the analysed node and the JSON summary (``summary``: the JSON contract, docs/cli.md)."""

    traced: TracedModel
    node: int
    summary: dict[str, Any]

    def __repr__(self) -> str:
        s = self.summary
        rf = s["rf"]
        size = "x".join(map(str, rf["size"])) + (" + global" if rf["global"] else "")
        exact = "" if rf.get("exact", True) else ", bound"
        return (f"Analysis(node={s['node']!r}, rf={size}, stride={'x'.join(map(str, rf['stride']))}{exact}, "
                f"taps={s['support']['taps']}, holes={s['support']['holes']}, nodes={len(s['nodes'])})")

    def _repr_html_(self) -> str:
        from atrous.analysis._display import analysis_html

        return analysis_html(self.summary)

    def to_dict(self) -> dict[str, Any]:
        """The ``atrous analyze --json`` object (a copy)."""
        copy: dict[str, Any] = json.loads(json.dumps(self.summary))
        return copy

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the ``atrous analyze --json`` object to ``path`` (atomically) and return the path."""
        from atrous._files import atomic_write

        out = Path(path)
        atomic_write(out, json.dumps(self.summary, indent=1) + "\n")
        return out


def analyze(model: nn.Module, input_shape: Sequence[int], node: str | None = None,
            output: str | int | None = None) -> Analysis:
    """Trace ``model`` at ``input_shape`` and describe the receptive field of ``node`` (default: its output).

    Args:
        model: any ``nn.Module`` taking one tensor; it runs once on a meta tensor (no memory, no arithmetic)
            and is not modified.
        input_shape: ``(batch, channels, *spatial)``, e.g. ``(1, 3, 224, 224)``.
        node: a node name from the table (``layer3.0.conv2``, ``layer3.0/add``), a module name (``layer3``: its
            output), or an output key.
        output: for a model that returns a list, tuple or dict: which output (an index or a key). Without it,
            such a model is analysed at its first output and ``summary["outputs"]`` lists every output's field.

    Returns:
        An :class:`Analysis`; ``analysis.summary`` is the JSON object of ``atrous analyze --json``:
        ``rf`` (with ``exact``), ``support``, ``gridding``, ``layers``, ``aligned``, ``nodes``, ``method``,
        ``node``, ``output``, ``notes`` and, when the output is global (a classifier), ``last_spatial``: the same
        quantities for the last feature map before the global operation.

    >>> import torch.nn as nn
    >>> net = nn.Sequential(nn.Conv1d(1, 4, 3, dilation=1, padding=1), nn.ReLU(),
    ...                     nn.Conv1d(4, 4, 3, dilation=2, padding=2), nn.ReLU(),
    ...                     nn.Conv1d(4, 1, 3, dilation=4, padding=4))
    >>> s = analyze(net, (1, 1, 64)).summary
    >>> s["rf"]["size"], s["support"]["holes"], s["aligned"], s["rf"]["exact"]
    ([15], 0, True, True)
    """
    traced = _trace_within_phase_budget(model, checks.input_shape("analyze", input_shape))
    graph = traced.graph
    notes: list[str] = []
    chosen: str | None = None
    if node is None:
        chosen = _pick_output(traced, output)
        target = traced.outputs[chosen]
    else:
        if output is not None:
            raise ConfigError("analyze: give node or output, not both")
        modules = dict(model.named_modules())
        known = (traced.modules, traced.outputs, traced.opaque)
        if node in modules and not any(node in table for table in known) and node not in graph._names:
            raise ConfigError(f"analyze: node {node!r} is a module of the model that its forward pass never calls "
                              "(unreachable); pick a module the forward pass runs")
        target = traced.resolve(node)
    summary = _summary(traced, target)
    if node is None and len(traced.output_keys) > 1:
        summary["outputs"] = {}
        for key, n in traced.outputs.items():
            inner = _summary(traced, n, rows=False)
            summary["outputs"][key] = {"rf": inner["rf"], "support": inner["support"]}
        if output is None:
            keys = traced.output_keys
            notes.append(f"the model returns {len(keys)} outputs ({', '.join(keys)}); the fields above describe "
                         f"output {chosen!r}; pick another with output=, and see 'outputs' for all of them")
        for key in traced.output_keys:
            if key not in traced.outputs:  # an output behind an op atrous cannot map: listed with the reason
                summary["outputs"][key] = {"error": str(traced.opaque[key])}
    summary["node"] = node or "output"
    summary["output"] = chosen
    summary["graph_node"] = graph.nodes[target].name
    summary["notes"] = [*summary.get("notes", []), *traced.notes, *notes]
    summary["input_shape"] = list(traced.input_shape)
    summary["size_dependent"] = list(dict.fromkeys(traced.size_dependent))
    return Analysis(traced, target, summary)


def _pick_output(traced: TracedModel, output: str | int | None) -> str:
    keys = list(traced.outputs)
    if output is None:
        if "output" in traced.opaque and not keys:
            raise UnsupportedOpError(f"{traced.opaque['output']}; analyse an earlier node with node=")
        if not keys:
            failed = next(iter(traced.opaque.values()))
            raise UnsupportedOpError(f"{failed}; analyse an earlier node with node=")
        return "out" if "out" in keys else keys[0]
    key = str(output)
    if key in traced.outputs:
        return key
    if isinstance(output, int) or key.lstrip("-").isdigit():
        i = int(key)
        if -len(keys) <= i < len(keys):
            return keys[i]
    if key in traced.opaque:
        raise traced.opaque[key]
    raise ConfigError(f"analyze: output must be one of the model's outputs ({', '.join(keys) or 'none'}) or an "
                      f"index into them, got {output!r}")


#: the longest period (output units, per axis) for which the phase-by-phase analysis is attempted: fractional
#: resizes compound (an align_corners=True head after a x2 decoder chain repeats only every ~10^4 units)
MAX_AXIS_PERIOD = 256


def _trace_within_phase_budget(model: nn.Module, input_shape: Sequence[int]) -> TracedModel:
    """Trace with exact resizes; if their periods compound beyond ``MAX_AXIS_PERIOD``, trace again with resizes of
    shorter periods (enclosing bounds, labelled exact: false) until they fit."""
    traced = trace(model, input_shape)
    for max_period in (8, 2, 1):
        if _longest_period(traced) <= MAX_AXIS_PERIOD:
            break
        traced = trace(model, input_shape, max_period=max_period)
    return traced


def _longest_period(traced: TracedModel) -> int:
    return max((p.period for node in periods(traced.graph) for p in node), default=1)



def _summary(traced: TracedModel, target: int, rows: bool = True) -> dict[str, Any]:
    graph = traced.graph
    graph.set_output(target)
    worst = max(p.period for node in periods(graph, target) for p in node)
    if worst > MAX_AXIS_PERIOD:
        raise UnsupportedOpError(
            f"analyze: fractional resizes make the receptive field of {graph.nodes[target].name!r} repeat only "
            f"every {worst} output units along an axis; the exact phase-by-phase analysis is not attempted beyond "
            f"{MAX_AXIS_PERIOD}; analyse an earlier node with node=, or measure it")
    summary = summarize(graph, traced.input_size)
    summary["rf"]["exact"] = traced.exact(target)
    summary["method"] = "analytic"
    if not summary["rf"]["exact"]:
        summary["support"]["exact"] = False
    for row in summary["layers"]:
        row["op"] = traced.ops.get(graph.index(row["name"]), row["op"])
    summary["nodes"] = summary["layers"]
    if summary["rf"]["global"] and rows:
        spatial = traced.last_spatial(target)
        if spatial is not None and spatial != target:
            graph.set_output(spatial)
            inner = summarize(graph, traced.input_size)
            inner["rf"]["exact"] = traced.exact(spatial)
            summary["last_spatial"] = {"node": graph.nodes[spatial].name, "rf": inner["rf"],
                                       "support": inner["support"], "gridding": inner["gridding"],
                                       "layout": "standard" if spatial in traced.standard_nodes else "other"}
        graph.set_output(target)
    return summary
