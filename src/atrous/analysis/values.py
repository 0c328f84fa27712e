"""Abstract values flowing through a traced model: what the tracer knows about each tensor.

A :class:`Val` is a tensor computed from the model's input: the receptive-field graph node that produced
it, its (partly known) shape, and where each spatial axis of the input now lives among its dimensions
(``None`` once an axis has been folded away, e.g. by ``flatten``). A :class:`Const` is a tensor that does not
depend on the input (a parameter, a buffer, a freshly created tensor).
"""

from __future__ import annotations

from dataclasses import dataclass

Shape = tuple[int | None, ...]


@dataclass(frozen=True)
class Val:
    node: int
    shape: Shape
    axes: tuple[int | None, ...]

    @property
    def rank(self) -> int:
        return len(self.shape)

    def spatial(self) -> tuple[int, ...]:
        """Lengths of the spatial axes that are still present (in input-axis order)."""
        return tuple(self.shape[d] or 0 for d in self.axes if d is not None)

    def is_spatial_dim(self, dim: int) -> bool:
        return dim % self.rank in {d for d in self.axes if d is not None}

    @property
    def standard(self) -> bool:
        """True when the spatial axes sit, in order, at dims 2.. (the layout of Conv*d and pooling)."""
        return self.axes == tuple(range(2, 2 + len(self.axes))) and self.rank == 2 + len(self.axes)


@dataclass(frozen=True)
class Const:
    """A tensor that does not depend on the model's input."""

    shape: Shape | None = None


@dataclass(frozen=True)
class Opaque:
    """A value computed by an operation atrous cannot map: everything downstream of it is opaque too, while
    the nodes before it can still be analysed (``--node``)."""

    error: Exception
