"""The analytic tracer against the gradient measurement on real models.

torchvision classifiers are compared on their last spatial feature map (``analyze(...).summary['last_spatial']``
against ``empirical_rf(..., node=<the module that produces it>)``), segmentation backbones on their ``out`` map,
and 1-D dilated stacks (WaveNet, Bai et al.'s TCN, SpliceAI) built as real torch modules are compared with the
tracer and with the skeletons of :mod:`atrous.rf.presets`. The measurements use ``collapse_channels=True``
(exact for the support, see :func:`atrous.analysis.empirical.empirical_rf`); the largest receptive fields
(DenseNet-121: 2071 px) are measured on inputs of up to 4096 x 4096.

Per-model times are in docs/analysis.md (``pytest tests/analysis/test_models.py --durations=0``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from atrous.analysis.analyze import analyze
from atrous.analysis.empirical import EmpiricalRF, empirical_rf
from atrous.rf import Graph, receptive_field, support
from atrous.rf.presets import spliceai, tcn, wavenet


def assert_agree(analytic: dict[str, Any], r: EmpiricalRF) -> None:
    """Size, stride, offset, start, taps and holes (in total and per axis) agree; ``analytic`` has rf/support."""
    rf, sup = analytic["rf"], analytic["support"]
    assert sup["exact"], "the analytic support is an estimate; nothing exact to compare"
    assert list(r.size) == rf["size"]
    assert list(r.stride) == rf["stride"]
    assert list(r.offset) == rf["offset"]
    assert list(r.start) == rf["start"]
    assert (r.taps, r.holes) == (sup["taps"], sup["holes"])
    assert list(r.axis_taps) == [a["taps"] for a in sup["per_axis"]]
    assert list(r.axis_holes) == [a["holes"] for a in sup["per_axis"]]


def start_size(analytic: dict[str, Any]) -> int:
    """An input on which the centre unit's support is probably clear of the border (saves the doublings).

    Only a starting point: the measurement still grows the input while the support touches a border, and
    confirms at twice the size, so a wrong analytic value cannot make a wrong measurement pass.
    """
    rf = analytic["rf"]
    return 2 * max(*rf["lookback"], *rf["lookahead"]) + 2 * max(rf["stride"])


# ---------------------------------------------------------------------------------------------------------
# torchvision

#: name -> (builder, input size, module that produces the analysed map, classic (size, stride) or None)
#: The collapse check runs the full-width model once at the input size given to empirical_rf, so that size
#: is small (PROBE, or inception_v3's smallest input) and min_size sets the size measured.
VISION: dict[str, tuple[Callable[[Any], nn.Module], int, str, tuple[int, int] | None]] = {
    "alexnet": (lambda tv: tv.alexnet(weights=None), 224, "features", (195, 32)),
    "vgg16": (lambda tv: tv.vgg16(weights=None), 224, "features", (212, 32)),
    "resnet18": (lambda tv: tv.resnet18(weights=None), 224, "layer4", (435, 32)),
    "resnet50": (lambda tv: tv.resnet50(weights=None), 224, "layer4", (427, 32)),
    "resnet50-dilated": (lambda tv: tv.resnet50(weights=None, replace_stride_with_dilation=[False, True, True]),
                         224, "layer4", (427, 8)),
    "googlenet": (lambda tv: tv.googlenet(weights=None, aux_logits=False, init_weights=False), 224, "inception5b",
                  None),
    "inception_v3": (lambda tv: tv.inception_v3(weights=None, aux_logits=False, init_weights=False), 299,
                     "Mixed_7c", None),
    "mobilenet_v2": (lambda tv: tv.mobilenet_v2(weights=None), 224, "features", None),
    "mobilenet_v3_large": (lambda tv: tv.mobilenet_v3_large(weights=None), 224, "features", None),
    "efficientnet_b0": (lambda tv: tv.efficientnet_b0(weights=None), 224, "features", None),
    "densenet121": (lambda tv: tv.densenet121(weights=None), 224, "features", None),
    "convnext_tiny": (lambda tv: tv.convnext_tiny(weights=None), 224, "features", None),
    "regnet_y_400mf": (lambda tv: tv.regnet_y_400mf(weights=None), 224, "trunk_output", None),
}

#: segmentation backbones (IntermediateLayerGetter over a dilated resnet50: returns {"out": layer4})
BACKBONES = ("fcn_resnet50", "deeplabv3_resnet50")

PROBE = {"inception_v3": 75}


def build(name: str) -> nn.Module:
    tv = pytest.importorskip("torchvision").models
    if name in BACKBONES:
        model: nn.Module = getattr(tv.segmentation, name)(weights=None, weights_backbone=None).backbone
        return model
    torch.manual_seed(0)
    return VISION[name][0](tv)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(VISION))
def test_classifier_last_spatial_map(name: str) -> None:
    _, size, module, classic = VISION[name]
    model = build(name)
    shape = (1, 3, size, size)
    summary = analyze(model, shape).summary
    assert summary["rf"]["global"]  # logits: global average pooling (or a fixed-size classifier head)
    expected = summary["last_spatial"]
    probe = PROBE.get(name, 64)
    r = empirical_rf(model, (1, 3, probe, probe), node=module, collapse_channels=True,
                     min_size=start_size(expected))
    assert_agree(expected, r)
    assert r.is_global == expected["rf"]["global"]  # squeeze-excitation gates make the map itself global
    if classic is not None:
        assert (r.size, r.stride) == ((classic[0],) * 2, (classic[1],) * 2)


@pytest.mark.slow
@pytest.mark.parametrize("name", BACKBONES)
def test_segmentation_backbone(name: str) -> None:
    model = build(name)
    shape = (1, 3, 224, 224)
    summary = analyze(model, shape).summary  # the "out" output
    assert summary["graph_node"] == analyze(model, shape, node="layer4").summary["graph_node"]
    r = empirical_rf(model, (1, 3, 64, 64), collapse_channels=True, min_size=start_size(summary))  # "out"
    assert_agree(summary, r)
    assert not r.is_global
    assert (r.size, r.stride) == ((427, 427), (8, 8))  # layer3/4 dilated instead of strided: output stride 8


@pytest.mark.slow
@pytest.mark.parametrize("name", list(VISION))
def test_module_name_is_the_module_output(name: str) -> None:
    """``analyze(node=<module>)`` describes the same map as ``last_spatial`` (the module's output)."""
    _, size, module, _ = VISION[name]
    model = build(name)
    shape = (1, 3, size, size)
    by_module = analyze(model, shape, node=module).summary
    last = analyze(model, shape).summary["last_spatial"]
    assert (by_module["rf"], by_module["support"]["taps"]) == (last["rf"], last["support"]["taps"])


@pytest.mark.slow
def test_full_width_measurement_agrees_with_the_collapsed_one() -> None:
    """collapse_channels only changes the cost: the same numbers (and hole pattern) as all channels."""
    model = build("resnet18")
    collapsed = empirical_rf(model, (1, 3, 64, 64), node="layer2", collapse_channels=True)
    full = empirical_rf(model, (1, 3, 64, 64), node="layer2")
    assert collapsed == full
    assert torch.equal(collapsed.mask, full.mask)


# ---------------------------------------------------------------------------------------------------------
# 1-D dilated stacks, as real modules


class WaveNetLayer(nn.Module):
    """Causal k=2 filter and gate (left padding with F.pad), gated product, residual and skip 1x1."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.left = dilation
        self.filter = nn.Conv1d(channels, channels, 2, dilation=dilation)
        self.gate = nn.Conv1d(channels, channels, 2, dilation=dilation)
        self.res = nn.Conv1d(channels, channels, 1)
        self.skip = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.pad(x, (self.left, 0))
        z = torch.tanh(self.filter(h)) * torch.sigmoid(self.gate(h))
        return x + self.res(z), self.skip(z)


class WaveNet(nn.Module):
    def __init__(self, channels: int = 8, layers: int = 10) -> None:
        super().__init__()
        self.stem = nn.Conv1d(1, channels, 1)
        self.layers = nn.ModuleList(WaveNetLayer(channels, 2**i) for i in range(layers))
        self.head = nn.Conv1d(channels, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        total: torch.Tensor | None = None
        for layer in self.layers:
            x, skip = layer(x)
            total = skip if total is None else total + skip
        assert total is not None
        return self.head(F.relu(total))


class Chomp(nn.Module):
    """Bai et al.'s trick: pad both sides in the conv, then drop the right ``chomp`` samples."""

    def __init__(self, chomp: int) -> None:
        super().__init__()
        self.chomp = chomp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, : -self.chomp].contiguous()


class TemporalBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int) -> None:
        super().__init__()
        pad = (kernel - 1) * dilation
        self.net = nn.Sequential(
            nn.Conv1d(c_in, c_out, kernel, padding=pad, dilation=dilation), Chomp(pad), nn.ReLU(), nn.Dropout(0.2),
            nn.Conv1d(c_out, c_out, kernel, padding=pad, dilation=dilation), Chomp(pad), nn.ReLU(), nn.Dropout(0.2),
        )
        self.downsample = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = x if self.downsample is None else self.downsample(x)
        return F.relu(self.net(x) + res)


def bai_tcn(kernel: int, levels: int) -> nn.Module:
    return nn.Sequential(*(TemporalBlock(2 if i == 0 else 6, 6, kernel, 2**i) for i in range(levels)))


class SpliceBlock(nn.Module):
    """BN-ReLU-conv twice, 'same' padding, plus the input."""

    def __init__(self, channels: int, kernel: int, dilation: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*[m for _ in range(2) for m in (
            nn.BatchNorm1d(channels), nn.ReLU(), nn.Conv1d(channels, channels, kernel, dilation=dilation,
                                                            padding="same"))])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class SpliceAI(nn.Module):
    """Stem 1x1, groups of residual blocks, and the per-group 1x1 skip sum of the paper."""

    def __init__(self, kernels: tuple[int, ...], rates: tuple[int, ...], blocks: int, channels: int = 4) -> None:
        super().__init__()
        self.stem = nn.Conv1d(4, channels, 1)
        self.skip0 = nn.Conv1d(channels, channels, 1)
        self.groups = nn.ModuleList(nn.Sequential(*(SpliceBlock(channels, k, r) for _ in range(blocks)))
                                    for k, r in zip(kernels, rates))
        self.skips = nn.ModuleList(nn.Conv1d(channels, channels, 1) for _ in kernels)
        self.head = nn.Conv1d(channels, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        skip = self.skip0(x)
        for group, to_skip in zip(self.groups, self.skips):
            x = group(x)
            skip = skip + to_skip(x)
        return self.head(skip)


STACKS: dict[str, tuple[Callable[[], nn.Module], Callable[[], Graph], int, int]] = {
    # name: (module, preset skeleton, channels, analysed input length)
    "wavenet": (WaveNet, wavenet, 1, 2048),
    "tcn-k3-6": (lambda: bai_tcn(3, 6), lambda: tcn(3, 6), 2, 512),
    "spliceai-1-block": (lambda: SpliceAI((11, 11, 21, 41), (1, 4, 10, 25), 1),
                         lambda: spliceai(blocks=1), 4, 4096),
    "spliceai-10k": (lambda: SpliceAI((11, 11, 21, 41), (1, 4, 10, 25), 4), spliceai, 4, 16384),
}
SLOW_STACKS = {"wavenet", "spliceai-10k"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_STACKS else n
                                  for n in STACKS])
