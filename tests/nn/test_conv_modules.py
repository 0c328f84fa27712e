"""DilatedConv1d/2d/3d and CausalConv1d: module == functional, torch's Conv*d where both apply, shapes, errors,
gradients, and the receptive field composed by rf_spec == the measured gradient support."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from atrous import rf
from atrous.analysis.empirical import empirical_rf
from atrous.errors import ConfigError, ShapeError
from atrous.functional import _autotune, _layout
from atrous.functional.conv import dilated_conv1d, dilated_conv2d, dilated_conv3d
from atrous.nn import CausalConv1d, DilatedConv1d, DilatedConv2d, DilatedConv3d

MODULES = {1: DilatedConv1d, 2: DilatedConv2d, 3: DilatedConv3d}
FUNCS = {1: dilated_conv1d, 2: dilated_conv2d, 3: dilated_conv3d}
TORCH = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
SIZES = {1: (23,), 2: (11, 9), 3: (7, 6, 5)}


def functional_of(m: nn.Module, x: torch.Tensor, padding: Any, causal_axis: int | None = None) -> torch.Tensor:
    """The functional call with the module's constructor arguments (not its resolved padding)."""
    dims = x.dim() - 2
    if dims == 1:
        return dilated_conv1d(x, m.weight, m.bias, m.stride[0], m.dilation[0], padding, m.groups)
    return FUNCS[dims](x, m.weight, m.bias, m.stride, m.dilation, padding, m.groups, causal_axis)


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize(("padding", "stride", "dilation", "groups"), [
    ("same", 1, 2, 1), ("same", 1, 3, 2), ("causal", 1, 2, 4), ("valid", 2, 2, 1), (1, 1, 1, 2), ("causal", 2, 3, 1)])
def test_module_equals_functional(dims: int, padding: Any, stride: int, dilation: int, groups: int) -> None:
    torch.manual_seed(dims)
    m = MODULES[dims](4, 8, 2 if padding == "same" and dilation == 3 else 3, stride=stride, dilation=dilation,
                      padding=padding, groups=groups)
    x = torch.randn(2, 4, *SIZES[dims])
    torch.testing.assert_close(m(x), functional_of(m, x, padding), rtol=0, atol=0)


@pytest.mark.parametrize("dims", [2, 3])
def test_module_causal_axis(dims: int) -> None:
    for axis in range(dims):
        m = MODULES[dims](2, 3, 2, dilation=2, padding="causal", causal_axis=axis)
        x = torch.randn(1, 2, *SIZES[dims])
        torch.testing.assert_close(m(x), functional_of(m, x, "causal", axis), rtol=0, atol=0)
        assert m.padding[axis] == (2, 0)
        assert all(m.padding[a] == (1, 1) for a in range(dims) if a != axis)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_equals_torch_module(dims: int) -> None:
    ours = MODULES[dims](4, 6, 3, dilation=2, padding=2, groups=2)
    theirs = TORCH[dims](4, 6, 3, dilation=2, padding=2, groups=2)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(2, 4, *SIZES[dims])
    torch.testing.assert_close(ours(x), theirs(x))


def test_causal_conv1d() -> None:
    m = CausalConv1d(3, 5, 2, dilation=4)
    assert m.padding == ((4, 0),)
    x = torch.randn(2, 3, 30)
    y = m(x)
    assert y.shape == (2, 5, 30)
    future = x.clone()
    future[..., 20:] = torch.randn(2, 3, 10)
    torch.testing.assert_close(m(future)[..., :20], y[..., :20], rtol=0, atol=0)  # never looks ahead
    plain = DilatedConv1d(3, 5, 2, dilation=4, padding="causal")
    plain.load_state_dict(m.state_dict())
    torch.testing.assert_close(plain(x), y, rtol=0, atol=0)
    assert CausalConv1d(3, 5, 3, dilation=2, stride=2)(x).shape == (2, 5, 15)


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("batch", [0, 1])
def test_batch_zero_and_one(dims: int, batch: int) -> None:
    m = MODULES[dims](3, 4, 3, dilation=2)
    y = m(torch.randn(batch, 3, *SIZES[dims]))
    assert y.shape == (batch, 4, *SIZES[dims])


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_non_contiguous_input(dims: int) -> None:
    m = MODULES[dims](3, 4, 3, dilation=2, padding="causal")
    x = torch.randn(2, *SIZES[dims], 3).movedim(-1, 1)
    assert not x.is_contiguous()
    torch.testing.assert_close(m(x), m(x.contiguous()))


