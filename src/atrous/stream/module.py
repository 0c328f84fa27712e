"""Stateful and exportable wrappers around :func:`atrous.stream.step`."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from atrous.errors import ShapeError
from atrous.stream import _fast
from atrous.stream._plan import build_plan
from atrous.stream.functional import State, _check_chunk, init_state, step

__all__ = ["StreamStep", "StreamingModule"]


class StreamingModule:
    """Keeps the state of ``batch_size`` streams through ``model``: ``y = stream(chunk)``, ``stream.reset()``.

    Inference only (runs under ``torch.no_grad``). One-sample chunks take a faster path than :func:`step`: each
    layer keeps a ring buffer written in place (one row per step) instead of a buffer copied every step; longer
    chunks go through :func:`step`. Both give the offline model's outputs.

    Args:
        model: a causal model (see :mod:`atrous.stream`); put it in eval mode first.
        batch_size: number of streams ``B``.
        dtype, device: of the state; default the model's parameters'.

    >>> from atrous.models import create_model
    >>> model = create_model("wavenet", cycles=1, layers_per_cycle=3).eval()
    >>> stream = StreamingModule(model, batch_size=2)
    >>> x = torch.randn(2, 1, 9)
    >>> y = torch.cat([stream(x[..., :4]), *(stream(x[..., t:t + 1]) for t in range(4, 9))], dim=2)
    >>> torch.allclose(y, model(x), atol=1e-6)
    True
    """

    def __init__(self, model: nn.Module, batch_size: int, dtype: torch.dtype | None = None,
                 device: Any = None) -> None:
        self.model = model
        self.batch_size = batch_size
        self._plan = build_plan(model)
        self._rings = _fast.from_linear(init_state(model, batch_size, dtype=dtype, device=device))
        self._t = 0

    @property
    def state(self) -> State:
        """A copy of the current state in :func:`step`'s layout."""
        return _fast.to_linear(self._rings, self._t)

    def __call__(self, chunk: Tensor, reset: Tensor | None = None) -> Tensor:
        """The output for ``chunk`` ``(B, C_in, T)``; ``reset`` (bool ``(B,)``) restarts the selected streams."""
        if isinstance(chunk, Tensor) and chunk.dim() == 3 and chunk.shape[0] != self.batch_size:
            raise ShapeError(f"StreamingModule: chunk batch size must be {self.batch_size}, got {chunk.shape[0]}")
        _check_chunk(chunk, self._plan.in_channels, self._rings, self.model)
        if reset is not None:
            self.reset(reset)
        with torch.no_grad():
            if chunk.shape[2] == 1:
                y = _fast.run1(self._plan.root, chunk[:, :, 0], self._rings, self._t)
                self._t += 1
                return y[:, :, None]
            y, state = step(self.model, chunk, self.state)
            self._rings, self._t = _fast.from_linear(state), 0
            return y

    def reset(self, mask: Tensor | None = None) -> None:
        """Restart every stream (``mask=None``) or the streams where ``mask`` (bool ``(B,)``) is true."""
        if mask is not None and (not isinstance(mask, Tensor) or mask.dtype != torch.bool or
                                 tuple(mask.shape) != (self.batch_size,)):
            got = f"{mask.dtype} {tuple(mask.shape)}" if isinstance(mask, Tensor) else type(mask).__name__
            raise ShapeError(f"StreamingModule: reset must be None or a bool tensor of shape ({self.batch_size},), "
                             f"got {got}")
        for ring in self._rings:
            if mask is None:
                ring.zero_()
            else:
                ring.masked_fill_(mask.to(ring.device)[None, :, None], 0)


class StreamStep(nn.Module):
    """``forward(x, *state) -> (y, *new_state)``: the step with its state as explicit inputs and outputs, for
    ``torch.onnx.export`` and ``torch.jit.trace``. Inputs are not checked here (a traced graph would freeze
    the checks); check them with :func:`atrous.stream.step` before exporting.

    >>> from atrous.models import create_model
    >>> model = create_model("tcn", channels=[4, 4]).eval()
    >>> y, *state = StreamStep(model)(torch.randn(1, 1, 5), *init_state(model, 1))
    >>> y.shape, len(state)
    (torch.Size([1, 4, 5]), 4)
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self._plan = build_plan(model)

    def forward(self, x: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        new = list(state)
        y = self._plan.root.run(x, tuple(state), new)
        return (y, *new)
