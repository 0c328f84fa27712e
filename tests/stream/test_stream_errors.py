"""Typed one-line errors: non-causal layers, unsupported modules, bad chunks, foreign states."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from atrous.errors import ConfigError, ShapeError, UnsupportedOpError
from atrous.models import create_model
from atrous.nn import CausalConv1d, DilatedConv1d
from atrous.stream import StreamingModule, init_state, step


class _LookAhead(nn.Conv1d):
    """A Conv1d whose forward differs from its parent's: it must not stream through nn.Conv1d's lowering."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).roll(-1, 2)


@pytest.mark.parametrize(("model", "match"), [
    (nn.Sequential(CausalConv1d(1, 2, 3), DilatedConv1d(2, 2, 3, dilation=2, padding="same")),
     r"'1' \(DilatedConv1d\) looks ahead: padding \(left, right\) = \(2, 2\)"),
    (nn.Sequential(nn.Conv1d(1, 2, 3, padding=1)), r"'0' \(Conv1d\) looks ahead"),
    (nn.Sequential(DilatedConv1d(1, 2, 3, padding="valid")), r"changes the length"),
    (nn.Sequential(DilatedConv1d(1, 2, 3, stride=2, padding="causal")), r"stride 2"),
    (nn.Sequential(nn.LSTM(1, 2)), r"'0' \(torch.nn.modules.rnn.LSTM\) is not supported: no streaming lowering"),
    (nn.Sequential(_LookAhead(2, 2, 1)), r"'0' \(test_stream_errors._LookAhead\) is not supported: it overrides"),
    (nn.Sequential(nn.BatchNorm1d(2, track_running_stats=False)), r"running statistics"),
])
def test_unsupported_layers_are_named(model: nn.Module, match: str) -> None:
    with pytest.raises(UnsupportedOpError, match=match):
        init_state(model, 1)


def test_training_mode_dropout_is_refused() -> None:
    model = create_model("tcn", channels=[4], dropout=0.5)
    with pytest.raises(ConfigError, match=r"levels.0.dropout.*eval mode"):
        step(model, torch.randn(1, 1, 3), init_state(model, 1))


@pytest.fixture
def tcn() -> nn.Module:
    return create_model("tcn", channels=[4, 4]).eval()


@pytest.mark.parametrize(("chunk", "match"), [
    (torch.randn(2, 3, 5), r"chunk must have 1 channels, got 3"),
    (torch.randn(2, 5), r"chunk must be a 3-D tensor \(B, C, L\), got shape \(2, 5\)"),
    (torch.randn(2, 1, 5, dtype=torch.float64), r"chunk dtype must be the state's torch.float32"),
    (torch.randn(2, 1, 0), r"chunk length must be at least 1"),
    (torch.randn(3, 1, 5), r"state batch size must equal the chunk's 3, got 2"),
])
def test_bad_chunks(tcn: nn.Module, chunk: torch.Tensor, match: str) -> None:
    with pytest.raises(ShapeError, match=match):
        step(tcn, chunk, init_state(tcn, 2))


def test_state_from_another_model(tcn: nn.Module) -> None:
    other = create_model("tcn", channels=[4, 4, 4]).eval()
    with pytest.raises(ConfigError, match=r"state must have 4 tensors for this model, got 6"):
        step(tcn, torch.randn(2, 1, 5), init_state(other, 2))
    wider = create_model("tcn", channels=[8, 8]).eval()
    with pytest.raises(ConfigError, match=r"state for layer 'levels.0.conv2' must have shape \(B, 4, 2\)"):
        step(tcn, torch.randn(2, 1, 5), init_state(wider, 2))
    with pytest.raises(ConfigError, match=r"state must be the tuple of tensors"):
        step(tcn, torch.randn(2, 1, 5), {"a": 1})  # type: ignore[arg-type]


def test_bad_reset_and_arguments(tcn: nn.Module) -> None:
    state = init_state(tcn, 2)
    with pytest.raises(ShapeError, match=r"reset must be None or a bool tensor of shape \(2,\)"):
        step(tcn, torch.randn(2, 1, 5), state, reset=torch.tensor([1, 0]))
    with pytest.raises(ConfigError, match=r"batch_size must be a positive int, got 0"):
        init_state(tcn, 0)
    with pytest.raises(ConfigError, match=r"dtype must be a floating torch.dtype"):
        init_state(tcn, 1, dtype=torch.int64)
    stream = StreamingModule(tcn, 2)
    with pytest.raises(ShapeError, match=r"chunk batch size must be 2, got 3"):
        stream(torch.randn(3, 1, 1))
    with pytest.raises(ShapeError, match=r"reset must be None or a bool tensor of shape \(2,\)"):
        stream.reset(torch.tensor([True]))
    with pytest.raises(ConfigError, match=r"model must be an nn.Module"):
        init_state("tcn", 1)  # type: ignore[arg-type]


def test_engine_errors(tcn: nn.Module) -> None:
    with pytest.raises(ConfigError, match=r"engine must be 'auto', 'compiled', 'numpy' or 'torch', got 'fast'"):
        StreamingModule(tcn, 1, engine="fast")
    with pytest.raises(ConfigError, match=r"engine='numpy' needs a CPU float32/float64 state"):
        StreamingModule(tcn, 1, dtype=torch.float64, engine="numpy")
    assert StreamingModule(tcn, 1, dtype=torch.float64).engine == "torch"


def test_numpy_engine_refuses_training_mode() -> None:
    model = create_model("tcn", channels=[4], dropout=0.5).eval()
    stream = StreamingModule(model, 1)
    assert stream.engine in ("compiled", "numpy")
    stream(torch.randn(1, 1, 1))
    model.train()
    with pytest.raises(ConfigError, match=r"levels.0.dropout.*eval mode"):
        stream(torch.randn(1, 1, 1))


def test_numpy_is_the_fallback_without_the_compiled_library(tcn: nn.Module, monkeypatch: pytest.MonkeyPatch) -> None:
    from atrous.stream import _native

    monkeypatch.setattr(_native, "_load", lambda: None)  # as on a machine where the C step was never built
    stream = StreamingModule(tcn, 2)
    assert stream.engine == "numpy"
    x = torch.randn(2, 1, 6)
    with torch.no_grad():
        ref = tcn(x)
    got = torch.cat([stream(x[:, :, t:t + 1]) for t in range(6)], 2)
    assert (got - ref).abs().max() <= 1e-5 * ref.abs().max()
    with pytest.raises(ConfigError, match=r"engine='compiled' is not built \(python -m atrous.stream._build"):
        StreamingModule(tcn, 2, engine="compiled")
