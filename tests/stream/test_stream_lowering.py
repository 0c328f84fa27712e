"""One lowering, three executors: a block type added here (and only here) streams through the chunk executor
(``step``), the ring executor (``engine="torch"``) and the generated step (``engine="numpy"``); ``atrous.stream``
imports no model module; conditioned WaveNets stream exactly."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from atrous.models import create_model
from atrous.nn import CausalConv1d
from atrous.stream import StreamingModule, StreamStep, compiled_available, init_state, lower, register_lowering, step
from atrous.stream.ir import Builder, Value

COMPILED = pytest.param("compiled", marks=pytest.mark.skipif(
    not compiled_available(), reason="the compiled step is not built (python -m atrous.stream._build)"))


class ToyBlock(nn.Module):
    """A block type unknown to atrous: ``x + sigmoid(a) * tanh(b)`` of one causal dilated conv, then LeakyReLU."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.conv = CausalConv1d(channels, 2 * channels, 3, dilation=dilation)
        self.slope = 0.2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.conv(x).chunk(2, 1)
        return F.leaky_relu(x + b.tanh() * a.sigmoid(), self.slope)


@register_lowering(ToyBlock)
def _lower_toy(m: ToyBlock, b: Builder, x: Value, name: str) -> Value:
    h = b.lower1(m.conv, x, f"{name}.conv")
    swapped = b.fn(h, lambda v: torch.cat(v.chunk(2, 1)[::-1], 1), f"{name}.swap")  # (b, a): gate = tanh(b) sig(a)
    return b.act(b.add(x, b.gate(swapped, "tanh")), "leaky_relu", m.slope)


TOY = nn.Sequential(CausalConv1d(2, 4, 2), ToyBlock(4, 1), ToyBlock(4, 5), nn.Conv1d(4, 3, 1))


@pytest.mark.parametrize("engine", ["chunk", "numpy", "torch"])
@pytest.mark.parametrize("batch", [1, 4])
def test_a_new_block_type_is_one_registration(engine: str, batch: int) -> None:
    torch.manual_seed(0)
    model = TOY.eval()
    assert [type(op).__name__ for op in lower(model).ops] == [
        "Input", "Conv", "Conv", "Fn", "Gate", "Add", "Act", "Conv", "Fn", "Gate", "Add", "Act", "Conv"]
    x = torch.randn(batch, 2, 60)
    with torch.no_grad():
        ref = model(x)
    if engine == "chunk":
        state, outs = init_state(model, batch), []
        for start, size in zip([0, 1, 4, 15, 16], [1, 3, 11, 1, 44]):
            y, state = step(model, x[:, :, start:start + size], state)
            outs.append(y)
    else:
        stream = StreamingModule(model, batch, engine=engine)
        assert stream.engine == engine
        outs = [stream(x[:, :, t:t + 1]) for t in range(60)]
    got = torch.cat(outs, 2)
    assert (got - ref).abs().max() <= 1e-5 * ref.abs().max()


class ToyGate(nn.Module):
    """Another unknown block, in instructions the compiled step runs too: ``elu(x + tanh(a) * sigmoid(b))``."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.conv = CausalConv1d(channels, 2 * channels, 2, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.conv(x).chunk(2, 1)
        return F.elu(x + a.tanh() * b.sigmoid(), 0.5)


@register_lowering(ToyGate)
def _lower_toy_gate(m: ToyGate, b: Builder, x: Value, name: str) -> Value:
    return b.act(b.add(x, b.gate(b.lower1(m.conv, x, f"{name}.conv"), "tanh")), "elu", 0.5)


@pytest.mark.parametrize("engine", [COMPILED, "numpy", "torch"])
def test_a_new_block_type_runs_compiled_when_its_instructions_allow(engine: str) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(CausalConv1d(2, 4, 2), ToyGate(4, 1), ToyGate(4, 6)).eval()
    x = torch.randn(3, 2, 50)
    with torch.no_grad():
        ref = model(x)
    stream = StreamingModule(model, 3, engine=engine)
    got = torch.cat([stream(x[:, :, t:t + 1]) for t in range(50)], 2)
    assert (got - ref).abs().max() <= 1e-5 * ref.abs().max()
    assert StreamingModule(TOY.eval(), 1).engine == "numpy"  # TOY has an Fn, which the compiled step does not run


def test_stream_imports_no_model_module() -> None:
    code = ("import sys, atrous.stream; "
            "print(sorted(m for m in sys.modules if m.startswith('atrous.models')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _wavenet() -> nn.Module:
    torch.manual_seed(0)
    return create_model("wavenet", cycles=2, layers_per_cycle=4, residual_channels=8, gate_channels=8,
                        skip_channels=8, cond_channels=5).eval()


@pytest.mark.parametrize("engine", [COMPILED, "numpy", "torch"])
@pytest.mark.parametrize("kind", ["global", "local"])
def test_conditioned_wavenet_streams_exactly(kind: str, engine: str) -> None:
    model = _wavenet()
    batch, length = 3, 80
    x = torch.randn(batch, 1, length)
    cond = torch.randn(batch, 5, 1 if kind == "global" else length)
    with torch.no_grad():
        ref = model(x, cond)
    at = (lambda s, n: cond) if kind == "global" else (lambda s, n: cond[:, :, s:s + n])
    stream = StreamingModule(model, batch, engine=engine)
    sizes, outs, start = [1] * 30 + [13, 1, 6] + [1] * 30, [], 0
    for size in sizes:
        outs.append(stream(x[:, :, start:start + size], cond=at(start, size)))
        start += size
    assert (torch.cat(outs, 2) - ref).abs().max() <= 1e-5 * ref.abs().max()
    state, ys = init_state(model, batch), []
    with torch.no_grad():
        for s in range(0, length, 9):
            y, state = step(model, x[:, :, s:s + 9], state, cond=at(s, 9) if kind == "global" else
                            cond[:, :, s:s + 9])
            ys.append(y)
    assert (torch.cat(ys, 2) - ref).abs().max() <= 1e-5 * ref.abs().max()


def test_conditioned_step_is_exportable_with_cond_as_an_input() -> None:
    model = _wavenet()
    x, cond = torch.randn(2, 1, 12), torch.randn(2, 5, 12)
    y, *state = StreamStep(model)(x[:, :, :5], cond[:, :, :5], *init_state(model, 2))
    y2, *_ = StreamStep(model)(x[:, :, 5:], cond[:, :, 5:], *state)
    with torch.no_grad():
        ref = model(x, cond)
    assert (torch.cat([y, y2], 2) - ref).abs().max() <= 1e-5 * ref.abs().max()


def test_cond_is_checked() -> None:
    model = _wavenet()
    stream = StreamingModule(model, 2)
    with pytest.raises(ValueError, match=r"cond must be a \(2, 5, 1\) tensor .* or \(2, 5, 1\) \(global\)"):
        stream(torch.randn(2, 1, 1))
    with pytest.raises(ValueError, match=r"cond must be a \(2, 5, 4\) tensor"):
        step(model, torch.randn(2, 1, 4), init_state(model, 2), cond=torch.randn(2, 5, 3))
    plain = create_model("tcn", channels=[4]).eval()
    with pytest.raises(ValueError, match=r"cond must be None for a model without conditioning"):
        step(plain, torch.randn(2, 1, 4), init_state(plain, 2), cond=torch.randn(2, 5, 4))
