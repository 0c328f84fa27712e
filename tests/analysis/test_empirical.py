"""The gradient cross-check: measured supports of real torch models against the analytic arithmetic of atrous.rf."""

from __future__ import annotations

import copy
import json
import math
import random
from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from atrous.analysis._linearise import Linearised
from atrous.analysis.empirical import EmpiricalRF, _dilated_avg_pool, empirical_rf
from atrous.errors import ConfigError, ShapeError, UnsupportedOpError
from atrous.rf import Graph, Layer, conv, pool, receptive_field, support


def assert_matches(r: EmpiricalRF, spec: Graph | list[Layer] | Layer, is_global: bool = False) -> None:
    """Every measured quantity equals the analytic one, down to the hole pattern."""
    a = receptive_field(spec)
    s = support(spec)
    assert r.size == a.size
    assert r.stride == a.jump
    assert r.start == a.start
    assert r.offset == a.offset
    assert r.is_global is is_global
    assert (r.taps, r.holes, r.coverage) == (s.taps, s.holes, s.coverage)
    assert r.axis_taps == tuple(p.taps for p in s.per_axis)
    assert r.axis_holes == tuple(len(p.holes) for p in s.per_axis)
    assert s.origin == r.start
    assert np.array_equal(r.mask.numpy(), s.counts != 0)


