"""`atrous report` from the command line: files written, the JSON contract, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from atrous.cli.main import main
from atrous.models import list_models, model_info
from atrous.report import collect, render_html


def test_report_writes_html_and_prints_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "tcn.html"
    assert main(["report", "atrous:tcn", "-o", str(page), "--samples", "2"]) == 0
    out = capsys.readouterr().out
    assert "receptive field" in out and "ERF" in out and "recommendations:" in out
    assert f"report written to {page.resolve()}" in out
    assert page.read_text().startswith("<!DOCTYPE html>")


def test_report_json_follows_the_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "atrous:context_module", "--json", "--samples", "2", "--inits", "2"]) == 0
    d = json.loads(capsys.readouterr().out)
    for key in ("rf", "support", "gridding", "layers", "aligned", "nodes", "erf", "frequency", "recommendations"):
        assert key in d
    erf = d["erf"]
    assert erf["samples"] == 4 and all(len(erf[k]) == 2 for k in ("sigma", "center", "r2"))
    assert set(erf["area_ratio"]) == {"0.2", "0.3", "0.5", "0.99"}
    assert not list(tmp_path.iterdir())  # --json without -o writes no HTML


@pytest.mark.parametrize(("argv", "message"), [
    (["report", "atrous:no_such_model"], "no_such_model"),
    (["report", "atrous:tcn", "--node", "levels.99"], "node must be"),
    (["report", "atrous:spliceai", "--input-shape", "1,4,5"], "input"),
    (["report", "atrous:tcn", "--input-shape", "1,x,5"], "input"),
    (["report", "atrous:tcn", "--samples", "0"], "--samples must be an int in 1..1000000, got 0"),
    (["report", "atrous:tcn", "--device", "cuda"], "--device"),
    (["report", "_cli_models:detached", "--input-shape", "1,1,32"], "does not depend on the input"),
    (["report", "_cli_models:unused", "--input-shape", "1,1,32", "--node", "spare"], "unreachable"),
])
def test_bad_input_is_one_line_and_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    if argv[-1] == "cuda" and torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


#: the size budget of one report page (issue: ResNet-50 and DeepLab pages under 5 MB)
PAGE_BUDGET = 5_000_000


@pytest.mark.parametrize("name", [n for n in list_models() if "graph" not in model_info(n).tags])
def test_every_spatial_registry_model_gets_a_report(name: str) -> None:
    from atrous.models import create_model

    info = model_info(name)
    data = collect(create_model(name), (1, *info.input_shape[1:]), node=info.rf_node, samples=1,
                   source=f"atrous:{name}")
    assert data.summary is not None and data.erf is not None and data.advice
    page = render_html(data)
    assert page.count("<img ") >= 3 and len(page.encode()) < PAGE_BUDGET
    assert data.explorer is not None and data.explorer.nodes[data.explorer.selected]["patterns"]


def test_graph_model_gets_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "atrous:dilated_gnn"]) == 2
    assert "--input-shape" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("source", ["torchvision:resnet50", "torchvision:deeplabv3_resnet50"])
def test_torchvision_models_get_a_report(source: str, tmp_path: Path) -> None:
    assert main(["report", source, "-o", str(tmp_path / "r.html"), "--samples", "2"]) == 0
    assert 50_000 < (tmp_path / "r.html").stat().st_size < PAGE_BUDGET


def test_report_reads_a_checkpoint_of_atrous_train(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    assert main(["train", "gridding", "--model-arg", "rates=2,2,2", "--steps", "2", "--threads", "1",
                 "--out", str(run), "-q"]) == 0
    capsys.readouterr()
    assert main(["report", str(run), "--json", "--samples", "1"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["rf"]["size"] == [13, 13] and d["support"]["holes"] == 120 and d["erf"]["samples"] == 1
    assert main(["report", str(run / "best.pt"), "-o", str(tmp_path / "r.html"), "--samples", "1"]) == 0
    page = (tmp_path / "r.html").read_text()
    assert len(page.encode()) < PAGE_BUDGET
    assert "<h2>Training run</h2>" in page and "gridding" in page and "rates=[2, 2, 2]" in page


def test_two_sources_are_compared_side_by_side(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = "atrous:dilated_cnn?rates=[2,2,2]", "atrous:dilated_cnn?rates=[1,2,5]"
    page = tmp_path / "cmp.html"
    assert main(["report", a, b, "-o", str(page), "--samples", "1"]) == 0
    text = page.read_text()
    assert text.count('class="atrous-report"') == 2 and "<th>never read (holes)</th><td>120</td><td>0</td>" in text
    assert len(text.encode()) < PAGE_BUDGET
    capsys.readouterr()
    assert main(["report", a, b, "--json", "--samples", "1"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert [r["support"]["holes"] for r in d["compare"]] == [120, 0] and d["same_input"] is True
    assert main(["report", a, b, a, "--json"]) == 2


def test_the_erf_batch_shrinks_to_fit_max_memory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from atrous._validate import activation_bytes
    from atrous.models import create_model

    one = 3 * activation_bytes(create_model("dilated_cnn"), (1, 1, 64, 64))
    argv = ["report", "atrous:dilated_cnn", "--input-shape", "1,1,64,64", "--samples", "4", "--json"]
    assert main([*argv, "--max-memory", str(1.5 * one / 1e9)]) == 0  # one input per pass fits, four do not
    assert json.loads(capsys.readouterr().out)["erf"]["samples"] == 4
    assert main([*argv, "--max-memory", str(0.5 * one / 1e9)]) == 2
    err = capsys.readouterr().err
    assert "--input-shape" in err and "1,1,64,64" in err and len(err.strip().splitlines()) == 1


def test_terminal_and_json_quote_the_gaussian_only_where_it_describes_the_erf(
        capsys: pytest.CaptureFixture[str]) -> None:
    """A 1x1 network's ERF is one pixel: its Gaussian is degenerate, so neither the JSON verdict nor the terminal
    quotes σ; a causal TCN gets its one-sided lags instead; a dilated stack keeps its Gaussian (the context
    module, identity-initialised, is a spike too)."""
    from torch import nn

    from atrous.cli.report_cmd import render

    spike = collect(nn.Sequential(nn.Conv2d(1, 4, 1), nn.ReLU(), nn.Conv2d(4, 1, 1)), (1, 1, 16, 16), samples=2)
    d = spike.as_dict()
    assert d["erf"]["gaussian_ok"] is False and d["erf"]["causal"] is False
    assert all(why and "below half a sample" in why for why in d["erf"]["gaussian_degenerate"])
    line = next(ln for ln in render(d, "spike", (1, 1, 16, 16)).splitlines() if ln.startswith("ERF "))
    assert "sigma" not in line and "95% mass width 1x1; no Gaussian quoted (degenerate fit: σ" in line

    assert main(["report", "atrous:tcn", "--json", "--samples", "2"]) == 0
    tcn = json.loads(capsys.readouterr().out)
    erf = tcn["erf"]
    assert erf["causal"] is True and erf["gaussian_ok"] is False
    assert 0 <= erf["lags"]["lag50"] <= erf["lags"]["lag95"] <= tcn["rf"]["lookback"][0]
    line = next(ln for ln in render(tcn, "atrous:tcn", (1, 1, 128)).splitlines() if ln.startswith("ERF "))
    assert "one-sided: mass-weighted lag" in line and "sigma" not in line

    assert main(["report", "atrous:dilated_cnn", "--json", "--samples", "2"]) == 0
    wide = json.loads(capsys.readouterr().out)
    assert wide["erf"]["gaussian_ok"] is True and wide["erf"]["gaussian_degenerate"] == [None, None]
    line = next(ln for ln in render(wide, "atrous:dilated_cnn", (1, 1, 41, 41)).splitlines() if ln.startswith("ERF "))
    assert line.split()[1] == "sigma"
