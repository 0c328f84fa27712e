"""A DAG of layer specs: chains, parallel branches, and merges by add, mul or concatenation.

Nodes are appended in topological order (a node's inputs must already exist), so every analysis is one
pass over ``graph.nodes``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from atrous.errors import ConfigError, bad
from atrous.rf.layer import Layer

__all__ = ["MERGES", "Graph", "Node", "Spec", "as_graph"]

MERGES = ("add", "mul", "cat")


@dataclass(frozen=True)
class Node:
    """One node: the input, a layer applied to one node, or a merge of several nodes."""

    name: str
    op: str  # "input", "layer" or one of MERGES
    inputs: tuple[int, ...]
    layer: Layer | None = None


class Graph:
    """A DAG of :class:`~atrous.rf.layer.Layer` specs with one input and one output.

    >>> from atrous.rf import conv
    >>> g = Graph(dims=1)
    >>> trunk = g.chain([conv(3, padding=1), conv(3, padding=1)])
    >>> branches = [g.add(conv(3, dilation=r, padding=r), trunk, name=f"rate{r}") for r in (1, 2, 4)]
    >>> out = g.merge(branches, op="cat", name="aspp")
    >>> [n.name for n in g.nodes]
    ['input', 'layer1', 'layer2', 'rate1', 'rate2', 'rate4', 'aspp']
    """

    def __init__(self, dims: int = 1) -> None:
        if not isinstance(dims, int) or isinstance(dims, bool) or not 1 <= dims <= 3:
            raise bad("Graph", "dims", "1, 2 or 3", dims)
        self.dims = dims
        self.nodes: list[Node] = [Node("input", "input", ())]
        self._output: int | None = None
        self._names = {"input"}

    @property
    def input(self) -> int:
        return 0

    @property
    def output(self) -> int:
        """The output node: the last node added unless :meth:`set_output` chose another."""
        return len(self.nodes) - 1 if self._output is None else self._output

    def set_output(self, node: int) -> None:
        self._check_node(node, "node")
        self._output = node

    def add(self, layer: Layer, src: int | None = None, name: str | None = None) -> int:
        """Apply ``layer`` to node ``src`` (default: the last node); returns the new node's index."""
        if not isinstance(layer, Layer):
            raise bad("Graph.add", "layer", "an atrous.rf.Layer", layer)
        if layer.dims != self.dims:
            raise bad("Graph.add", "layer", f"a {self.dims}-D layer like the graph", layer.describe())
        src = len(self.nodes) - 1 if src is None else src
        self._check_node(src, "src")
        n_layers = sum(1 for n in self.nodes if n.op == "layer")
        return self._append(Node(self._name(name or layer.name or f"layer{n_layers + 1}"), "layer", (src,), layer))

    def chain(self, layers: Iterable[Layer], src: int | None = None) -> int:
        """Apply ``layers`` one after the other starting at ``src``; returns the last node."""
        node = len(self.nodes) - 1 if src is None else src
        for layer in layers:
            node = self.add(layer, node)
        return node

    def merge(self, srcs: Sequence[int], op: str = "add", name: str | None = None) -> int:
        """Merge parallel nodes by ``"add"``, ``"mul"`` or ``"cat"`` (channel concatenation)."""
        if op not in MERGES:
            raise bad("Graph.merge", "op", f"one of {', '.join(MERGES)}", op)
        if len(srcs) < 2:
            raise bad("Graph.merge", "srcs", "at least two nodes", list(srcs))
        for s in srcs:
            self._check_node(s, "srcs")
        n_merges = sum(1 for n in self.nodes if n.op in MERGES)
        return self._append(Node(self._name(name or f"{op}{n_merges + 1}"), op, tuple(srcs)))

    def _append(self, node: Node) -> int:
        self.nodes.append(node)
        self._names.add(node.name)
        return len(self.nodes) - 1

    def _name(self, name: str) -> str:
        if name not in self._names:
            return name
        i = 2
        while f"{name}_{i}" in self._names:
            i += 1
        return f"{name}_{i}"

    def _check_node(self, node: object, arg: str) -> None:
        if not isinstance(node, int) or isinstance(node, bool) or not 0 <= node < len(self.nodes):
            raise bad("Graph", arg, f"an existing node index in 0..{len(self.nodes) - 1}", node)

    def index(self, name: str) -> int:
        """Index of the node called ``name``."""
        for i, n in enumerate(self.nodes):
            if n.name == name:
                return i
        raise ConfigError(f"Graph: node must be one of the graph's node names, got {name!r}")

    @classmethod
    def from_layers(cls, layers: Sequence[Layer]) -> Graph:
        """A chain: every layer applied to the previous one."""
        layers = list(layers)
        if not layers:
            raise bad("Graph.from_layers", "layers", "a non-empty list of layers", layers)
        if not all(isinstance(x, Layer) for x in layers):
            raise bad("Graph.from_layers", "layers", "a list of atrous.rf.Layer", layers)
        dims = {x.dims for x in layers}
        if len(dims) > 1:
            raise bad("Graph.from_layers", "layers", "all of the same number of spatial axes", sorted(dims))
        g = cls(dims=layers[0].dims)
        g.chain(layers)
        return g


Spec = Graph | Sequence[Layer] | Layer


def as_graph(spec: Spec) -> Graph:
    """A :class:`Graph` from a graph, a list of layers (a chain) or a single layer."""
    if isinstance(spec, Graph):
        return spec  # a graph of the input alone is the identity (a model without spatial layers)
    if isinstance(spec, Layer):
        return Graph.from_layers([spec])
    if isinstance(spec, Sequence) and not isinstance(spec, str):
        return Graph.from_layers(spec)
    raise bad("atrous.rf", "spec", "a Graph, a Layer or a list of Layers", spec)
