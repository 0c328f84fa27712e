"""`atrous analyze` the way a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from atrous.cli.main import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_analyze_vgg16_table_and_classic_value(capsys):
    code, out, err = run(capsys, "analyze", "torchvision:vgg16", "--node", "features.30")
    assert code == 0 and err == ""
    assert "features.30" in out and "receptive field  212x212, stride 32x32" in out


def test_analyze_json_contract_with_last_spatial(capsys):
    code, out, _ = run(capsys, "analyze", "torchvision:resnet18", "--json")
    obj = json.loads(out)
    assert code == 0 and obj["rf"]["global"] is True and isinstance(obj["aligned"], bool)
    assert obj["last_spatial"]["rf"]["size"] == [435, 435] and obj["last_spatial"]["rf"]["stride"] == [32, 32]
    assert obj["nodes"] and {"name", "kernel", "stride", "dilation", "rf", "jump"} <= set(obj["nodes"][0])


def test_analyze_keyword_arguments_and_submodule(capsys):
    code, out, _ = run(capsys, "analyze", "torchvision:resnet50?replace_stride_with_dilation=[False,True,True]",
                       "--summary-only", "--json")
    assert code == 0 and json.loads(out)["last_spatial"]["rf"]["stride"] == [8, 8]
    code, out, _ = run(capsys, "analyze", "torchvision:fcn_resnet50#backbone", "--input-shape", "1,3,64,64",
                       "--json")
    obj = json.loads(out)
    assert code == 0 and obj["rf"]["stride"] == [8, 8] and obj["rf"]["global"] is False


def test_analyze_atrous_registry_and_callable(capsys):
    code, out, _ = run(capsys, "analyze", "atrous:tcn?channels=[4,4,4]", "--input-shape", "1,1,64", "--json")
    obj = json.loads(out)
    assert code == 0 and obj["rf"]["size"] == [29] and obj["rf"]["lookahead"] == [0]
    code, out, _ = run(capsys, "analyze", "torch.nn:Identity", "--input-shape", "1,1,8", "--json")
    assert code == 0 and json.loads(out)["rf"]["size"] == [1]


def test_analyze_empirical_cross_check(capsys):
    code, out, _ = run(capsys, "analyze", "atrous:spliceai", "--input-shape", "1,4,200", "--empirical")
    assert code == 0 and "empirical check  node output: matches the analysis" in out


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["analyze", "resnet18"], "SOURCE must be torchvision:NAME"),
        (["analyze", "torchvision:resnet1800"], "torchvision model must be one of"),
        (["analyze", "torchvision:resnet18", "--input-shape", "1,3,a"], "--input-shape must be batch,channels"),
        (["analyze", "torchvision:resnet18", "--node", "layer9"], "node must be a node or module name"),
        (["analyze", "torchvision:vgg16", "--input-shape", "1,3,8,8"], "input is too small for the model"),
        (["analyze", "nosuchpackage.mod:build"], "SOURCE module must be importable"),
        (["analyze", "atrous:nope"], "create_model: name must be one of"),
    ],
)
def test_analyze_bad_input_exits_2_with_one_line(capsys, argv, match):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and match in err and len(err.strip().splitlines()) == 1


def test_analyze_falls_back_to_the_measurement_and_says_why(capsys):
    """A forward pass that branches on the data cannot be traced: one line on stderr says why, and the answer is
    the gradient measurement, labelled as such (1 + 2 * (1 + 2 + 4) = 15)."""
    code = main(["analyze", "_cli_models:branchy", "--input-shape", "1,1,64", "--json"])
    out, err = capsys.readouterr()
    assert code == 0 and "no exact analysis" in err and "measuring the receptive field with gradients" in err
    data = json.loads(out)
    assert data["method"] == "empirical" and data["rf"]["size"] == [15] and data["input_shape"] == [1, 1, 64]


def test_analyze_several_outputs_and_output_flag(capsys):
    assert main(["analyze", "_cli_models:pyramid", "--input-shape", "1,1,32", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["output"] == "fine" and set(data["outputs"]) == {"fine", "coarse"}
    assert data["rf"]["size"] == [3] and any("returns 2 outputs" in n for n in data["notes"])
    assert main(["analyze", "_cli_models:pyramid", "--input-shape", "1,1,32", "--output", "coarse", "--json"]) == 0
    coarse = json.loads(capsys.readouterr().out)
    assert coarse["output"] == "coarse" and coarse["rf"]["size"] == [5] and coarse["rf"]["stride"] == [2]
    assert main(["analyze", "_cli_models:pyramid", "--input-shape", "1,1,32", "--output", "nope"]) == 2
    assert "output must be one of the model's outputs" in capsys.readouterr().err


def test_empirical_is_not_run_where_the_field_depends_on_the_input_size(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bilinear x2 upsampling with align_corners=True (14 -> 28) has a stride of 13/27, which changes as the
    measurement grows the input: the command says so, in the text and the JSON, instead of reporting a mismatch."""
    (tmp_path / "_aligned_up.py").write_text(
        "from torch import nn\n\n"
        "net = nn.Sequential(nn.Conv2d(1, 1, 3), nn.UpsamplingBilinear2d(scale_factor=2))\n"
        "plain = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Upsample(scale_factor=2))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    argv = ["analyze", "_aligned_up:net", "--input-shape", "1,1,16,16", "--empirical"]
    assert main([*argv, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["size_dependent"] and out["empirical"]["matches"] is None
    assert "depends on the input size (upsample_bilinear2d" in out["empirical"]["not_run"]
    assert main(argv) == 0
    assert "empirical check  not run: the field depends on the input size" in capsys.readouterr().out
    assert main(["analyze", "_aligned_up:plain", "--input-shape", "1,1,16,16", "--empirical", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["empirical"]["matches"] is True  # nearest x2: measured, agrees
