"""Every case of the "any model a user brings" report: exact answers where they exist, a global verdict that keeps
the local geometry where positions mix, never a silent first pick among several outputs, never a traceback.

Expected fields are worked out by hand in each test's comment; the local ones are also measured with gradients
(:func:`atrous.analysis.empirical.empirical_rf`), which knows nothing of the model's structure.
"""

from __future__ import annotations

from typing import Any

import _user_models as um
import pytest
import torch
from torch import nn

from atrous.analysis.analyze import analyze
from atrous.analysis.empirical import empirical_rf
from atrous.errors import ConfigError


def measured_agrees(model: nn.Module, shape: tuple[int, ...], s: dict[str, Any]) -> None:
    torch.manual_seed(0)
    r = empirical_rf(model, shape)
    assert list(r.size) == s["rf"]["size"] and list(r.stride) == s["rf"]["stride"]
    assert list(r.offset) == s["rf"]["offset"] and r.taps == s["support"]["taps"]


# name: (model, input shape, rf size, stride, global?)  -- sizes by hand:
LOCAL = {
    # conv 3 -> per-token LayerNorm/Linear (pointwise in positions) -> (+ x) -> conv 3: 5
    "token MLP + residual": (lambda: um.TokenMLP(), (1, 3, 16, 16), [5, 5], [1, 1]),
    "token MLP alone": (lambda: um.TokenMLP(residual=False), (1, 3, 16, 16), [5, 5], [1, 1]),
    # stem 3, then pieces read 1, 1 + 2, 1 + 4, 1 + 6 more: 9
    "split method, 4 pieces": (lambda: um.Res2Split(), (1, 3, 24, 24), [9, 9], [1, 1]),
    "torch.split, 4 pieces": (lambda: um.Res2Split(function=True), (1, 3, 24, 24), [9, 9], [1, 1]),
    # 2 x 2 blocks (a pool of 2 at stride 2), then conv 3 at stride 2: 2 + 2 * 2 = 6
    "space-to-depth stem": (lambda: um.SpaceToDepth(), (1, 3, 32, 32), [6, 6], [2, 2]),
    # conv 3, channel shuffle (channels only), conv 3: 5; pixel shuffle: each output reads one unit, jump 1/2
    "channel + pixel shuffle": (lambda: um.ShuffleUp(), (1, 3, 16, 16), [5, 5], [0.5, 0.5]),
    "shape check in forward": (lambda: um.ShapeCheck(), (1, 3, 32, 32), [3, 3], [1, 1]),
}


@pytest.mark.parametrize("name", list(LOCAL))
def test_local_models_are_exact(name: str) -> None:
    build, shape, size, stride = LOCAL[name]
    model = build()
    s = analyze(model, shape).summary
    assert (s["rf"]["size"], s["rf"]["stride"]) == (size, stride)
    assert s["rf"]["global"] is False and s["rf"]["exact"] and s["method"] == "analytic"
    if stride[0] >= 1:  # the measurement needs an integer jump
        measured_agrees(model, shape, s)


def test_unpool_is_a_labelled_bound_that_encloses_the_measurement() -> None:
    """MaxUnpool puts each value where its window's argmax was: the analysis gives the union over every possible
    position (conv 3 -> pool 2: 4 -> unpool -> conv 3 over two pooled units: 6), labelled exact: false; the
    gradient sees one routing (on constant input, the first of each window), inside that union."""
    model = um.Unpool()
    s = analyze(model, (1, 3, 32, 32)).summary
    assert s["rf"]["size"] == [6, 6] and s["rf"]["exact"] is False and s["support"]["exact"] is False
    assert any("MaxUnpool" in n or "max_unpool" in n for n in s["notes"])
    r = empirical_rf(model, (1, 3, 32, 32))
    assert all(m <= a for m, a in zip(r.size, s["rf"]["size"])) and r.taps <= s["support"]["taps"]


GLOBAL = {
    # the pooled map through a Conv1d over channels gates the map: global, local path conv 3
    "ECA": (lambda: um.ECA(), (1, 3, 16, 16), [3, 3], "mean"),
    "attention": (lambda: um.Attention(), (1, 3, 8, 8), [3, 3], "bmm"),
    "GroupNorm subclass": (lambda: um.GlobalNormNet(), (1, 1, 32), [3], "native_group_norm"),
    "cumulative norm": (lambda: um.CumulativeNorm(), (1, 1, 32), [3], "cumsum"),
}


@pytest.mark.parametrize("name", list(GLOBAL))
def test_position_mixing_is_global_with_local_geometry(name: str) -> None:
    build, shape, size, op = GLOBAL[name]
    s = analyze(build(), shape).summary
    assert s["rf"]["global"] is True and s["rf"]["size"] == size
    assert any(n.startswith(op) and "global" in n for n in s["notes"]), s["notes"]


@pytest.mark.parametrize("build", [um.GlobalNormNet, lambda: nn.Sequential(nn.Conv1d(1, 4, 3, padding=1),
                                                                         nn.InstanceNorm1d(4))])
def test_the_measurement_sees_statistics_over_positions(build: Any) -> None:
    """The gradient cross-check linearises a norm with statistics over positions to x + mean(x): global too,
    with the same local field, so analysis and measurement agree (they both missed it before)."""
    model = build()
    s = analyze(model, (1, 1, 32)).summary
    r = empirical_rf(model, (1, 1, 32))
    assert s["rf"]["global"] and r.is_global and list(r.size) == s["rf"]["size"] == [3]


def test_token_mlp_no_longer_reported_global() -> None:
    """The silent wrong answer of the report: a conv -> token MLP -> conv toy is local (5 x 5 on 32 x 32)."""
    s = analyze(um.TokenMLP(), (1, 3, 32, 32)).summary
    assert s["rf"]["global"] is False and s["rf"]["size"] == [5, 5]
    assert not any("global" in n for n in s["notes"])


@pytest.mark.parametrize("cls", [um.ListOutput, um.DictOutput])
def test_several_outputs_are_all_analysed_and_said(cls: type[nn.Module]) -> None:
    model = cls()
    s = analyze(model, (1, 3, 32, 32)).summary
    keys = ["0", "1"] if cls is um.ListOutput else ["fine", "coarse"]
    assert list(s["outputs"]) == keys and s["output"] == keys[0]
    # fine: conv 3; coarse: then conv 3 at stride 2: 5
    assert s["outputs"][keys[0]]["rf"]["size"] == [3, 3] and s["outputs"][keys[1]]["rf"]["size"] == [5, 5]
    assert any("returns 2 outputs" in n for n in s["notes"])
    for pick in (keys[1], 1):
        chosen = analyze(model, (1, 3, 32, 32), output=pick).summary
        assert chosen["output"] == keys[1] and chosen["rf"]["stride"] == [2, 2]
        assert not any("returns 2 outputs" in n for n in chosen["notes"])
    with pytest.raises(ConfigError, match=r"output must be one of the model's outputs \(.*\) or an index"):
        analyze(model, (1, 3, 32, 32), output="nope")


def test_an_output_that_cannot_be_mapped_is_listed_with_its_reason() -> None:
    """Two outputs, the second behind a spatial flip: the first is analysed, and the summary still says the model
    returns two, listing the second with the reason instead of dropping it."""

    class Two(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            y = self.conv(x)
            return y, y.flip(-1)

    s = analyze(Two(), (1, 3, 16, 16)).summary
    assert s["output"] == "0" and s["rf"]["size"] == [3, 3]
    assert "flip" in s["outputs"]["1"]["error"] and any("returns 2 outputs" in n for n in s["notes"])
