"""pytorch-tcn's own TCN streams as it is (no conversion): streamed == the peer's offline output, across its causal
options, and equal to the peer's own streaming (``inference=True``) where that runs (batch 1)."""

from __future__ import annotations

import pytest
import torch

from atrous.errors import ConfigError, UnsupportedOpError
from atrous.stream import StreamingModule, StreamStep, compiled_available, init_state, lower, step
from atrous.stream.ir import Fn

pytorch_tcn = pytest.importorskip("pytorch_tcn", reason="needs pytorch-tcn (pip install 'atrous[bench]')")
# the peer warns about its own initialiser/activation pairs and softmax's implicit dim: not what is tested here
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

COMPILED = pytest.param("compiled", marks=pytest.mark.skipif(
    not compiled_available(), reason="the compiled step is not built (python -m atrous.stream._build)"))

OPTIONS = {
    "defaults": {},
    "k2_dilations": {"kernel_size": 2, "dilations": [1, 3, 9]},
    "dilation_reset": {"kernel_size": 3, "dilation_reset": 2, "num_channels": [6, 6, 6, 6]},
    "batch_norm": {"use_norm": "batch_norm"},
    "layer_norm": {"use_norm": "layer_norm"},
    "no_norm_tanh": {"use_norm": None, "activation": "tanh"},
    "leaky_relu": {"activation": "leaky_relu"},
    "elu": {"activation": "elu"},
    "gelu": {"activation": "gelu"},
    "selu": {"activation": "selu"},
    "sigmoid": {"activation": "sigmoid"},
    "custom_activation": {"activation": torch.nn.SiLU},
    "gate": {"use_gate": True},
    "gate_batch_norm": {"use_gate": True, "use_norm": "batch_norm"},
    "skips": {"use_skip_connections": True},
    "skips_widths": {"use_skip_connections": True, "num_channels": [4, 8, 6]},
    "projection": {"output_projection": 3, "output_activation": "tanh"},
    "projection_softmax": {"output_projection": 3, "output_activation": "softmax"},
    "embeddings_add": {"embedding_shapes": [(3,)], "embedding_mode": "add"},
    "embeddings_concat": {"embedding_shapes": [(2,), (2,)], "embedding_mode": "concat"},
}


def _peer(options: dict, channels: int = 2) -> torch.nn.Module:
    torch.manual_seed(0)
    kwargs = {"num_inputs": channels, "num_channels": [5, 6, 6], **options}
    model = pytorch_tcn.TCN(**kwargs)
    for m in model.modules():  # non-trivial statistics and affine parameters, so the norms are really tested
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.LayerNorm)) and m.weight is not None:
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
    return model.eval()


def _cond(options: dict, batch: int, length: int) -> torch.Tensor | None:
    shapes = options.get("embedding_shapes")
    if shapes is None:
        return None
    return torch.randn(batch, sum(s[0] for s in shapes), length, generator=torch.Generator().manual_seed(3))


def _peer_offline(model: torch.nn.Module, x: torch.Tensor, cond: torch.Tensor | None, options: dict) -> torch.Tensor:
    with torch.no_grad():
        if cond is None:
            return model(x)
        sizes = [s[0] for s in options["embedding_shapes"]]
        return model(x, embeddings=list(cond.split(sizes, 1)))


