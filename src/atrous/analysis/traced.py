"""The result of tracing: a model's receptive-field graph and how its fx nodes and modules map onto it."""

from __future__ import annotations

from dataclasses import dataclass, field

from atrous import rf
from atrous.errors import ConfigError

__all__ = ["TracedModel"]


@dataclass
class TracedModel:
    """The receptive-field graph of a traced model and how its fx nodes map onto it."""

    graph: rf.Graph
    input_shape: tuple[int, ...]
    #: fx node name -> receptive-field node index (pointwise nodes alias the node they read)
    aliases: dict[str, int] = field(default_factory=dict)
    #: module qualified name -> receptive-field node of its last fx node (``layer4`` -> its last block)
    modules: dict[str, int] = field(default_factory=dict)
    #: receptive-field node index -> operation label (module type or function name)
    ops: dict[int, str] = field(default_factory=dict)
    #: output name -> receptive-field node ("output" for a single tensor; dict keys or tuple positions)
    outputs: dict[str, int] = field(default_factory=dict)
    #: things the user should know: input-size dependent pooling, statistics ignored, ...
    notes: list[str] = field(default_factory=list)
    #: receptive-field nodes whose tensor still has every spatial axis (candidates for "last spatial map")
    spatial_nodes: set[int] = field(default_factory=set)
    #: outputs (and fx nodes) that depend on an operation atrous cannot map, with the reason
    opaque: dict[str, Exception] = field(default_factory=dict)

    @property
    def input_size(self) -> tuple[int, ...]:
        return self.input_shape[2:]

    def resolve(self, name: str) -> int:
        """Receptive-field node for an fx node name, a module name, or an output name."""
        for table in (self.aliases, self.modules, self.outputs):
            if name in table:
                return table[name]
        if name in self.opaque:
            raise self.opaque[name]
        known = sorted(self.modules)[:6]
        raise ConfigError(f"analyze: node must be an fx node or module name of the model, got {name!r}; "
                          f"for example {', '.join(known)}")

    def last_spatial(self, node: int) -> int | None:
        """The last node at or before ``node`` that keeps every spatial axis (the map before global pooling)."""
        for i in range(node, 0, -1):
            layer = self.graph.nodes[i].layer
            if i in self.spatial_nodes and not (layer is not None and layer.kind == "global"):
                return i
        return None
