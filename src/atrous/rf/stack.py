"""Receptive-field size, jump, start, centre, lookback and lookahead of a stack or a DAG of layer specs.

Conventions (per spatial axis, for an infinitely long input, so borders never matter):

* output index ``i`` of a node reads input positions ``i * jump + start .. i * jump + end``;
* ``size = end - start + 1`` (holes included), ``offset = (start + end) / 2`` is the centre of output 0;
* ``lookback = -start`` and ``lookahead = end``: how many past and future input samples output 0 depends on,
  taking output ``i`` to sit at input position ``i * jump``. A causal stack has ``lookahead == 0``.

At a merge the node's region is the union of its branches; ``size_min``/``size_max`` are the smallest and
largest receptive field over the paths through the graph. The branches must agree in jump and in centre
(the alignment check of Araujo et al., 2019) or, as in causal stacks (a TCN's residual add), all end at the
same input sample; otherwise the merge is reported as not aligned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from atrous.errors import ShapeError
from atrous.rf.graph import Graph, Spec, as_graph
from atrous.rf.layer import IntArg, Layer, _per_axis

__all__ = ["NodeRF", "RFResult", "output_length", "receptive_field"]


@dataclass(frozen=True)
class NodeRF:
    """Receptive-field quantities of one node, one entry per spatial axis."""

    name: str
    op: str
    layer: Layer | None
    inputs: tuple[str, ...]
    size: tuple[int, ...]
    size_min: tuple[int, ...]
    size_max: tuple[int, ...]
    jump: tuple[int, ...]
    start: tuple[int, ...]
    end: tuple[int, ...]
    offset: tuple[float, ...]
    is_global: bool
    aligned: bool
    messages: tuple[str, ...]
    length: tuple[int, ...] | None

    @property
    def lookback(self) -> tuple[int, ...]:
        return tuple(-s for s in self.start)

    @property
    def lookahead(self) -> tuple[int, ...]:
        return self.end


@dataclass(frozen=True)
class RFResult:
    """Per-node receptive fields of a graph; attribute access falls through to the output node."""

    graph: Graph
    nodes: tuple[NodeRF, ...]
    output: NodeRF

    @property
    def aligned(self) -> bool:
        return all(n.aligned for n in self.nodes)

    @property
    def messages(self) -> tuple[str, ...]:
        return tuple(m for n in self.nodes for m in n.messages)

    def node(self, name: str) -> NodeRF:
        return self.nodes[self.graph.index(name)]

    @property
    def size(self) -> tuple[int, ...]:
        return self.output.size

    @property
    def jump(self) -> tuple[int, ...]:
        return self.output.jump

    @property
    def start(self) -> tuple[int, ...]:
        return self.output.start

    @property
    def offset(self) -> tuple[float, ...]:
        return self.output.offset

    @property
    def lookback(self) -> tuple[int, ...]:
        return self.output.lookback

    @property
    def lookahead(self) -> tuple[int, ...]:
        return self.output.lookahead

    @property
    def is_global(self) -> bool:
        return self.output.is_global


def _num(x: Fraction) -> float:
    return float(x)


def receptive_field(spec: Spec, input_size: IntArg | None = None) -> RFResult:
    """Receptive field of every node of a stack or DAG.

    Args:
        spec: a :class:`~atrous.rf.graph.Graph`, a list of layers (a chain) or one layer.
        input_size: optional input length (one int for every axis, or one per axis); when given, each node
            also carries its feature-map ``length`` and a merge of branches of different lengths is reported.

    Returns:
        An :class:`RFResult`; ``result.size`` etc. describe the output node, ``result.nodes`` every node.

    >>> from atrous.rf import conv
    >>> r = receptive_field([conv(3, dilation=d, padding="same") for d in (1, 2, 4)])
    >>> r.size, r.jump, r.offset, [n.size[0] for n in r.nodes[1:]]
    ((15,), (1,), (0.0,), [3, 7, 15])
    >>> receptive_field([conv(2, dilation=d, padding="causal") for d in (1, 2, 4)]).lookahead
    (0,)
    """
    graph = as_graph(spec)
    dims = graph.dims
    lengths0 = None if input_size is None else _per_axis(input_size, dims, "input_size", "receptive_field", 1)
    out: list[NodeRF] = []
    for node in graph.nodes:
        if node.op == "input":
            one = (1,) * dims
            zero = (0,) * dims
            out.append(NodeRF("input", "input", None, (), one, one, one, one, zero, zero, (0.0,) * dims,
                              False, True, (), lengths0))
            continue
        ins = [out[i] for i in node.inputs]
        if node.op == "layer":
            assert node.layer is not None
            out.append(_apply_layer(node.name, node.layer, ins[0]))
        else:
            out.append(_merge(node.name, node.op, ins))
    return RFResult(graph, tuple(out), out[graph.output])


def _apply_layer(name: str, layer: Layer, src: NodeRF) -> NodeRF:
    if layer.is_global:
        length = None if src.length is None else layer.output_length(src.length)
        return NodeRF(name, "layer", layer, (src.name,), src.size, src.size_min, src.size_max, src.jump,
                      src.start, src.end, src.offset, True, True, (), length)
    jump, start, end, smin, smax = [], [], [], [], []
    for a in range(layer.dims):
        j = src.jump[a]
        left = layer.padding[a][0]
        reach = (layer.span[a] - 1) * j
        jump.append(j * layer.stride[a])
        start.append(src.start[a] - left * j)
        end.append(src.end[a] - left * j + reach)
        smin.append(src.size_min[a] + reach)
        smax.append(src.size_max[a] + reach)
    length = None
    if src.length is not None:
        try:
            length = layer.output_length(src.length)
        except ShapeError as e:
            raise ShapeError(f"layer {name!r}: {str(e).split(': ', 1)[1]}") from None
    size = tuple(e - s + 1 for s, e in zip(start, end))
    offset = tuple(_num(Fraction(s + e, 2)) for s, e in zip(start, end))
    return NodeRF(name, "layer", layer, (src.name,), size, tuple(smin), tuple(smax), tuple(jump),
                  tuple(start), tuple(end), offset, src.is_global, True, (), length)


def _merge(name: str, op: str, ins: Sequence[NodeRF]) -> NodeRF:
    dims = len(ins[0].size)
    messages = []
    first = ins[0]
    same_jump = all(i.jump == first.jump for i in ins)
    centred = all(i.offset == first.offset for i in ins)
    causal = all(i.end == first.end for i in ins)  # causal stacks line up on the newest sample instead
    if not (same_jump and (centred or causal)):
        for other in ins[1:]:
            if other.jump != first.jump or (other.offset != first.offset and other.end != first.end):
                messages.append(
                    f"merge {name!r} is not aligned: {first.name!r} has jump {list(first.jump)}, centre "
                    f"{_fmt(first.offset)} and end {list(first.end)}, {other.name!r} has jump "
                    f"{list(other.jump)}, centre {_fmt(other.offset)} and end {list(other.end)}; pad or crop "
                    "the branches so their centres (or, for causal stacks, their ends) agree"
                )
        if not messages:
            messages.append(f"merge {name!r} is not aligned: its branches agree neither on their centres "
                            "nor on their ends")
    length = None
    if all(i.length is not None for i in ins):
        # a global branch of length 1 (a squeeze-excitation gate) is broadcast over the others
        sized = [i for i in ins if not (i.is_global and all(n == 1 for n in i.length or ()))] or list(ins)
        known = [i.length for i in sized if i.length is not None]
        if len(set(known)) > 1:
            sizes = ", ".join(f"{i.name!r} {list(i.length or ())}" for i in sized)
            messages.append(f"merge {name!r} joins feature maps of different lengths: {sizes}")
        length = tuple(min(k[a] for k in known) for a in range(dims))
    start = tuple(min(i.start[a] for i in ins) for a in range(dims))
    end = tuple(max(i.end[a] for i in ins) for a in range(dims))
    return NodeRF(
        name, op, None, tuple(i.name for i in ins),
        size=tuple(e - s + 1 for s, e in zip(start, end)),
        size_min=tuple(min(i.size_min[a] for i in ins) for a in range(dims)),
        size_max=tuple(max(i.size_max[a] for i in ins) for a in range(dims)),
        jump=first.jump, start=start, end=end,
        offset=tuple(_num(Fraction(s + e, 2)) for s, e in zip(start, end)),
        is_global=any(i.is_global for i in ins), aligned=not messages, messages=tuple(messages), length=length,
    )


def _fmt(values: tuple[float, ...]) -> str:
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"


def output_length(spec: Spec, input_size: IntArg) -> tuple[int, ...]:
    """Output length per axis of a stack or DAG for an input of ``input_size``.

    >>> from atrous.rf import conv, pool
    >>> output_length([conv(3, padding=1), pool(2), conv(3, dilation=2)], 32)
    (12,)
    """
    result = receptive_field(spec, input_size)
    assert result.output.length is not None
    return result.output.length
