"""Abstract values flowing through a traced model: what the tracer knows about each tensor.

A :class:`Val` is a tensor computed from the model's input: the receptive-field graph node that produced it and
the :class:`~atrous.analysis.axes.Layout` of its dimensions (where each spatial axis of the input now lives). A
:class:`Const` is a tensor that does not depend on the input (a parameter, a buffer, a freshly created tensor).
An :class:`Opaque` value was computed by an operation atrous cannot map: everything downstream of it is opaque
too, while the nodes before it can still be analysed (``node=``).
"""

from __future__ import annotations

from dataclasses import dataclass

from atrous.analysis.axes import Layout

__all__ = ["Const", "Opaque", "Val"]


@dataclass(frozen=True)
class Val:
    node: int
    layout: Layout

    @property
    def shape(self) -> tuple[int, ...]:
        return self.layout.shape

    @property
    def rank(self) -> int:
        return self.layout.rank


@dataclass(frozen=True)
class Const:
    """A tensor that does not depend on the model's input."""


@dataclass(frozen=True)
class Opaque:
    error: Exception
