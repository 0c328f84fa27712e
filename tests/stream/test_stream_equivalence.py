"""Streaming equals offline: every causal registry model and hand-built causal stacks, any chunking, batch > 1."""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from atrous.models import create_model, list_models, model_info
from atrous.nn import CausalConv1d, DilatedConv1d, GatedResidualBlock, TemporalBlock
from atrous.stream import StreamingModule, compiled_available, init_state, state_slots, step

TOL = {torch.float32: 1e-5, torch.float64: 1e-10}
COMPILED = pytest.param("compiled", marks=pytest.mark.skipif(
    not compiled_available(), reason="the compiled step is not built (python -m atrous.stream._build)"))


def _stacks() -> dict[str, tuple[nn.Module, int]]:
    """Hand-built causal stacks and their input channels."""
    return {
        "convs": (nn.Sequential(CausalConv1d(3, 5, 3, dilation=1), nn.ReLU(), CausalConv1d(5, 5, 3, dilation=4),
                                nn.GELU(), DilatedConv1d(5, 4, 2, dilation=8, padding="causal"), nn.Tanh(),
                                nn.Conv1d(4, 2, 1)), 3),
        "grouped": (nn.Sequential(CausalConv1d(4, 8, 3, dilation=2, groups=2), nn.BatchNorm1d(8), nn.SiLU(),
                                  nn.Dropout(0.3), CausalConv1d(8, 8, 1)), 4),
        "temporal_wn": (nn.Sequential(TemporalBlock(2, 6, 3, dilation=1, dropout=0.2, weight_norm=True),
                                      TemporalBlock(6, 6, 2, dilation=5, weight_norm=True)), 2),
        "gated_last": (nn.Sequential(CausalConv1d(1, 4, 2), GatedResidualBlock(4, 6, 3, 3, dilation=3,
                                                                              residual=False)), 1),
        "gated": (GatedResidualBlock(4, 6, 3, 2, dilation=16), 4),
    }


def _model(name: str, dtype: torch.dtype) -> tuple[nn.Module, int]:
    torch.manual_seed(0)
    if name.startswith("registry:"):
        model = create_model(name.split(":")[1])
        channels = model_info(name.split(":")[1]).input_shape[1]
    else:
        model, channels = _stacks()[name]
    model = model.to(dtype).eval()
    for m in model.modules():  # non-trivial running statistics, so batch norm is really tested
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    return model, channels


