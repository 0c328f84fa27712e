"""The report's data, advice and HTML on small models (the browser test is in test_browser.py)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import nn

from atrous.report import collect, render_html


def _gridding_stack() -> nn.Module:
    """Three 3x3 convs at rate 2: 49 of 169 inputs read (the classic gridding example)."""
    return nn.Sequential(*[nn.Conv2d(2, 2, 3, dilation=2, padding=2) for _ in range(3)])


def test_gridding_stack_reports_holes_with_numbers_and_an_alternative() -> None:
    data = collect(_gridding_stack(), (1, 2, 48, 48), samples=2, source="rates 2,2,2")
    d = data.as_dict()
    assert d["rf"]["size"] == [13, 13] and d["support"]["holes"] == 120
    advice = " ".join(d["recommendations"])
    assert "120 of 169 inputs (71%)" in advice
    assert re.search(r"1, 2, 5|1,2,5|2, 3", advice), advice  # a hole-free schedule is suggested
    assert all(f["gridding_risk"] == "high" for f in d["frequency"])
    assert d["erf"]["samples"] == 2 and len(d["erf"]["sigma"]) == 2
    assert set(d["erf"]["area_ratio"]) == {"0.2", "0.3", "0.5", "0.99"}
    # the data-free ERF has exactly the holes of the support
    assert data.data_free is not None and data.support is not None
    box = data.data_free[18:31, 18:31]
    assert np.array_equal(box > 0, data.support > 0)


def test_hole_free_1d_stack_gets_low_risk_and_the_html_has_every_section() -> None:
    net = nn.Sequential(nn.Conv1d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv1d(4, 4, 3, dilation=2, padding=2),
                        nn.ReLU(), nn.Conv1d(4, 1, 3, dilation=5, padding=5))
    data = collect(net, (1, 1, 128), samples=3)
    assert data.summary is not None and data.summary["support"]["holes"] == 0
    assert [f.verdict for f in data.frequency] == ["low"]
    assert [(k, r) for _, k, r, _ in data.frequency[0].layers] == [(3, 2), (3, 5)]
    page = render_html(data)
    for title in ("Summary", "Recommendations", "Explore: which inputs does one output unit read?", "Layers",
                  "Receptive-field growth", "Effective receptive field", "Frequency response"):
        assert f"<h2>{title}</h2>" in page
    assert page.count("<img ") >= 3 and "http" not in page.split("<body>")[1].replace("http://www.w3.org", "")
    assert "src=" not in page.replace('<img src="data:', "")  # nothing is loaded from elsewhere
    assert page.count("<tr data-node=") == 3  # the per-layer table: one row per convolution


def test_classifier_is_described_at_its_last_spatial_map() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=2, dilation=2),
                        nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    data = collect(net, (1, 3, 32, 32), samples=16)
    d = data.as_dict()
    assert d["rf"]["global"] is True and d["erf"]["node"] == "3"
    assert data.box == ((13.0, 13.0), (7.0, 7.0))  # unit (16, 16) reads 13..19 on each axis
    assert d["erf"]["center"] == pytest.approx([16, 16], abs=0.5)


class _DataDependent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 1, 5, padding=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace it
            return self.conv(x)
        return self.conv(-x)


def test_untraceable_model_still_gets_an_erf_and_says_why() -> None:
    data = collect(_DataDependent(), (1, 1, 64), samples=2)
    d = data.as_dict()
    assert data.summary is None and "analysis_error" in d and d["erf"]["width95"] == [5]
    page = render_html(data)
    assert "could not be traced" in page and "<h2>Effective receptive field</h2>" in page


def test_a_wide_field_gets_its_cut_off_from_a_grid_fine_enough_for_it() -> None:
    """A causal k=2 stack at rates 1..512 reads 1,024 inputs, so its -3 dB point lies near pi / 1024, below the first
    step of the 512-point plotted grid. The report's cut-off must agree with a direct search on a 2-million-point
    grid within one step of its own grid, and the figure must reach down to it."""
    from atrous import rf

    net = nn.Sequential(*[nn.Conv1d(1, 1, 2, dilation=2**i) for i in range(10)])
    data = collect(net, (1, 1, 2048), erf=False)
    (f,) = data.frequency
    layers = [rf.conv(2, dilation=2**i) for i in range(10)]
    omega, h = rf.stack_response(layers, n=2**21)
    exact = float(omega[np.flatnonzero(np.abs(h) <= 1 / np.sqrt(2))[0]])
    assert f.cutoff is not None and f.cutoff_step < np.pi / 511 / 20
    assert abs(f.cutoff - exact) <= f.cutoff_step + np.pi / (2**21 - 1)
    assert f.alias_free_stride == int(np.pi // f.cutoff)  # so within a grid step's share of pi / exact
    assert abs(f.alias_free_stride - np.pi / exact) <= np.pi / exact * f.cutoff_step / exact + 1
    assert f.omega[1] < exact / 10 and np.allclose(f.omega[-1], np.pi)  # the figure starts well below it
    even = np.linspace(0, np.pi, 512)
    assert all(np.isclose(f.omega, w).any() for w in even)  # and keeps the even 512-point grid
    assert np.all(np.diff(f.omega) > 0) and f.omega.size <= 1024
