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
from dataclasses import dataclass, field
from fractions import Fraction
from typing import cast

from atrous.errors import ShapeError, bad
from atrous.rf.graph import Graph, Spec, as_graph
from atrous.rf.layer import IntArg, Layer, _per_axis
from atrous.rf.phases import Period, after, merged, minimal_period

__all__ = ["AxisPhases", "NodeRF", "RFResult", "output_length", "receptive_field"]


#: one phase of one axis: ``(start, end, size_min, size_max)`` of the unit, or None when it reads no input
PhaseRF = tuple[int, int, int, int] | None


@dataclass(frozen=True)
class AxisPhases:
    """Every phase of one axis: unit ``r + k * period`` reads ``phases[r]`` moved by ``k * shift`` samples."""

    period: Period
    phases: tuple[PhaseRF, ...]

    def unit(self, i: int) -> PhaseRF:
        """Start, end, size_min and size_max of output unit ``i`` (any integer)."""
        r, by = self.period.unit(i)
        p = self.phases[r]
        return None if p is None else (p[0] + by, p[1] + by, p[2], p[3])

    def minimal(self) -> int:
        """The smallest period of the pattern (a divisor of ``period.period``)."""
        jump = self.period.jump
        return minimal_period(self.period, lambda r, p: self.unit(r + p) == _moved(self.unit(r), int(p * jump)))


def _moved(p: PhaseRF, by: int) -> PhaseRF:
    return None if p is None else (p[0] + by, p[1] + by, p[2], p[3])


@dataclass(frozen=True)
class NodeRF:
    """Receptive-field quantities of one node, one entry per spatial axis.

    ``start``, ``end`` and ``offset`` describe output unit 0 (after a fractional stride: the first unit that
    reads input, when unit 0 reads none). ``size`` is the largest extent over the phases, ``phase_sizes`` the
    extent of each phase (one entry without fractional strides; 0 for a phase that reads nothing), and
    ``size_min``/``size_max`` the smallest and largest receptive field over the paths of the graph and the
    phases. ``jump_exact`` is the exact jump (a :class:`~fractions.Fraction`: ``1/2`` after an upsampling by
    2); ``jump`` holds the same values as plain ints wherever they are integers (every jump of a network without
    fractional strides), so integer arithmetic on it keeps working, and the Fraction otherwise.
    """

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
    phases: tuple[int, ...] = ()
    phase_sizes: tuple[tuple[int, ...], ...] = ()
    notes: tuple[str, ...] = ()
    table: tuple[AxisPhases, ...] = field(default=(), repr=False, compare=False)

    @property
    def jump_exact(self) -> tuple[Fraction, ...]:
        return tuple(Fraction(j) for j in self.jump)

    @property
    def lookback(self) -> tuple[int, ...]:
        return tuple(-s for s in self.start)

    @property
    def lookahead(self) -> tuple[int, ...]:
        return self.end

    @property
    def phase_dependent(self) -> bool:
        """True when neighbouring units read differently shaped or placed patterns (after a fractional stride)."""
        return any(p > 1 for p in self.phases)


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
    def jump_exact(self) -> tuple[Fraction, ...]:
        return self.output.jump_exact

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


def receptive_field(spec: Spec, input_size: IntArg | None = None, node: str | int | None = None) -> RFResult:
    """Receptive field of every node of a stack or DAG.

    Args:
        spec: a :class:`~atrous.rf.graph.Graph`, a list of layers (a chain) or one layer.
        input_size: optional input length (one int for every axis, or one per axis); when given, each node
            also carries its feature-map ``length`` and a merge of branches of different lengths is reported.
        node: the node that ``result.output`` (and attribute access) describes: a name or an index; default the
            graph's output.

    Returns:
        An :class:`RFResult`; ``result.size`` etc. describe the output node, ``result.nodes`` every node.

    >>> from atrous.rf import conv, pool, upsample
    >>> r = receptive_field([conv(3, dilation=d, padding="same") for d in (1, 2, 4)])
    >>> r.size, r.jump, r.offset, [n.size[0] for n in r.nodes[1:]]
    ((15,), (1,), (0.0,), [3, 7, 15])
    >>> receptive_field([conv(2, dilation=d, padding="causal") for d in (1, 2, 4)]).lookahead
    (0,)
    >>> up = receptive_field([pool(2), conv(3, padding=1), upsample(2, "linear")]).output
    >>> up.jump, up.phases, up.phase_sizes, up.size
    ((1,), (2,), ((8, 8),), (8,))
    >>> receptive_field([conv(3, padding=1), upsample(2)]).jump_exact
    (Fraction(1, 2),)
    """
    graph = as_graph(spec)
    target = _index(graph, node)
    dims = graph.dims
    lengths0 = None if input_size is None else _per_axis(input_size, dims, "input_size", "receptive_field", 1)
    out: list[NodeRF] = []
    for g in graph.nodes:
        if g.op == "input":
            table = tuple(AxisPhases(Period(1, 1), ((0, 0, 1, 1),)) for _ in range(dims))
            out.append(_node("input", "input", None, (), table, False, True, (), lengths0))
            continue
        ins = [out[i] for i in g.inputs]
        if g.op == "layer":
            assert g.layer is not None
            out.append(_apply_layer(g.name, g.layer, ins[0]))
        else:
            out.append(_merge(g.name, g.op, ins))
    return RFResult(graph, tuple(out), out[target])


