"""TemporalBlock (Bai et al. 2018) and GatedResidualBlock (WaveNet): shapes, causality, oracles, receptive fields."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from _rfcheck import assert_rf_matches, round_trip
from torch import nn

from atrous import rf
from atrous.errors import ConfigError, ShapeError
from atrous.nn.blocks import GatedResidualBlock, TemporalBlock


def assert_every_parameter_has_gradient(model: nn.Module) -> None:
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


# ------------------------------------------------------------------------------------------------ TemporalBlock


@pytest.mark.parametrize("batch", [0, 1, 3])
@pytest.mark.parametrize(("c_in", "c_out"), [(3, 3), (3, 5)])
def test_temporal_block_shapes(batch: int, c_in: int, c_out: int) -> None:
    block = TemporalBlock(c_in, c_out, kernel_size=3, dilation=4, dropout=0.2)
    y = block(torch.randn(batch, c_in, 37))
    assert y.shape == (batch, c_out, 37)
    assert (y >= 0).all()  # the final ReLU
    assert (block.downsample is None) == (c_in == c_out)


def test_temporal_block_matches_chomp_oracle() -> None:
    """The locuslab/TCN formulation (pad both sides, chomp the right) with the same weights, in float64."""
    torch.manual_seed(0)
    k, d = 3, 2
    block = TemporalBlock(2, 4, kernel_size=k, dilation=d).double().eval()
    x = torch.randn(2, 2, 20, dtype=torch.float64)
    pad = (k - 1) * d

    def causal(conv: nn.Module, h: torch.Tensor) -> torch.Tensor:
        return F.conv1d(h, conv.weight, conv.bias, padding=pad, dilation=d)[..., :-pad]

    h = F.relu(causal(block.conv1, x))
    h = F.relu(causal(block.conv2, h))
    assert block.downsample is not None
    expected = F.relu(h + F.conv1d(x, block.downsample.weight, block.downsample.bias))
    torch.testing.assert_close(block(x), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("weight_norm", [False, True])
def test_temporal_block_is_causal(weight_norm: bool) -> None:
    torch.manual_seed(1)
    block = TemporalBlock(2, 3, kernel_size=3, dilation=3, weight_norm=weight_norm).double().eval()
    x = torch.randn(2, 2, 40, dtype=torch.float64)
    y = block(x)
    for t in (0, 7, 20, 39):
        x2 = x.clone()
        x2[..., t] += 10.0
        y2 = block(x2)
        assert torch.equal(y2[..., :t], y[..., :t]), t
        assert not torch.equal(y2[..., t], y[..., t])  # the perturbation does reach output t


@pytest.mark.parametrize("weight_norm", [False, True])
def test_temporal_block_backward_and_round_trip(weight_norm: bool) -> None:
    torch.manual_seed(2)
    block = TemporalBlock(3, 4, kernel_size=2, dilation=2, dropout=0.1, weight_norm=weight_norm)
    (block(torch.randn(4, 3, 30)) * torch.randn(4, 4, 30)).sum().backward()
    assert_every_parameter_has_gradient(block)
    block.eval()
    x = torch.randn(2, 3, 30)
    fresh = round_trip(block, TemporalBlock(3, 4, kernel_size=2, dilation=2, weight_norm=weight_norm).eval())
    assert torch.equal(fresh(x), block(x))


def test_temporal_block_weight_norm() -> None:
    torch.manual_seed(3)
    block = TemporalBlock(3, 4, kernel_size=3, dilation=2, weight_norm=True).eval()
    names = {n for n, _ in block.named_parameters()}
    assert "conv1.parametrizations.weight.original0" in names  # g
    assert "conv1.parametrizations.weight.original1" in names  # v
    with torch.no_grad():  # g now differs from |v|: the weight is g * v / |v|
        block.conv1.parametrizations.weight.original0.mul_(2.0)
    x = torch.randn(2, 3, 25)
    before = block(x)
    v = block.conv1.parametrizations.weight.original1
    norm = v.flatten(1).norm(dim=1).view(-1, 1, 1)
    torch.testing.assert_close(block.conv1.weight, block.conv1.parametrizations.weight.original0 * v / norm)
    assert block.remove_weight_norm() is block
    assert not block.weight_norm
    assert isinstance(block.conv1.weight, nn.Parameter)
    assert {n for n, _ in block.named_parameters()} == {
        "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "downsample.weight", "downsample.bias"}
    torch.testing.assert_close(block(x), before)


@pytest.mark.parametrize(("c_in", "k", "d", "weight_norm"), [(2, 3, 1, False), (2, 2, 4, True), (3, 3, 2, False)])
def test_temporal_block_receptive_field(c_in: int, k: int, d: int, weight_norm: bool) -> None:
    block = TemporalBlock(c_in, 2, kernel_size=k, dilation=d, weight_norm=weight_norm)
    result = block.receptive_field()
    assert result.size == (1 + 2 * (k - 1) * d,)
    assert result.lookahead == (0,)
    assert result.aligned
    assert_rf_matches(block, (1, c_in, 16), result)


def test_tcn_stack_receptive_field_formula() -> None:
    """keras-tcn #207: RF = 1 + 2 (k - 1) sum(d); k = 4, d = 1 .. 64 gives 763 (pytorch-tcn #13)."""
    dilations = [2**i for i in range(7)]
    blocks = nn.Sequential(*(TemporalBlock(2 if i == 0 else 3, 3, 4, d) for i, d in enumerate(dilations)))
    graph = rf.Graph(dims=1)
    node = graph.input
    for i, block in enumerate(blocks):
        node = block.rf_spec(graph, node, name=str(i))
    result = rf.receptive_field(graph)
    assert result.size == (763,)
    assert [n.name for n in graph.nodes][1:4] == ["0.conv1", "0.conv2", "0.downsample"]
    assert_rf_matches(blocks, (1, 2, 64), result)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"in_channels": 0}, r"TemporalBlock: in_channels must be a positive int, got 0"),
        ({"out_channels": True}, r"TemporalBlock: out_channels must be a positive int, got True"),
        ({"kernel_size": 0}, r"TemporalBlock: kernel_size must be a positive int, got 0"),
        ({"dilation": 1.5}, r"TemporalBlock: dilation must be a positive int, got 1.5"),
        ({"dropout": 1.0}, r"TemporalBlock: dropout must be a float in \[0, 1\), got 1.0"),
        ({"dropout": -0.1}, r"TemporalBlock: dropout must be a float in \[0, 1\), got -0.1"),
        ({"weight_norm": "yes"}, r"TemporalBlock: weight_norm must be a bool, got 'yes'"),
    ],
)
def test_temporal_block_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"in_channels": 2, "out_channels": 2, "kernel_size": 3, "dilation": 1} | kwargs
    with pytest.raises(ConfigError, match=match):
        TemporalBlock(**args)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------- GatedResidualBlock