class CausalConv1d(nn.Module):
    """Left-padded with F.pad, so output t reads inputs t - (k - 1) d .. t."""

    def __init__(self, channels: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.left = (kernel_size - 1) * dilation
        self.conv = nn.Conv1d(channels, channels, kernel_size, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.conv(F.pad(x, (self.left, 0))))


class Residual(nn.Module):
    """x + conv2(relu(conv1(x))), with a strided 1x1 shortcut when the main path is strided."""

    def __init__(self, channels: int, dilation: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(channels, channels, 3, stride=stride, dilation=dilation, padding=dilation)
        self.bn = nn.BatchNorm1d(channels)
        self.conv2 = nn.Conv1d(channels, channels, 3, padding=1)
        self.short = nn.Conv1d(channels, channels, 1, stride=stride) if stride > 1 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(F.relu(self.bn(self.conv1(x))))
        out += x if self.short is None else self.short(x)
        return F.relu(out, inplace=True)


def residual_spec(dilation: int, stride: int) -> Graph:
    g = Graph(dims=1)
    main = g.chain([conv(3, stride=stride, dilation=dilation, padding=dilation), conv(3, padding=1)], src=0)
    short = 0 if stride == 1 else g.add(conv(1, stride=stride), src=0)
    g.merge([main, short], op="add")
    return g


CHAINS_1D = {
    "dilated-same": (
        nn.Sequential(nn.Conv1d(2, 3, 3, padding="same"), nn.ReLU(), nn.Conv1d(3, 3, 3, dilation=2, padding="same"),
                      nn.GELU(), nn.Conv1d(3, 1, 3, dilation=4, padding="same")),
        [conv(3, dilation=d, padding="same") for d in (1, 2, 4)],
    ),
    "gridding": (
        nn.Sequential(nn.Conv1d(2, 2, 3, dilation=2, padding=2), nn.SiLU(), nn.Conv1d(2, 2, 3, dilation=2, padding=2)),
        [conv(3, dilation=2, padding=2)] * 2,
    ),
    "strided": (
        nn.Sequential(nn.Conv1d(2, 4, 5, stride=2, padding=2), nn.Hardswish(), nn.Conv1d(4, 4, 3, stride=2, padding=1),
                      nn.Sigmoid(), nn.Conv1d(4, 1, 3, dilation=3)),
        [conv(5, stride=2, padding=2), conv(3, stride=2, padding=1), conv(3, dilation=3)],
    ),
    "dilated-maxpool-ceil": (
        nn.Sequential(nn.Conv1d(2, 2, 2, padding=1), nn.MaxPool1d(3, stride=2, padding=1, dilation=2, ceil_mode=True),
                      nn.Conv1d(2, 1, 3, dilation=2)),
        [conv(2, padding=1), pool(3, stride=2, padding=1, dilation=2, ceil_mode=True), conv(3, dilation=2)],
    ),
    "causal-f-pad": (
        nn.Sequential(*(CausalConv1d(2, 2, d) for d in (1, 2, 4, 8))),
        [conv(2, dilation=d, padding="causal") for d in (1, 2, 4, 8)],
    ),
    "subsampling-holes": (
        nn.Sequential(nn.Conv1d(2, 2, 1, stride=3), nn.Conv1d(2, 2, 2, padding=1)),
        [conv(1, stride=3), conv(2, padding=1)],
    ),
}


@pytest.mark.parametrize("name", list(CHAINS_1D))
def test_1d_chains_match_analytic(name: str) -> None:
    model, spec = CHAINS_1D[name]
    assert_matches(empirical_rf(model, (1, 2, 16)), spec)


def test_causal_stack_looks_only_back() -> None:
    r = empirical_rf(CHAINS_1D["causal-f-pad"][0], (1, 2, 16))
    assert r.end == (0,)
    assert r.start == (-15,)


@pytest.mark.parametrize(("dilation", "stride"), [(1, 1), (2, 1), (3, 2)])
def test_residual_block_is_the_union_of_its_branches(dilation: int, stride: int) -> None:
    model = nn.Sequential(Residual(3, dilation, stride), Residual(3, 1, 1))
    g = residual_spec(dilation, stride)
    main = g.chain([conv(3, padding=1)] * 2)
    g.merge([main, len(g.nodes) - 3], op="add")
    assert_matches(empirical_rf(model, (1, 3, 16)), g)


def test_2d_k3_d2_reads_9_of_25() -> None:
    r = empirical_rf(nn.Conv2d(1, 1, 3, dilation=2), (1, 1, 8, 8))
    assert (r.size, r.taps, r.holes, r.coverage) == ((5, 5), 9, 16, 9 / 25)
    assert_matches(r, conv((3, 3), dilation=2))


def test_2d_anisotropic_stack() -> None:
    model = nn.Sequential(
        nn.Conv2d(2, 4, (3, 5), stride=(2, 1), dilation=(1, 3), padding=(1, 6)), nn.ReLU6(),
        nn.MaxPool2d((2, 3), stride=(2, 1), dilation=(1, 2), padding=(0, 1), ceil_mode=True),
        nn.Conv2d(4, 1, 3, padding=1),
    )
    spec = [conv((3, 5), stride=(2, 1), dilation=(1, 3), padding=(1, 6)),
            pool((2, 3), stride=(2, 1), dilation=(1, 2), padding=(0, 1), ceil_mode=True), conv((3, 3), padding=1)]
    assert_matches(empirical_rf(model, (1, 2, 8, 8)), spec)


def test_3d_stack() -> None:
    model = nn.Sequential(nn.Conv3d(1, 2, 3, dilation=(1, 2, 1), padding=(1, 2, 1)), nn.LeakyReLU(),
                          nn.Conv3d(2, 1, (1, 3, 2), stride=2))
    spec = [conv(3, dilation=(1, 2, 1), padding=(1, 2, 1)), conv((1, 3, 2), stride=2)]
    assert_matches(empirical_rf(model, (1, 1, 6, 6, 6)), spec)


class Functional(nn.Module):
    """Functional activations, in-place ops, spatial norms and a hard-coded training-mode dropout."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(2, 4, 3, dilation=2, padding=2)
        self.norm = nn.GroupNorm(1, 4)
        self.inorm = nn.InstanceNorm1d(4, affine=True)
        self.conv2 = nn.Conv1d(4, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.relu_()
        x = torch.sigmoid(self.norm(self.conv1(x)))
        x = F.max_pool1d(F.gelu(x), 2, stride=2, dilation=3, padding=1)
        x = F.dropout(F.softmax(self.inorm(x), dim=1), 0.5)
        x = F.normalize(self.conv2(x).clamp(max=0.1))
        return torch.amax(x, dim=1, keepdim=True) * 2.0


def test_functional_ops_are_linearised() -> None:
    """The local path is measured exactly; GroupNorm and InstanceNorm take statistics over positions, so the
    output is also global (as the analysis says), through the two norms recorded as global ops."""
    spec = [conv(3, dilation=2, padding=2), pool(2, stride=2, dilation=3, padding=1), conv(3, padding=1)]
    r = empirical_rf(Functional(), (1, 2, 16))
    assert_matches(r, spec, is_global=True)
    assert set(r.global_ops) == {"group_norm", "instance_norm"}


@pytest.mark.parametrize("seed", range(12))
def test_random_1d_chains(seed: int) -> None:
    rng = random.Random(seed)
    modules: list[nn.Module] = []
    spec: list[Layer] = []
    for _ in range(rng.randint(1, 4)):
        k, d, s = rng.randint(1, 4), rng.randint(1, 3), rng.randint(1, 2)
        if rng.random() < 0.3 and k > 1:
            p, ceil = rng.randint(0, k // 2), rng.random() < 0.5
            modules.append(nn.MaxPool1d(k, stride=s, padding=p, dilation=d, ceil_mode=ceil))
            spec.append(pool(k, stride=s, padding=p, dilation=d, ceil_mode=ceil))
        else:
            p = rng.randint(0, (k - 1) * d)
            modules += [nn.Conv1d(2, 2, k, stride=s, dilation=d, padding=p), nn.ELU()]
            spec.append(conv(k, stride=s, dilation=d, padding=p))
    assert_matches(empirical_rf(nn.Sequential(*modules), (1, 2, 8)), spec)


def test_grows_past_a_small_input() -> None:
    model = nn.Sequential(*(nn.Conv1d(1, 1, 3, dilation=d, padding=d) for d in (1, 2, 4, 8, 16)))
    r = empirical_rf(model, (1, 1, 8))
    assert r.size == (63,)
    assert r.input_size[0] > 63
    assert r.unit == (r.output_size[0] // 2,)


def test_min_size_sets_the_start() -> None:
    r = empirical_rf(nn.Conv1d(1, 1, 3, padding=1), (1, 1, 4), min_size=32)
    assert r.input_size == (64,)  # measured at 32, confirmed at twice that


def test_node_measures_a_submodule() -> None:
    model = nn.Sequential(nn.Conv1d(1, 2, 3, dilation=2, padding=2), nn.ReLU(),
                          nn.Sequential(nn.Conv1d(2, 2, 3, stride=2, padding=1), nn.Conv1d(2, 1, 5)))
    assert_matches(empirical_rf(model, (1, 1, 16), node="2.0"), [conv(3, dilation=2, padding=2),
                                                                 conv(3, stride=2, padding=1)])
    assert_matches(empirical_rf(model, (1, 1, 16), node="0"), conv(3, dilation=2, padding=2))


def test_logits_are_global() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveMaxPool2d(1), nn.Flatten(),
                          nn.Linear(4, 5))
    r = empirical_rf(model, (1, 3, 12, 12))
    assert r.is_global
    assert (r.size, r.taps, r.holes, r.input_size) == ((12, 12), 144, 0, (12, 12))
    assert r.as_dict()["rf"]["global"] is True


def test_local_crop_of_logits_is_not_global() -> None:
    class Crop(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return nn.functional.conv1d(x, torch.ones(1, 1, 3))[:, :, 2]

    r = empirical_rf(Crop(), (1, 1, 10))
    assert not r.is_global
    assert (r.start, r.end, r.stride) == ((2,), (4,), (0,))


class SqueezeExcite(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, dilation=2, padding=2)
        self.fc = nn.Linear(4, 4)
        self.out = nn.Conv2d(4, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        gate = torch.sigmoid(self.fc(y.mean((2, 3))))[:, :, None, None]
        return self.out(y * gate)


def test_squeeze_excitation_is_global_and_keeps_the_local_path() -> None:
    r = empirical_rf(SqueezeExcite(), (1, 2, 12, 12))
    assert r.is_global
    assert r.global_ops == ("mean",)
    assert r.as_dict()["rf"]["global"] is True
    assert r.size == receptive_field([conv((3, 3), dilation=2, padding=2), conv((3, 3), padding=1)]).size


def test_user_model_is_unchanged() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(inplace=True),
                          nn.Dropout(0.5), nn.MaxPool2d(2), nn.Conv2d(4, 2, 3, bias=True))
    x = torch.randn(2, 3, 10, 10)
    model.train()
    model(x)  # non-trivial running statistics
    state = copy.deepcopy(model.state_dict())
    with torch.no_grad():
        before = model.eval()(x)
    model.train()
    empirical_rf(model, (1, 3, 10, 10))
    assert model.training and all(m.training for m in model.modules())
    assert all(p.dtype == torch.float32 and p.requires_grad for p in model.parameters())
    after_state = model.state_dict()
    assert state.keys() == after_state.keys()
    assert all(torch.equal(state[k], after_state[k]) for k in state)
    with torch.no_grad():
        assert torch.equal(before, model.eval()(x))


def test_as_dict_is_the_json_contract() -> None:
    r = empirical_rf(nn.Conv2d(1, 1, 3, stride=2, dilation=(1, 2), padding=1), (1, 1, 8, 8))
    d = json.loads(json.dumps(r.as_dict()))
    assert d == {"rf": {"size": [3, 5], "stride": [2, 2], "offset": [0.0, 1.0], "global": False,
                        "stride_exact": ["2", "2"], "phases": [1, 1], "phase_sizes": [[3], [5]]},
                 "support": {"taps": 9, "coverage": 9 / 15, "holes": 6, "extent": [3, 5]}}


def test_float32_gives_the_same_support() -> None:
    model, spec = CHAINS_1D["strided"]
    assert_matches(empirical_rf(model, (1, 2, 16), dtype=torch.float32), spec)


@pytest.mark.parametrize("shape", [(3, 16), (1, 3, 0, 4), "1,3,16", (1, 3, 2, 2, 2, 2), (1, 3, 16.0), (1, 3, True)])
def test_bad_input_shape(shape: object) -> None:
    with pytest.raises(ConfigError, match=r"^empirical_rf: input_shape must be \(batch, channels, \*spatial\)") as e:
        empirical_rf(nn.Conv1d(3, 1, 3), shape)  # type: ignore[arg-type]
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"min_size": 0}, "min_size must be a positive int, got 0"),
    ({"max_size": -1}, "max_size must be a positive int, got -1"),
    ({"dtype": torch.int64}, "dtype must be a floating torch dtype"),
    ({"device": "nowhere"}, "device must be a torch device"),
])
def test_bad_options(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        empirical_rf(nn.Conv1d(1, 1, 3), (1, 1, 8), **kwargs)  # type: ignore[arg-type]


def test_bad_model() -> None:
    with pytest.raises(ConfigError, match=r"model must be a torch\.nn\.Module, got 'function'"):
        empirical_rf(F.relu, (1, 1, 8))  # type: ignore[arg-type]


def test_unknown_node_names_valid_ones() -> None:
    model = nn.Sequential()
    model.add_module("layer1", nn.Conv1d(1, 1, 3))
    model.add_module("layer2", nn.Conv1d(1, 1, 3))
    with pytest.raises(ConfigError, match=r"node must be .*, got 'layer9' \(e.g. 'layer[12]', 'layer[12]'\)$") as e:
        empirical_rf(model, (1, 1, 8), node="layer9")
    assert "\n" not in str(e.value)


def test_node_never_called() -> None:
    model = nn.Sequential(nn.Conv1d(1, 1, 3))
    model.add_module("unused", nn.Conv1d(1, 1, 3))
    model.forward = model[0].forward  # type: ignore[method-assign]
    with pytest.raises(ConfigError, match="'unused' \\(never called\\)"):
        empirical_rf(model, (1, 1, 8), node="unused")


def test_max_size_reached_raises_shape_error() -> None:
    with pytest.raises(ShapeError, match=r"touches the input border on axis 0 at the largest size max_size=32") as e:
        empirical_rf(nn.Conv1d(1, 1, 33, padding=16), (1, 1, 8), max_size=32)
    assert "\n" not in str(e.value)


def test_model_failure_is_a_shape_error() -> None:
    model = nn.Sequential(nn.Conv1d(1, 2, 3, padding=1), nn.Conv1d(1, 1, 3))  # channels do not match
    with pytest.raises(ShapeError, match=r"the model failed on an input of shape \[[12], 1, 8\] \(") as e:
        empirical_rf(model, (1, 1, 8))
    assert "\n" not in str(e.value)


def test_too_small_start_is_retried() -> None:
    r = empirical_rf(nn.Conv1d(1, 1, 5), (1, 1, 2))
    assert r.size == (5,)


def test_upsampled_output_has_a_fractional_stride() -> None:
    """Nearest x2: units 2m and 2m + 1 read the same 3 inputs, so the period is 2 and the jump 1/2."""
    model = nn.Sequential(nn.Conv1d(1, 1, 3, padding=1), nn.Upsample(scale_factor=2))
    r = empirical_rf(model, (1, 1, 16))
    assert (r.stride, r.phases, r.phase_sizes, r.start, r.size) == ((Fraction(1, 2),), (2,), ((3, 3),), (-1,), (3,))


def test_no_gradient_path() -> None:
    class Cut(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.detach() * 2

    with pytest.raises(UnsupportedOpError, match="does not depend on the input"):
        empirical_rf(Cut(), (1, 1, 8))


@pytest.mark.parametrize("seed", range(8))
def test_dilated_avg_pool_oracle(seed: int) -> None:
    """Same windows as max pooling (length included), averaged with zeros for padding: a nested loop."""
    rng = random.Random(seed)
    k, d, s = rng.randint(1, 4), rng.randint(1, 3), rng.randint(1, 3)
    p, ceil, n = rng.randint(0, k // 2), rng.random() < 0.5, rng.randint((k - 1) * d + 1, 20)
    x = torch.randn(2, 3, n, dtype=torch.float64)
    got = _dilated_avg_pool(x, k, s, p, d, ceil, 1)
    assert got.shape == F.max_pool1d(x, k, s, p, d, ceil).shape
    want = torch.zeros_like(got)
    for i in range(got.shape[-1]):
        for t in range(k):
            j = i * s + t * d - p
            if 0 <= j < n:
                want[..., i] += x[..., j] / k
    torch.testing.assert_close(got, want)


@pytest.mark.slow
def test_resnet18_matches_its_analytic_graph() -> None:
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.resnet18(weights=None)

    def spec(m: nn.Module) -> Layer:
        if isinstance(m, nn.Conv2d):
            return conv(m.kernel_size, m.stride, m.dilation, m.padding)  # type: ignore[arg-type]
        assert isinstance(m, nn.MaxPool2d)
        return pool(m.kernel_size, m.stride, m.dilation, m.padding, ceil_mode=m.ceil_mode, dims=2)  # type: ignore[arg-type]

    g = Graph(dims=2)
    x = g.chain([spec(model.conv1), spec(model.maxpool)])
    for stage in (model.layer1, model.layer2, model.layer3, model.layer4):
        for block in stage:
            main = g.chain([spec(block.conv1), spec(block.conv2)], src=x)
            short = x if block.downsample is None else g.add(spec(block.downsample[0]), src=x)
            x = g.merge([main, short], op="add")

    r = empirical_rf(model, (1, 3, 224, 224), node="layer4")
    assert_matches(r, g)
    assert r.size == (435, 435) and r.stride == (32, 32)  # the figure usually quoted for resnet18
    logits = empirical_rf(model, (1, 3, 224, 224))
    assert logits.is_global and logits.taps == 224 * 224


# ---------------------------------------------------------------------------------------------------------
# collapse_channels


def assert_same_measurement(model: nn.Module, shape: tuple[int, ...], **kwargs: object) -> EmpiricalRF:
    """collapse_channels=True measures exactly what the full-width measurement does, mask included."""
    full = empirical_rf(model, shape, collapse_channels=False, **kwargs)  # type: ignore[arg-type]
    collapsed = empirical_rf(model, shape, collapse_channels=True, **kwargs)  # type: ignore[arg-type]
    assert collapsed == full
    assert torch.equal(collapsed.mask, full.mask)
    return collapsed


class LayerScale(nn.Module):
    """ConvNeXt-like: depthwise conv, channels-last linear layers, a per-channel scale of mixed sign, residual."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.dw = nn.Conv2d(channels, channels, 3, padding=2, dilation=2, groups=channels)
        self.norm = nn.LayerNorm(channels)
        self.up = nn.Linear(channels, 4 * channels)
        self.down = nn.Linear(4 * channels, channels)
        self.scale = nn.Parameter(torch.linspace(-0.5, 2.0, channels)[:, None, None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.dw(x).permute(0, 2, 3, 1))
        y = self.down(F.gelu(self.up(y))).permute(0, 3, 1, 2)
        return x + self.scale * y


class ReExpand(nn.Module):
    """Channels re-expanded by repeat, expand and cat, then read by grouped and depthwise convs."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv1d(2, 4, 3, padding=1)
        self.b = nn.Conv1d(4, 4, 3, dilation=3, padding=3, groups=4)
        self.c = nn.Conv1d(16, 8, 2, stride=2, groups=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.a(x)
        wide = torch.cat([y.repeat(1, 2, 1), self.b(y), y.amax(1, keepdim=True).expand(-1, 4, -1)], 1)
        return self.c(wide)


COLLAPSE_CASES = {
    "chains": [(m, (1, 2, 16)) for m, _ in CHAINS_1D.values()],
    "residual": [(nn.Sequential(Residual(3, 2, 2), Residual(3, 1, 1)), (1, 3, 16))],
    "functional": [(Functional(), (1, 2, 16))],
    "transposed-grouped": [(nn.Sequential(nn.ConvTranspose1d(2, 4, 3, stride=2, groups=2), nn.ReLU(),
                                          nn.Conv1d(4, 1, 3, stride=2, dilation=2)), (1, 2, 16))],
    "layer-scale": [(nn.Sequential(nn.Conv2d(3, 8, 2, stride=2), LayerScale(8), LayerScale(8)), (1, 3, 16, 16))],
    "re-expand": [(ReExpand(), (1, 2, 16))],
    "squeeze-excite": [(SqueezeExcite(), (1, 2, 12, 12))],
    "3d-depthwise": [(nn.Sequential(nn.Conv3d(2, 4, 3, padding=1), nn.Conv3d(4, 4, (1, 3, 3), dilation=(1, 2, 1),
                                                                              groups=4)), (1, 2, 6, 8, 8))],
}


@pytest.mark.parametrize("case", list(COLLAPSE_CASES))
def test_collapse_channels_measures_the_same(case: str) -> None:
    for model, shape in COLLAPSE_CASES[case]:
        assert_same_measurement(model, shape)


def test_collapsed_layer_scale_keeps_one_channel() -> None:
    """A per-channel constant met by one channel is replaced by its mean instead of widening the tensor."""
    model = nn.Sequential(nn.Conv2d(3, 8, 1), LayerScale(8)).double().eval().requires_grad_(False)
    x = torch.rand(1, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    with Linearised(2, cut_global=True, collapse=True):
        y = model(x)
    assert y.shape == (1, 1, 8, 8)
    # what the full-width linearised block computes, every channel of its input carrying x:
    # x + mean(scale) * (3x3 dilated window mean of x), the window summed over the valid taps only
    win = F.conv2d(x, torch.full((1, 1, 3, 3), 1 / 9, dtype=torch.float64), padding=2, dilation=2)
    want = x + model[1].scale.mean() * win
    torch.testing.assert_close(y, want)


def test_collapse_is_refused_for_a_channel_shuffle() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ChannelShuffle(2), nn.Conv2d(4, 1, 3))
    assert empirical_rf(model, (1, 3, 12, 12)).size == (5, 5)
    with pytest.raises(UnsupportedOpError, match=r"collapse_channels=True fails where the full model runs .*"
                       r"pass collapse_channels=False$") as e:
        empirical_rf(model, (1, 3, 12, 12), collapse_channels=True)
    assert "\n" not in str(e.value)


def test_collapse_is_refused_for_a_channel_split() -> None:
    class Split(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            a, b = x.chunk(2, dim=1)
            return a + F.pad(b, (1, 0))[..., :-1]

    with pytest.raises(UnsupportedOpError, match=r"fails where the full model runs \(ValueError: .*collapse_chan"):
        empirical_rf(Split(), (1, 4, 16), collapse_channels=True)


def test_collapse_is_refused_when_it_changes_the_support() -> None:
    """Slicing channels 2: of one channel leaves none: a branch vanishes without any error."""

    class Slice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(4, 4, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.conv(x)
            return y[:, :2].sum(1, keepdim=True) + F.pad(y[:, 2:], (3, 0))[..., :-3].sum(1, keepdim=True)

    assert empirical_rf(Slice(), (1, 4, 16)).size == (6,)
    with pytest.raises(UnsupportedOpError, match=r"changes the input-gradient support at input size \[16\]"):
        empirical_rf(Slice(), (1, 4, 16), collapse_channels=True)


def test_collapse_channels_must_be_a_bool() -> None:
    with pytest.raises(ConfigError, match="collapse_channels must be None, True or False, got 'yes'"):
        empirical_rf(nn.Conv1d(1, 1, 3), (1, 1, 8), collapse_channels="yes")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------------
# magnitudes stay finite in deep gated networks


class GatedSE(nn.Module):
    """Conv, squeeze-excitation gate, residual: each gate multiplies the map by a statistic of itself."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.fc = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return x + y * torch.sigmoid(self.fc(F.adaptive_avg_pool2d(y, 1)))


class Gated1d(nn.Module):
    """WaveNet's gated unit tanh(f) * sigmoid(g) with a residual: a product of two signals."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.f = nn.Conv1d(channels, channels, 3, dilation=dilation, padding=dilation)
        self.g = nn.Conv1d(channels, channels, 3, dilation=dilation, padding=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.tanh(self.f(x)) * torch.sigmoid(self.g(x))


@pytest.mark.parametrize("collapse", [False, True])
def test_deep_squeeze_excitation_stays_finite(collapse: bool) -> None:
    """16 gates squared the magnitudes past float64's range (inf, then nan: every position 'read')."""
    model = nn.Sequential(*(GatedSE(2) for _ in range(16)))
    r = empirical_rf(model, (1, 2, 16, 16), collapse_channels=collapse)
    assert r.is_global
    assert_matches(replace(r, is_global=False), [conv((3, 3), padding=1)] * 16)


@pytest.mark.parametrize("collapse", [False, True])
def test_deep_gated_products_stay_finite(collapse: bool) -> None:
    model = nn.Sequential(*(Gated1d(2, d) for d in (1, 2, 4, 8, 16, 1, 2, 4, 8, 16, 1, 2)))
    r = empirical_rf(model, (1, 2, 64), collapse_channels=collapse, max_size=1 << 14)
    g = Graph(dims=1)
    x = g.input
    for d in (1, 2, 4, 8, 16, 1, 2, 4, 8, 16, 1, 2):
        x = g.merge([g.add(conv(3, dilation=d, padding=d), x), x], op="add")
    assert_matches(r, g)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("seed", range(10))
def test_collapsed_convolution_oracle(seed: int) -> None:
    """Any convolution under collapse == one output channel with the weight full(1 / (C K)), groups=1."""
    rng = random.Random(seed)
    dims = rng.randint(1, 3)
    c = rng.choice([1, 2, 4])
    groups = rng.choice([g for g in (1, 2, 4) if c % g == 0])
    k = tuple(rng.randint(1, 4) for _ in range(dims))
    stride = tuple(rng.randint(1, 3) for _ in range(dims))
    dilation = tuple(rng.choice([1, 1, 2]) for _ in range(dims))
    padding: object = rng.choice(["valid", tuple(rng.randint(0, n) for n in k)])
    if rng.random() < 0.2:
        padding, stride = "same", (1,) * dims
    x = torch.rand(2, c, *(rng.randint(8, 12) for _ in range(dims)), dtype=torch.float64)
    conv = (F.conv1d, F.conv2d, F.conv3d)[dims - 1]
    weight = torch.randn(3 * groups, c // groups, *k, dtype=torch.float64)
    with Linearised(dims, cut_global=True, collapse=True):
        got = conv(x, weight, torch.randn(3 * groups, dtype=torch.float64), stride, padding, dilation, groups)
    want = conv(x, torch.full((1, c, *k), 1 / (c * math.prod(k)), dtype=torch.float64), None, stride, padding,
                dilation)
    torch.testing.assert_close(got, want)


def test_collapsed_pointwise_conv_is_no_view_of_its_input() -> None:
    class AddInPlace(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Conv1d(1, 1, 1)
            self.conv = nn.Conv1d(1, 1, 3, padding=2, dilation=2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.proj(x)
            out += self.conv(x)  # in place on the 1x1 output
            return out + x

    assert_same_measurement(AddInPlace(), (1, 1, 16))


# ---------------------------------------------------------------------------------------------------------
# the default: the one-channel twin where a small check shows it safe, else full width; progress


def assert_default_is_full_width(model: nn.Module, shape: tuple[int, ...], **kwargs: object) -> list[str]:
    """The default measurement equals the full-width one in every field and the mask; returns its progress."""
    said: list[str] = []
    fast = empirical_rf(model, shape, progress=said.append, **kwargs)  # type: ignore[arg-type]
    full = empirical_rf(model, shape, collapse_channels=False, **kwargs)  # type: ignore[arg-type]
    assert fast == full
    assert torch.equal(fast.mask, full.mask)
    return said


class DilatedStack1d(nn.Module):
    """Residual dilated 1-D convolutions, rates 1..64 (a WaveNet-style context stack)."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(2 if i == 0 else 8, 8, 3, dilation=2**i, padding=2**i)
                                   for i in range(7))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, c in enumerate(self.convs):
            y = torch.relu(c(x))
            x = y if i == 0 else x + y
        return x


class Upsampled(nn.Module):
    """Strided encoder, bilinear x2 upsampling and a skip from the full-resolution map (an FCN-style head)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.down = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
                                  nn.Conv2d(16, 16, 3, dilation=2, padding=2))
        self.fuse = nn.Conv2d(24, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.stem(x)
        deep = F.interpolate(self.down(skip), scale_factor=2, mode="bilinear", align_corners=False)
        return self.fuse(torch.cat([skip, deep], 1))


def test_default_equals_full_width_on_a_dilated_1d_stack() -> None:
    said = assert_default_is_full_width(DilatedStack1d(), (1, 2, 32))
    assert any("one channel" in line for line in said)
    assert empirical_rf(DilatedStack1d(), (1, 2, 32)).size == (255,)


def test_default_equals_full_width_with_upsampling() -> None:
    said = assert_default_is_full_width(Upsampled(), (1, 3, 32, 32))
    assert any("one channel" in line for line in said)
    assert empirical_rf(Upsampled(), (1, 3, 32, 32)).phases == (2, 2)


def test_default_equals_full_width_on_resnet18() -> None:
    torchvision = pytest.importorskip("torchvision")
    model = torchvision.models.resnet18(weights=None)
    said = assert_default_is_full_width(model, (1, 3, 32, 32), node="layer2")
    assert said[1] == "checking the one-channel twin against the full model at 1x3x32x32"
    assert all("one channel" in line for line in said if line.startswith("pass"))


@pytest.mark.slow
def test_default_equals_full_width_on_resnet18_layer3_from_224() -> None:
    """The CLI's case: 224 x 224 given, the check at 64 x 64, the measurement grown past 224."""
    torchvision = pytest.importorskip("torchvision")
    said = assert_default_is_full_width(torchvision.models.resnet18(weights=None), (1, 3, 224, 224),
                                        node="layer3")
    assert "at 1x3x64x64" in said[1]


class BranchPick(nn.Module):
    """Two branches concatenated, then only the first branch's channels kept (a width-dependent slice).

    On a small input both supports fill it, so only the channel-pick rule can tell that one channel would
    keep the wide branch that the full network drops.
    """

    def __init__(self) -> None:
        super().__init__()
        self.narrow = nn.Conv2d(1, 4, 9, padding=4)
        self.wide = nn.Conv2d(1, 4, 33, padding=16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.narrow(x), self.wide(x)], 1)[:, :4]


def test_default_measures_a_channel_pick_at_full_width() -> None:
    said = assert_default_is_full_width(BranchPick(), (1, 1, 8, 8))
    assert any("picks channel subsets (__getitem__); measuring at full width" in line for line in said)
    assert empirical_rf(BranchPick(), (1, 1, 8, 8)).size == (9, 9)
    with pytest.raises(UnsupportedOpError, match=r"collapse_channels=True meets ops that pick channel subsets "
                       r"\(__getitem__\).*pass collapse_channels=False$") as e:
        empirical_rf(BranchPick(), (1, 1, 8, 8), collapse_channels=True)
    assert "\n" not in str(e.value)


def test_default_measures_a_channel_shuffle_at_full_width() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ChannelShuffle(2), nn.Conv2d(4, 1, 3))
    said = assert_default_is_full_width(model, (1, 3, 12, 12))
    assert any(line.startswith("the one-channel twin differs (fails where the full model runs") for line in said)
    assert all("full width" in line for line in said if line.startswith("pass"))


def test_default_check_uses_the_given_size_where_the_small_one_fails() -> None:
    """A head that needs exactly 80 x 80 fails on the 64 x 64 check input; the check moves to 80 x 80."""

    class Fixed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.shape[-1] % 80:
                raise RuntimeError("this model takes multiples of 80 only")
            return self.conv(x)

    said: list[str] = []
    r = empirical_rf(Fixed(), (1, 1, 80, 80), progress=said.append)
    assert r.size == (3, 3)
    assert [line for line in said if line.startswith("checking")] == [
        "checking the one-channel twin against the full model at 1x1x64x64",
        "checking the one-channel twin against the full model at 1x1x80x80"]


def test_progress_names_every_pass() -> None:
    said: list[str] = []
    r = empirical_rf(nn.Conv1d(1, 1, 33, padding=16), (1, 1, 8), progress=said.append)
    assert r.input_size == (128,)  # 8, 16, 32, 64 touch the border; 64 is clean; 128 confirms
    passes = [line for line in said if line.startswith("pass")]
    assert passes == [f"pass {i}: measuring at 2x1x{n} (one channel)" for i, n in enumerate((8, 16, 32, 64), 1)] \
        + ["pass 5: confirming at 2x1x128 (one channel)"]
    assert said[0] == "copying the model (float64, cpu)"


def test_progress_must_be_callable() -> None:
    with pytest.raises(ConfigError, match=r"^empirical_rf: progress must be None or a callable taking one str, "
                       r"got 'int'$"):
        empirical_rf(nn.Conv1d(1, 1, 3), (1, 1, 8), progress=3)  # type: ignore[arg-type]


def test_float32_would_show_false_holes_in_a_deep_stack() -> None:
    """Why the measurement stays in float64: 60 layers of 3 x 3 take the corner paths' weight (9 ** -60)
    below float32's smallest number, and the gradient reads as zero there."""
    model = nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=1) for _ in range(60)])
    exact = empirical_rf(model, (1, 1, 64, 64))
    assert (exact.size, exact.holes) == ((121, 121), 0)
    assert empirical_rf(model, (1, 1, 64, 64), dtype=torch.float32).holes > 0


@pytest.mark.parametrize(("index", "picks"), [
    ((slice(None), slice(0, 2)), True), ((slice(None), 0), True), ((slice(None), None), True),
    ((Ellipsis, slice(0, 2), slice(None), slice(None)), True), ((slice(None), slice(None), slice(1, 3)), False),
    ((Ellipsis, slice(1, 3)), False), (0, False), ((0, Ellipsis, 1), False),
])
def test_channel_picks_by_index(index: object, picks: bool) -> None:
    mode = Linearised(2, cut_global=False, collapse=True)
    with mode:
        torch.ones(1, 3, 4, 4)[index]  # type: ignore[index]
    assert bool(mode.channel_selections) == picks


@pytest.mark.parametrize(("op", "picks"), [
    (lambda x: x.split(1, dim=1), True), (lambda x: torch.split(x, 1, 1), True), (lambda x: x.chunk(3, 1), True),
    (lambda x: x.narrow(1, 0, 2), True), (lambda x: x.unbind(1), True), (lambda x: x.chunk(2, dim=2), False),
    (lambda x: x.split(2, dim=-1), False), (lambda x: x.narrow(3, 0, 2), False),
])
def test_channel_picks_by_op(op: object, picks: bool) -> None:
    mode = Linearised(2, cut_global=False, collapse=True)
    with mode:
        op(torch.ones(1, 3, 4, 4))  # type: ignore[operator]
    assert bool(mode.channel_selections) == picks
