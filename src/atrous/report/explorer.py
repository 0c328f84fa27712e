"""What the interactive page embeds: per traced node, the exact read pattern of its units, compactly.

Unit ``i`` of a node reads the pattern of its phase ``i mod P`` moved by ``(i div P) Q`` input samples (per axis;
``P = 1`` and ``Q`` = the jump without fractional strides), so one pattern per phase describes every unit: the
page never holds one map per unit. A pattern is stored as exact path counts (``u16``) when they are small
integers, else as log-scaled levels 1..255 (``log8``, 0 = not read); rows are delta-coded along the last axis and
deflated, then base64-encoded, which the browser undoes with ``DecompressionStream``.
"""

from __future__ import annotations

import base64
import itertools
import math
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from atrous.rf.graph import Graph
from atrous.rf.phases import periods, propagate
from atrous.rf.stack import receptive_field
from atrous.rf.support import shifted_to_unit

__all__ = ["Explorer", "explore"]

#: budget of pattern cells embedded in one page (before compression); nodes beyond it are listed, not drawn
MAX_PAGE_CELLS = 24_000_000
#: largest pattern drawn cell by cell
MAX_NODE_CELLS = 4_000_000
#: most phases (product over axes) embedded for one node; beyond it only unit 0 is exact
MAX_PHASES = 16


@dataclass
class Explorer:
    """The nodes of a model as the page shows them; ``as_json()`` is what the page's script reads."""

    dims: int
    input_size: tuple[int, ...]
    nodes: list[dict[str, Any]] = field(default_factory=list)
    selected: int = 0  # index into nodes of the node the report describes

    def as_json(self) -> dict[str, Any]:
        return {"dims": self.dims, "input": list(self.input_size), "nodes": self.nodes, "selected": self.selected}


def encode(counts: np.ndarray) -> dict[str, Any]:
    """A pattern as ``{"enc", "max", "shape", "data"}`` (see the module docstring)."""
    peak = float(counts.max()) if counts.size else 0.0
    exact = peak <= 65535 and bool(np.all(counts == np.round(counts)))
    if exact:
        values = counts.astype(np.uint16)
        delta = np.diff(values.astype(np.int32), axis=-1, prepend=0).astype(np.uint16)
        raw = delta.astype("<u2").tobytes()
    else:
        logs = np.log1p(counts.astype(float))
        level = np.where(counts > 0, 1 + np.round(254 * logs / max(float(logs.max()), 1e-12)), 0).astype(np.uint8)
        raw = np.diff(level.astype(np.int16), axis=-1, prepend=0).astype(np.uint8).tobytes()
    return {"enc": "u16" if exact else "log8", "max": peak, "shape": list(counts.shape),
            "data": base64.b64encode(zlib.compress(raw, 9)).decode()}


def decode(pattern: dict[str, Any]) -> np.ndarray:
    """The inverse of :func:`encode` (path counts for ``u16``, levels for ``log8``); the page does the same."""
    raw = zlib.decompress(base64.b64decode(pattern["data"]))
    dtype = np.dtype("<u2") if pattern["enc"] == "u16" else np.dtype(np.uint8)
    delta = np.frombuffer(raw, dtype=dtype).reshape(pattern["shape"])
    return np.cumsum(delta, axis=-1, dtype=dtype)


def _pattern(graph: Graph, idx: int, unit: tuple[int, ...]) -> tuple[tuple[int, ...], np.ndarray] | None:
    """Path counts read by ``unit`` of node ``idx`` (None: that unit reads no input sample)."""
    axes = tuple(range(graph.dims))
    shifted = shifted_to_unit(graph, idx, unit) if any(unit) else graph
    target = len(shifted.nodes) - 1 if any(unit) else idx
    for _, pattern in propagate(shifted, axes, target):
        return pattern
    return None


def explore(graph: Graph, rows: list[dict[str, Any]], target: int, input_size: tuple[int, ...]) -> Explorer:
    """The explorer of the analysed ``graph``: one entry per summary row (``rows``), in graph order."""
    out = Explorer(graph.dims, tuple(int(n) for n in input_size))
    keep = graph.output
    try:
        result = receptive_field(graph)
        per = periods(graph)
        budget = MAX_PAGE_CELLS
        names = {row["name"]: row for row in rows}
        for idx, node in enumerate(graph.nodes):
            row = names.get(node.name)
            if row is None:
                continue
            nrf = result.nodes[idx]
            entry: dict[str, Any] = {
                "name": node.name, "op": str(row.get("op", node.op)), "kernel": row.get("kernel"),
                "dilation": row.get("dilation"), "stride": row.get("stride"), "rf": list(row.get("rf") or []),
                "jump": [float(j) for j in nrf.jump], "offset": [float(o) for o in nrf.offset],
                "out": list(row.get("length") or []),
                "period": [p.period for p in per[idx]], "shift": [p.shift for p in per[idx]],
                "global": nrf.is_global, "patterns": None, "why": None,
            }
            if idx == target:
                out.selected = len(out.nodes)
            out.nodes.append(entry)
            if entry["global"]:
                entry["why"] = ("a global operation (pooling over the whole map) also reaches every output: the "
                                "pattern shown is that of the local paths")
            phases = math.prod(entry["period"])
            cells = math.prod(int(s) for s in nrf.size) * min(phases, MAX_PHASES)
            if math.prod(int(s) for s in nrf.size) > MAX_NODE_CELLS or cells > budget:
                entry["why"] = "too large to embed cell by cell; its numbers are in the table"
                continue
            graph.set_output(idx)
            patterns: list[dict[str, Any] | None] = []
            exact_all = phases <= MAX_PHASES
            units = itertools.product(*(range(p) for p in entry["period"])) if exact_all else [(0,) * graph.dims]
            for unit in units:
                got = _pattern(graph, idx, tuple(unit))
                if got is None:
                    patterns.append(None)
                    continue
                origin, counts = got
                patterns.append({"origin": list(origin), **encode(counts)})
                budget -= counts.size
            entry["patterns"] = patterns
            if not exact_all:
                entry["why"] = (f"its units repeat only every {'x'.join(map(str, entry['period']))} (fractional "
                                "strides); the page shows the pattern of unit 0 only")
    finally:
        graph.set_output(keep)
    return out
