"""Fractional strides: transposed convolutions and integer resizes, traced (analytic) against gradients (empirical).

After an upsampling the receptive field depends on the output unit's phase. The analysis reports unit 0 (its
start, offset, taps and holes), the period per axis, every phase's extent and the exact jump; the measurement
finds the period by comparing neighbouring units and measures a unit of phase 0. Both must agree exactly.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from atrous import rf
from atrous.analysis.analyze import analyze
from atrous.analysis.empirical import EmpiricalRF, empirical_rf


def assert_agree(s: dict[str, Any], r: EmpiricalRF) -> None:
    """Size, exact stride, phases, every phase's extent, offset, start, taps and holes (total and per axis)."""
    a, sup = s["rf"], s["support"]
    assert list(r.size) == a["size"]
    assert [str(Fraction(j)) for j in r.stride] == a["stride_exact"]
    assert list(r.phases) == a["phases"]
    assert [list(p) for p in r.phase_sizes] == a["phase_sizes"]
    assert list(r.offset) == a["offset"] and list(r.start) == a["start"]
    assert (r.taps, r.holes) == (sup["taps"], sup["holes"])
    assert list(r.axis_taps) == [x["taps"] for x in sup["per_axis"]]
    assert list(r.axis_holes) == [x["holes"] for x in sup["per_axis"]]


def check(model: nn.Module, shape: tuple[int, ...]) -> dict[str, Any]:
    s = analyze(model, shape).summary
    torch.manual_seed(0)
    r = empirical_rf(model, shape)
    assert_agree(s, r)
    return s


class Interp(nn.Module):
    def __init__(self, conv: nn.Module, **kwargs: Any) -> None:
        super().__init__()
        self.conv = conv
        self.kwargs = kwargs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(self.conv(x), **self.kwargs)


CASES_1D = {
    "convT k4 s2 p1": nn.Sequential(nn.Conv1d(1, 2, 3, padding=1), nn.ConvTranspose1d(2, 1, 4, stride=2, padding=1)),
    "convT k3 s3": nn.Sequential(nn.Conv1d(1, 2, 3, padding=1), nn.ConvTranspose1d(2, 1, 3, stride=3)),
    "convT k5 s2 d3 op1": nn.Sequential(nn.ConvTranspose1d(1, 1, 5, stride=2, padding=2, output_padding=1,
                                                           dilation=3)),
    "convT then conv": nn.Sequential(nn.ConvTranspose1d(1, 2, 2, stride=2), nn.Conv1d(2, 1, 3, dilation=2, padding=2)),
    "nearest x2": nn.Sequential(nn.Conv1d(1, 1, 3, padding=1), nn.Upsample(scale_factor=2)),
    "linear x2": nn.Sequential(nn.Conv1d(1, 1, 3, padding=1), nn.Upsample(scale_factor=2, mode="linear")),
    "linear x3": nn.Sequential(nn.Conv1d(1, 1, 3, padding=1), nn.Upsample(scale_factor=3, mode="linear")),
    "interpolate x2": Interp(nn.Conv1d(1, 1, 3, padding=1), scale_factor=2, mode="linear"),
    "down then up": nn.Sequential(nn.Conv1d(1, 1, 3, stride=2, padding=1), nn.Conv1d(1, 1, 3, stride=2, padding=1),
                                  nn.Upsample(scale_factor=4, mode="linear"), nn.Conv1d(1, 1, 3, padding=1)),
}


@pytest.mark.parametrize("name", list(CASES_1D))
def test_1d(name: str) -> None:
    check(CASES_1D[name], (1, 1, 32))


CASES_2D = {
    "convT2d k4 s2 p1": nn.Sequential(nn.Conv2d(1, 2, 3, padding=1),
                                      nn.ConvTranspose2d(2, 1, 4, stride=2, padding=1)),
    "convT2d k3 s3 anisotropic": nn.Sequential(nn.ConvTranspose2d(1, 1, (3, 4), stride=(3, 2), padding=(0, 1))),
    "nearest2d x2": nn.Sequential(nn.Conv2d(1, 1, 3, dilation=2, padding=2), nn.UpsamplingNearest2d(scale_factor=2)),
    "bilinear x2": nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.Upsample(scale_factor=2, mode="bilinear")),
    "interpolate2d x2": Interp(nn.Conv2d(1, 1, 3, padding=1), scale_factor=2, mode="bilinear", align_corners=False),
}


@pytest.mark.parametrize("name", list(CASES_2D))
def test_2d(name: str) -> None:
    check(CASES_2D[name], (1, 1, 24, 24))


