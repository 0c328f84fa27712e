"""What every atrous module and model shares: ``receptive_field()``, composed from its own ``rf_spec``."""

from __future__ import annotations

from typing import Any

from atrous import rf


class ReceptiveFieldMixin:
    """Gives ``receptive_field()`` and ``rf_graph()`` to a module that implements ``rf_spec(graph, src)``;
    ``rf_dims`` is its number of spatial axes."""

    rf_dims = 1

    def rf_spec(self, graph: rf.Graph, src: int, name: str = "") -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def rf_graph(self) -> rf.Graph:
        """The receptive-field skeleton of the whole model."""
        graph = rf.Graph(dims=self.rf_dims)
        graph.set_output(self.rf_spec(graph, graph.input))
        return graph

    def receptive_field(self, input_size: Any = None) -> rf.RFResult:
        """Receptive field of the model's output, computed by :mod:`atrous.rf` from the model's own layers."""
        return rf.receptive_field(self.rf_graph(), input_size)
