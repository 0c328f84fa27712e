"""The torch.fx tracer against the arithmetic of atrous.rf on hand-built models, and its errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from atrous import rf
from atrous.analysis.analyze import analyze
from atrous.analysis.tracer import trace
from atrous.errors import ConfigError, ShapeError, UnsupportedOpError


class Residual(nn.Module):
    def __init__(self, c: int, d: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(c, c, 3, dilation=d, padding=d)
        self.conv2 = nn.Conv1d(c, c, 3, dilation=d, padding=d)

    def forward(self, x):
        return F.relu(x + self.conv2(torch.relu(self.conv1(x))))


class Chomped(nn.Module):
    """A TCN-style causal conv: symmetric padding, then the right end chopped off."""

    def __init__(self, k: int, d: int) -> None:
        super().__init__()
        self.pad = (k - 1) * d
        self.conv = nn.Conv1d(2, 2, k, dilation=d, padding=self.pad)

    def forward(self, x):
        return self.conv(x)[:, :, : -self.pad].contiguous()


class Misaligned(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 1, 3)

    def forward(self, x):
        return x + F.pad(self.conv(x), (0, 2))


class Classifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(8, 8, 3, padding=2, dilation=2), nn.BatchNorm2d(8))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


def test_sequential_matches_rf():
    net = nn.Sequential(*[nn.Conv1d(1, 1, 3, dilation=d, padding=d) for d in (1, 2, 4)])
    s = analyze(net, (1, 1, 100)).summary
    expected = rf.receptive_field([rf.conv(3, dilation=d, padding=d) for d in (1, 2, 4)], 100)
    assert s["rf"]["size"] == list(expected.size) == [15]
    assert s["rf"]["offset"] == [0] and s["support"]["holes"] == 0 and s["output_length"] == [100]


def test_residual_blocks_and_functional_ops():
    net = nn.Sequential(Residual(2, 1), Residual(2, 2), Residual(2, 4))
    s = analyze(net, (2, 2, 64)).summary
    # each block adds 2 * 2 * d: 1 + 4 + 8 + 16 = 29
    assert s["rf"]["size"] == [29] and s["rf"]["size_min"] == [1] and s["aligned"]
    assert [n["op"] for n in s["nodes"]].count("add") == 3


def test_chomp_makes_a_causal_stack():
    net = nn.Sequential(Chomped(3, 1), Chomped(3, 2), Chomped(3, 4))
    s = analyze(net, (1, 2, 50)).summary
    assert s["rf"]["size"] == [15] and s["rf"]["lookahead"] == [0] and s["output_length"] == [50]


def test_misaligned_merge_is_reported():
    s = analyze(Misaligned(), (1, 1, 32)).summary
    assert s["aligned"] is False and "not aligned" in s["alignment"][0]


def test_classifier_is_global_with_last_spatial_map():
    s = analyze(Classifier(), (1, 3, 32, 32)).summary
    # 3, pool 2 -> 4, dilated 3x3 at jump 2: + 2 * 2 * 2 = 12
    assert s["rf"]["global"] is True
    assert s["last_spatial"]["node"] == "features.3" and s["last_spatial"]["rf"]["size"] == [12, 12]
    assert s["last_spatial"]["rf"]["stride"] == [2, 2]


def test_node_by_module_and_fx_name():
    net = Classifier()
    assert analyze(net, (1, 3, 32, 32), node="features.2").summary["rf"]["size"] == [4, 4]
    assert analyze(net, (1, 3, 32, 32), node="features").summary["graph_node"] == "features.3"
    with pytest.raises(ConfigError, match=r"node must be a node or module name of the model, got 'nope'"):
        analyze(net, (1, 3, 32, 32), node="nope")


def test_model_is_not_modified():
    net = Classifier().train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    analyze(net, (1, 3, 32, 32))
    assert net.training and all(torch.equal(before[k], v) for k, v in net.state_dict().items())


class Flipped(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3)
        self.head = nn.Conv2d(1, 1, 1)

    def forward(self, x):
        return self.head(self.conv(x).flip(-1))


def test_unsupported_ops_name_the_op_and_module():
    with pytest.raises(UnsupportedOpError, match=r"flip in the top-level forward cannot be mapped exactly.*node="):
        analyze(Flipped(), (1, 1, 16, 16))
    # the nodes before the unsupported op can still be analysed, the ones after it cannot
    assert analyze(Flipped(), (1, 1, 16, 16), node="conv").summary["rf"]["size"] == [3, 3]
    with pytest.raises(UnsupportedOpError, match="flip"):
        analyze(Flipped(), (1, 1, 16, 16), node="head")


def test_pixel_shuffle_and_align_corners_are_exact():
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.PixelShuffle(2), nn.UpsamplingBilinear2d(scale_factor=2))
    s = analyze(net, (1, 1, 16, 16)).summary
    assert s["rf"]["exact"] and s["rf"]["global"] is False
    # 28 -> 56 with align_corners=True: stride 27/55, which changes with the input size, and the summary says so
    assert s["size_dependent"] and "align_corners=True, 28 -> 56" in s["size_dependent"][0]
    assert analyze(nn.Sequential(nn.Conv2d(1, 1, 3)), (1, 1, 16, 16)).summary["size_dependent"] == []


def test_data_dependent_model_suggests_empirical():
    class Branchy(nn.Module):
        def forward(self, x):
            return x * 2 if x.sum() > 0 else x

    with pytest.raises(UnsupportedOpError, match=r"could not run Branchy on a meta tensor.*empirical"):
        trace(Branchy(), (1, 1, 8))


def test_input_too_small():
    net = nn.Sequential(nn.Conv1d(1, 1, 5), nn.Conv1d(1, 1, 5, dilation=4))
    with pytest.raises(ShapeError, match=r"input is too small for the model: at node '1'"):
        trace(net, (1, 1, 12))


@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 0, 4), (1, 3, 2, 2, 2, 2), ("a", 3, 4)])
def test_bad_input_shape(shape):
    with pytest.raises(ConfigError, match="input_shape must be"):
        trace(nn.Identity(), shape)


def test_transposed_conv_stride_1_and_adaptive_pool_windows():
    net = nn.Sequential(nn.ConvTranspose1d(1, 1, 3, padding=1), nn.AdaptiveAvgPool1d(8))
    traced = trace(net, (1, 1, 32))
    r = rf.receptive_field(traced.graph, 32)
    assert r.size == (6,) and r.jump == (4,)  # 3 taps, then windows of 4 at jump 1: 3 + 3
    assert any("depends on the input size" in n for n in traced.notes)


def test_align_corners_is_size_dependent_even_at_a_whole_ratio():
    """8 -> 64 with align_corners=True has stride 7/63 = 1/9, a whole fraction; at 4 -> 32 the same x8 layer has
    3/31. The summary must say the field depends on the size (smp's DeepLabV3 head at a 64x64 input)."""
    net = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.Upsample(scale_factor=8, mode="bilinear", align_corners=True))
    at_8 = analyze(net, (1, 1, 8, 8)).summary
    at_4 = analyze(net, (1, 1, 4, 4)).summary
    assert at_8["rf"]["stride_exact"] == ["1/9", "1/9"] and at_4["rf"]["stride_exact"] == ["3/31", "3/31"]
    assert at_8["size_dependent"] and "align_corners=True, 8 -> 64" in at_8["size_dependent"][0]
    same = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.Upsample(scale_factor=8, mode="nearest"))
    assert analyze(same, (1, 1, 8, 8)).summary["size_dependent"] == []


def test_last_spatial_map_is_taken_before_an_adaptive_pooling_head():
    """VGG's head pools its map to 7 x 7 whatever the input size: at a 64 x 64 input (a 2 x 2 map) that pooling's
    windows depend on the size, so the classifier's last spatial map is the one before it, which the gradient
    measurement can check (it grows the input)."""
    from atrous.analysis.empirical import empirical_rf

    vgg_like = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.MaxPool2d(8), nn.AdaptiveAvgPool2d(7), nn.Flatten(),
                             nn.Linear(2 * 49, 3)).eval()
    s = analyze(vgg_like, (1, 1, 16, 16)).summary
    last = s["last_spatial"]
    assert last["node"] == "1" and last["rf"]["size"] == [10, 10] and last["rf"]["stride"] == [8, 8]
    measured = empirical_rf(vgg_like, (1, 1, 16, 16), node="1")
    assert measured.size == (10, 10) and measured.stride == (8, 8) and measured.taps == last["support"]["taps"]
    plain = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.MaxPool2d(8), nn.Flatten(), nn.Linear(8, 3)).eval()
    assert analyze(plain, (1, 1, 16, 16)).summary["last_spatial"]["node"] == "1"  # no pooling head: the same map