def _offline(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        out = model(x)
    return out[0] if isinstance(out, tuple) else out


def _stream(model: nn.Module, x: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    state = init_state(model, x.shape[0])
    outs, start = [], 0
    with torch.no_grad():
        for size in sizes:
            y, state = step(model, x[:, :, start:start + size], state)
            outs.append(y)
            start += size
    return torch.cat(outs, dim=2)


def _chunkings(length: int) -> dict[str, list[int]]:
    rng = random.Random(length)
    sizes = []
    while sum(sizes) < length:
        sizes.append(min(rng.choice([1, 2, 5, 17, 40]), length - sum(sizes)))
    return {"1": [1] * length, "3": [3] * (length // 3) + ([length % 3] if length % 3 else []),
            "64": [64] * (length // 64) + ([length % 64] if length % 64 else []), "random": sizes}


MODELS = [f"registry:{n}" for n in list_models(causal=True)] + list(_stacks())
# registry models in chunks of 1 and 3 take ~150 steps through a deep model: slow on a loaded machine
CASES = [pytest.param(name, chunking, marks=pytest.mark.slow) if name.startswith("registry:") and chunking in "13"
         else (name, chunking) for name in MODELS for chunking in ("1", "3", "64", "random")]


def test_registry_has_causal_models() -> None:
    assert {"tcn", "wavenet"} <= set(list_models(causal=True))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("batch", [1, 8])
@pytest.mark.parametrize(("name", "chunking"), CASES)
def test_streamed_equals_offline(name: str, chunking: str, batch: int, dtype: torch.dtype) -> None:
    model, channels = _model(name, dtype)
    length = 150
    x = torch.randn(batch, channels, length, dtype=dtype, generator=torch.Generator().manual_seed(1))
    ref = _offline(model, x)
    got = _stream(model, x, _chunkings(length)[chunking])
    assert got.shape == ref.shape
    assert (got - ref).abs().max() <= TOL[dtype] * ref.abs().max()


@pytest.mark.parametrize("engine", [COMPILED, "numpy", "torch"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("batch", [1, 8])
@pytest.mark.parametrize("name", MODELS)
def test_streaming_module_one_sample_and_mixed_chunks(name: str, batch: int, dtype: torch.dtype,
                                                      engine: str) -> None:
    if engine == "compiled" and dtype == torch.float64:
        pytest.skip("the compiled step is float32")
    model, channels = _model(name, dtype)
    x = torch.randn(batch, channels, 90, dtype=dtype)
    ref = _offline(model, x)
    stream = StreamingModule(model, batch_size=batch, engine=engine)
    assert stream.engine == engine
    sizes = [1] * 20 + [7, 1, 30] + [1] * 32
    outs, start = [], 0
    for size in sizes:
        outs.append(stream(x[:, :, start:start + size]))
        start += size
    assert (torch.cat(outs, 2) - ref).abs().max() <= TOL[dtype] * ref.abs().max()
    # the buffers, seen in step's layout, continue exactly like the functional state
    y_next, _ = step(model, x[:, :, -5:], stream.state)
    y_func, _ = step(model, x[:, :, -5:], _stream_state(model, x))
    assert (y_next - y_func).abs().max() <= TOL[dtype] * y_func.abs().max()


def _stream_state(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    _, state = step(model, x, init_state(model, x.shape[0]))
    return state


def test_chunk_shorter_than_padding_matches_long_history() -> None:
    model, _ = _model("convs", torch.float64)
    assert max(s.length for s in state_slots(model)) == 8
    x = torch.randn(2, 3, 40, dtype=torch.float64)
    ref = _offline(model, x)
    assert torch.allclose(_stream(model, x, [2] * 20), ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("engine", [COMPILED, "numpy", "torch"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_reset_restarts_only_selected_streams(dtype: torch.dtype, engine: str) -> None:
    if engine == "compiled" and dtype == torch.float64:
        pytest.skip("the compiled step is float32")
    model, _ = _model("registry:tcn", dtype)
    x = torch.randn(4, 1, 60, dtype=dtype)
    fresh = torch.randn(4, 1, 25, dtype=dtype)
    state = init_state(model, 4)
    with torch.no_grad():
        _, state = step(model, x, state)
        mask = torch.tensor([False, True, False, True])
        y_b, _ = step(model, fresh, state, reset=mask)
        cont = _offline(model, torch.cat([x, fresh], 2))[:, :, 60:]
        restart = _offline(model, fresh)
    tol = TOL[dtype] * cont.abs().max()
    assert (y_b[~mask] - cont[~mask]).abs().max() <= tol
    assert (y_b[mask] - restart[mask]).abs().max() <= tol
    # the same through the stateful wrapper, one sample at a time
    stream = StreamingModule(model, 4, engine=engine)
    for t in range(60):
        stream(x[:, :, t:t + 1])
    outs = [stream(fresh[:, :, :1], reset=mask)] + [stream(fresh[:, :, t:t + 1]) for t in range(1, 25)]
    y_c = torch.cat(outs, 2)
    assert (y_c[~mask] - cont[~mask]).abs().max() <= tol
    assert (y_c[mask] - restart[mask]).abs().max() <= tol
    stream.reset()
    assert all(not s.any() for s in stream.state)


def test_state_is_not_mutated() -> None:
    model, _ = _model("registry:wavenet", torch.float32)
    state = init_state(model, 2)
    x = torch.randn(2, 1, 5)
    _, state = step(model, x, state)
    before = [s.clone() for s in state]
    versions = [s._version for s in state]
    y1, new = step(model, torch.randn(2, 1, 3), state, reset=torch.tensor([True, False]))
    assert all(torch.equal(a, b) for a, b in zip(before, state))
    assert [s._version for s in state] == versions
    assert any(not torch.equal(a, b) for a, b in zip(new, state))
    # replaying the same state gives the same output: a state is a value
    y2, _ = step(model, torch.randn(2, 1, 3).copy_(x[:, :, :3]), state)
    y3, _ = step(model, x[:, :, :3], state)
    assert torch.equal(y2, y3)
    del y1


def test_state_layout_names_layers() -> None:
    model = create_model("tcn", channels=[4, 4], kernel_size=3)
    slots = state_slots(model)
    assert [(s.name, s.channels, s.length) for s in slots] == [
        ("levels.0.conv1", 1, 2), ("levels.0.conv2", 4, 2), ("levels.1.conv1", 4, 4), ("levels.1.conv2", 4, 4)]


@pytest.mark.parametrize(("engine", "dtype"), [
    pytest.param("compiled", torch.float32, marks=COMPILED.marks), ("numpy", torch.float64)])
def test_engines_follow_weight_changes(engine: str, dtype: torch.dtype) -> None:
    model, _ = _model("registry:tcn", dtype)
    other, _ = _model("registry:tcn", dtype)
    with torch.no_grad():
        for p in other.parameters():
            p.mul_(1.5)
    x = torch.randn(2, 1, 30, dtype=dtype)
    stream = StreamingModule(model, 2, engine=engine)
    first = torch.cat([stream(x[:, :, t:t + 1]) for t in range(15)], 2)
    model.load_state_dict(other.state_dict())  # in place: seen through the tensor versions
    second = torch.cat([stream(x[:, :, t:t + 1]) for t in range(15, 30)], 2)
    ref_first, ref_second = _offline(_model("registry:tcn", dtype)[0], x), _offline(other, x)
    assert (first - ref_first[:, :, :15]).abs().max() <= TOL[dtype] * ref_first.abs().max()
    # the second half: new weights on the history written under the old ones, as the torch engine computes it
    torch_stream = StreamingModule(_model("registry:tcn", dtype)[0], 2, engine="torch")
    for t in range(15):
        torch_stream(x[:, :, t:t + 1])
    torch_stream.model.load_state_dict(other.state_dict())
    want = torch.cat([torch_stream(x[:, :, t:t + 1]) for t in range(15, 30)], 2)
    assert (second - want).abs().max() <= TOL[dtype] * want.abs().max()
    assert (second - ref_second[:, :, 15:]).abs().max() > 1e-3  # the history really came from the old weights
    # an in-place edit outside load_state_dict and optimizers: seen with check_versions=True, else not
    for check in (False, True):
        live, stale = _model("registry:tcn", dtype)[0], _model("registry:tcn", dtype)[0]  # same weights
        s = StreamingModule(live, 2, engine=engine, check_versions=check)
        ref_live, ref_stale = StreamingModule(live, 2, engine="torch"), StreamingModule(stale, 2, engine="torch")
        for r in (s, ref_live, ref_stale):
            r(x[:, :, :1])
        with torch.no_grad():
            live.levels[0].conv1.bias.add_(1.0)
        got = s(x[:, :, 1:2])
        want, other = ref_live(x[:, :, 1:2]), ref_stale(x[:, :, 1:2])
        if not check:
            want, other = other, want
        assert (got - want).abs().max() <= TOL[dtype] * want.abs().max() < (got - other).abs().max()
    # an edit through .data is not versioned: refresh() picks it up
    with torch.no_grad():
        for p in model.parameters():
            p.data.zero_()
    stale = stream(x[:, :, :1])
    stream.refresh()
    fresh = stream(x[:, :, :1])
    assert stale.abs().max() > 0 and fresh.abs().max() == 0
    # an optimizer step is seen by the engines of the model it updates, and only by those
    bystander = StreamingModule(model, 2, engine=engine)
    bystander(x[:, :, :1])
    opt_model, _ = _model("registry:tcn", dtype)
    s = StreamingModule(opt_model, 2, engine=engine)
    fresh_stream = StreamingModule(opt_model, 2, engine="torch")
    opt = torch.optim.SGD(opt_model.parameters(), lr=0.5)
    opt_model(x).sum().backward()
    opt.step()
    assert torch.allclose(s(x[:, :, :1]), fresh_stream(x[:, :, :1]), rtol=0, atol=TOL[dtype] * 10)
    assert not bystander._program._follow.dirty  # type: ignore[union-attr]


def test_numpy_engine_is_generated_code() -> None:
    model = create_model("tcn", in_channels=4, channels=[4] * 5, dropout=0.1).eval()  # no 1x1 downsample
    stream = StreamingModule(model, 1, engine="numpy")
    source = stream._program.source  # type: ignore[union-attr]
    # one dot per convolution, no copies: each value is written into the buffer of its next reader
    assert source.count("_np.dot(") == 2 * 5
    assert "copyto" not in source.replace("_np.copyto(S0[p0, r0], x[0, :, 0])", "")
