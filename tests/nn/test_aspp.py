"""ASPP (DeepLabv3): rates from the output stride, branches, batch size 1 in training, the span warning, fields."""

from __future__ import annotations

import copy
import io
import warnings
from collections.abc import Iterator

import pytest
import torch
from _rfcheck import assert_rf_matches
from torch import nn

from atrous import rf
from atrous.analysis.tracer import trace
from atrous.errors import ConfigError
from atrous.functional import _autotune, _layout
from atrous.nn.aspp import ASPP
from atrous.nn.conv import DilatedConv2d


@pytest.mark.parametrize(
    ("kwargs", "rates"),
    [
        ({}, (6, 12, 18)),
        ({"output_stride": 16}, (6, 12, 18)),
        ({"output_stride": 8}, (12, 24, 36)),
        ({"rates": [2, 3]}, (2, 3)),
        ({"rates": (1, 2, 3, 4), "output_stride": 8}, (1, 2, 3, 4)),  # explicit rates win
    ],
)
def test_rates(kwargs: dict[str, object], rates: tuple[int, ...]) -> None:
    aspp = ASPP(4, 2, **kwargs)  # type: ignore[arg-type]
    assert aspp.rates == rates
    assert len(aspp.atrous) == len(rates)
    assert [branch[0].dilation for branch in aspp.atrous] == [(r, r) for r in rates]


@pytest.mark.parametrize("separable", [False, True])
@pytest.mark.parametrize("image_pooling", [False, True])
@pytest.mark.parametrize("batch", [0, 1, 3])
def test_forward_shapes(separable: bool, image_pooling: bool, batch: int) -> None:
    aspp = ASPP(6, 5, rates=(1, 2), separable=separable, image_pooling=image_pooling).eval()
    y = aspp(torch.randn(batch, 6, 9, 11))
    assert y.shape == (batch, 5, 9, 11)
    assert aspp.project[0].in_channels == 5 * (3 + int(image_pooling))


def test_separable_branches_are_depthwise_then_pointwise() -> None:
    aspp = ASPP(6, 5, rates=(3,), separable=True)
    depthwise, pointwise = aspp.atrous[0][0]
    assert isinstance(depthwise, DilatedConv2d) and isinstance(pointwise, DilatedConv2d)
    assert (depthwise.groups, depthwise.dilation, depthwise.out_channels) == (6, (3, 3), 6)
    assert (pointwise.kernel_size, pointwise.out_channels) == ((1, 1), 5)
    dense = sum(p.numel() for p in ASPP(6, 5, rates=(3,)).parameters())
    assert sum(p.numel() for p in aspp.parameters()) < dense


def test_trains_at_batch_size_one() -> None:
    """The pooled map is (1, C, 1, 1) at batch size 1: a plain BatchNorm2d raises there, the ASPP does not."""
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        nn.BatchNorm2d(4).train()(torch.randn(1, 4, 1, 1))
    aspp = ASPP(3, 4, rates=(1, 2)).train()
    bn = aspp.pool[1]
    mean, var = bn.running_mean.clone(), bn.running_var.clone()
    y = aspp(torch.randn(1, 3, 8, 8))
    y.sum().backward()
    assert y.shape == (1, 4, 8, 8)
    assert aspp.pool[0].weight.grad is not None
    # the fallback normalises with the running statistics and leaves them alone
    assert torch.equal(bn.running_mean, mean) and torch.equal(bn.running_var, var)


def test_image_pooling_batchnorm_uses_batch_statistics_from_two_samples() -> None:
    torch.manual_seed(1)
    aspp = ASPP(3, 4, rates=(1,)).train()
    bn = aspp.pool[1]
    x = torch.randn(2, 3, 8, 8)
    aspp(x)
    assert not torch.equal(bn.running_mean, torch.zeros(4))  # updated like an ordinary training BatchNorm
    pooled = aspp.pool[0](torch.nn.functional.adaptive_avg_pool2d(x, 1))
    expected = torch.relu(nn.functional.batch_norm(pooled, None, None, bn.weight, bn.bias, True))
    branch = aspp._image_pooling(x, aspp.pool)
    torch.testing.assert_close(branch, expected)


