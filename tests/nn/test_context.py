"""ContextModule (Yu & Koltun 2016): identity initialisation, the 67-pixel receptive field, the large module."""

from __future__ import annotations

import io

import pytest
import torch
from _rfcheck import assert_rf_matches

from atrous import rf
from atrous.errors import ConfigError
from atrous.nn.context import ContextModule

LARGE = (2, 2, 4, 8, 16, 32, 32)  # the paper's large module, in multiples of C




@pytest.mark.parametrize("hidden", [None, LARGE])
def test_identity_at_initialisation(hidden: tuple[int, ...] | None) -> None:
    c = 3
    m = ContextModule(c, hidden_channels=None if hidden is None else [c * h for h in hidden]).double()
    x = torch.rand(2, c, 19, 23, dtype=torch.float64)  # non-negative, like class scores after a ReLU
    torch.testing.assert_close(m(x), x, rtol=0, atol=1e-12)
    z = torch.randn(2, c, 19, 23, dtype=torch.float64)
    torch.testing.assert_close(m(z), torch.relu(z), rtol=0, atol=1e-12)  # negative inputs die at the first ReLU


def test_identity_kernel_is_centre_tap_same_channel() -> None:
    m = ContextModule(4)
    w = m.layers[3].weight  # dilation 4
    expected = torch.zeros_like(w)
    for b in range(4):
        expected[b, b, 1, 1] = 1.0
    assert torch.equal(w, expected)
    assert torch.equal(m.final.weight[:, :, 0, 0], torch.eye(4))
    assert all(torch.equal(conv.bias, torch.zeros(4)) for conv in (*m.layers, m.final))


def test_large_module_weights_follow_the_paper_formula() -> None:
    """k(t, a) = (C / c_{i+1}) 1[t = 0] 1[floor(a C / c_i) = floor(b C / c_{i+1})]: layer 3 maps 2C -> 4C."""
    c = 2
    m = ContextModule(c, hidden_channels=[c * h for h in LARGE])
    w = m.layers[2].weight.detach()  # 4 -> 8 channels
    assert w.shape == (8, 4, 3, 3)
    for b in range(8):
        for a in range(4):
            expected = (c / 8) if (a * c // 4) == (b * c // 8) else 0.0
            assert float(w[b, a, 1, 1]) == expected
    assert float(w[:, :, 0].abs().sum()) == 0.0


def test_init_noise_breaks_symmetry() -> None:
    torch.manual_seed(0)
    m = ContextModule(2, hidden_channels=[4] * 7, init_noise=1e-3).double()
    clean = ContextModule(2, hidden_channels=[4] * 7).double()
    assert not torch.equal(m.layers[0].weight, clean.layers[0].weight)
    x = torch.rand(1, 2, 16, 16, dtype=torch.float64)
    y = m(x)
    assert not torch.equal(y, x)
    torch.testing.assert_close(y, x, rtol=0, atol=0.1)  # still close to the identity


@pytest.mark.parametrize("batch", [0, 1, 3])
def test_shapes(batch: int) -> None:
    m = ContextModule(5, dilations=(1, 2, 4))
    assert m(torch.randn(batch, 5, 12, 9)).shape == (batch, 5, 12, 9)
    assert len(m.layers) == 3


def test_backward_and_round_trip() -> None:
    torch.manual_seed(1)
    m = ContextModule(3)
    x = torch.rand(2, 3, 20, 20)
    (m(x) * torch.randn(2, 3, 20, 20)).sum().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.01 * torch.randn_like(p))
    buffer = io.BytesIO()
    torch.save(m.state_dict(), buffer)
    buffer.seek(0)
    fresh = ContextModule(3)
    fresh.load_state_dict(torch.load(buffer))
    assert torch.equal(fresh(x), m(x))


def test_receptive_field_per_layer_matches_the_paper() -> None:
    """Yu & Koltun (2016), Table 1: 3, 5, 9, 17, 33, 65, 67, then 67 after the 1x1."""
    result = ContextModule(2).receptive_field()
    assert [n.size[0] for n in result.nodes[1:]] == [3, 5, 9, 17, 33, 65, 67, 67]
    assert result.size == (67, 67)
    assert [n.name for n in result.nodes][1:3] == ["layers.0", "layers.1"]


@pytest.mark.parametrize("dilations", [(1, 1, 2, 4, 8, 16, 1), (2, 2)])
def test_receptive_field_matches_gradient(dilations: tuple[int, ...]) -> None:
    m = ContextModule(2, dilations=dilations)
    result = m.receptive_field()
    assert rf.support(result.graph).holes == (0 if dilations[0] == 1 else 9 * 9 - 5 * 5)  # (2, 2) reads even offsets
    assert_rf_matches(m, (1, 2, 32, 32), result)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"channels": 0}, r"ContextModule: channels must be a positive int, got 0"),
        ({"dilations": []}, r"ContextModule: dilations must be a non-empty list of positive ints, got \[\]"),
        ({"dilations": (1, 0)}, r"ContextModule: dilations must be a non-empty list of positive ints, got \(1, 0\)"),
        ({"hidden_channels": [6, 6]}, r"ContextModule: hidden_channels must be 7 positive multiples of channels=4"),
        ({"hidden_channels": [6] * 7}, r"hidden_channels must be .*, got \[6, 6, 6, 6, 6, 6, 6\]"),
        ({"kernel_size": 2}, r"ContextModule: kernel_size must be a positive odd int .*, got 2"),
        ({"init_noise": -1.0}, r"ContextModule: init_noise must be a non-negative float, got -1.0"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"channels": 4} | kwargs
    with pytest.raises(ConfigError, match=match):
        ContextModule(**args)  # type: ignore[arg-type]
