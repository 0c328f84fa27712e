"""The coverage sweep's harness (benchmarks/zoo.py) on a few tiny models, so it cannot rot unnoticed."""

from __future__ import annotations

import json
import os
import signal
import sys

import pytest
from torch import nn

BENCH = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "benchmarks")
sys.path.insert(0, os.path.abspath(BENCH))

zoo = pytest.importorskip("zoo")
zoo_models = pytest.importorskip("zoo_models")
zoo_handwritten = pytest.importorskip("zoo_handwritten")


@pytest.fixture(autouse=True)
def _alarm() -> None:
    previous = signal.signal(signal.SIGALRM, zoo._on_alarm)
    yield
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, previous)


def _spec(name: str, build, shape: tuple[int, ...]):  # type: ignore[no-untyped-def]
    return zoo_models.Spec(f"user/{name}", "test", "test", build, shape, shape)


def test_plain_dilated_stack_is_exact_and_agrees() -> None:
    build, shape = zoo_handwritten.HANDWRITTEN["dilated_stack_1d"]
    r = zoo.run_one(_spec("dilated_stack_1d", build, shape), limits={"check": 60})
    assert r["verdict"] == "exact"
    assert r["rf"]["size"] == [63]  # 1 + 2 * (1 + 2 + 4 + 8 + 16)
    assert r["check"]["result"] == "agree", r["check"]
    assert r["check"]["measured"]["size"] == [63]
    assert r["analysis_s"] > 0 and r["outputs"] == "tensor[1,8,256]"


def test_classifier_is_checked_at_its_last_spatial_map() -> None:
    def build() -> nn.Module:
        return nn.Sequential(nn.Conv2d(3, 4, 3, padding=2, dilation=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                             nn.Flatten(), nn.Linear(4, 2))

    r = zoo.run_one(_spec("classifier", build, (1, 3, 32, 32)), limits={"check": 60})
    assert r["verdict"] == "global"
    assert r["check"]["node"] in ("0", "1")  # the conv (or its ReLU): a module, so empirical_rf can stop there
    assert r["check"]["result"] == "agree", r["check"]
    assert r["check"]["measured"]["size"] == [5, 5]


def test_failures_are_records_not_exceptions() -> None:
    def broken() -> nn.Module:
        raise RuntimeError("no such model")

    r = zoo.run_one(_spec("broken", broken, (1, 3, 8, 8)))
    assert r["verdict"] == "unbuilt" and "no such model" in r["reason"]
    build, shape = zoo_handwritten.HANDWRITTEN["cumsum_cln"]
    r = zoo.run_one(_spec("cumsum_cln", build, shape), empirical=False)
    assert r["verdict"] in zoo.VERDICTS
    assert r["check"]["result"].startswith("not checked")
    if r["verdict"] == "error":
        assert "Traceback" in r["traceback"]


def test_compare_names_every_field_that_differs() -> None:
    a = {"rf": {"size": [5], "stride": [1], "offset": [0], "global": True}, "support": {"taps": 5}}
    m = {"rf": {"size": [7], "stride": [1], "offset": [0.0], "global": False}, "support": {"taps": 5}}
    diffs = zoo.compare(a, m)
    assert [d.split()[0] for d in diffs] == ["size", "global"]
    assert zoo.compare(a, a) == []


def test_summary_and_markdown_from_records() -> None:
    records = [
        {"name": "a", "source": "s", "family": "f", "verdict": "exact", "analysis_s": 0.01,
         "rf": {"size": [3, 3], "stride": [1, 1]}, "check": {"result": "agree", "node": "output", "seconds": 1}},
        {"name": "b", "source": "s", "family": "f", "verdict": "refused", "reason": "op | x", "analysis_s": 0.02,
         "check": {"result": "not checked (refused)"}},
        {"name": "c", "source": "s", "family": "f", "verdict": "global", "analysis_s": 0.03, "rf": {"size": [1]},
         "check": {"result": "DISAGREE", "diffs": ["global True vs False"]}},
    ]
    s = zoo.summarize(records)
    assert s["verdicts"]["exact"] == 1 and s["verdicts"]["refused"] == 1
    assert s["analysed_pct"] == pytest.approx(66.7) and s["disagree"] == 1 and s["agree"] == 1
    table = zoo.markdown_table(records)
    assert table.count("\n") == 4 and "op \\| x" in table and "**DISAGREE**: global True vs False" in table


@pytest.mark.slow
def test_the_sweep_runs_models_in_a_child(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "zoo.json"
    assert zoo.main(["--only", "user/dilated_stack_1d", "--json", str(out), "--check-timeout", "60"]) == 0
    data = json.loads(out.read_text())
    assert [r["name"] for r in data["records"]] == ["user/dilated_stack_1d"]
    assert data["records"][0]["check"]["result"] == "agree"
    assert data["env"]["torch"] and data["env"]["commit"]