@pytest.mark.parametrize("batch", [0, 1, 3])
def test_gated_block_shapes(batch: int) -> None:
    block = GatedResidualBlock(4, 6, 5, kernel_size=2, dilation=8)
    res, skip = block(torch.randn(batch, 4, 33))
    assert res.shape == (batch, 4, 33)
    assert skip.shape == (batch, 5, 33)


def test_gated_block_matches_oracle() -> None:
    """tanh(W_f * x + V_f c) * sigmoid(W_g * x + V_g c) written out with F.conv1d and explicit left padding."""
    torch.manual_seed(4)
    k, d, gate = 3, 2, 5
    block = GatedResidualBlock(3, gate, 4, kernel_size=k, dilation=d, cond_channels=2).double()
    x = torch.randn(2, 3, 16, dtype=torch.float64)
    c = torch.randn(2, 2, 16, dtype=torch.float64)
    h = F.conv1d(F.pad(x, ((k - 1) * d, 0)), block.conv.weight, block.conv.bias, dilation=d)
    assert block.cond_conv is not None
    h = h + F.conv1d(c, block.cond_conv.weight)
    z = torch.tanh(h[:, :gate]) * torch.sigmoid(h[:, gate:])
    res, skip = block(x, c)
    torch.testing.assert_close(res, x + F.conv1d(z, block.residual_conv.weight, block.residual_conv.bias))
    torch.testing.assert_close(skip, F.conv1d(z, block.skip_conv.weight, block.skip_conv.bias))


def test_gated_block_global_conditioning_broadcasts() -> None:
    torch.manual_seed(5)
    block = GatedResidualBlock(3, 4, 2, cond_channels=6).double()
    x = torch.randn(2, 3, 12, dtype=torch.float64)
    g = torch.randn(2, 6, 1, dtype=torch.float64)
    res_global, skip_global = block(x, g)
    res_local, skip_local = block(x, g.expand(-1, -1, 12))
    torch.testing.assert_close(res_global, res_local)
    torch.testing.assert_close(skip_global, skip_local)
    assert not torch.allclose(block(x, g)[0], block(x, torch.zeros_like(g))[0])  # the conditioning matters