@pytest.mark.parametrize("dims", [1, 2])
def test_gradcheck(dims: int) -> None:
    m = MODULES[dims](2, 2, 2, dilation=3, padding="causal", groups=2, dtype=torch.float64)
    x = torch.randn(1, 2, *[(9,), (6, 5)][dims - 1], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w, b: torch.func.functional_call(m, {"weight": w, "bias": b}, (x,)),
                                    (x, m.weight.detach().requires_grad_(), m.bias.detach().requires_grad_()),
                                    fast_mode=True)


def test_every_parameter_gets_a_gradient() -> None:
    for dims, cls in MODULES.items():
        m = cls(2, 3, 2, dilation=2)
        m(torch.randn(1, 2, *SIZES[dims])).square().sum().backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.parameters())


def test_errors() -> None:
    with pytest.raises(ConfigError, match="DilatedConv1d: dilation must be a positive int, got 0"):
        DilatedConv1d(2, 4, 3, dilation=0)
    with pytest.raises(ConfigError, match=r"DilatedConv2d: kernel_size must be a positive int or 2 positive ints, "
                                          r"got \(3, 0\)"):
        DilatedConv2d(2, 4, (3, 0))
    with pytest.raises(ConfigError, match="DilatedConv2d: groups must divide in_channels and out_channels, got "
                                          "groups=3 for 3 -> 4"):
        DilatedConv2d(3, 4, 3, groups=3)
    with pytest.raises(ConfigError, match="DilatedConv3d: in_channels must be a positive int, got 0"):
        DilatedConv3d(0, 4, 3)
    with pytest.raises(ConfigError, match=r"DilatedConv1d: padding must be .*got 'full'"):
        DilatedConv1d(2, 4, 3, padding="full")
    with pytest.raises(ConfigError, match="CausalConv1d: dilation must be a positive int"):
        CausalConv1d(2, 4, 3, dilation=-1)
    m = DilatedConv1d(2, 4, 3)
    with pytest.raises(ShapeError, match=r"DilatedConv1d: input must be a 3-D tensor \(B C L\), got shape"):
        m(torch.randn(2, 10))
    with pytest.raises(ShapeError, match=r"input channels must equal weight.shape\[1\] \* groups = 2 \* 1, got 3"):
        m(torch.randn(1, 3, 10))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 4), st.integers(1, 3),
       st.one_of(st.sampled_from(["same", "valid", "causal"]), st.integers(0, 3)), st.integers(0, 12))
def test_output_length_is_rf_output_length(dims: int, k: int, d: int, s: int, padding: Any, extra: int) -> None:
    m = MODULES[dims](1, 1, k, stride=s, dilation=d, padding=padding)
    layer = m.rf_layer()
    assert layer == rf.conv(k, s, d, m.padding, dims=dims)
    size = tuple(max(1, (k - 1) * d + 1 - sum(m.padding[a])) + extra + a for a in range(dims))
    assert tuple(m(torch.randn(1, 1, *size)).shape[2:]) == layer.output_length(size)


def stack_rf(model: nn.Sequential, dims: int) -> rf.RFResult:
    graph = rf.Graph(dims=dims)
    node = graph.input
    for i, layer in enumerate(model):
        if hasattr(layer, "rf_spec"):
            node = layer.rf_spec(graph, node, name=f"conv{i}")
    return rf.receptive_field(graph)


@pytest.mark.parametrize("model", [
    nn.Sequential(*[CausalConv1d(2, 2, 2, dilation=d) for d in (1, 2, 4, 8)]),
    nn.Sequential(DilatedConv1d(1, 3, 3, dilation=2), nn.ReLU(), DilatedConv1d(3, 3, 2, dilation=5, padding="same"),
                  nn.Tanh(), DilatedConv1d(3, 1, 3, stride=2, dilation=3, padding="valid")),
    nn.Sequential(DilatedConv2d(1, 2, 3, dilation=(1, 2)), nn.ReLU(), DilatedConv2d(2, 2, 2, dilation=(3, 2)),
                  DilatedConv2d(2, 1, 3, dilation=2, padding="causal", causal_axis=1)),
    nn.Sequential(DilatedConv3d(1, 2, 2, dilation=(1, 2, 3)), DilatedConv3d(2, 1, 3, stride=2, padding="causal")),
], ids=["tcn", "1d-mixed", "2d", "3d"])
def test_rf_spec_equals_gradient_support(model: nn.Sequential) -> None:
    dims = model[0].dims
    analytic = stack_rf(model, dims)
    measured = empirical_rf(model, (1, model[0].in_channels, *([16] * dims)))
    assert measured.size == analytic.size
    assert measured.stride == analytic.jump
    assert measured.start == analytic.start
    assert measured.offset == analytic.offset
    assert measured.taps == rf.support(analytic.graph).taps


