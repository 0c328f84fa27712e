"""Recommendations fire only when their premise holds, and the ERF is summarised honestly."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
import torch
from _report_models import report
from torch import nn

from atrous.report import collect
from atrous.report.data import RunInfo
from atrous.report.recommend import erf_statistics, erf_view, recommendations


def _text(lines: list[str]) -> str:
    return " ".join(lines)


def test_an_undilated_model_gets_no_rate_advice() -> None:
    data = report("classifier")
    assert data.max_dilation == 1
    advice = _text(recommendations(data))
    assert "larger than the input 24x24" in advice and "feed larger inputs" in advice
    assert "lower the largest rates" not in advice and not re.search(r"\brates?\b", advice)
    assert "fewer downsampling stages" in advice  # its field comes from strides


def test_a_dilated_model_whose_field_exceeds_the_input_may_lower_its_rates() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Conv2d(2, 2, 3, padding=8, dilation=8),
                        nn.Conv2d(2, 1, 3, padding=16, dilation=16))
    data = collect(net, (1, 1, 40, 40), samples=2)
    advice = _text(recommendations(data))
    assert "lower the largest rates (the largest is 16, at 2)" in advice


def test_a_causal_model_speaks_of_lags_and_sequences_not_images() -> None:
    for name in ("tcn", "tcn_short"):
        advice = recommendations(report(name))
        text = _text(advice)
        assert "image" not in text and "Gaussian" not in text and "centred" not in text and "σ" not in text
        assert not re.search(r"\bsigma\b|area ratio", text)
    short = _text(recommendations(report("tcn_short")))
    assert "The lookback 60 is longer than the 40-sample sequence" in short
    assert "feed longer sequences" in short and "lower the largest rates" in short
    tcn = _text(recommendations(report("tcn")))
    assert "lag" in tcn and "lookback of 60" in tcn


def test_the_causal_erf_table_has_one_sided_statistics() -> None:
    rows = dict(erf_statistics(report("tcn")))
    assert {"mass-weighted lag", "lag holding 50% of the mass", "lag holding 95% of the mass",
            "lookback (theoretical)"} <= set(rows)
    assert not any("Gaussian" in key for key in rows)
    view = erf_view(report("tcn"))
    data = report("tcn")
    assert view.causal and view.lags is not None and data.erf is not None and data.box is not None
    assert view.newest == data.erf.unit[0] == data.box[0][0] + data.box[1][0] - 1  # the unit's own sample


def _spike(data: object) -> object:
    e = data.erf  # type: ignore[attr-defined]
    spike = np.zeros_like(e.map)
    spike[tuple(n // 2 for n in spike.shape)] = 1.0
    return dataclasses.replace(data, erf=dataclasses.replace(e, map=spike))  # type: ignore[call-overload]


def test_a_degenerate_fit_is_flagged_not_summarised() -> None:
    data = _spike(report("gridding"))
    advice = _text(recommendations(data))  # type: ignore[arg-type]
    assert "degenerate" in advice and "below half a sample" in advice
    assert "far from a Gaussian" not in advice and "ERF centre" not in advice
    rows = dict(erf_statistics(data))  # type: ignore[arg-type]
    assert rows["Gaussian along H"].startswith("degenerate: σ") and "R²" in rows["Gaussian along H"]


def test_a_clean_model_gets_no_false_alarm() -> None:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Conv2d(2, 2, 3, padding=2, dilation=2),
                        nn.ReLU(), nn.Conv2d(2, 1, 3, padding=5, dilation=5))
    advice = recommendations(collect(net, (1, 1, 64, 64), samples=8))
    assert not any("degenerate" in a or "larger than the input" in a or "never read" in a for a in advice)


def test_a_trained_run_is_named_in_the_erf_sentence() -> None:
    data = report("tcn")
    run = RunInfo(task="copy", model="tcn", step=200, epoch=None, metric="loss", value=0.1, model_args={})
    trained = _text(recommendations(dataclasses.replace(data, run=run)))
    untrained = _text(recommendations(data))
    assert "after training on copy (step 200)" in trained and "initialisation" not in trained
    assert "at this initialisation" in untrained


@pytest.mark.parametrize("name", ["gridding", "classifier", "volume", "tcn"])
def test_sentences_name_module_paths_not_graph_nodes(name: str) -> None:
    for line in recommendations(report(name)):
        assert "/" not in line.replace("pi/", "").replace("km/", ""), line
        assert not re.search(r"\b[a-z]+_[a-z0-9]+_\d+\b", line), line  # fx names such as dilated_conv2d_16


class _Misaligned(nn.Module):
    """Inside module ``block``, two branches whose unit 0 is centred at inputs 1 and 2 are added."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv1d(1, 1, 3)
        self.b = nn.Conv1d(1, 1, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a(x)[..., :10] + self.b(x)[..., :10]


class _Outer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = _Misaligned()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


def test_a_misaligned_merge_is_named_by_its_module_path() -> None:
    data = collect(_Outer(), (1, 1, 32), samples=2)
    line = next(a for a in data.advice if "not centred alike" in a)
    assert "merge 'block' (add) is not aligned" in line and "/" not in line
    assert "sequence centre" in _text(data.advice) and "image" not in _text(data.advice)
