"""Bad layer specs raise ConfigError (a ValueError) naming the argument, the rule and the value."""

from __future__ import annotations

import pytest

from atrous.errors import ConfigError, ShapeError
from atrous.rf import Graph, Layer, conv, pool, receptive_field, support


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: conv(3, dilation=0), r"conv: dilation must be a positive int, got 0"),
        (lambda: conv(-3), r"conv: kernel_size must be a positive int, got -3"),
        (lambda: conv(3, stride=0), r"conv: stride must be a positive int, got 0"),
        (lambda: conv(3, padding="full"), r"conv: padding must be .*same, valid, causal, got 'full'"),
        (lambda: conv(3, padding=-1), r"conv: padding must be a non-negative int, got -1"),
        (lambda: conv((3, 3), dilation=(1, 2, 3)), r"dilation must be an int or 2 values"),
        (lambda: conv(3.5), r"kernel_size must be a positive int.*, got 3.5"),
        (lambda: conv(True), r"kernel_size must be a positive int.*, got True"),
        (lambda: conv(3, dims=4), r"dims must be 1, 2 or 3, got 4"),
        (lambda: pool(2, kind="minpool"), r"kind must be 'maxpool' or 'avgpool', got 'minpool'"),
        (lambda: Layer((3,), (1,), (0,), ((0, 0),)), r"Layer: dilation must be a positive int, got 0"),
        (lambda: receptive_field([]), r"layers must be a non-empty list of layers"),
        (lambda: receptive_field([conv(3), conv((3, 3))]), r"all of the same number of spatial axes"),
        (lambda: Graph(dims=1).merge([0], op="add"), r"srcs must be at least two nodes"),
        (lambda: Graph(dims=1).merge([0, 0], op="sum"), r"op must be one of add, mul, cat, got 'sum'"),
        (lambda: Graph(dims=1).add(conv(3), 5), r"src must be an existing node index"),
        (lambda: support([conv(3)], node="nope"), r"node must be one of the graph's node names, got 'nope'"),
        (lambda: receptive_field("conv3"), r"spec must be a Graph, a Layer or a list of Layers"),
    ],
)
def test_bad_specs(build, match):
    with pytest.raises(ConfigError, match=match):
        build()


def test_config_error_is_value_error():
    with pytest.raises(ValueError):
        conv(3, dilation=0)


def test_input_too_short_is_shape_error():
    with pytest.raises(ShapeError, match=r"layer 'big': input length must be at least 9 on axis 0"):
        receptive_field([conv(3), conv(3, dilation=4, name="big")], 10)


def test_padding_words_resolve_like_torch():
    # torch's padding="same" puts the extra sample on the right when the span is even
    assert conv(4, padding="same").padding == ((1, 2),)
    assert conv(2, dilation=3, padding="same").padding == ((1, 2),)
    assert conv(3, dilation=5, padding="causal").padding == ((10, 0),)
    assert conv((3, 3), dilation=2, padding=("causal", "same")).padding == ((4, 0), (2, 2))
    assert conv(3, padding=(2, 1)).padding == ((2, 1),)
