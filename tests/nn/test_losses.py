"""shift_consistency_loss: zero for shift-equivariant stacks (away from borders), positive where the output depends
on the sampling phase (subsampling + upsampling), an explicit oracle, reductions and bad input."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from atrous.errors import ConfigError, ShapeError
from atrous.functional.losses import shift_consistency_loss
from atrous.nn.aspp import ASPP
from atrous.nn.conv import DilatedConv2d


def dilated_stack() -> nn.Sequential:
    """Stride 1, zero padding, biases, ReLU, a gridding schedule (2, 2, 4): equivariant in the interior."""
    return nn.Sequential(DilatedConv2d(2, 4, 3, dilation=2), nn.ReLU(), DilatedConv2d(4, 4, 3, dilation=2),
                         nn.ReLU(), DilatedConv2d(4, 3, 3, dilation=4)).double()


def subsampling_net() -> nn.Sequential:
    """A stride-2 stem, a dilated conv, and nearest upsampling back: output stride 2."""
    return nn.Sequential(nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.ReLU(), DilatedConv2d(4, 3, 3, dilation=2),
                         nn.Upsample(scale_factor=2, mode="nearest")).double()


def test_equivariant_stack_is_zero_in_the_interior() -> None:
    torch.manual_seed(0)
    net = dilated_stack()
    x = torch.randn(2, 2, 40, 44, dtype=torch.float64)
    radius = (1 + 2 * (2 + 2 + 4) - 1) // 2  # receptive field 17
    loss = shift_consistency_loss(net, x, dilation=4, margin=radius)
    assert loss.item() < 1e-25
    # without the margin, zero padding near the borders shows up: documented, not hidden
    assert shift_consistency_loss(net, x, dilation=4, margin=0).item() > 1e-6


def test_subsampling_model_depends_on_the_phase() -> None:
    torch.manual_seed(1)
    net = subsampling_net()
    x = torch.randn(2, 2, 48, 48, dtype=torch.float64)
    per_shift = shift_consistency_loss(net, x, dilation=3, margin=12, reduction="none")
    assert per_shift.shape == (4, 2)  # shifts 1, 2 along H, then 1, 2 along W; per sample
    odd = per_shift[[0, 2]]  # shifts of 1: half a sampling step
    even = per_shift[[1, 3]]  # shifts of 2: a whole step of the stride-2 grid
    assert (odd > 1e-3).all()
    assert (even < 1e-25).all()


def test_matches_explicit_oracle() -> None:
    """f(x) = x * w(position): the loss is the mean of (roll(x)(w - roll(w)))^2 over the kept window, by loops."""
    torch.manual_seed(2)
    w = torch.randn(1, 1, 9, 10, dtype=torch.float64)

    def f(t: torch.Tensor) -> torch.Tensor:
        return t * w

    x = torch.randn(2, 3, 9, 10, dtype=torch.float64)
    margin, shifts = 1, [(2, 0), (0, -1), (1, 1)]
    got = shift_consistency_loss(f, x, dilation=3, shifts=shifts, margin=margin, reduction="none")
    for i, (sh, sw) in enumerate(shifts):
        for b in range(2):
            total, count = 0.0, 0
            for h in range(9):
                for col in range(10):
                    keep_h = sh == 0 or margin + max(sh, 0) <= h < 9 - margin + min(sh, 0)
                    keep_w = sw == 0 or margin + max(sw, 0) <= col < 10 - margin + min(sw, 0)
                    if not (keep_h and keep_w):
                        continue
                    for c in range(3):
                        src = x[b, c, (h - sh) % 9, (col - sw) % 10]
                        a = float(src * w[0, 0, h, col])  # f(roll(x))
                        e = float(src * w[0, 0, (h - sh) % 9, (col - sw) % 10])  # roll(f(x))
                        total += (a - e) ** 2
                        count += 1
            assert got[i, b].item() == pytest.approx(total / count, rel=1e-12)


def test_reductions_and_default_shifts() -> None:
    torch.manual_seed(3)
    net = subsampling_net()
    x = torch.randn(3, 2, 24, 24, dtype=torch.float64)
    none = shift_consistency_loss(net, x, dilation=(2, 4), margin=4, reduction="none")
    assert none.shape == (1 + 3, 3)  # shift 1 along H; shifts 1, 2, 3 along W
    torch.testing.assert_close(shift_consistency_loss(net, x, dilation=(2, 4), margin=4), none.mean())
    torch.testing.assert_close(shift_consistency_loss(net, x, dilation=(2, 4), margin=4, reduction="sum"), none.sum())
    explicit = shift_consistency_loss(net, x, dilation=4, shifts=[1, (0, 2), (0, 3)], margin=4, reduction="none")
    torch.testing.assert_close(explicit, shift_consistency_loss(net, x, dilation=4, shifts=[(1, 0), (0, 1), (0, 2),
                                                                                            (0, 3)],
                                                                margin=4, reduction="none"))
    torch.testing.assert_close(explicit[[0, 1, 3]], none[[0, 1, 3]])


@pytest.mark.parametrize("dims", [1, 3])
def test_other_dimensionalities(dims: int) -> None:
    torch.manual_seed(4)
    conv = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[dims - 1](2, 2, 3, padding=2, dilation=2).double()
    pool = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)[dims - 1](2)
    x = torch.randn(1, 2, *([12] * dims), dtype=torch.float64)
    assert shift_consistency_loss(conv, x, dilation=2, margin=2).item() < 1e-25
    sub = nn.Sequential(pool, nn.Upsample(scale_factor=2))
    assert shift_consistency_loss(sub, x, dilation=2, margin=2).item() > 1e-3


def test_gradients_reach_the_model() -> None:
    torch.manual_seed(5)
    net = subsampling_net()
    loss = shift_consistency_loss(net, torch.randn(2, 2, 16, 16, dtype=torch.float64), dilation=2, margin=3)
    loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_image_pooling_is_shift_invariant_under_roll() -> None:
    """A circular shift keeps the global mean, so an ASPP (stride 1) stays consistent in the interior."""
    torch.manual_seed(6)
    aspp = ASPP(2, 3, rates=(1, 2)).double().eval()
    x = torch.randn(2, 2, 20, 20, dtype=torch.float64)
    assert shift_consistency_loss(aspp, x, dilation=2, margin=2).item() < 1e-25


def test_bad_input() -> None:
    x = torch.randn(1, 2, 10, 10)
    ident = nn.Identity()
    with pytest.raises(ConfigError, match=r"shift_consistency_loss: dilation must be at least 2 on some axis .*, "
                                          r"got \(1, 1\); pass shifts="):
        shift_consistency_loss(ident, x, dilation=1)
    with pytest.raises(ConfigError, match=r"shifts must be .*each \|shift\| < dilation, got \[2\]"):
        shift_consistency_loss(ident, x, dilation=2, shifts=[2])
    with pytest.raises(ConfigError, match=r"shifts must be .*, got \[\(0, 0\)\]"):
        shift_consistency_loss(ident, x, dilation=2, shifts=[(0, 0)])
    with pytest.raises(ConfigError, match=r"dilation must be a positive int or 2 of them .*, got 0"):
        shift_consistency_loss(ident, x, dilation=0)
    with pytest.raises(ConfigError, match=r"margin must be a non-negative int or 2 of them .*, got -1"):
        shift_consistency_loss(ident, x, dilation=2, margin=-1)
    with pytest.raises(ConfigError, match=r"reduction must be 'mean', 'sum' or 'none', got 'max'"):
        shift_consistency_loss(ident, x, dilation=2, reduction="max")
    with pytest.raises(ConfigError, match=r"model_or_fn must be an nn.Module or a callable, got 'int'"):
        shift_consistency_loss(3, x, dilation=2)  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match=r"x must be a \(B, C, \*S\) tensor with 1 to 3 spatial axes, got \(2, 10\)"):
        shift_consistency_loss(ident, torch.randn(2, 10), dilation=2)
    with pytest.raises(ShapeError, match=r"output must keep the batch and spatial size .* got \(1, 2, 5, 5\)"):
        shift_consistency_loss(nn.AvgPool2d(2), x, dilation=2)
    with pytest.raises(ShapeError, match=r"axis 0 of length 10 must be longer than 2 \* margin \+ \|shift\| = 11"):
        shift_consistency_loss(ident, x, dilation=2, margin=5)