def test_fx_traces_one_call_per_layer() -> None:
    model = nn.Sequential(DilatedConv2d(2, 2, 3, dilation=6), nn.ReLU())
    gm = torch.fx.symbolic_trace(model)
    assert [n.target for n in gm.graph.nodes if n.op == "call_function"] == [dilated_conv2d]
    x = torch.randn(1, 2, 13, 13)
    torch.testing.assert_close(gm(x), model(x))


def test_module_on_the_fast_paths_equals_plain() -> None:
    """Parameter gradients included: the module's forward is one functional call whatever path it takes."""
    torch.manual_seed(0)
    for path, m, x in (("fold2d", DilatedConv1d(4, 4, 3, dilation=5, padding="causal"), torch.randn(2, 4, 33)),
                       ("channels_last", DilatedConv2d(4, 4, 3, dilation=3), torch.randn(2, 4, 12, 10))):
        grads = []
        for forced in ("plain", path):
            m.zero_grad(set_to_none=True)
            with _autotune.force_path(forced):
                y = m(x)
            y.square().sum().backward()
            grads.append((y.detach(), m.weight.grad, m.bias.grad))
        for a, b in zip(*grads):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_repr_and_reset() -> None:
    m = DilatedConv2d(3, 8, 3, dilation=6)
    assert "dilation=(6, 6)" in repr(m) and "padding=((6, 6), (6, 6))" in repr(m)
    old = m.weight.detach().clone()
    m.reset_parameters()
    assert not torch.equal(old, m.weight)


def test_auto_channels_last_equals_torch_conv(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default: where channels-last is measured clearly faster (here: always, and every conv is large enough
    to measure), a padding >= 7 gives a channels-last output equal to nn.Conv2d's, gradients included; a padding
    of 6 never measures and keeps the plain call's layout."""
    monkeypatch.setattr(_autotune, "_MIN_WORK", 0)
    monkeypatch.setattr(_autotune, "_measure", lambda names, *args: {
        n: [1.0 if n == "plain" else 0.5] * 3 for n in names})
    old = _autotune.set_benchmark(False), _layout.set_auto_channels_last(True)
    _autotune.clear_chosen_paths()
    try:
        for rate, fast in ((12, True), (6, False), (7, True)):
            torch.manual_seed(rate)
            ours = DilatedConv2d(4, 6, 3, dilation=rate)
            theirs = nn.Conv2d(4, 6, 3, dilation=rate, padding=rate)
            theirs.load_state_dict(ours.state_dict())
            x = torch.randn(2, 4, 30, 26, requires_grad=True)
            y, want = ours(x), theirs(x)
            assert y.is_contiguous(memory_format=torch.channels_last) is fast and y.is_contiguous() is not fast
            torch.testing.assert_close(y, want)
            seed = torch.randn_like(want)
            got = torch.autograd.grad(y, [x, ours.weight, ours.bias], seed)
            ref = torch.autograd.grad(want, [x, theirs.weight, theirs.bias], seed)
            for a, b in zip(got, ref):
                torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)   # sums over 1560 positions, float32
            assert got[0].is_contiguous()        # the input's gradient in the input's layout
        assert [e["dilation"][0] for e in _autotune.chosen_paths()] == [12, 7]
    finally:
        _autotune.clear_chosen_paths()
        _autotune.set_benchmark(old[0])
        _layout.set_auto_channels_last(old[1])


def test_a_layer_with_a_padding_that_would_fill_the_ram_is_refused_at_its_call() -> None:
    """The module path (conv_resolved) checks a padding larger than the input like the functional one."""
    from atrous._validate import physical_memory

    if physical_memory() / 2 >= 16e9:
        pytest.skip("this machine could hold the 16 GB")
    x = torch.randn(1, 1, 10)
    with pytest.raises(ConfigError, match=r"^DilatedConv1d: padding must need at most .* \(estimated 16 GB\); the "
                                          r"padded input and the output"):
        DilatedConv1d(1, 1, 3, padding=10**9)(x)
    fits = DilatedConv1d(1, 1, 3, padding=50)  # larger than the input, and small: computed as torch computes it
    torch.testing.assert_close(fits(x), torch.nn.functional.conv1d(x, fits.weight, fits.bias, padding=50))
