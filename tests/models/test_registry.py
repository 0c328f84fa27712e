"""The registry drives these tests: every registered model builds, trains, reloads and knows its receptive field."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

from atrous.analysis.empirical import empirical_rf
from atrous.errors import ConfigError
from atrous.models import create_model, list_models, model_info, register_model

TENSOR_MODELS = [n for n in list_models() if "graph" not in model_info(n).tags]


def _first(out: object) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    assert isinstance(out, (tuple, list)) and isinstance(out[0], torch.Tensor)
    return out[0]


def _example(name: str) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randn(model_info(name).input_shape)


def test_registry_lists_models_and_rejects_bad_use():
    assert {"spliceai", "spliceai_10k", "bpnet"} <= set(list_models())
    with pytest.raises(ConfigError, match=r"create_model: name must be one of .*got 'nope'"):
        create_model("nope")
    with pytest.raises(ConfigError, match=r"'colour' is not an argument of 'spliceai'"):
        create_model("spliceai", colour="red")
    with pytest.raises(ConfigError, match=r"register_model: name must be unique, got 'spliceai'"):
        register_model("spliceai")(lambda: nn.Identity())


@pytest.mark.parametrize("name", TENSOR_MODELS)
def test_forward_backward_every_parameter_gets_a_gradient(name):
    model = create_model(name).train()
    outputs = model(_example(name))
    outs = [outputs] if isinstance(outputs, torch.Tensor) else list(outputs)
    sum(o.float().square().mean() for o in outs).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"{name}: no gradient for {missing[:5]}"


@pytest.mark.parametrize("name", TENSOR_MODELS)
def test_state_dict_and_whole_model_round_trip(name):
    model = create_model(name).eval()
    x = _example(name)
    with torch.no_grad():
        expected = _first(model(x))
    config = model.atrous_config
    rebuilt = create_model(config["name"], **config["kwargs"]).eval()
    rebuilt.load_state_dict(model.state_dict())
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False).eval()
    with torch.no_grad():
        assert torch.equal(_first(rebuilt(x)), expected)
        assert torch.equal(_first(loaded(x)), expected)


@pytest.mark.parametrize("name", TENSOR_MODELS)
def test_receptive_field_equals_gradient_support(name):
    model = create_model(name)
    analytic = model.receptive_field()
    info = model_info(name)
    # 2-D models: one channel per tensor (collapse_channels), which is exact for the support and ~50x faster
    measured = empirical_rf(model, info.input_shape, node=info.rf_node, collapse_channels=len(info.input_shape) > 3)
    assert list(measured.size) == list(analytic.size)
    assert list(measured.stride) == list(analytic.jump)
    assert [float(v) for v in measured.offset] == [float(v) for v in analytic.offset]
    # global only where a global path reaches the measured output (BPNet's pooled count head does not)
    assert measured.is_global == analytic.is_global


GRAPH_MODELS = [n for n in list_models() if "graph" in model_info(n).tags]


def _path_graph(n: int) -> torch.Tensor:
    src = torch.arange(n - 1)
    return torch.cat([torch.stack([src, src + 1]), torch.stack([src + 1, src])], dim=1)


@pytest.mark.parametrize("name", GRAPH_MODELS)
def test_graph_models_train_reload_and_reach(name):
    n, c = model_info(name).input_shape
    torch.manual_seed(0)
    x, edges = torch.randn(n, c, dtype=torch.float64), _path_graph(n)
    model = create_model(name).double()
    model(x, edges).square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    rebuilt = create_model(name).double().eval()
    rebuilt.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.equal(rebuilt(x, edges), model.eval()(x, edges))
    # reach on the path graph: the gradient support of the middle node, with positive weights and a positive
    # input, so that no ReLU cuts a path
    for p in rebuilt.parameters():
        p.data.fill_(0.1)
    x = torch.rand(n, c, dtype=torch.float64, requires_grad=True)
    rebuilt(x, edges)[n // 2].sum().backward()
    reached = torch.nonzero(x.grad.abs().sum(1)).flatten()
    analytic = rebuilt.receptive_field()
    assert int(reached.max() - reached.min()) + 1 == analytic.size[0]
    assert int(reached.min()) - n // 2 == analytic.start[0]
