"""Degridding: SmoothedDilatedConv2d (Wang & Ji 2018) and HybridDilatedBlock (HDC, Wang et al. 2018)."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from _rfcheck import assert_rf_matches, round_trip

from atrous import rf
from atrous.errors import ConfigError
from atrous.nn.conv import DilatedConv2d
from atrous.nn.degrid import HybridDilatedBlock, SmoothedDilatedConv2d

# ------------------------------------------------------------------------------------------ SmoothedDilatedConv2d


@pytest.mark.parametrize(("k", "d"), [(3, 1), (3, 2), (3, 4), (2, 3), ((3, 5), (2, 3))])
def test_smoothed_equals_plain_dilated_conv_at_init(k: int | tuple[int, int], d: int | tuple[int, int]) -> None:
    torch.manual_seed(0)
    m = SmoothedDilatedConv2d(3, 4, k, dilation=d).double()
    dh, dw = (d, d) if isinstance(d, int) else d
    assert m.smooth.shape == (2 * dh - 1, 2 * dw - 1)
    plain = DilatedConv2d(3, 4, k, dilation=d).double()
    plain.load_state_dict(m.conv.state_dict())
    x = torch.randn(2, 3, 13, 17, dtype=torch.float64)
    torch.testing.assert_close(m(x), plain(x), rtol=0, atol=1e-12)


def test_smoothing_is_one_kernel_shared_by_all_channels() -> None:
    """Oracle: the pre-filter applied to each channel separately with F.conv2d and the same 2d-1 kernel."""
    torch.manual_seed(1)
    m = SmoothedDilatedConv2d(5, 2, 3, dilation=3).double()
    with torch.no_grad():
        m.smooth.copy_(torch.randn(5, 5))
    assert sum(p.numel() for p in m.parameters()) == 25 + m.conv.weight.numel() + 2
    x = torch.randn(2, 5, 11, 12, dtype=torch.float64)
    per_channel = torch.cat([F.conv2d(x[:, c:c + 1], m.smooth[None, None], padding=2) for c in range(5)], dim=1)
    torch.testing.assert_close(m.smoothing(x), per_channel)
    torch.testing.assert_close(m(x), m.conv(per_channel))


@pytest.mark.parametrize("batch", [0, 1, 3])
def test_smoothed_shapes(batch: int) -> None:
    assert SmoothedDilatedConv2d(2, 6, 3, dilation=2)(torch.randn(batch, 2, 9, 8)).shape == (batch, 6, 9, 8)


def test_smoothed_backward_and_round_trip() -> None:
    torch.manual_seed(2)
    m = SmoothedDilatedConv2d(2, 3, 3, dilation=2)
    (m(torch.randn(2, 2, 10, 10)) * torch.randn(2, 3, 10, 10)).sum().backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    with torch.no_grad():
        m.smooth.add_(torch.randn_like(m.smooth))
    x = torch.randn(1, 2, 10, 10)
    assert torch.equal(round_trip(m, SmoothedDilatedConv2d(2, 3, 3, dilation=2))(x), m(x))


@pytest.mark.parametrize("d", [2, 3])
def test_smoothed_receptive_field_has_no_holes(d: int) -> None:
    m = SmoothedDilatedConv2d(2, 2, 3, dilation=d)
    result = m.receptive_field()
    assert result.size == (2 * d - 1 + 2 * d,) * 2
    assert rf.support(result.graph).holes == 0
    assert rf.support(DilatedConv2d(2, 2, 3, dilation=d).rf_layer()).holes > 0  # the plain conv grids
    assert_rf_matches(m, (1, 2, 16, 16), result)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"in_channels": 0}, r"SmoothedDilatedConv2d: in_channels must be a positive int, got 0"),
        ({"kernel_size": (3, 3, 3)}, r"SmoothedDilatedConv2d: kernel_size must be a positive int or 2 positive"),
        ({"dilation": 0}, r"SmoothedDilatedConv2d: dilation must be a positive int or 2 positive ints, got 0"),
        ({"groups": 0}, r"SmoothedDilatedConv2d: groups must be a positive int, got 0"),
    ],
)
def test_smoothed_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"in_channels": 2, "out_channels": 2, "kernel_size": 3, "dilation": 2} | kwargs
    with pytest.raises(ConfigError, match=match):
        SmoothedDilatedConv2d(**args)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------- HybridDilatedBlock


@pytest.mark.parametrize("residual", [True, False])
@pytest.mark.parametrize("batch", [0, 1, 3])
def test_hdc_shapes(residual: bool, batch: int) -> None:
    block = HybridDilatedBlock(4, residual=residual).eval()
    y = block(torch.randn(batch, 4, 15, 16))
    assert y.shape == (batch, 4, 15, 16)
    assert (y >= 0).all()


def test_hdc_forward_is_conv_bn_relu_chain_plus_input() -> None:
    """Oracle with F.conv2d / F.batch_norm written out, in eval mode."""
    torch.manual_seed(3)
    block = HybridDilatedBlock(3, (1, 2, 5)).double().eval()
    for bn in block.norms:
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
    x = torch.randn(2, 3, 20, 20, dtype=torch.float64)
    h = x
    for i, (conv, bn) in enumerate(zip(block.convs, block.norms)):
        r = conv.dilation[0]
        h = F.conv2d(h, conv.weight, None, 1, r, r)
        h = F.batch_norm(h, bn.running_mean, bn.running_var, bn.weight, bn.bias, False)
        h = h if i == 2 else F.relu(h)
    torch.testing.assert_close(block(x), F.relu(h + x))


def test_hdc_accepts_a_schedule() -> None:
    schedule = rf.design(30)
    block = HybridDilatedBlock(2, schedule)
    assert block.rates == schedule.rates
    assert block.schedule == schedule
    assert block.receptive_field().size == (schedule.rf, schedule.rf)
    block5 = HybridDilatedBlock(2, rf.Schedule((1, 2), kernel=5))
    assert block5.kernel_size == 5 and block5.convs[0].kernel_size == (5, 5)
    with pytest.raises(ConfigError, match=r"kernel_size must be None or the schedule's kernel 5, got 3"):
        HybridDilatedBlock(2, rf.Schedule((1, 2), kernel=5), kernel_size=3)


def test_hdc_gridding_schedule_raises_or_warns() -> None:
    with pytest.raises(ConfigError, match=r"HybridDilatedBlock: schedule must be a schedule passing "
                                          r"atrous.rf.hdc_check, got \[2, 4\]; rates 2, 4 share the factor 2"):
        HybridDilatedBlock(2, (2, 4))
    with pytest.raises(ConfigError, match=r"got \[1, 2, 9\].*M_2 = 5 > kernel 3.*use rates without holes such as "
                                          r"1, 3, 8"):
        HybridDilatedBlock(2, (1, 2, 9))
    with pytest.warns(UserWarning, match=r"HybridDilatedBlock: schedule \[2, 4\]: rates 2, 4 share the factor 2"):
        block = HybridDilatedBlock(2, (2, 4), on_violation="warn")
    assert rf.support(block.receptive_field().graph).holes > 0


def test_hdc_hole_free_schedule_that_breaks_the_m_rule_only_warns() -> None:
    for rates in ((1, 3, 2), (1, 2, 5, 1, 2, 5)):
        with pytest.warns(UserWarning, match=r"the exact support has no holes all the same"):
            block = HybridDilatedBlock(2, rates)
        assert rf.support(block.receptive_field().graph).holes == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        HybridDilatedBlock(2, (1, 2, 5))


def test_hdc_backward_and_round_trip() -> None:
    torch.manual_seed(4)
    block = HybridDilatedBlock(3, (1, 2, 3))
    (block(torch.randn(2, 3, 12, 12)) * torch.randn(2, 3, 12, 12)).sum().backward()
    for name, p in block.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    block.eval()
    x = torch.randn(1, 3, 12, 12)
    assert torch.equal(round_trip(block, HybridDilatedBlock(3, (1, 2, 3)).eval())(x), block(x))


@pytest.mark.parametrize(("rates", "residual"), [((1, 2, 5), True), ((1, 2, 3), False)])
def test_hdc_receptive_field_matches_gradient(rates: tuple[int, ...], residual: bool) -> None:
    block = HybridDilatedBlock(2, rates, residual=residual)
    result = block.receptive_field()
    assert result.size == (1 + 2 * sum(rates),) * 2
    assert rf.support(result.graph).holes == 0
    assert_rf_matches(block, (1, 2, 24, 24), result)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"channels": 0}, r"HybridDilatedBlock: channels must be a positive int, got 0"),
        ({"schedule": []}, r"HybridDilatedBlock: schedule must be a non-empty list of positive ints or an "),
        ({"schedule": "125"}, r"schedule must be .*, got '125'"),
        ({"kernel_size": 0}, r"HybridDilatedBlock: kernel_size must be a positive int or None, got 0"),
        ({"residual": "no"}, r"HybridDilatedBlock: residual must be a bool, got 'no'"),
        ({"on_violation": "ignore"}, r"HybridDilatedBlock: on_violation must be 'raise' or 'warn', got 'ignore'"),
    ],
)
def test_hdc_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"channels": 2} | kwargs
    with pytest.raises(ConfigError, match=match):
        HybridDilatedBlock(**args)  # type: ignore[arg-type]


def test_a_smoothing_kernel_that_would_fill_the_ram_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^SmoothedDilatedConv2d: dilation must need at most .* got 1000000 "
                                          r"\(estimated 16 TB\); its \(2 dilation - 1\)\^2 smoothing kernel"):
        SmoothedDilatedConv2d(3, 3, 3, dilation=10**6)
