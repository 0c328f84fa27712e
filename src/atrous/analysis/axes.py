"""Where the input's spatial axes live inside a tensor: axis tracking through views, reshapes and permutes.

Every dimension of a traced tensor is a product of *factors*, outer to inner, each with a size and a tag:

* ``("s", a)``: the whole spatial axis ``a`` of the input (at its current resolution);
* ``("c", a)`` and ``("f", a)``: the coarse and the fine part of axis ``a`` after a reshape split it (position
  ``p = coarse * r + fine``): space-to-depth, patch embedding, window partitions;
* ``None``: anything else (batch, channels, features, heads).

A reshape regroups the factors (splitting one where a new dimension boundary falls inside it); a permute moves
whole dimensions. So ``x.flatten(2).transpose(1, 2)`` keeps both axes, as tokens, and the matching
``transpose(1, 2).reshape(B, C, H, W)`` restores the standard layout: a token MLP stays local. The geometric
consequences (a fine factor mixed into channels acts as a pooling window; a channel factor that becomes the
inner part of an axis is a nearest-neighbour upsampling, as in pixel shuffle) are decided by the op mappings,
which read :attr:`Layout.dims`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Tag = tuple[str, int] | None
Factor = tuple[Tag, int]
Dim = tuple[Factor, ...]

__all__ = ["Dim", "Factor", "Layout", "LayoutError", "Tag"]


class LayoutError(Exception):
    """A reshape that axis tracking cannot follow (the caller turns it into an UnsupportedOpError)."""


@dataclass(frozen=True)
class Layout:
    """The factors of every dimension of one tensor (sizes multiply to the dimension's length)."""

    dims: tuple[Dim, ...]

    @classmethod
    def standard(cls, shape: tuple[int, ...]) -> Layout:
        """``(batch, channels, *spatial)``: spatial axis ``a`` is dimension ``2 + a``."""
        dims: list[Dim] = [((None, shape[0]),), ((None, shape[1]),)]
        dims += [((("s", a), n),) for a, n in enumerate(shape[2:])]
        return cls(tuple(dims))

    @classmethod
    def plain(cls, shape: tuple[int, ...]) -> Layout:
        """A tensor with no spatial factor (a constant, a global summary)."""
        return cls(tuple(((None, n),) for n in shape))

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(math.prod(n for _, n in d) for d in self.dims)

    @property
    def rank(self) -> int:
        return len(self.dims)

    def spatial_in(self, dim: int) -> list[Factor]:
        """The spatial factors (of length > 1) in dimension ``dim``."""
        return [(t, n) for t, n in self.dims[dim] if t is not None and n > 1]

    def where(self, tag: Tag) -> int | None:
        """The dimension holding the factor ``tag``, if any."""
        for d, dim in enumerate(self.dims):
            if any(t == tag for t, _ in dim):
                return d
        return None

    def replace(self, dim: int, factors: Dim) -> Layout:
        return Layout((*self.dims[:dim], factors, *self.dims[dim + 1:]))

    def drop_spatial(self, dims: list[int]) -> Layout:
        """The same shape with every spatial factor in ``dims`` made plain (its positions were mixed)."""
        out = list(self.dims)
        for d in dims:
            out[d] = tuple((None, n) for _, n in self.dims[d])
        return Layout(tuple(out))

    def permute(self, order: list[int]) -> Layout:
        return Layout(tuple(self.dims[d % self.rank] for d in order))

    def remove(self, dims: list[int]) -> Layout:
        keep = {d % self.rank for d in dims}
        return Layout(tuple(x for i, x in enumerate(self.dims) if i not in keep))

    def insert(self, dim: int, size: int = 1) -> Layout:
        return Layout((*self.dims[:dim], ((None, size),), *self.dims[dim:]))

    def resize(self, dim: int, size: int) -> Layout:
        """Dimension ``dim`` with a new length; its spatial factor (if it is one whole axis) follows."""
        factors = self.dims[dim]
        if len(factors) == 1:
            return self.replace(dim, ((factors[0][0], size),))
        return self.replace(dim, ((None, size),))

    def broadcast(self, shape: tuple[int, ...]) -> Layout:
        """Right-aligned broadcasting to ``shape`` (size-1 dimensions expand; missing leading ones appear)."""
        lead = len(shape) - self.rank
        dims: list[Dim] = [((None, n),) for n in shape[:lead]]
        for d, n in zip(self.dims, shape[lead:]):
            size = math.prod(s for _, s in d)
            dims.append(d if size == n else ((None, n),))
        return Layout(tuple(dims))

    def reshape(self, shape: tuple[int, ...]) -> Layout:
        """Regroup the factors into dimensions of ``shape`` (a view or reshape of a contiguous tensor)."""
        factors = [f for d in self.dims for f in d if f[1] != 1]
        out: list[Dim] = []
        i = 0
        pending: Factor | None = None
        for n in shape:
            dim: list[Factor] = []
            need = n
            while need > 1:
                if pending is None:
                    if i >= len(factors):
                        raise LayoutError(f"cannot regroup {list(self.shape)} into {list(shape)}")
                    pending = factors[i]
                    i += 1
                tag, size = pending
                if size <= need and need % size == 0:
                    dim.append(pending)
                    need //= size
                    pending = None
                elif size % need == 0:  # the boundary falls inside this factor: its outer part fills this dim
                    out_tag, in_tag = _split(tag)
                    dim.append((out_tag, need))
                    pending = (in_tag, size // need)
                    need = 1
                else:
                    raise LayoutError(f"cannot regroup {list(self.shape)} into {list(shape)}: a dimension of "
                                      f"{size} does not divide into {need}")
            out.append(_merge(tuple(dim)) if dim else ((None, 1),))
        if pending is not None or i < len(factors):
            rest = ([pending] if pending else []) + factors[i:]
            if any(n != 1 for _, n in rest):
                raise LayoutError(f"cannot regroup {list(self.shape)} into {list(shape)}")
        return Layout(tuple(out))


def _split(tag: Tag) -> tuple[Tag, Tag]:
    """Tags of the outer and inner parts of a factor split in two."""
    if tag is None:
        return None, None
    kind, a = tag
    if kind == "s":
        return ("c", a), ("f", a)
    raise LayoutError(f"spatial axis {a} is split twice (a nested space-to-depth or window partition)")


def _merge(dim: Dim) -> Dim:
    """Adjacent coarse and fine parts of one axis (in that order) join back into the whole axis."""
    out: list[Factor] = []
    for tag, n in dim:
        if out and tag is not None and tag[0] == "f" and out[-1][0] == ("c", tag[1]):
            prev = out.pop()
            out.append((("s", tag[1]), prev[1] * n))
        else:
            out.append((tag, n))
    return tuple(out)