@pytest.mark.parametrize("collapse", [True, False], ids=["collapsed", "full"])
def test_1d_stack(name: str, collapse: bool) -> None:
    make, skeleton, channels, length = STACKS[name]
    model = make()
    shape = (1, channels, length)
    summary = analyze(model, shape).summary
    r = empirical_rf(model, shape, collapse_channels=collapse, max_size=65536)
    assert_agree(summary, r)
    assert not r.is_global
    preset = receptive_field(skeleton())
    assert (r.size, r.stride, r.start) == (preset.size, preset.jump, preset.start)
    assert (r.taps, r.holes) == (support(skeleton()).taps, support(skeleton()).holes)


@pytest.mark.slow
def test_1d_stacks_have_the_published_receptive_fields() -> None:
    """WaveNet's cycle sees 1024 samples back (causal), the SpliceAI-10k tower 10,001 (centred)."""
    wave = empirical_rf(WaveNet(), (1, 1, 256), collapse_channels=True)
    assert (wave.size, wave.start, wave.end) == ((1024,), (-1023,), (0,))
    splice = empirical_rf(SpliceAI((11, 11, 21, 41), (1, 4, 10, 25), 4), (1, 4, 256), collapse_channels=True,
                          max_size=65536)
    assert (splice.size, splice.start, splice.end) == ((10001,), (-5000,), (5000,))


# ---------------------------------------------------------------------------------------------------------
# a graph whose branches are misaligned


class Misaligned(nn.Module):
    """A centred 3x3 branch plus a 3x3 branch shifted by F.pad to read up and left: (t-1..t+1) + (t-2..t)."""

    def __init__(self) -> None:
        super().__init__()
        self.centred = nn.Conv2d(2, 4, 3, padding=1)
        self.shifted = nn.Conv2d(2, 4, 3)
        self.head = nn.Conv2d(4, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.relu(self.centred(x) + F.pad(self.shifted(x), (2, 0, 2, 0))))


@pytest.mark.parametrize("collapse", [True, False], ids=["collapsed", "full"])
def test_misaligned_branches(collapse: bool) -> None:
    summary = analyze(Misaligned(), (1, 2, 32, 32)).summary
    assert summary["aligned"] is False
    r = empirical_rf(Misaligned(), (1, 2, 32, 32), collapse_channels=collapse)
    assert_agree(summary, r)
    # the union of two offset 3x3 windows: 4x4 minus the two corners neither reads
    assert (r.size, r.start, r.taps, r.holes) == ((4, 4), (-2, -2), 14, 2)
    assert not bool(r.mask[0, 3]) and not bool(r.mask[3, 0])