@pytest.mark.parametrize("engine", ["auto", COMPILED, "numpy", "torch"])
@pytest.mark.parametrize("name", list(OPTIONS))
def test_streamed_equals_peer_offline(name: str, engine: str) -> None:
    options = OPTIONS[name]
    model = _peer(options)
    batch, length = 3, 70
    x = torch.randn(batch, 2, length, generator=torch.Generator().manual_seed(1))
    cond = _cond(options, batch, length)
    ref = _peer_offline(model, x, cond, options)
    if engine == "compiled" and any(isinstance(op, Fn) for op in lower(model).ops):  # softmax: numpy runs it
        with pytest.raises(ConfigError, match=r"engine='compiled' cannot run this model: .*torch function"):
            StreamingModule(model, batch, engine=engine)
        engine = "auto"
    stream = StreamingModule(model, batch, engine=engine)
    sizes, outs, start = [1] * 25 + [9, 1, 20] + [1] * 15, [], 0
    for size in sizes:
        c = None if cond is None else cond[:, :, start:start + size]
        outs.append(stream(x[:, :, start:start + size], cond=c))
        start += size
    got = torch.cat(outs, 2)
    assert got.shape == ref.shape
    assert (got - ref).abs().max() <= 1e-5 * ref.abs().max()
    # the pure step, in chunks of 7
    state, ys = init_state(model, batch), []
    with torch.no_grad():
        for s in range(0, length, 7):
            y, state = step(model, x[:, :, s:s + 7], state, cond=None if cond is None else cond[:, :, s:s + 7])
            ys.append(y)
    assert (torch.cat(ys, 2) - ref).abs().max() <= 1e-5 * ref.abs().max()


def test_global_embedding_is_one_vector_per_stream() -> None:
    options = {"embedding_shapes": [(3,)]}
    model = _peer(options)
    x, e = torch.randn(2, 2, 30), torch.randn(2, 3)
    with torch.no_grad():
        ref = model(x, embeddings=[e])
    stream = StreamingModule(model, 2)
    got = torch.cat([stream(x[:, :, t:t + 1], cond=e[:, :, None]) for t in range(30)], 2)
    assert (got - ref).abs().max() <= 1e-5 * ref.abs().max()


def test_equals_the_peers_own_streaming() -> None:
    model = _peer({"kernel_size": 3})
    x = torch.randn(1, 2, 40)
    with torch.no_grad():
        model.reset_buffers()
        peer = torch.cat([model.inference(x[:, :, t:t + 1]) for t in range(40)], 2)
    stream = StreamingModule(model, 1)
    ours = torch.cat([stream(x[:, :, t:t + 1]) for t in range(40)], 2)
    assert (ours - peer).abs().max() <= 1e-5 * peer.abs().max()


@pytest.mark.parametrize("engine", ["auto", "numpy", "torch"])
def test_nlc_model_streams_time_major_chunks(engine: str) -> None:
    model = _peer({"input_shape": "NLC", "output_projection": 3})
    x = torch.randn(2, 50, 2)  # (B, T, C)
    with torch.no_grad():
        ref = model(x)
    stream = StreamingModule(model, 2, engine=engine)
    sizes, outs, start = [1] * 20 + [7, 1, 12] + [1] * 10, [], 0
    for size in sizes:
        outs.append(stream(x[:, start:start + size]))
        start += size
    got = torch.cat(outs, 1)
    assert got.shape == ref.shape == (2, 50, 3)
    assert (got - ref).abs().max() <= 1e-5 * ref.abs().max()
    state, ys = init_state(model, 2), []
    with torch.no_grad():
        for s in range(0, 50, 9):
            y, state = step(model, x[:, s:s + 9], state)
            ys.append(y)
    assert (torch.cat(ys, 1) - ref).abs().max() <= 1e-5 * ref.abs().max()
    exported, *_ = StreamStep(model)(x[:, :9], *init_state(model, 2))
    assert (exported - ref[:, :9]).abs().max() <= 1e-5 * ref.abs().max()
    nested = torch.nn.Sequential(_peer({"input_shape": "NLC"}))
    with pytest.raises(UnsupportedOpError, match=r"input_shape='NLC' inside another model"):
        init_state(nested, 1)


@pytest.mark.parametrize(("options", "match"), [
    ({"causal": False}, r"causal=False"),
])
def test_options_that_cannot_stream_are_named(options: dict, match: str) -> None:
    with pytest.raises(UnsupportedOpError, match=match):
        StreamingModule(_peer(options), 1)