def test_eval_output_matches_explicit_deeplab_head() -> None:
    """Oracle: the five DeepLab branches written out with torch.nn layers and the same weights."""
    torch.manual_seed(2)
    aspp = ASPP(3, 4, rates=(2, 3)).double().eval()
    for m in aspp.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.5, 0.5)
    x = torch.randn(2, 3, 10, 12, dtype=torch.float64)
    F = nn.functional

    def cbr(seq: nn.Sequential, h: torch.Tensor, dilation: int, pad: int) -> torch.Tensor:
        conv, bn = seq[0], seq[1]
        return torch.relu(bn(F.conv2d(h, conv.weight, None, 1, pad, dilation)))

    outs = [cbr(aspp.branch1x1, x, 1, 0)] + [cbr(b, x, r, r) for b, r in zip(aspp.atrous, (2, 3))]
    pooled = cbr(aspp.pool, x.mean(dim=(2, 3), keepdim=True), 1, 0)
    outs.append(F.interpolate(pooled, size=(10, 12), mode="bilinear", align_corners=False))
    expected = cbr(aspp.project, torch.cat(outs, 1), 1, 0)
    torch.testing.assert_close(aspp(x), expected)


def test_backward_and_round_trip() -> None:
    torch.manual_seed(3)
    aspp = ASPP(3, 4, rates=(1, 3), separable=True).train()
    y = aspp(torch.randn(3, 3, 10, 10))
    (y * torch.randn_like(y)).sum().backward()
    for name, p in aspp.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    aspp.eval()
    buffer = io.BytesIO()
    torch.save(aspp.state_dict(), buffer)
    buffer.seek(0)
    fresh = ASPP(3, 4, rates=(1, 3), separable=True).eval()
    fresh.load_state_dict(torch.load(buffer))
    x = torch.randn(2, 3, 10, 10)
    assert torch.equal(fresh(x), aspp(x))


def test_span_warning_once_per_size() -> None:
    aspp = ASPP(2, 2, output_stride=16).eval()  # rates 6, 12, 18: spans 13, 25, 37
    with pytest.warns(UserWarning) as record:
        aspp(torch.randn(1, 2, 20, 30))
    assert len(record) == 1
    message = str(record[0].message)
    assert "rate 12 (span 25), rate 18 (span 37) exceed the 20x30 feature map" in message
    assert "rate 6 " not in message
    assert "output stride 16: rates 6, 12, 18" in message and "output stride 8: rates 12, 24, 36" in message
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        aspp(torch.randn(2, 2, 20, 30))  # same size: silent
        aspp(torch.randn(1, 2, 40, 40))  # every span fits: silent
    with pytest.warns(UserWarning, match=r"rate 18 \(span 37\) exceeds the 33x33 feature map"):
        aspp(torch.randn(1, 2, 33, 33))  # DeepLab's 513 crop at output stride 16


@pytest.mark.parametrize(
    ("kwargs", "size", "taps"),
    [
        ({"rates": (1, 2)}, 5, 1 + 8 + 8),
        ({"rates": (2, 3), "separable": True}, 7, 1 + 8 + 8),
        ({"rates": (1, 3), "image_pooling": False}, 7, 1 + 8 + 8),
    ],
)
def test_receptive_field_matches_gradient(kwargs: dict[str, object], size: int, taps: int) -> None:
    aspp = ASPP(2, 3, **kwargs)  # type: ignore[arg-type]
    result = aspp.receptive_field()
    assert result.size == (size, size)
    assert rf.support(result.graph).taps == taps  # centre, plus 8 off-centre taps per rate
    assert result.is_global == aspp.image_pooling
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # empirical_rf starts on a small map
        assert_rf_matches(aspp, (1, 2, 16, 16), result)


def test_receptive_field_of_deeplab_rates() -> None:
    """Spans 2r + 1: 37 at output stride 16 (rates up to 18), 73 at output stride 8 (up to 36)."""
    assert ASPP(2, 2).receptive_field().size == (37, 37)
    assert ASPP(2, 2, output_stride=8).receptive_field((97, 97)).output.length == (97, 97)
    assert ASPP(2, 2, output_stride=8).receptive_field().size == (73, 73)


