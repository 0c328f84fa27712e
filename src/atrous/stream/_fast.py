"""One-sample steps on ring buffers, for :class:`atrous.stream.StreamingModule`.

The functional step copies each layer's whole buffer every step (concatenate, keep the tail), which costs
``O(sum of (k - 1) d C)`` per sample. Here each layer keeps a ring ``(L_i, B, C_i)`` written in place at position
``t mod L_i``: a step reads the ``k - 1`` past taps and writes one row, ``O(k C)`` per layer. Tap ``m`` of a layer
(``m * d`` samples back) lies in row ``(t - m d) mod L``. The rows of a ring rotated by ``t mod L`` are the
functional state (see :func:`to_linear`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from atrous.stream import _plan as P

__all__ = ["from_linear", "run1", "to_linear"]


def to_linear(rings: list[Tensor], t: int) -> tuple[Tensor, ...]:
    """Functional state ``(B, C, L)`` (oldest first) from rings ``(L, B, C)`` after ``t`` steps."""
    return tuple(torch.roll(r, -(t % r.shape[0]), dims=0).permute(1, 2, 0).clone(memory_format=torch.contiguous_format)
                 for r in rings)


def from_linear(state: tuple[Tensor, ...]) -> list[Tensor]:
    """Rings at ``t = 0`` from a functional state."""
    return [s.permute(2, 0, 1).clone(memory_format=torch.contiguous_format) for s in state]


def _conv(node: P._Conv, x: Tensor, rings: list[Tensor], t: int | Tensor) -> Tensor:
    weight, bias = node.weight_bias()
    k = weight.shape[2]
    if node.slot is None:
        return F.linear(x, weight[:, :, 0], bias) if node.groups == 1 else \
            F.conv1d(x[:, :, None], weight, bias, groups=node.groups)[:, :, 0]
    ring, d = rings[node.slot], node.dilation
    length = ring.shape[0]
    taps = [ring[(t - m * d) % length] for m in range(k - 1, 0, -1)]
    taps.append(x)
    stacked = torch.stack(taps, dim=2)  # before the write below, which overwrites the oldest tap's row
    ring[t % length] = x
    if node.groups == 1:
        return F.linear(stacked.reshape(x.shape[0], -1), weight.reshape(weight.shape[0], -1), bias)
    return F.conv1d(stacked, weight, bias, groups=node.groups)[:, :, 0]


def run1(node: P._Node, x: Tensor, rings: list[Tensor], t: int | Tensor) -> Tensor:
    """One time step ``x`` ``(B, C)`` through ``node``; writes the rings in place."""
    if isinstance(node, P._Conv):
        return _conv(node, x, rings, t)
    if isinstance(node, P._Pointwise):
        return node.run(x[:, :, None], (), [])[:, :, 0] if isinstance(node.module, torch.nn.BatchNorm1d) \
            else node.run(x, (), [])
    if isinstance(node, P._Sequential):
        for child in node.children:
            x = run1(child, x, rings, t)
        return x
    if isinstance(node, P._Temporal):
        out = run1(node.dropout, F.relu(run1(node.conv1, x, rings, t)), rings, t)
        out = run1(node.dropout, F.relu(run1(node.conv2, out, rings, t)), rings, t)
        res = x if node.down is None else run1(node.down, x, rings, t)
        return F.relu(out + res)
    if isinstance(node, P._TCN):
        for level in node.levels:
            x = run1(level, x, rings, t)
        return x if node.head is None else run1(node.head, x, rings, t)
    if isinstance(node, P._Gated):
        return _gated(node, x, rings, t)[0]
    assert isinstance(node, P._WaveNet)
    h = run1(node.stem, x, rings, t)
    total: Tensor | None = None
    for block in node.blocks:
        h, skip = _gated(block, h, rings, t)
        total = skip if total is None else total + skip
    assert total is not None
    return run1(node.head, total, rings, t)


def _gated(node: P._Gated, x: Tensor, rings: list[Tensor], t: int | Tensor) -> tuple[Tensor, Tensor]:
    h = run1(node.conv, x, rings, t)
    z = h[:, :node.gate].tanh() * h[:, node.gate:].sigmoid()
    res = x if node.res is None else x + run1(node.res, z, rings, t)
    return res, run1(node.skip, z, rings, t)
