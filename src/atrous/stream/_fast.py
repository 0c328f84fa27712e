"""The ring executor: one sample of a :class:`~atrous.stream.ir.Program` on ring buffers written in place, for
:class:`atrous.stream.StreamingModule` (``engine="torch"``: any device and dtype).

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

from atrous.stream import ir

__all__ = ["from_linear", "run1", "to_linear"]


def to_linear(rings: list[Tensor], t: int) -> tuple[Tensor, ...]:
    """Functional state ``(B, C, L)`` (oldest first) from rings ``(L, B, C)`` after ``t`` steps."""
    return tuple(torch.roll(r, -(t % r.shape[0]), dims=0).permute(1, 2, 0).clone(memory_format=torch.contiguous_format)
                 for r in rings)


def from_linear(state: tuple[Tensor, ...]) -> list[Tensor]:
    """Rings at ``t = 0`` from a functional state."""
    return [s.permute(2, 0, 1).clone(memory_format=torch.contiguous_format) for s in state]


def _conv(op: ir.Conv, x: Tensor, rings: list[Tensor], t: int) -> Tensor:
    weight, bias = op.params()
    if op.slot is None:
        return F.linear(x, weight[:, :, 0], bias) if op.groups == 1 else \
            F.conv1d(x[:, :, None], weight, bias, groups=op.groups)[:, :, 0]
    ring, d, k = rings[op.slot], op.dilation, op.kernel
    length = ring.shape[0]
    taps = [ring[(t - m * d) % length] for m in range(k - 1, 0, -1)]
    taps.append(x)
    stacked = torch.stack(taps, dim=2)  # before the write below, which overwrites the oldest tap's row
    ring[t % length] = x
    if op.groups == 1:
        return F.linear(stacked.reshape(x.shape[0], -1), weight.reshape(weight.shape[0], -1), bias)
    return F.conv1d(stacked, weight, bias, groups=op.groups)[:, :, 0]


def run1(program: ir.Program, inputs: dict[str, Tensor], rings: list[Tensor], t: int) -> Tensor:
    """One time step (inputs ``(B, C)``) through ``program``; writes the rings in place; returns ``(B, C_out)``."""
    program.check_eval()
    env: list[Tensor | None] = [None] * len(program.channels)
    for op in program.ops:
        if isinstance(op, ir.Input):
            y = inputs[op.name]
        elif isinstance(op, ir.Conv):
            y = _conv(op, env[op.src], rings, t)  # type: ignore[arg-type]
        else:
            y = ir.pointwise(op, env, timed=False)
        env[op.out] = y
    out = env[program.outputs[0]]
    assert out is not None
    return out
