"""Pure functional streaming: ``state = init_state(model, B)``, then ``y, state = step(model, chunk, state)``.

The state is a flat tuple of tensors in a fixed order, one per convolution that reads the past: slot ``i`` is
``(B, C_i, (k_i - 1) d_i)``, the last ``(k_i - 1) d_i`` inputs of that layer (zeros at the start, which is the
offline model's zero padding). :func:`state_slots` names them. ``step`` never writes into the state it is given;
it returns new tensors, so a state can be kept, replayed or branched.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from atrous.errors import ConfigError, ShapeError
from atrous.stream import _chunk
from atrous.stream.ir import Program, Slot, lower

__all__ = ["State", "init_state", "state_dict_view", "state_slots", "step"]

State = tuple[Tensor, ...]


def _model_dtype(model: nn.Module) -> torch.dtype:
    p = next(model.parameters(), None)
    return torch.get_default_dtype() if p is None else p.dtype


def _model_device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return torch.device("cpu") if p is None else p.device


def state_slots(model: nn.Module) -> list[Slot]:
    """The layout of ``model``'s streaming state: one :class:`Slot` (layer name, channels, length) per tensor.

    >>> from atrous.nn import CausalConv1d
    >>> state_slots(torch.nn.Sequential(CausalConv1d(2, 4, 3, dilation=2), torch.nn.ReLU()))
    [Slot(name='0', channels=2, length=4)]
    """
    return list(lower(model).slots)


def init_state(model: nn.Module, batch_size: int, dtype: torch.dtype | None = None,
               device: Any = None) -> State:
    """A fresh (all-zero) streaming state for ``batch_size`` streams through ``model``.

    Args:
        model: a causal model (see :mod:`atrous.stream` for what is supported); raises
            :class:`~atrous.errors.UnsupportedOpError` naming the first layer that looks ahead or cannot stream.
        batch_size: number of independent streams ``B``.
        dtype, device: of the state; default the model's parameters'.

    Returns:
        a tuple of tensors ``(B, C_i, L_i)``, in the order of :func:`state_slots`.

    >>> from atrous.nn import CausalConv1d
    >>> [s.shape for s in init_state(CausalConv1d(2, 4, 3, dilation=2), batch_size=5)]
    [torch.Size([5, 2, 4])]
    """
    program = lower(model)
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ConfigError(f"init_state: batch_size must be a positive int, got {batch_size!r}")
    dtype = _model_dtype(model) if dtype is None else dtype
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ConfigError(f"init_state: dtype must be a floating torch.dtype, got {dtype!r}")
    device = _model_device(model) if device is None else device
    return tuple(torch.zeros(batch_size, s.channels, s.length, dtype=dtype, device=device) for s in program.slots)


def state_dict_view(model: nn.Module, state: Sequence[Tensor]) -> dict[str, Tensor]:
    """The state keyed by layer name (the same tensors, no copies)."""
    slots = lower(model).slots
    _check_state(slots, state, None, "state_dict_view")
    return {s.name: t for s, t in zip(slots, state)}


def _check_state(slots: list[Slot], state: Any, batch: int | None, where: str) -> None:
    if not isinstance(state, (tuple, list)) or not all(isinstance(t, Tensor) for t in state):
        raise ConfigError(f"{where}: state must be the tuple of tensors from init_state or step, got "
                          f"{type(state).__name__}")
    if len(state) != len(slots):
        raise ConfigError(f"{where}: state must have {len(slots)} tensors for this model, got {len(state)}; "
                          "it comes from another model")
    for s, t in zip(slots, state):
        if t.dim() != 3 or t.shape[1:] != (s.channels, s.length):
            raise ConfigError(f"{where}: state for layer {s.name!r} must have shape (B, {s.channels}, {s.length}), "
                              f"got {tuple(t.shape)}; it comes from another model")
        if batch is not None and t.shape[0] != batch:
            raise ShapeError(f"{where}: state batch size must equal the chunk's {batch}, got {t.shape[0]}; "
                             "use init_state(model, batch_size) with the chunk's batch size")
    if state and any(t.dtype != state[0].dtype or t.device != state[0].device for t in state):
        raise ConfigError(f"{where}: state tensors must share one dtype and device, got "
                          f"{sorted({(str(t.dtype), str(t.device)) for t in state})}")


def _check_chunk(x: Any, in_channels: int | None, state: Sequence[Tensor], model: nn.Module) -> None:
    if not isinstance(x, Tensor) or x.dim() != 3:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ShapeError(f"step: chunk must be a 3-D tensor (B, C, L), got shape {shape}")
    if in_channels is not None and x.shape[1] != in_channels:
        raise ShapeError(f"step: chunk must have {in_channels} channels, got {x.shape[1]} (shape {tuple(x.shape)})")
    if x.shape[2] < 1:
        raise ShapeError(f"step: chunk length must be at least 1, got shape {tuple(x.shape)}")
    want = state[0].dtype if state else _model_dtype(model)
    if x.dtype != want:
        raise ShapeError(f"step: chunk dtype must be the state's {want}, got {x.dtype}")
    if state and x.device != state[0].device:
        raise ShapeError(f"step: chunk must be on the state's device {state[0].device}, got {x.device}")


def _apply_reset(state: Sequence[Tensor], reset: Any, batch: int) -> Sequence[Tensor]:
    if not isinstance(reset, Tensor) or reset.dtype != torch.bool or tuple(reset.shape) != (batch,):
        got = f"{reset.dtype} {tuple(reset.shape)}" if isinstance(reset, Tensor) else type(reset).__name__
        raise ShapeError(f"step: reset must be None or a bool tensor of shape ({batch},), got {got}")
    mask = reset.to(state[0].device)[:, None, None] if state else reset
    return tuple(t.masked_fill(mask, 0) for t in state)


def _check_cond(program: Program, cond: Any, x: Tensor, where: str) -> dict[str, Tensor]:
    """The inputs of one chunk: ``x`` and, for a conditioned model, ``cond``."""
    side = program.inputs.get("cond")
    if side is None:
        if cond is not None:
            raise ShapeError(f"{where}: cond must be None for a model without conditioning, got "
                             f"{tuple(cond.shape) if isinstance(cond, Tensor) else type(cond).__name__}")
        return {"x": x}
    B, T = x.shape[0], x.shape[2]
    ok = isinstance(cond, Tensor) and cond.dim() == 3 and cond.shape[0] == B and cond.shape[1] == side.channels \
        and cond.shape[2] in (1, T) and cond.dtype == x.dtype and cond.device == x.device
    if not ok:
        got = f"{tuple(cond.shape)} {cond.dtype}" if isinstance(cond, Tensor) else type(cond).__name__
        raise ShapeError(f"{where}: cond must be a ({B}, {side.channels}, {T}) tensor (local conditioning, one "
                         f"column per sample of the chunk) or ({B}, {side.channels}, 1) (global) of the chunk's "
                         f"dtype and device, got {got}")
    return {"x": x, "cond": cond}


def step(model: nn.Module, x: Tensor, state: Sequence[Tensor], reset: Tensor | None = None,
         cond: Tensor | None = None) -> tuple[Tensor, State]:
    """Run one chunk of ``B`` streams through ``model``; returns ``(y, new_state)``.

    Args:
        model: a causal model in eval mode where it matters (dropout, batch norm).
        x: the next chunk ``(B, C_in, T)``, any ``T >= 1`` (shorter than a layer's padding too).
        state: from :func:`init_state` or the previous ``step``; not modified.
        reset: optional bool ``(B,)``: streams whose state is zeroed before this chunk (they start afresh).
        cond: for a conditioned model (WaveNet with ``cond_channels``): ``(B, C_cond, T)``, the conditioning
            of these ``T`` samples (local), or ``(B, C_cond, 1)``, one vector per stream (global).

    Returns:
        ``y`` ``(B, C_out, T)``: the model's output at these ``T`` time steps, equal to the offline output over the
        whole stream so far (zero-padded at its start); and the new state.

    Shape:
        ``(B, C_in, T) -> (B, C_out, T)``; ``(B, T, C_in) -> (B, T, C_out)`` for a model that reads that layout
        (pytorch-tcn's ``input_shape='NLC'``; error messages then describe the chunk as ``(B, C, T)``).

    >>> from atrous.models import create_model
    >>> model = create_model("tcn", channels=[4, 4]).eval()
    >>> x = torch.randn(2, 1, 10)
    >>> state = init_state(model, 2)
    >>> y1, state = step(model, x[..., :3], state)
    >>> y2, state = step(model, x[..., 3:], state)
    >>> torch.allclose(torch.cat([y1, y2], 2), model(x), atol=1e-6)
    True
    """
    program = lower(model)
    nlc = program.layout == "NLC" and isinstance(x, Tensor) and x.dim() == 3
    if nlc:  # a model that reads (B, T, C): the executors run (B, C, T)
        x = x.transpose(1, 2)
    _check_state(program.slots, state, x.shape[0] if isinstance(x, Tensor) and x.dim() == 3 else None, "step")
    _check_chunk(x, program.in_channels, state, model)
    inputs = _check_cond(program, cond, x, "step")
    if reset is not None:
        state = _apply_reset(state, reset, x.shape[0])
    y, new = _chunk.run(program, inputs, tuple(state))
    return (y.transpose(1, 2) if nlc else y), tuple(new)
