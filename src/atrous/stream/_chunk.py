"""The torch chunk executor: a :class:`~atrous.stream.ir.Program` run over a chunk ``(B, C, T)`` with the state as
explicit tensors (pure: the given state is never written). Traceable, so :class:`~atrous.stream.StreamStep`
exports it to ONNX."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from atrous.stream import ir

__all__ = ["run"]


def _conv(op: ir.Conv, x: Tensor, old: tuple[Tensor, ...], new: list[Tensor]) -> Tensor:
    weight, bias = op.params()
    if op.slot is None:
        return F.conv1d(x, weight, bias, 1, 0, 1, op.groups)
    length = x.shape[2]
    x = torch.cat([old[op.slot], x], dim=2)
    new[op.slot] = x[:, :, x.shape[2] - op.span:]
    if op.groups != 1:
        return F.conv1d(x, weight, bias, 1, 0, op.dilation, op.groups)
    # gather the k taps and contract: F.conv1d is slow for large dilations over a long buffer
    d = op.dilation
    taps = torch.stack([x[:, :, j * d:j * d + length] for j in range(op.kernel)], dim=2)
    y = torch.einsum("bckt,ock->bot", taps, weight)
    return y if bias is None else y + bias[:, None]


def run(program: ir.Program, inputs: dict[str, Tensor], state: tuple[Tensor, ...]) -> tuple[Tensor, list[Tensor]]:
    """The first output for these inputs (``x`` ``(B, C, T)``, side inputs ``(B, C', T)`` or ``(B, C', 1)``) and
    the new state."""
    program.check_eval()
    new = list(state)
    env: list[Tensor | None] = [None] * len(program.channels)
    for op in program.ops:
        if isinstance(op, ir.Input):
            y = inputs[op.name]
        elif isinstance(op, ir.Conv):
            y = _conv(op, env[op.src], state, new)  # type: ignore[arg-type]
        else:
            y = ir.pointwise(op, env, timed=True)
        env[op.out] = y
    out = env[program.outputs[0]]
    assert out is not None
    return out, new
