"""``analyze(model, input_shape)``: receptive field, support, alignment and gridding of every node of a model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from atrous.analysis.trace import TracedModel, trace
from atrous.errors import ConfigError, UnsupportedOpError
from atrous.rf.summary import summarize

__all__ = ["Analysis", "analyze"]


@dataclass(frozen=True)
class Analysis:
    """The traced model, the analysed node and the DESIGN.md section 6 summary (``summary``)."""

    traced: TracedModel
    node: int
    summary: dict[str, Any]


def _node_name(traced: TracedModel, node: int) -> str:
    return traced.graph.nodes[node].name


def analyze(model: nn.Module, input_shape: Sequence[int], node: str | None = None,
            leaf_modules: Sequence[type[nn.Module]] = ()) -> Analysis:
    """Trace ``model`` and describe the receptive field of ``node`` (default: the model's output).

    Args:
        model: any traceable ``nn.Module``; it is neither run nor modified.
        input_shape: ``(batch, channels, *spatial)``, e.g. ``(1, 3, 224, 224)``.
        node: an fx node name (``add_3``), a module name (``layer3``: its last node) or an output key.
        leaf_modules: module types the tracer must not enter.

    Returns:
        An :class:`Analysis`; ``analysis.summary`` is the JSON object of ``atrous analyze --json``:
        ``rf``, ``support``, ``gridding``, ``layers``, ``aligned``, ``nodes``, plus ``node`` (the analysed
        node), ``notes`` and, when the output is global (a classifier), ``last_spatial``: the same
        quantities for the last feature map before global pooling.

    >>> import torch.nn as nn
    >>> net = nn.Sequential(nn.Conv1d(1, 4, 3, dilation=1, padding=1), nn.ReLU(),
    ...                     nn.Conv1d(4, 4, 3, dilation=2, padding=2), nn.ReLU(),
    ...                     nn.Conv1d(4, 1, 3, dilation=4, padding=4))
    >>> s = analyze(net, (1, 1, 64)).summary
    >>> s["rf"]["size"], s["support"]["holes"], s["aligned"]
    ([15], 0, True)
    """
    traced = trace(model, input_shape, leaf_modules)
    graph = traced.graph
    if node is None:
        failed = traced.opaque.get("output", traced.opaque.get("out"))
        if (failed is not None and "out" not in traced.outputs) or not traced.outputs:
            failed = failed or next(iter(traced.opaque.values()))
            raise UnsupportedOpError(f"{failed}; or analyse an earlier node with --node") from None
        target = traced.outputs.get("out", next(iter(traced.outputs.values())))
    else:
        modules = dict(model.named_modules())
        known = (traced.modules, traced.aliases, traced.outputs, traced.opaque)
        if node in modules and not any(node in table for table in known):
            raise ConfigError(f"analyze: node {node!r} is a module of the model that its forward pass never calls "
                              "(unreachable); pick a module the forward pass runs")
        target = traced.resolve(node)
    graph.set_output(target)
    summary = summarize(graph, traced.input_size)
    for row in summary["layers"]:
        row["op"] = traced.ops.get(graph.index(row["name"]), row["op"])
    summary["nodes"] = summary["layers"]
    summary["node"] = node or "output"
    summary["graph_node"] = _node_name(traced, target)
    summary["notes"] = [*summary.get("notes", []), *traced.notes]
    summary["input_shape"] = list(traced.input_shape)
    if summary["rf"]["global"]:
        spatial = traced.last_spatial(target)
        if spatial is not None and spatial != target:
            graph.set_output(spatial)
            inner = summarize(graph, traced.input_size)
            summary["last_spatial"] = {"node": _node_name(traced, spatial), "rf": inner["rf"],
                                       "support": inner["support"], "gridding": inner["gridding"]}
        graph.set_output(target)
    return Analysis(traced, target, summary)