def _index(graph: Graph, node: str | int | None) -> int:
    if node is None:
        return graph.output
    idx = graph.index(node) if isinstance(node, str) else node
    if not isinstance(idx, int) or isinstance(idx, bool) or not 0 <= idx < len(graph.nodes):
        raise bad("receptive_field", "node", f"a node name or an index in 0..{len(graph.nodes) - 1}", node)
    return idx


def _node(name: str, op: str, layer: Layer | None, inputs: tuple[str, ...], table: tuple[AxisPhases, ...],
          is_global: bool, aligned: bool, messages: tuple[str, ...], length: tuple[int, ...] | None,
          notes: tuple[str, ...] = ()) -> NodeRF:
    """A :class:`NodeRF` from its per-axis phase tables."""
    size, smin, smax, start, end, phases, phase_sizes = [], [], [], [], [], [], []
    empty = []
    for a, ax in enumerate(table):
        read = [p for p in ax.phases if p is not None]
        if not read:  # cannot happen from the input: some phase of every node reads something
            raise AssertionError(f"node {name!r} reads no input on axis {a}")
        first = next(ax.unit(i) for i in range(ax.period.period) if ax.unit(i) is not None)
        assert first is not None
        start.append(first[0])
        end.append(first[1])
        p = ax.minimal()
        phases.append(p)
        sizes = tuple(0 if q is None else q[1] - q[0] + 1 for q in ax.phases[:p])
        phase_sizes.append(sizes)
        size.append(max(sizes))
        smin.append(min(q[2] for q in ax.phases if q is not None))
        smax.append(max(q[3] for q in ax.phases if q is not None))
        if any(q is None for q in ax.phases[:p]):
            empty.append(f"{sum(q is None for q in ax.phases[:p])} of {p} phases on axis {a}")
    notes = tuple(notes)
    if empty:
        notes += (f"node {name!r}: some output units read no input ({', '.join(empty)}): the kernel of a transposed "
                  "convolution is shorter than its stride; start and offset describe the first unit that reads "
                  "input",)
    offset = tuple(_num(Fraction(s + e, 2)) for s, e in zip(start, end))
    jump = tuple(_plain(ax.period.jump) for ax in table)
    return NodeRF(name, op, layer, inputs, tuple(size), tuple(smin), tuple(smax), jump, tuple(start), tuple(end),
                  offset, is_global, aligned, messages, length, tuple(phases), tuple(phase_sizes), notes, table)


def _plain(j: Fraction) -> int:
    """An integer jump as an int; a fractional one stays a Fraction (see :attr:`NodeRF.jump`)."""
    return j.numerator if j.denominator == 1 else cast(int, j)


def _apply_layer(name: str, layer: Layer, src: NodeRF) -> NodeRF:
    length = None
    if src.length is not None:
        try:
            length = layer.output_length(src.length)
        except ShapeError as e:
            raise e.at(f"layer {name!r}") from None
    if layer.is_global:
        return _node(name, "layer", layer, (src.name,), src.table, True, True, (), length)
    table = []
    for a, ax in enumerate(src.table):
        per = after(layer, a, ax.period)
        phases: list[PhaseRF] = []
        # without zero insertion on a phase-free input, the taps' units are translations ordered by tap, so
        # the first and the last tap decide the extent (a kernel of 10**9 taps costs two)
        ends_only = layer.upsample[a] == 1 and ax.period.period == 1
        for r in range(per.period):
            units = _units(layer, a, r)
            hits = [ax.unit(j) for j in ([*units[:1], *units[-1:]] if ends_only else units)]
            read = [h for h in hits if h is not None]
            if not read:
                phases.append(None)
                continue
            # a path's extent: from the first tap's start to the last tap's end; the spread between the
            # taps' starts is the union's (exact for chains and wherever the paths share their phase geometry)
            spread = read[-1][0] - read[0][0]
            phases.append((min(h[0] for h in read), max(h[1] for h in read), spread + read[-1][2],
                           spread + read[-1][3]))
        table.append(AxisPhases(per, tuple(phases)))
    return _node(name, "layer", layer, (src.name,), tuple(table), src.is_global, True, (), length)