def test_rf_spec_agrees_with_the_fx_tracer() -> None:
    aspp = ASPP(2, 3, rates=(1, 3))
    traced = rf.receptive_field(trace(aspp, (1, 2, 32, 32)).graph)
    spec = aspp.receptive_field()
    assert (traced.size, traced.start, traced.is_global) == (spec.size, spec.start, spec.is_global)
    names = [n.name for n in spec.graph.nodes]
    assert names == ["input", "branch1x1.0", "atrous.0.0", "atrous.1.0", "pool", "pool.0", "cat", "project.0"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"in_channels": 0}, r"ASPP: in_channels must be a positive int, got 0"),
        ({"out_channels": 2.0}, r"ASPP: out_channels must be a positive int, got 2.0"),
        ({"rates": []}, r"ASPP: rates must be a non-empty list of positive ints or None, got \[\]"),
        ({"rates": (6, 0)}, r"ASPP: rates must be a non-empty list of positive ints or None, got \(6, 0\)"),
        ({"output_stride": 32}, r"ASPP: output_stride must be 8 or 16 .*, got 32; pass rates="),
        ({"dropout": 1.5}, r"ASPP: dropout must be a float in \[0, 1\), got 1.5"),
        ({"separable": 1}, r"ASPP: separable must be a bool, got 1"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"in_channels": 2} | kwargs
    with pytest.raises(ConfigError, match=match):
        ASPP(**args)  # type: ignore[arg-type]


@pytest.fixture
def channels_last_wins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The library's defaults, every conv large enough to measure, and channels-last measured clearly faster."""
    monkeypatch.setattr(_autotune, "_MIN_WORK", 0)
    monkeypatch.setattr(_autotune, "_measure", lambda names, *args: {
        n: [1.0 if n == "plain" else 0.5] * 3 for n in names})
    old = _autotune.set_benchmark(False), _layout.set_auto_channels_last(True)
    _autotune.clear_chosen_paths()
    yield
    _autotune.clear_chosen_paths()
    _autotune.set_benchmark(old[0])
    _layout.set_auto_channels_last(old[1])


@pytest.mark.parametrize("separable", [False, True])
@pytest.mark.parametrize("training", [False, True])
def test_channels_last_layout_equals_nchw(channels_last_wins: None, monkeypatch: pytest.MonkeyPatch,
                                          separable: bool, training: bool) -> None:
    """Where the widest branch is faster channels-last, the input is converted once, every branch, the
    concatenation and the fusion run channels-last, and the output (channels-last) and every gradient equal the
    same module run NCHW."""
    torch.manual_seed(4)
    aspp = ASPP(4, 6, rates=(2, 7), separable=separable, dropout=0.0).train(training)
    twin = copy.deepcopy(aspp)   # the same weights and BatchNorm statistics, run NCHW
    conversions: list[int] = []
    real = _layout._nchw_to_nhwc
    monkeypatch.setattr(_layout, "_nchw_to_nhwc", lambda t: conversions.append(1) or real(t))
    fused_input: list[torch.Tensor] = []
    aspp.project[0].register_forward_pre_hook(lambda m, args: fused_input.append(args[0]))
    x = torch.randn(2, 4, 17, 15, requires_grad=True)
    y = aspp(x)
    assert len(conversions) == 1
    assert fused_input[0].is_contiguous(memory_format=torch.channels_last) and not fused_input[0].is_contiguous()
    assert y.is_contiguous(memory_format=torch.channels_last) and not y.is_contiguous()
    with _autotune.force_path("plain"):
        want = twin(x)
    assert want.is_contiguous() and len(conversions) == 1
    torch.testing.assert_close(y, want, rtol=1e-5, atol=1e-5)
    seed = torch.randn_like(want)
    y.backward(seed)
    (x_grad,) = torch.autograd.grad(want, [x], seed, retain_graph=True)
    want.backward(seed)
    torch.testing.assert_close(x.grad, 2 * x_grad, rtol=1e-5, atol=1e-5)   # x.grad holds both backward passes
    for (name, p), q in zip(aspp.named_parameters(), twin.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-5, msg=name)
    if training:
        for a, b in zip(aspp.buffers(), twin.buffers()):
            torch.testing.assert_close(a, b)


def test_layout_follows_the_input_without_measuring(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small maps are never measured: NCHW in, NCHW out; channels-last in, channels-last out, same values."""
    monkeypatch.setattr(_autotune, "_measure", lambda *args: pytest.fail("measured a small ASPP"))
    torch.manual_seed(5)
    aspp = ASPP(4, 6, output_stride=16).eval()
    x = torch.randn(2, 4, 40, 40)
    y = aspp(x)
    y_cl = aspp(x.contiguous(memory_format=torch.channels_last))
    assert y.is_contiguous() and y_cl.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(y, y_cl, rtol=1e-5, atol=1e-5)