def test_gated_block_is_causal() -> None:
    torch.manual_seed(6)
    block = GatedResidualBlock(2, 3, 4, kernel_size=2, dilation=4, cond_channels=2).double()
    x = torch.randn(1, 2, 30, dtype=torch.float64)
    c = torch.randn(1, 2, 30, dtype=torch.float64)
    res, skip = block(x, c)
    for t in (0, 11, 29):
        for which in ("x", "cond"):
            x2, c2 = x.clone(), c.clone()
            (x2 if which == "x" else c2)[..., t] += 5.0
            res2, skip2 = block(x2, c2)
            assert torch.equal(res2[..., :t], res[..., :t]), (which, t)
            assert torch.equal(skip2[..., :t], skip[..., :t]), (which, t)
            assert not torch.equal(skip2[..., t], skip[..., t])


def test_gated_block_backward_and_round_trip() -> None:
    torch.manual_seed(7)
    block = GatedResidualBlock(3, 4, 5, kernel_size=3, dilation=2, cond_channels=2)
    x, c = torch.randn(2, 3, 20), torch.randn(2, 2, 20)
    res, skip = block(x, c)
    (res * torch.randn_like(res)).sum().add((skip * torch.randn_like(skip)).sum()).backward()
    assert_every_parameter_has_gradient(block)
    fresh = round_trip(block, GatedResidualBlock(3, 4, 5, kernel_size=3, dilation=2, cond_channels=2))
    for a, b in zip(fresh(x, c), block(x, c)):
        assert torch.equal(a, b)


@pytest.mark.parametrize(("k", "d"), [(2, 1), (2, 8), (3, 3)])
def test_gated_block_receptive_field(k: int, d: int) -> None:
    block = GatedResidualBlock(2, 3, 4, kernel_size=k, dilation=d)
    for output, node in (("residual", None), ("skip", "skip_conv")):
        result = block.receptive_field(output=output)
        assert result.size == (1 + (k - 1) * d,)
        assert result.lookahead == (0,)
        assert_rf_matches(block, (1, 2, 16), result, node=node)


def test_wavenet_stack_receptive_field() -> None:
    """Dilations 1 .. 512 with k = 2 give 1024; an initial causal layer makes it 1025 (tensorflow-wavenet #259)."""
    graph = rf.Graph(dims=1)
    node = graph.input
    for i in range(10):
        node = GatedResidualBlock(2, 2, 2, kernel_size=2, dilation=2**i).rf_spec(graph, node, name=f"block{i}")
    assert rf.receptive_field(graph).size == (1024,)
    graph = rf.Graph(dims=1)
    node = graph.add(rf.conv(2, padding="causal"), graph.input)
    for i in range(10):
        node = GatedResidualBlock(2, 2, 2, kernel_size=2, dilation=2**i).rf_spec(graph, node)
    assert rf.receptive_field(graph).size == (1025,)


def test_gated_block_conditioning_errors() -> None:
    plain = GatedResidualBlock(2, 3, 4)
    with pytest.raises(ShapeError, match=r"GatedResidualBlock: cond must be None for a block built without"):
        plain(torch.randn(1, 2, 8), torch.randn(1, 2, 8))
    cond = GatedResidualBlock(2, 3, 4, cond_channels=5)
    with pytest.raises(ShapeError, match=r"cond must be a \(B, 5, L\) or \(B, 5, 1\) tensor .*got None"):
        cond(torch.randn(1, 2, 8))
    with pytest.raises(ShapeError, match=r"got \(1, 5, 7\)"):
        cond(torch.randn(1, 2, 8), torch.randn(1, 5, 7))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"residual_channels": 0}, r"GatedResidualBlock: residual_channels must be a positive int, got 0"),
        ({"gate_channels": -1}, r"GatedResidualBlock: gate_channels must be a positive int, got -1"),
        ({"skip_channels": None}, r"GatedResidualBlock: skip_channels must be a positive int, got None"),
        ({"dilation": 0}, r"GatedResidualBlock: dilation must be a positive int, got 0"),
        ({"cond_channels": 0}, r"GatedResidualBlock: cond_channels must be a positive int, got 0"),
        ({"kernel_size": "2"}, r"GatedResidualBlock: kernel_size must be a positive int, got '2'"),
    ],
)
def test_gated_block_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"residual_channels": 2, "gate_channels": 2, "skip_channels": 2} | kwargs
    with pytest.raises(ConfigError, match=match):
        GatedResidualBlock(**args)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"output must be 'residual' or 'skip', got 'both'"):
        GatedResidualBlock(2, 2, 2).receptive_field(output="both")
