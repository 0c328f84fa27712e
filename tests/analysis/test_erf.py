"""The gradient ERF and its metrics against analytic cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from atrous.analysis.erf import depth_sweep, effective_rf, path_count_erf
from atrous.analysis.erf_metrics import area_ratios, gaussian_fit, mass_width, moments, power_law, radial_mass
from atrous.errors import ConfigError, ShapeError, UnsupportedOpError


def _ones(net: nn.Module) -> nn.Module:
    for m in net.modules():
        if isinstance(m, nn.Conv1d | nn.Conv2d):
            nn.init.ones_(m.weight)
    return net


def _uniform_2d() -> nn.Module:
    return _ones(nn.Sequential(
        nn.Conv2d(2, 3, 3, padding=1, bias=False),
        nn.Conv2d(3, 3, 3, dilation=2, padding=2, bias=False),
        nn.AvgPool2d(2),
        nn.Conv2d(3, 1, (3, 5), dilation=(3, 1), bias=False),
    ))


@pytest.mark.parametrize("shape", [(1, 2, 40, 37), (1, 2, 41, 44)])
def test_linear_uniform_stack_equals_path_counts(shape: tuple[int, ...]) -> None:
    net = _uniform_2d()
    measured = effective_rf(net, shape, samples=3, dtype=torch.float64)
    data_free = path_count_erf(net, shape)
    assert measured.map.shape == data_free.shape == shape[2:]
    np.testing.assert_allclose(measured.map / measured.map.sum(), data_free, rtol=1e-12, atol=1e-15)


def test_linear_1d_dilated_with_stride_equals_path_counts() -> None:
    net = _ones(nn.Sequential(nn.Conv1d(1, 2, 2, stride=2, bias=False), nn.Conv1d(2, 2, 3, dilation=3, bias=False),
                              nn.Conv1d(2, 1, 3, dilation=5, padding=5, bias=False)))
    measured = effective_rf(net, (1, 1, 90), samples=1, dtype=torch.float64)
    np.testing.assert_allclose(measured.map / measured.map.sum(), path_count_erf(net, (1, 1, 90)), atol=1e-15)
    # the dilated taps leave holes: the ERF is zero between them
    assert np.count_nonzero(measured.map) < mass_width(measured.map, 0, 0.999) + 1


def test_sigma_grows_as_sqrt_depth() -> None:
    def stack(n: int) -> nn.Module:
        return _ones(nn.Sequential(*[nn.Conv1d(1, 1, 3, padding=1, bias=False) for _ in range(n)]))

    sweep = depth_sweep(stack, [2, 8, 32], (1, 1, 201), samples=1, dtype=torch.float64)
    assert sweep.exponent[0] == pytest.approx(0.5, abs=1e-9)
    # variance of one box of 3 taps is 2/3; n boxes add up
    for n, (width,) in zip(sweep.depths, sweep.width):
        assert width == pytest.approx(math.sqrt(2 * n / 3), rel=1e-9)
    fitted = depth_sweep(stack, [8, 32, 96], (1, 1, 301), measure="sigma", samples=1, dtype=torch.float64)
    assert fitted.exponent[0] == pytest.approx(0.5, abs=0.02)


def test_random_init_relu_stack_sweep_runs_and_is_reproducible() -> None:
    def stack(n: int) -> nn.Module:
        torch.manual_seed(n)
        layers: list[nn.Module] = []
        for _ in range(n):
            layers += [nn.Conv1d(4, 4, 3, padding=1), nn.ReLU()]
        return nn.Sequential(nn.Conv1d(1, 4, 1), *layers)

    a = depth_sweep(stack, [4, 16], (1, 1, 129), samples=4, seed=1)
    b = depth_sweep(stack, [4, 16], (1, 1, 129), samples=4, seed=1)
    assert a.width == b.width and a.width[1][0] > a.width[0][0]


def _gaussian_map(shape: tuple[int, int], centre: tuple[float, float], sigma: tuple[float, float]) -> np.ndarray:
    y, x = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    return np.exp(-0.5 * (((y - centre[0]) / sigma[0]) ** 2 + ((x - centre[1]) / sigma[1]) ** 2))


def test_gaussian_fit_recovers_anisotropic_gaussian() -> None:
    fits = gaussian_fit(_gaussian_map((90, 120), (40.3, 55.0), (3.0, 7.0)))
    assert [f.center for f in fits] == pytest.approx([40.3, 55.0], abs=1e-6)
    assert [f.sigma for f in fits] == pytest.approx([3.0, 7.0], abs=1e-6)
    assert all(f.r2 > 1 - 1e-9 for f in fits)


def test_gaussian_fit_r2_is_low_for_a_two_peak_map() -> None:
    m = np.zeros(101)
    m[20], m[80] = 1.0, 1.0
    assert gaussian_fit(m)[0].r2 < 0.7


def test_area_ratio_on_known_gaussian() -> None:
    sigma, n = 6.0, 101
    g = _gaussian_map((n, n), (50, 50), (sigma, sigma))
    erf_map = 10.0**g - 1.0  # so that log10(map + 1) is exactly the Gaussian
    got = area_ratios(erf_map)
    for t in (0.2, 0.3, 0.5, 0.99):
        # share of a centred square of half-width i: the continuous Gaussian over [-i-1/2, i+1/2]^2
        i = next(i for i in range(1, 51) if math.erf((i + 0.5) / (sigma * math.sqrt(2))) ** 2 > t)
        assert got[str(t)] == (2 * i + 1) ** 2 / n**2
    # on an even-sized map the largest centred square misses one row and column (RepLKNet's 0.978 case)
    wide = 10.0 ** _gaussian_map((100, 100), (50, 50), (40.0, 40.0)) - 1.0
    assert area_ratios(wide)["0.99"] is None  # unreachable inside the map: reported, not a crash
    assert area_ratios(np.zeros((5, 5))) == {"0.2": None, "0.3": None, "0.5": None, "0.99": None}


def test_radial_mass_and_moments_on_point_masses() -> None:
    m = np.zeros((11, 11))
    m[5, 5], m[5, 8], m[9, 9] = 2.0, 1.0, 1.0  # distances 0, 3, sqrt(32)
    assert radial_mass(m, (0, 3, 5, 6)) == {"0": 0.5, "3": 0.75, "5": 0.75, "6": 1.0}
    (my, _), (mx, _) = moments(m)
    assert my == pytest.approx((5 * 3 + 9) / 4) and mx == pytest.approx((5 * 2 + 8 + 9) / 4)


def test_power_law_recovers_exponent() -> None:
    fit = power_law([2, 4, 8, 16], [5 * 2**0.7, 5 * 4**0.7, 5 * 8**0.7, 5 * 16**0.7])
    assert fit.exponent == pytest.approx(0.7) and fit.scale == pytest.approx(5.0)


def test_metric_inputs_are_checked() -> None:
    with pytest.raises(ConfigError, match="non-negative"):
        gaussian_fit(np.array([1.0, -1.0]))
    with pytest.raises(ConfigError, match="thresholds must be numbers in"):
        area_ratios(np.ones(5), (1.5,))
    with pytest.raises(ShapeError, match="zero everywhere"):
        gaussian_fit(np.zeros(7))
    with pytest.raises(ConfigError, match="x, y must be"):
        power_law([1], [1])


class _Classifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, dilation=2,
                                                                                          padding=2), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 5)
        self.unused = nn.Conv2d(8, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


def test_classifier_measures_last_spatial_map() -> None:
    e = effective_rf(_Classifier(), (1, 3, 24, 24), samples=2)
    assert e.node == "features.3" and e.unit == (12, 12) and e.output_size == (24, 24)
    # the unit reads a 7x7 box around itself (3x3 then 3x3 at dilation 2)
    nz = np.argwhere(e.map > 0)
    assert nz.min(0).tolist() == [9, 9] and nz.max(0).tolist() == [15, 15]


def test_node_unit_inputs_inits_and_progress() -> None:
    model = _Classifier()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    calls: list[tuple[int, int]] = []
    e = effective_rf(model, (1, 3, 16, 16), node="features.1", unit=(0, 3), samples=5, batch_size=2, inits=2,
                     progress=lambda done, total: calls.append((done, total)))
    assert e.samples == 10 and calls[-1] == (10, 10) and len(calls) == 6
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    nz = np.argwhere(e.map > 0)
    assert nz.min(0).tolist() == [0, 2] and nz.max(0).tolist() == [1, 4]  # border unit: clipped 3x3 box
    again = effective_rf(model, (1, 3, 16, 16), node="features.1", unit=(0, 3), samples=5, batch_size=2, inits=2)
    np.testing.assert_array_equal(e.map, again.map)
    data = [(torch.randn(3, 3, 16, 16), torch.zeros(3)) for _ in range(2)]
    assert effective_rf(model, (1, 3, 16, 16), inputs=data).samples == 6
    assert effective_rf(model, (1, 3, 16, 16), inputs=torch.randn(4, 3, 16, 16)).samples == 4


class _Detached(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.detach())


def test_bad_input_gets_typed_errors() -> None:
    model = _Classifier()
    with pytest.raises(ConfigError, match=r"node must be a submodule name.*'features"):
        effective_rf(model, (1, 3, 16, 16), node="featurs")
    with pytest.raises(ConfigError, match=r"never called.*unreachable"):
        effective_rf(model, (1, 3, 16, 16), node="unused")
    with pytest.raises(ConfigError, match="unit must be one index per axis inside the output size"):
        effective_rf(model, (1, 3, 16, 16), node="features.1", unit=(16, 0))
    with pytest.raises(ShapeError, match=r"fails on an input of shape.*too small"):
        effective_rf(nn.Conv2d(3, 4, 5), (1, 3, 3, 3))
    with pytest.raises(UnsupportedOpError, match="does not depend on the input"):
        effective_rf(_Detached(), (1, 1, 16))
    with pytest.raises(ConfigError, match="input_shape must be"):
        effective_rf(model, (3, 16))
    with pytest.raises(ConfigError, match="samples must be a positive int"):
        effective_rf(model, (1, 3, 16, 16), samples=0)
    with pytest.raises(ConfigError, match="inputs must be batches of shape"):
        effective_rf(model, (1, 3, 16, 16), inputs=torch.randn(2, 1, 16, 16))
