"""The result of tracing: a model's receptive-field graph and how its modules and outputs map onto it."""

from __future__ import annotations

from dataclasses import dataclass, field

from atrous import rf
from atrous.errors import ConfigError

__all__ = ["TracedModel"]


@dataclass
class TracedModel:
    """The receptive-field graph of a traced model and how its modules and outputs map onto it."""

    graph: rf.Graph
    input_shape: tuple[int, ...]
    #: module qualified name -> receptive-field node of its output (``layer4`` -> its last block's output)
    modules: dict[str, int] = field(default_factory=dict)
    #: module qualified name -> its class name; and the modules without children
    module_types: dict[str, str] = field(default_factory=dict)
    leaf_paths: set[str] = field(default_factory=set)
    #: receptive-field node index -> operation label (module type or op name)
    ops: dict[int, str] = field(default_factory=dict)
    #: output name -> receptive-field node ("output" for a single tensor; dict keys or tuple positions)
    outputs: dict[str, int] = field(default_factory=dict)
    #: every output that depends on the input, in the order the model returns them (opaque ones included)
    output_keys: list[str] = field(default_factory=list)
    #: things the user should know: input-size dependent pooling, global operations, ...
    notes: list[str] = field(default_factory=list)
    #: receptive-field nodes whose tensor holds every spatial axis whole (candidates for "last spatial map")
    spatial_nodes: set[int] = field(default_factory=set)
    #: the spatial nodes laid out (batch, channels, *spatial), as modules' outputs are measured with gradients
    standard_nodes: set[int] = field(default_factory=set)
    #: outputs, modules and op sites that depend on an operation atrous cannot map, with the reason
    opaque: dict[str, Exception] = field(default_factory=dict)
    #: ops whose stride depends on the input size (every align_corners=True resize)
    size_dependent: list[str] = field(default_factory=list)
    #: nodes made by an adaptive pooling to a fixed size other than its input's (VGG's pooling to 7 x 7): the head
    #: of a classifier, whose windows change with the input size; the last spatial map is taken before them
    fixed_size_pools: set[int] = field(default_factory=set)
    #: nodes whose layer is a sound enclosing bound rather than the exact field, with the reason
    bounds: dict[int, str] = field(default_factory=dict)

    @property
    def input_size(self) -> tuple[int, ...]:
        return self.input_shape[2:]

    def resolve(self, name: str) -> int:
        """Receptive-field node for a graph node name, a module name, or an output name."""
        if name in self.graph._names:
            return self.graph.index(name)
        for table in (self.modules, self.outputs):
            if name in table:
                return table[name]
        if name in self.opaque:
            raise self.opaque[name]
        known = sorted(self.modules)[:6]
        raise ConfigError(f"analyze: node must be a node or module name of the model, got {name!r}; "
                          f"for example {', '.join(known)}")

    def ancestors(self, node: int) -> set[int]:
        seen = {node}
        todo = [node]
        while todo:
            for i in self.graph.nodes[todo.pop()].inputs:
                if i not in seen:
                    seen.add(i)
                    todo.append(i)
        return seen

    def exact(self, node: int) -> bool:
        """False where some layer on the way to ``node`` is an enclosing bound."""
        return not (self.ancestors(node) & set(self.bounds))

    def last_spatial(self, node: int) -> int | None:
        """The last node at or before ``node`` that keeps every spatial axis (the map before global pooling), and
        is not at or after an adaptive pooling to a fixed size (a pooling head, whose windows depend on the
        input size)."""
        after_pool: set[int] = set()
        for i, n in enumerate(self.graph.nodes):  # inputs come before the nodes that read them
            if i in self.fixed_size_pools or any(j in after_pool for j in n.inputs):
                after_pool.add(i)
        for i in sorted(self.ancestors(node), reverse=True):
            layer = self.graph.nodes[i].layer
            if i in self.spatial_nodes and i > 0 and i not in after_pool \
                    and not (layer is not None and layer.is_global):
                return i
        return None
