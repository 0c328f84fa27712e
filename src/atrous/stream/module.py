"""Stateful and exportable wrappers around :func:`atrous.stream.step`."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from atrous.errors import ConfigError, ShapeError
from atrous.stream import _chunk, _fast, _native, _program
from atrous.stream.functional import (
    State,
    _check_chunk,
    _check_cond,
    _model_device,
    _model_dtype,
    init_state,
    step,
)
from atrous.stream.ir import lower

__all__ = ["StreamStep", "StreamingModule"]


class StreamingModule:
    """Keeps the state of ``batch_size`` streams through ``model``: ``y = stream(chunk)``, ``stream.reset()``.

    Inference only (runs under ``torch.no_grad``). One-sample chunks take a faster path than :func:`step`: each
    layer keeps a buffer written in place (one row per step) instead of a buffer copied every step; longer chunks
    go through :func:`step`. Both give the offline model's outputs (to rounding: ``<= 1e-5`` relative in float32,
    ``<= 1e-10`` in float64, tested for every causal registry model).

    Args:
        model: a causal model (see :mod:`atrous.stream`); put it in eval mode first.
        batch_size: number of streams ``B``.
        dtype, device: of the state; default the model's parameters'.
        engine: the one-sample path. ``"compiled"``: the whole step in one call into C (CPU, float32, every
            instruction one the C step knows; needs the library that ``make`` builds, see
            :func:`atrous.stream.compiled_available`); ``"numpy"``: the step generated as straight-line numpy code
            over preallocated buffers, each convolution one mat-vec (CPU, float32/float64 with the model's dtype);
            ``"torch"``: torch ops on ring buffers (any device and dtype); ``"auto"`` (default): the first of
            these that applies.

        check_versions: for the compiled and numpy engines, which copy the weights: ``False`` (default): they are
            copied again after ``load_state_dict`` on the model or any submodule and after the ``step`` of an
            optimizer holding its parameters (hooks, free per step); ``True``: also after any other in-place
            change of a parameter or buffer (tensor versions compared every step, about 0.1-0.2 us per tensor).
            Writes through ``.data`` or newly assigned ``Parameter`` objects are never seen: call :meth:`refresh`.

    >>> from atrous.models import create_model
    >>> model = create_model("wavenet", cycles=1, layers_per_cycle=3).eval()
    >>> stream = StreamingModule(model, batch_size=2)
    >>> x = torch.randn(2, 1, 9)
    >>> y = torch.cat([stream(x[..., :4]), *(stream(x[..., t:t + 1]) for t in range(4, 9))], dim=2)
    >>> torch.allclose(y, model(x), atol=1e-6)
    True
    """

    def __init__(self, model: nn.Module, batch_size: int, dtype: torch.dtype | None = None,
                 device: Any = None, engine: str = "auto", check_versions: bool = False) -> None:
        if engine not in ("auto", "compiled", "numpy", "torch"):
            raise ConfigError(f"StreamingModule: engine must be 'auto', 'compiled', 'numpy' or 'torch', got "
                              f"{engine!r}")
        self.model = model
        self.batch_size = batch_size
        self._plan = lower(model)
        state = init_state(model, batch_size, dtype=dtype, device=device)
        dtype = _model_dtype(model) if dtype is None else dtype
        device = torch.device(_model_device(model) if device is None else device)
        self._probe = (torch.empty(0, dtype=dtype, device=device),)  # what a chunk is checked against
        native = _native.supported(self._plan, dtype, device, _model_dtype(model))
        if engine == "compiled" and not native:
            why = "is not built (python -m atrous.stream._build, or make, builds it)" if not _native.available() \
                else f"needs a CPU float32 state of the model's dtype, got {dtype} on {device}" \
                if dtype != torch.float32 or device.type != "cpu" or _model_dtype(model) != dtype \
                else f"cannot run this model: {_native.unsupported(self._plan)}"
            raise ConfigError(f"StreamingModule: engine='compiled' {why}; use engine='numpy' or 'torch'")
        ok = _program.supported(self._plan, dtype, device, _model_dtype(model))
        if engine == "numpy" and not ok:
            raise ConfigError(f"StreamingModule: engine='numpy' needs a CPU float32/float64 state of the model's "
                              f"dtype and a model whose input channels are known, got {dtype} on {device}; use "
                              "engine='torch'")
        self._program: _program.Program | _native.Native | None = None
        if native and engine in ("auto", "compiled"):
            self._program, self.engine = _native.Native(self._plan, model, batch_size, check_versions), "compiled"
        elif ok and engine in ("auto", "numpy"):
            self._program = _program.Program(self._plan, model, batch_size, dtype, check_versions)
            self.engine = "numpy"
        else:
            self.engine = "torch"
        self._rings = [] if self._program is not None else _fast.from_linear(state)
        self._dtype = dtype
        self._nlc = self._plan.layout == "NLC"
        self._one = None if self._program is None or "cond" in self._plan.inputs or self._plan.in_channels is None \
            or self._nlc else torch.Size((batch_size, self._plan.in_channels, 1))
        self._step1 = self._program.step1 if isinstance(self._program, _native.Native) else \
            None if self._program is None else self._program.step
        self._t = 0

    @property
    def state(self) -> State:
        """A copy of the current state in :func:`step`'s layout."""
        if self._program is not None:
            return self._program.state()
        return _fast.to_linear(self._rings, self._t)

    def refresh(self) -> None:
        """Re-read the model's weights (needed only after edits the numpy engine cannot see, e.g. via ``.data``)."""
        if self._program is not None:
            self._program.refresh()

    def __call__(self, chunk: Tensor, reset: Tensor | None = None, cond: Tensor | None = None) -> Tensor:
        """The output for ``chunk`` ``(B, C_in, T)``; ``reset`` (bool ``(B,)``) restarts the selected streams;
        ``cond`` conditions a conditioned model (``(B, C_cond, T)`` local or ``(B, C_cond, 1)`` global, see
        :func:`atrous.stream.step`). The compiled and numpy engines return a new tensor from every one-sample call."""
        # the common case first, checked in a few comparisons: one sample of an unconditioned model on the CPU
        # (a shape never equals ``_one`` where it is None, and a Tensor subclass takes the long way)
        if reset is None and cond is None and type(chunk) is Tensor and chunk.shape == self._one and \
                chunk.dtype == self._dtype and chunk.is_cpu:
            return self._step1(chunk)  # type: ignore[misc]
        if self._nlc and isinstance(chunk, Tensor) and chunk.dim() == 3:  # the model reads (B, T, C)
            return self._call(chunk.transpose(1, 2), reset, cond).transpose(1, 2)
        return self._call(chunk, reset, cond)

    def _call(self, chunk: Tensor, reset: Tensor | None, cond: Tensor | None) -> Tensor:
        if isinstance(chunk, Tensor) and chunk.dim() == 3 and chunk.shape[0] != self.batch_size:
            raise ShapeError(f"StreamingModule: chunk batch size must be {self.batch_size}, got {chunk.shape[0]}")
        _check_chunk(chunk, self._plan.in_channels, self._probe, self.model)
        inputs = _check_cond(self._plan, cond, chunk, "StreamingModule")
        if reset is not None:
            self.reset(reset)
        if chunk.shape[2] == 1 and self._program is not None:
            return self._program.step(chunk) if cond is None else self._program.step(chunk, cond)
        with torch.no_grad():
            if chunk.shape[2] == 1:
                y = _fast.run1(self._plan, {k: v[:, :, 0] for k, v in inputs.items()}, self._rings, self._t)
                self._t += 1
                return y[:, :, None]
            if self._nlc:  # step reads the model's own layout
                y, state = step(self.model, chunk.transpose(1, 2), self.state, cond=cond)
                y = y.transpose(1, 2)
            else:
                y, state = step(self.model, chunk, self.state, cond=cond)
            if self._program is not None:
                self._program.load(state)
            else:
                self._rings, self._t = _fast.from_linear(state), 0
            return y

    def reset(self, mask: Tensor | None = None) -> None:
        """Restart every stream (``mask=None``) or the streams where ``mask`` (bool ``(B,)``) is true."""
        if mask is not None and (not isinstance(mask, Tensor) or mask.dtype != torch.bool or
                                 tuple(mask.shape) != (self.batch_size,)):
            got = f"{mask.dtype} {tuple(mask.shape)}" if isinstance(mask, Tensor) else type(mask).__name__
            raise ShapeError(f"StreamingModule: reset must be None or a bool tensor of shape ({self.batch_size},), "
                             f"got {got}")
        if self._program is not None:
            self._program.reset(mask)
        for ring in self._rings:
            if mask is None:
                ring.zero_()
            else:
                ring.masked_fill_(mask.to(ring.device)[None, :, None], 0)


class StreamStep(nn.Module):
    """``forward(x, *state) -> (y, *new_state)`` (``forward(x, cond, *state)`` for a conditioned model): the step
    with its state as explicit inputs and outputs, for
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
        self._plan = lower(model)

    def forward(self, x: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        inputs = {"x": x}
        if "cond" in self._plan.inputs:  # a conditioned model: cond comes first, then the state
            inputs["cond"], state = state[0], state[1:]
        if self._plan.layout == "NLC":
            inputs["x"] = x.transpose(1, 2)
        y, new = _chunk.run(self._plan, inputs, tuple(state))
        return (y.transpose(1, 2) if self._plan.layout == "NLC" else y, *new)