def _units(layer: Layer, a: int, r: int) -> Sequence[int]:
    """Input units read by output unit ``r`` (in tap order), through the zero insertion."""
    u = layer.upsample[a]
    if u == 1:  # a range, so that a huge kernel costs nothing until it is iterated
        return range(r * layer.stride[a] - layer.padding[a][0],
                     r * layer.stride[a] + layer.kernel[a] * layer.dilation[a] - layer.padding[a][0],
                     layer.dilation[a])
    zs = (r * layer.stride[a] + t * layer.dilation[a] - layer.padding[a][0] for t in range(layer.kernel[a]))
    return [z // u for z in zs if z % u == 0]


def _merge(name: str, op: str, ins: Sequence[NodeRF]) -> NodeRF:
    dims = len(ins[0].size)
    messages: list[str] = []
    notes: list[str] = []
    first = ins[0]
    table = []
    for a in range(dims):
        per = merged(tuple(i.table[a].period for i in ins))
        phases: list[PhaseRF] = []
        for r in range(per.period):
            units = [p for p in (i.table[a].unit(r) for i in ins) if p is not None]
            phases.append(None if not units else (min(p[0] for p in units), max(p[1] for p in units),
                                                  min(p[2] for p in units), max(p[3] for p in units)))
        table.append(AxisPhases(per, tuple(phases)))
    same_jump = all(i.jump == first.jump for i in ins)
    n = max(ax.period.period for ax in table)
    if not any(i.phase_dependent for i in ins):
        centred = all(i.offset == first.offset for i in ins)
        causal = all(i.end == first.end for i in ins)  # causal stacks line up on the newest sample instead
        on_average = centred
    else:  # compare every unit of one common period (centres relative to i * jump repeat with it)
        centred = all(_centres(i, n) == _centres(first, n) for i in ins)
        causal = all(_ends(i, n) == _ends(first, n) for i in ins)
        on_average = all(_mean_centre(i) == _mean_centre(first) for i in ins)
    if not (same_jump and (centred or causal or on_average)):
        for other in ins[1:]:
            if other.jump != first.jump or (_mean_centre(other) != _mean_centre(first) and
                                            _ends(other, n) != _ends(first, n)):
                messages.append(
                    f"merge {name!r} is not aligned: {first.name!r} has jump {_fmt_jump(first.jump)}, centre "
                    f"{_fmt(first.offset)} and end {list(first.end)}, {other.name!r} has jump "
                    f"{_fmt_jump(other.jump)}, centre {_fmt(other.offset)} and end {list(other.end)}; pad or crop "
                    "the branches so their centres (or, for causal stacks, their ends) agree"
                )
        if not messages:
            messages.append(f"merge {name!r} is not aligned: its branches agree neither on their centres "
                            "nor on their ends")
    elif not (centred or causal):
        spread = max(abs(float(c - m)) for i in ins for cs, m in zip(_centres(i, n), _mean_centre(i))
                     for c in cs if c is not None)
        notes.append(f"merge {name!r}: the branches' receptive fields are centred alike on average over the "
                     f"phases, but a phase-dependent branch is off-centre by up to {spread:g} input samples at "
                     "some phases")
    length = None
    if all(i.length is not None for i in ins):
        # a global branch of length 1 (a squeeze-excitation gate) is broadcast over the others
        sized = [i for i in ins if not (i.is_global and all(n == 1 for n in i.length or ()))] or list(ins)
        known = [i.length for i in sized if i.length is not None]
        if len(set(known)) > 1:
            sizes = ", ".join(f"{i.name!r} {list(i.length or ())}" for i in sized)
            messages.append(f"merge {name!r} joins feature maps of different lengths: {sizes}")
        length = tuple(min(k[a] for k in known) for a in range(dims))
    return _node(name, op, None, tuple(i.name for i in ins), tuple(table), any(i.is_global for i in ins),
                 not messages, tuple(messages), length, tuple(notes))


def _centres(node: NodeRF, n: int) -> tuple[tuple[Fraction | None, ...], ...]:
    """Per axis, the centre of units ``0 .. n - 1`` relative to ``i * jump`` (None: the unit reads nothing)."""
    out = []
    for ax in node.table:
        out.append(tuple(None if u is None else Fraction(u[0] + u[1], 2) - i * ax.period.jump
                         for i, u in ((i, ax.unit(i)) for i in range(n))))
    return tuple(out)


def _ends(node: NodeRF, n: int) -> tuple[tuple[int | None, ...], ...]:
    return tuple(tuple(None if u is None else u[1] for u in (ax.unit(i) for i in range(n))) for ax in node.table)


def _mean_centre(node: NodeRF) -> tuple[Fraction, ...]:
    """Per axis, the centre of the units relative to ``i * jump``, averaged over one period."""
    out = []
    for ax in node.table:
        rel = [Fraction(u[0] + u[1], 2) - i * ax.period.jump
               for i, u in ((i, ax.unit(i)) for i in range(ax.period.period)) if u is not None]
        out.append(sum(rel, Fraction(0)) / len(rel))
    return tuple(out)


def _fmt_jump(values: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(v) for v in values) + "]"


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
