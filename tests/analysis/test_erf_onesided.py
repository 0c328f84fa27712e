"""One-sided ERF statistics (lags behind the newest input) and the degenerate-fit check, against slow oracles."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from atrous.analysis.erf import effective_rf
from atrous.analysis.erf_metrics import AxisFit, degenerate_fit, gaussian_fit, lag_holding, lag_stats
from atrous.errors import AtrousError, ShapeError


def _oracle(values: list[float], newest: int, mass: float) -> tuple[float, int, float, int]:
    """Walk the samples from the newest one back into the past, one at a time, in plain Python floats."""
    by_lag = sorted(((newest - i, v) for i, v in enumerate(values)), key=lambda p: p[0])
    total = 0.0
    for _, v in by_lag:
        total += v
    weighted = 0.0
    for lag, v in by_lag:
        weighted += lag * v
    held = 0.0
    holding = None
    for lag, v in by_lag:
        held += v
        if holding is None and held >= mass * total * (1 - 1e-12):
            holding = lag
    future = 0.0
    for lag, v in by_lag:
        if lag < 0:
            future += v
    span = max(lag for lag, v in by_lag if v > 0)
    assert holding is not None
    return weighted / total, holding, future / total, span


maps = st.lists(st.one_of(st.just(0.0), st.floats(0.0, 100.0), st.integers(0, 5).map(float)), min_size=1,
                max_size=40).filter(lambda v: sum(v) > 0)


@settings(max_examples=200, deadline=None)
@given(values=maps, data=st.data())
def test_lag_statistics_match_a_sample_by_sample_walk(values: list[float], data: st.DataObject) -> None:
    newest = data.draw(st.integers(-3, len(values) + 3), label="newest")
    mass = data.draw(st.sampled_from([0.5, 0.95, 0.2, 1.0]), label="mass")
    arr = np.array(values)
    mean, holding, future, span = _oracle(values, newest, mass)
    assert lag_holding(arr, newest, mass) == holding
    stats = lag_stats(arr, newest)
    assert stats.mean_lag == pytest.approx(mean, rel=1e-9, abs=1e-9)
    assert stats.future == pytest.approx(future, abs=1e-12)
    assert stats.span == span
    assert stats.lag50 == _oracle(values, newest, 0.5)[1] and stats.lag95 == _oracle(values, newest, 0.95)[1]


def test_lag_statistics_of_a_2d_map_use_the_marginal_along_the_axis() -> None:
    rng = np.random.default_rng(0)
    m = rng.random((5, 17))
    for axis, newest in ((1, 16), (0, 3)):
        line = m.sum(axis=1 - axis)
        assert lag_stats(m, newest, axis=axis) == lag_stats(line, newest)


def test_a_causal_box_stack_has_the_lags_of_its_triangle() -> None:
    """Two causal convs of three ones: the ERF is 1, 2, 3, 2, 1 ending at the unit's own sample."""

    class Causal(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.convs = nn.ModuleList(nn.Conv1d(1, 1, 3, bias=False) for _ in range(2))
            for conv in self.convs:
                nn.init.ones_(conv.weight)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for conv in self.convs:
                x = conv(nn.functional.pad(x, (2, 0)))
            return x

    e = effective_rf(Causal(), (1, 1, 16), samples=1)
    assert e.unit == (8,) and e.map[4:9].tolist() == [1, 2, 3, 2, 1]
    s = e.lag_stats(8)  # lags 0..4 hold 1, 2, 3, 2, 1 of 9
    assert (s.mean_lag, s.lag50, s.lag95, s.future, s.span) == (2.0, 2, 4, 0.0, 4)


@pytest.mark.parametrize(("newest", "mass", "message"), [
    (2.5, 0.5, "newest must be an int"),
    (True, 0.5, "newest must be an int"),
    (2, 0.0, "mass must be a number in"),
    (2, 1.5, "mass must be a number in"),
])
def test_bad_arguments_are_one_line_errors(newest: object, mass: float, message: str) -> None:
    with pytest.raises(AtrousError, match=message):
        lag_holding(np.ones(5), newest, mass)  # type: ignore[arg-type]


def test_an_empty_map_has_no_lags() -> None:
    with pytest.raises(ShapeError, match="zero everywhere"):
        lag_stats(np.zeros(5), 4)


@pytest.mark.parametrize(("fit", "length", "spread", "flagged"), [
    (AxisFit(center=6.0, sigma=0.16, amplitude=1.0, r2=1.0), 13, None, "below half a sample"),
    (AxisFit(center=48.0, sigma=0.0, amplitude=1.0, r2=1.0), 67, None, "R² of 1 means nothing"),
    (AxisFit(center=math.nan, sigma=2.0, amplitude=1.0, r2=0.9), 13, None, "non-finite"),
    (AxisFit(center=6.0, sigma=math.inf, amplitude=1.0, r2=0.9), 13, None, "non-finite"),
    (AxisFit(center=6.0, sigma=3.0, amplitude=1.0, r2=-0.2), 13, None, "worse than a constant"),
    (AxisFit(center=300.0, sigma=3.0, amplitude=1.0, r2=0.4), 512, None, "under 2% of the 512-sample field"),
    (AxisFit(center=30.0, sigma=2.0, amplitude=1.0, r2=0.9), 60, 20.0, "quarter of the map's standard deviation"),
    (AxisFit(center=6.0, sigma=40.0, amplitude=1.0, r2=1.0), 13, None, "flat"),
    (AxisFit(center=6.0, sigma=2.5, amplitude=0.2, r2=0.97), 13, 2.6, None),
    (AxisFit(center=256.0, sigma=140.0, amplitude=0.01, r2=0.12), 513, 122.0, None),  # poor, not degenerate
    (AxisFit(center=2.0, sigma=0.8, amplitude=0.5, r2=0.99), 5, None, None),  # a short field, not flagged
])
def test_degenerate_fits_are_flagged_with_a_reason(fit: AxisFit, length: float, spread: float | None,
                                                   flagged: str | None) -> None:
    why = degenerate_fit(fit, length, spread)
    if flagged is None:
        assert why is None
    else:
        assert why is not None and flagged in why


def test_an_identity_stack_has_a_degenerate_erf_and_a_box_stack_does_not() -> None:
    identity = nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=2, dilation=2, bias=False) for _ in range(3)])
    boxes = nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=1, bias=False) for _ in range(6)])
    for conv in identity:
        nn.init.dirac_(conv.weight)
    for conv in boxes:
        nn.init.ones_(conv.weight)
    spike = effective_rf(identity, (1, 1, 32, 32), samples=1)
    assert spike.sigma[0] < 0.5 and spike.r2[0] > 0.99  # the fit the issue saw: σ ~0, R² 1
    assert all(why is not None and "single spike" in why for why in spike.degenerate((13, 13)))
    smooth = effective_rf(boxes, (1, 1, 32, 32), samples=1)
    assert smooth.degenerate((13, 13)) == (None, None)
    assert gaussian_fit(smooth.map)[0].r2 > 0.95
