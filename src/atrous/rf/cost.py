"""What the exact support of a spec will cost, estimated from the arithmetic alone (nothing is allocated).

Sizes, strides and offsets are exact integers or fractions at any rate (``dilation=10**30`` is fine), but the
support (taps, holes, coverage) is a dense array over the receptive-field box: its memory grows with the box
and its time with ``kernel * box`` per layer. :func:`support_cost` gives both, so a caller can refuse a spec
before building its support (the command line does, with ``--max-memory``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from atrous.rf.graph import Spec, as_graph
from atrous.rf.phases import is_phase_free
from atrous.rf.stack import receptive_field

__all__ = ["SupportCost", "support_cost"]

#: per cell of a per-axis pattern: the boolean pattern, its float64 projection, the index arrays and the
#: Python list of hole offsets of a summary (measured: 95 bytes per cell for a 1-D stack)
BYTES_PER_AXIS_CELL = 100
#: per cell of an N-D box (a merge that is not a product of per-axis patterns, a fractional stride): the
#: boolean mask and the shifted copy a layer makes of it
BYTES_PER_BOX_CELL = 4
#: conservative speeds of the support code (measured on one 2020s core: 2.1e6 to 3.4e6 per-axis cells a second,
#: where the Python lists of hole offsets dominate, and 1.4e9 to 3.1e9 shifted array cells a second)
AXIS_CELLS_PER_SECOND = 2e6
ARRAY_CELLS_PER_SECOND = 1e9


@dataclass(frozen=True)
class SupportCost:
    """Estimated peak memory (bytes) and time (seconds) of the support of a spec.

    ``dense`` says whether the estimate assumed N-D boxes (a spec with merges or fractional strides) rather
    than per-axis patterns.
    """

    bytes: int
    seconds: float
    dense: bool


def support_cost(spec: Spec) -> SupportCost:
    """Upper estimate of what :func:`atrous.rf.summary.summarize` needs for the support of ``spec``.

    >>> from atrous.rf import conv
    >>> cost = support_cost([conv(3, dilation=10**9)])
    >>> cost.bytes > 10**11, cost.seconds > 1000, cost.dense
    (True, True, False)
    """
    graph = as_graph(spec)
    result = receptive_field(graph)
    dense = not all(is_phase_free(graph)) or any(node.op not in ("input", "layer") for node in graph.nodes)
    peak = 0
    seconds = 0.0
    for node, rf in zip(graph.nodes, result.nodes):
        extents = [max(p) for p in rf.phase_sizes] if rf.phase_sizes else list(rf.size)
        sizes = [max(int(s), 1) for s in extents]
        box = math.prod(sizes)
        held = BYTES_PER_BOX_CELL * box if dense else BYTES_PER_AXIS_CELL * sum(sizes)
        peak = max(peak, held)
        seconds += sum(sizes) / AXIS_CELLS_PER_SECOND
        if node.layer is not None:
            kernel = node.layer.kernel
            shifted = sum(k * box for k in kernel) if dense else sum(k * s for k, s in zip(kernel, sizes))
            seconds += shifted / ARRAY_CELLS_PER_SECOND
    return SupportCost(peak, seconds, dense)