class FCN(nn.Module):
    """Down by 8 with three stride-2 convolutions, a dilated 3x3, then back up by 8 (bilinear or transposed)."""

    def __init__(self, up: str, dims: int = 2) -> None:
        super().__init__()
        conv = nn.Conv1d if dims == 1 else nn.Conv2d
        self.down = nn.Sequential(*[conv(1, 1, 3, stride=2, padding=1) for _ in range(3)],
                                  conv(1, 1, 3, dilation=2, padding=2))
        self.up = up
        self.mode = "linear" if dims == 1 else "bilinear"
        self.convT = (nn.ConvTranspose1d if dims == 1 else nn.ConvTranspose2d)(1, 1, 16, stride=8, padding=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.down(x)
        if self.up == "transposed":
            return self.convT(y)
        return F.interpolate(y, size=x.shape[2:], mode=self.mode, align_corners=False)


@pytest.mark.parametrize("up", ["bilinear", "transposed"])
@pytest.mark.parametrize("dims", [1, 2])
def test_fcn_like_model_has_jump_1_and_phase_dependent_extents(up: str, dims: int) -> None:
    shape = (1, 1, 64) if dims == 1 else (1, 1, 64, 64)
    s = check(FCN(up, dims), shape)
    assert s["rf"]["stride"] == [1] * dims and s["rf"]["phases"] == [8] * dims
    assert any("varies with the output unit's phase" in n for n in s["notes"])


class UNet(nn.Module):
    """A full-resolution path and a pooled path upsampled back, concatenated, then a 3x3 head."""

    def __init__(self, up: nn.Module, shift: int = 0, dims: int = 2) -> None:
        super().__init__()
        conv = nn.Conv1d if dims == 1 else nn.Conv2d
        self.full = conv(1, 2, 3, padding=1)
        self.down = nn.Sequential(nn.MaxPool1d(2) if dims == 1 else nn.MaxPool2d(2), conv(1, 2, 3, padding=1))
        self.up = up
        self.shift = shift
        self.head = conv(4, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.up(self.down(x))
        if self.shift:  # one sample off: a crop on one side, a pad on the other
            low = F.pad(low[..., self.shift:], (0, self.shift))
        return self.head(torch.cat([self.full(x), low], dim=1))


@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize("up", ["nearest", "bilinear", "transposed"])
def test_unet_like_model(up: str, dims: int) -> None:
    mode = {"nearest": "nearest", "bilinear": "linear" if dims == 1 else "bilinear"}.get(up)
    layer: nn.Module = nn.Upsample(scale_factor=2, mode=mode) if mode else \
        (nn.ConvTranspose1d if dims == 1 else nn.ConvTranspose2d)(2, 2, 2, stride=2)
    shape = (1, 1, 32) if dims == 1 else (1, 1, 32, 32)
    s = check(UNet(layer, dims=dims), shape)
    assert s["aligned"] and s["rf"]["stride"] == [1] * dims and s["rf"]["phases"] == [2] * dims


def test_unet_off_by_one_is_reported_misaligned() -> None:
    s = check(UNet(nn.Upsample(scale_factor=2), shift=1, dims=1), (1, 1, 32))
    assert not s["aligned"] and "not aligned" in s["alignment"][0]


def test_size_based_resize_and_downsampling() -> None:
    """``F.interpolate(size=...)`` with an integer ratio, down (224 -> 28) and up (28 -> 224)."""
    class Resize(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = F.interpolate(x, size=(x.shape[2] // 8, x.shape[3] // 8), mode="bilinear", align_corners=False)
            return F.interpolate(y, size=x.shape[2:], mode="bilinear", align_corners=False)

    s = analyze(Resize(), (1, 1, 224, 224)).summary  # 224 -> 28 -> 224
    assert s["rf"]["phases"] == [8, 8] and s["rf"]["stride"] == [1, 1]
    assert check(Resize(), (1, 1, 64, 64))["rf"] == s["rf"]  # the same ratio measured on a smaller input
    down = analyze(nn.Upsample(size=28, mode="nearest"), (1, 1, 224)).summary
    assert down["rf"]["stride"] == [8] and down["rf"]["size"] == [1]


def reads_by_jacobian(module: nn.Module, length: int) -> list[set[int]]:
    """The inputs each output of a 1-D resize reads: the non-zero columns of its float64 Jacobian (positive
    random input, so an average or interpolation weight is never cancelled)."""
    x = torch.rand(1, 1, length, dtype=torch.float64) + 0.5
    jac = torch.autograd.functional.jacobian(lambda t: module(t), x)
    jac = jac.reshape(-1, length)
    return [set(row.nonzero().flatten().tolist()) for row in jac]


def reads_by_layer(layer: rf.Layer, length: int, outputs: int) -> list[set[int]]:
    """The inputs each output reads by the layer's definition: output i reads grid position
    i * stride + t * dilation - left for taps t, which is input z / upsample when upsample divides z."""
    (k,), (s,), (d,), ((left, _),), (u,) = layer.kernel, layer.stride, layer.dilation, layer.padding, layer.upsample
    out = []
    for i in range(outputs):
        zs = [i * s + t * d - left for t in range(k)]
        out.append({z // u for z in zs if z % u == 0})
    return out


@pytest.mark.parametrize(("module", "length"), [
    (nn.Upsample(size=17, mode="linear"), 7),                         # 7 -> 17: period 17
    (nn.Upsample(scale_factor=1.5, mode="linear"), 12),               # the scale, not the sizes, decides
    (nn.Upsample(scale_factor=2.5, mode="linear", align_corners=True), 6),
    (nn.Upsample(size=13, mode="linear", align_corners=True), 7),      # (L - 1) / (n - 1) = 1/2
    (nn.Upsample(size=5, mode="nearest"), 8),
    (nn.Upsample(size=13, mode="nearest"), 7),
    (nn.Upsample(size=11, mode="nearest-exact"), 9),
    (nn.Upsample(size=4, mode="nearest-exact"), 9),
    (nn.Upsample(size=5, mode="linear"), 9),                            # downsampling by 9/5
    (nn.AdaptiveAvgPool1d(3), 8),                                     # windows of 3, 4, 3
    (nn.AdaptiveAvgPool1d(5), 13),
    (nn.AdaptiveAvgPool1d(7), 4),                                     # adaptive "pooling" up
])
def test_rational_resizes_and_adaptive_windows_are_exact(module: nn.Module, length: int) -> None:
    """A resize or adaptive pooling whose ratio p/q is not an integer repeats every q outputs: mapped as an exact
    periodic layer, whose reads equal the Jacobian's for every output clear of the borders (where PyTorch
    clamps, which the receptive field ignores)."""
    s = analyze(module, (1, 1, length)).summary
    assert s["rf"]["exact"] and s["support"]["exact"]
    traced = analyze(module, (1, 1, length)).traced
    (layer,) = [n.layer for n in traced.graph.nodes if n.layer is not None]
    true = reads_by_jacobian(module, length)
    claimed = reads_by_layer(layer, length, len(true))
    interior = [i for i, c in enumerate(claimed) if c and min(c) >= 0 and max(c) < length]
    assert len(interior) >= len(true) // 2
    for i in interior:
        assert claimed[i] == true[i], (i, claimed[i], true[i])


def test_resizes_through_convolutions_agree_with_gradients() -> None:
    """A fixed-scale resize between convolutions, measured with gradients on growing inputs (the ratio stays)."""
    for module, shape in ((nn.Upsample(scale_factor=1.5, mode="bilinear"), (1, 1, 12, 12)),
                          (nn.Upsample(scale_factor=2, mode="bicubic"), (1, 1, 8, 8))):
        s = check(nn.Sequential(nn.Conv2d(1, 1, 3), module), shape)
        assert s["rf"]["exact"]


def test_bicubic_at_integer_positions_is_a_labelled_bound() -> None:
    """An odd bicubic scale puts some outputs exactly on an input, which then reads only itself: the window
    is an enclosing bound there, labelled exact: false, and it encloses the measured support."""
    model = nn.Sequential(nn.Conv1d(1, 1, 3), nn.Upsample(scale_factor=3, mode="linear"),
                          nn.Upsample(scale_factor=3, mode="nearest"))
    assert analyze(model, (1, 1, 12)).summary["rf"]["exact"]
    up = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Upsample(scale_factor=3, mode="bicubic"))
    s = analyze(up, (1, 1, 10, 10)).summary
    assert s["rf"]["exact"] is False and any("bicubic" in n and "exact: false" in n for n in s["notes"])
    r = empirical_rf(up, (1, 1, 10, 10))
    assert all(m <= a for m, a in zip(r.size, s["rf"]["size"]))
    assert r.taps <= s["support"]["taps"]


def test_long_period_resize_is_a_labelled_bound() -> None:
    """65 -> 513 (DeepLab's final upsampling) repeats only every 513 outputs: a window widened by the largest
    drift of a nearby short-period ratio, labelled exact: false. It must enclose every output's true reads,
    read off the resize's Jacobian."""
    up = nn.Upsample(size=513, mode="linear")
    s = analyze(nn.Sequential(up), (1, 1, 65)).summary
    assert s["rf"]["exact"] is False and s["support"]["exact"] is False
    jac = torch.autograd.functional.jacobian(lambda x: up(x), torch.randn(1, 1, 65, dtype=torch.float64))
    jac = jac.reshape(513, 65)
    widths = [int(row.nonzero().max() - row.nonzero().min() + 1) for row in jac]
    assert max(widths) <= s["rf"]["size"][0] <= max(widths) + 4


def test_functional_conv_transpose_is_traced() -> None:
    class Up(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(torch.ones(1, 1, 4))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.conv_transpose1d(x, self.weight, stride=2, padding=1)

    s = analyze(Up(), (1, 1, 16)).summary
    expected = rf.receptive_field(rf.conv_transpose(4, stride=2, padding=1))
    assert s["rf"]["stride_exact"] == ["1/2"] and s["rf"]["start"] == list(expected.start)
