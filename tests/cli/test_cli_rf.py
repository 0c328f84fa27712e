"""`atrous rf` and `atrous schedule` called the way a user calls them: main([...]) -> exit code, stdout."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from atrous.cli.main import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_rf_table(capsys):
    code, out, err = run(capsys, "rf", "--kernel", "3", "--dilation", "1,2,4")
    assert code == 0 and err == ""
    rows = [line.split() for line in out.splitlines() if line.startswith("layer")][1:]
    assert [r[5] for r in rows] == ["3", "7", "15"]  # the RF column
    assert "15 of 15 inputs read" in out and "HDC ok" in out


def test_rf_json_contract(capsys):
    code, out, _ = run(capsys, "rf", "-k", "3", "-d", "2,2,2", "--dims", "2", "--json")
    assert code == 0
    obj = json.loads(out)
    assert obj["rf"] == {**obj["rf"], "size": [13, 13], "stride": [1, 1], "offset": [0, 0], "global": False}
    assert obj["support"]["taps"] == 49 and obj["support"]["holes"] == 120
    assert obj["support"]["coverage"] == pytest.approx(49 / 169)
    assert obj["gridding"]["hdc_ok"] is False and obj["gridding"]["messages"]
    assert [x["rf"] for x in obj["layers"]] == [[5, 5], [9, 9], [13, 13]]
    assert {"name", "kernel", "stride", "dilation", "rf", "jump"} <= set(obj["layers"][0])


def test_rf_causal_wavenet(capsys):
    code, out, _ = run(capsys, "rf", "-k", "2", "-d", ",".join(str(2**i) for i in range(10)), "--causal", "--json")
    obj = json.loads(out)
    assert code == 0 and obj["rf"]["size"] == [1024] and obj["rf"]["lookahead"] == [0]


def test_rf_strides_pooling_and_input_size(capsys):
    code, out, _ = run(capsys, "rf", "-k", "3,2,3", "-s", "1,2,1", "--kind", "conv,maxpool,conv",
                       "--padding", "1,0,1", "--input-size", "32", "--json")
    obj = json.loads(out)
    # 3 -> +1 (pool k2 at jump 1) = 4 -> +2*2 (k3 at jump 2) = 8
    assert code == 0 and obj["rf"]["size"] == [8] and obj["rf"]["stride"] == [2]
    assert obj["output_length"] == [16]


def test_rf_branches_union(capsys):
    code, out, _ = run(capsys, "rf", "--dims", "2", "--branches", "6,12,18", "--image-pool", "--input-size", "65",
                       "--json")
    obj = json.loads(out)
    assert code == 0 and obj["rf"]["global"] is True and obj["rf"]["size"] == [37, 37]
    assert obj["support"]["taps"] == 25  # the union of three 3x3 grids sharing their centre


def test_rf_preset_and_holes(capsys):
    code, out, _ = run(capsys, "rf", "--preset", "context-module")
    assert code == 0 and "67x67" in out
    code, out, _ = run(capsys, "rf", "-k", "3", "-d", "2,2,2", "--holes")
    assert "holes, axis 0     -5, -3, -1, 1, 3, 5" in out


def test_schedule(capsys):
    code, out, _ = run(capsys, "schedule", "--rf", "1024", "--kernel", "2", "--json")
    obj = json.loads(out)
    assert code == 0 and obj["rates"] == [2**i for i in range(10)] and obj["rf"] == 1024 and obj["holes"] == 0
    code, out, _ = run(capsys, "schedule", "--rf", "1024", "--kernel", "3")
    assert code == 0 and "holes            0" in out


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["rf", "--dilation", "0"], "atrous rf: --dilation must be a positive int, got 0"),
        (["rf", "--kernel", "-3"], "atrous rf: --kernel must be a positive int, got -3"),
        (["rf", "--stride", "0"], "atrous rf: --stride must be a positive int, got 0"),
        (["rf", "--padding", "full"], "padding must be an int, a (left, right) pair or one of same, valid, causal"),
        (["rf"], "a stack must be given"),
        (["rf", "--dilation", "1,,2"], "atrous rf: --dilation must be a comma-separated list without empty items"),
        (["rf", "--dilation", "1,x"], "--dilation must be a comma-separated list of positive ints, got '1,x'"),
        (["rf", "-k", "3,3", "-d", "1,2,4"], "--kernel must have one value or one per layer (3"),
        (["rf", "--preset", "tcn", "--dilation", "2"], "--preset cannot be combined with --dilation"),
        (["rf", "-k", "3", "-d", "8", "--padding", "valid", "--input-size", "5"], "input length must be at least 17"),
        (["schedule", "--rf", "100", "--kernel", "1"], "kernel"),
        (["schedule"], "the following arguments are required: --rf"),
        (["nope"], "invalid choice: 'nope'"),
    ],
)
def test_bad_input_one_line_exit_2(capsys, argv, match):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and match in err
    assert "Traceback" not in err


def test_console_script_version_and_help():
    exe = [sys.executable, "-m", "atrous"]
    v = subprocess.run([*exe, "--version"], capture_output=True, text=True, check=True)
    assert v.stdout.startswith("atrous ")
    h = subprocess.run([*exe, "rf", "--help"], capture_output=True, text=True, check=True)
    assert "examples:" in h.stdout and "--dilation" in h.stdout
