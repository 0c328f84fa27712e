"""Fuzz of the public Python API: every hostile argument ends in a result or a typed :class:`AtrousError` that
names the entry point, never in another exception, a hang or a huge allocation. (The command line has its own
fuzz suite in tests/cli.)"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn as nn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import atrous
from atrous import rf
from atrous.errors import AtrousError

#: values a careless or hostile caller passes where an int, a size or a list is expected
HOSTILE: list[Any] = [0, -1, 1, 2, 3, 7, 2.5, 3.0, math.nan, math.inf, -math.inf, 4 * 10**9, 10**30, -(10**30), True,
                      None, "3", "", "same", [], [0], [3, -1], (1,), (2, 2), (2, 2, 2, 2), {"k": 3}, np.int64(2),
                      np.float32(2.0), object(), b"3", complex(1, 1)]
#: shapes for the analysis: (batch, channels, *spatial)
SHAPES: list[Any] = [(1, 1, 64), (1, 1, 9.0), (1, 1, 0), (1, 1, -3), (1, 1), (), None, "1,1,64", (1, 2, 64),
                     (1, 1, 10**12), (1, 1, 2), (1, 1, np.int64(64)), [1, 1, 64], (1.5, 1, 64), (1, 1, 64, 64)]

#: (the entry point an error must name, a call taking one hostile value)
CALLS: list[tuple[str, Callable[[Any], Any]]] = [
    ("conv", lambda v: rf.conv(v)),
    ("conv", lambda v: rf.conv(3, dilation=v)),
    ("conv", lambda v: rf.conv(3, stride=v)),
    ("conv", lambda v: rf.conv(3, padding=v)),
    ("pool", lambda v: rf.pool(v)),
    ("upsample", lambda v: rf.upsample(v)),
    ("receptive_field", lambda v: rf.receptive_field([rf.conv(3, dilation=2)], input_size=v)),
    ("receptive_field", lambda v: rf.receptive_field([rf.conv(3, dilation=2)], node=v)),
    ("receptive_field", lambda v: rf.receptive_field(v)),
    ("support", lambda v: rf.support([rf.conv(3, dilation=v)] * 3)),
    ("design", lambda v: rf.design(v)),
    ("design", lambda v: rf.design(100, kernel=v)),
    ("hdc_check", lambda v: rf.hdc_check(v)),
    ("hdc_check", lambda v: rf.hdc_check([1, 2, 5], kernel=v)),
    ("DilatedConv1d", lambda v: atrous.nn.DilatedConv1d(1, 1, 3, dilation=v)),
    ("DilatedConv1d", lambda v: atrous.nn.DilatedConv1d(1, v, 3)),
    ("create_model", lambda v: atrous.create_model("tcn", kernel_size=v)),
    ("create_model", lambda v: atrous.create_model(v)),
]

_NET = nn.Sequential(nn.Conv1d(1, 2, 3, padding=2, dilation=2), nn.ReLU(), nn.Conv1d(2, 1, 3, dilation=4))


def _typed_or_result(call: Callable[[], Any], where: str) -> None:
    try:
        call()
    except AtrousError as e:
        # a typed error, in the house format: "<where>: <detail>"
        assert str(e).startswith(f"{e.where}: ") and e.detail, str(e)
    except Exception as e:  # anything else is a defect
        pytest.fail(f"{where}: {type(e).__name__}: {e}")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(CALLS), st.sampled_from(HOSTILE))
def test_rf_models_and_layers_take_any_argument(call: tuple[str, Callable[[Any], Any]], value: Any) -> None:
    where, fn = call
    _typed_or_result(lambda: fn(value), where)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(SHAPES), st.sampled_from([None, "0", "2", 0, 5, -1, "nope", 2.0]))
def test_analyze_takes_any_shape_and_node(shape: Any, node: Any) -> None:
    _typed_or_result(lambda: atrous.analyze(_NET, shape, node=node), "analyze")


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([(1, 1, 64), (1, 1, 2), (1, 1, 9.0), None, (1, 2, 64), "x"]),
       st.sampled_from([0, -1, 1, 2.5, math.nan, None, 10**9]))
def test_empirical_rf_takes_any_shape_and_size_cap(shape: Any, max_size: Any) -> None:
    if max_size is None:
        max_size = 4096
    _typed_or_result(lambda: atrous.empirical_rf(_NET, shape, max_size=max_size, progress=False), "empirical_rf")


def test_a_typed_error_names_the_argument_and_the_value() -> None:
    with pytest.raises(AtrousError, match=r"^conv: dilation must be .*got 0$"):
        rf.conv(3, dilation=0)
    with pytest.raises(AtrousError, match=r"analyze: input_shape .*9\.0"):
        atrous.analyze(_NET, (1, 1, 9.0))
    with pytest.raises(AtrousError, match=r"^DilatedConv1d: .*more than half of this machine's memory$"):
        atrous.nn.DilatedConv1d(1, 4 * 10**9, 3)  # refused before any allocation
    with pytest.raises(AtrousError, match=r"^create_model\('tcn'\): kernel_size must need at most"):
        atrous.create_model("tcn", kernel_size=10**9)
    with pytest.raises(AtrousError, match=r"^support: the receptive field along axis 0 must span at most"):
        rf.support([rf.conv(3, dilation=10**9)])
    assert rf.receptive_field([rf.conv(3, dilation=10**9)]).size == (2 * 10**9 + 1,)  # sizes stay exact
    assert torch.is_grad_enabled()  # nothing above leaves autograd switched off
