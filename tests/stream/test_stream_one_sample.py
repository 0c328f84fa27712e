"""The one-sample path of ``StreamingModule``: what each step returns and what it still checks, on every engine."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from atrous.errors import ConfigError
from atrous.models import create_model
from atrous.stream import StreamingModule, compiled_available, init_state, step

COMPILED = pytest.param("compiled", marks=pytest.mark.skipif(
    not compiled_available(), reason="the compiled step is not built (python -m atrous.stream._build)"))
ENGINES = [COMPILED, "numpy", "torch"]


def _tcn() -> nn.Module:
    torch.manual_seed(0)
    return create_model("tcn", channels=[6, 6, 6], dropout=0.25).eval()


@pytest.mark.parametrize("engine", ENGINES)
def test_each_step_returns_its_own_tensor(engine: str) -> None:
    model = _tcn()
    stream = StreamingModule(model, batch_size=2, engine=engine)
    x = torch.randn(2, 1, 12)
    outs = [stream(x[:, :, t:t + 1].contiguous()) for t in range(12)]
    storages = {y.untyped_storage().data_ptr() for y in outs}
    assert len(storages) == len(outs)  # no output shares memory with another
    first = outs[0].clone()
    outs[-1].fill_(7.0)  # writing into one output touches no other
    assert torch.equal(outs[0], first)
    with torch.no_grad():
        ref = model(x)
    got = torch.cat(outs[:-1], 2)
    assert (got - ref[:, :, :11]).abs().max() <= 1e-5 * ref.abs().max()


@pytest.mark.parametrize("engine", ENGINES)
def test_inputs_off_the_fast_path_give_the_same_steps(engine: str) -> None:
    """Non-contiguous samples, a Tensor subclass, and a chunk of one sample after longer chunks."""
    model = _tcn()
    x = torch.randn(2, 1, 10)
    with torch.no_grad():
        ref = model(x)
    stream = StreamingModule(model, batch_size=2, engine=engine)
    outs = []
    for t in range(10):
        sample = x[:, :, t:t + 1]  # a slice: batch stride 10, not contiguous
        assert not sample.is_contiguous()
        if t % 3 == 0:
            sample = sample.contiguous()
        elif t % 3 == 2:
            sample = nn.Parameter(sample.clone(), requires_grad=False)
        outs.append(stream(sample))
    assert (torch.cat(outs, 2) - ref).abs().max() <= 1e-5 * ref.abs().max()


@pytest.mark.parametrize("engine", ENGINES)
def test_training_mode_of_one_submodule_is_refused_every_step(engine: str) -> None:
    model = _tcn()
    stream = StreamingModule(model, batch_size=1, engine=engine)
    stream(torch.randn(1, 1, 1))
    dropout = model.get_submodule("levels.1.dropout")
    dropout.train()
    with pytest.raises(ConfigError, match=r"levels.1.dropout.*eval mode"):
        stream(torch.randn(1, 1, 1))
    dropout.eval()
    stream(torch.randn(1, 1, 1))
    dropout.training = True  # set directly, not through train()
    with pytest.raises(ConfigError, match=r"levels.1.dropout.*eval mode"):
        stream(torch.randn(1, 1, 1))


@pytest.mark.parametrize("engine", ENGINES)
def test_state_after_one_sample_steps_and_a_chunk(engine: str) -> None:
    """The compiled step counts its own time steps; the state read back must follow them and a reload."""
    model = _tcn()
    x = torch.randn(2, 1, 25)
    stream = StreamingModule(model, batch_size=2, engine=engine)
    for t in range(9):
        stream(x[:, :, t:t + 1])
    stream(x[:, :, 9:14])  # a longer chunk: step() runs, and the state is loaded back
    for t in range(14, 25):
        stream(x[:, :, t:t + 1])
    _, expected = step(model, x, init_state(model, 2))
    for got, want in zip(stream.state, expected):
        assert (got - want).abs().max() <= 1e-5 * (want.abs().max() + 1e-12)
