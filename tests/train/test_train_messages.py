"""The training library names the Python argument (``lr``, ``data['image']``, ``model_kwargs``); ``atrous train``
gives the same error with the flag a command-line user sets (``--lr``, ``--data-arg image``, ``--model-arg``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from atrous.cli.main import main
from atrous.errors import AtrousError
from atrous.train import TrainConfig, fit

SMALL = {"model_kwargs": {"channels": [4, 4], "kernel_size": 2}, "batch_size": 8,
         "data": {"length": 12, "train_size": 32, "test_size": 8}}
SMALL_ARGS = ["--model-arg", "channels=4,4", "--model-arg", "kernel_size=2", "--batch-size", "8", "--length", "12",
              "--train-size", "32", "--test-size", "8"]
GB2 = 2 * 10**9


def _config(task: str = "adding", **changes: Any) -> TrainConfig:
    values: dict[str, Any] = {**SMALL, **changes}
    values["data"] = {**SMALL["data"], **changes.get("data", {})} if task == "adding" else changes.get("data", {})
    return TrainConfig(task, **values)


# (TrainConfig fields, fit keywords, the Python message; command-line arguments, the command-line message)
CASES = [
    ({"lr": float("inf")}, {}, "TrainConfig: lr must be a finite number > 0, got inf",
     ["--lr", "inf"], "train: --lr must be a finite number > 0, got inf"),
    ({"clip": float("nan")}, {}, "TrainConfig: clip must be a finite number >= 0, got nan; 0 turns clipping off",
     ["--clip", "nan"], "train: --clip must be a finite number >= 0, got nan; 0 turns clipping off"),
    ({"optimizer": "lbfgs"}, {}, "TrainConfig: optimizer must be one of adam, rmsprop, sgd, got 'lbfgs'",
     ["--optimizer", "lbfgs"], "train: --optimizer must be one of adam, rmsprop, sgd, got 'lbfgs'"),
    ({"epochs": 0}, {}, "TrainConfig: epochs must be an int in 1..1000000000, got 0",
     ["--epochs", "0"], "train: --epochs must be an int in 1..1000000000, got 0"),
    ({"model_kwargs": {"levels": 2}}, {},
     "TrainConfig: model_kwargs key must be an argument of 'tcn' (in_channels, channels, kernel_size, ",
     ["--model-arg", "levels=2"],
     "train: --model-arg must be an argument of 'tcn' (in_channels, channels, kernel_size, "),
    ({"model": "resnet"}, {}, "TrainConfig: model must be one of ",
     ["--model", "resnet"], "train: --model must be one of "),
    ({"data": {"length": 0}}, {}, "TrainConfig: data['length'] must be an int in 1..1000000000, got 0",
     ["--length", "0"], "train: --length must be an int in 1..1000000000, got 0"),
    ({"data": {"length": 10**9}}, {"max_memory": GB2},
     "TrainConfig: data['length'] must need at most 2 GB of memory, got 1000000000 ",
     ["--length", str(10**9)], "train: --length must need at most 2 GB of memory, got 1000000000 "),
    ({"data": {"train_size": 10**9}}, {"max_memory": GB2},
     "TrainConfig: data['train_size'] must need at most 2 GB of memory, got 1000000000 (estimated 48 GB); lower "
     "it or raise max_memory",
     ["--train-size", str(10**9)], "train: --train-size must need at most 2 GB of memory, got 1000000000 "
     "(estimated 48 GB); lower it or raise --max-memory (GB)"),
    ({"model_kwargs": {"channels": [10**6, 10**6]}}, {"max_memory": GB2},
     "TrainConfig: model_kwargs must need at most 2 GB of memory, got {'channels': [1000000, 1000000]",
     ["--model-arg", "channels=1000000,1000000"],
     "train: --model-arg must need at most 2 GB of memory, got {'channels': [1000000, 1000000]"),
    ({"init_from": "/nonexistent/run"}, {},
     "TrainConfig: init_from must be a checkpoint file or a run folder holding last.pt, got '/nonexistent/run'",
     ["--init-from", "/nonexistent/run"],
     "train: --init-from must be a checkpoint file or a run folder holding last.pt, got '/nonexistent/run'"),
    ({}, {"stop_after": 0}, "fit: stop_after must be an int in 1..1000000000, got 0",
     ["--stop-after", "0"], "train: --stop-after must be an int in 1..1000000000, got 0"),
    ({}, {"device": "nope"}, "fit: device must be a torch device such as cpu, cuda or cuda:1 (or auto), got 'nope'",
     ["--device", "nope"], "train: --device must be a torch device such as cpu, cuda or cuda:1 (or auto), got 'nope'"),
    ({}, {"max_memory": -1}, "fit: max_memory must be a finite number > 0, got -1",
     ["--max-memory", "-1"], "train: --max-memory must be a finite number > 0, got -1.0"),
]


def _python_error(tmp_path: Path, fields: dict[str, Any], keywords: dict[str, Any], task: str = "adding") -> str:
    with pytest.raises(AtrousError) as err:
        fit(_config(task, **fields), tmp_path / "api", **{"device": "cpu", "progress": False, **keywords})
    return str(err.value)


def _cli_error(capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str]) -> str:
    assert main(["train", *argv, "--out", str(tmp_path / "cli"), "-q"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("atrous: error: "), err
    return err.removeprefix("atrous: error: ")


@pytest.mark.parametrize(("fields", "keywords", "python", "argv", "cli"), CASES, ids=[c[3][0] for c in CASES])
def test_the_api_names_the_argument_and_the_cli_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         fields: dict[str, Any], keywords: dict[str, Any],
                                                         python: str, argv: list[str], cli: str) -> None:
    said = _python_error(tmp_path, fields, keywords)
    assert said.startswith(python) and "--" not in said, said
    shown = _cli_error(capsys, tmp_path, ["adding", *SMALL_ARGS, *argv])
    assert shown.startswith(cli), shown
    assert not (tmp_path / "api" / "last.pt").exists() and not (tmp_path / "cli" / "last.pt").exists()


def test_data_options_without_a_flag_are_named_by_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    said = _python_error(tmp_path, {"data": {"image": 100000}}, {"max_memory": GB2}, task="lanes")
    assert said.startswith("TrainConfig: data['image'] must need at most 2 GB of memory, got 100000 (estimated "
                           "680 GB); that is what generating one sample needs; lower it or raise max_memory"), said
    assert "--" not in said
    shown = _cli_error(capsys, tmp_path, ["lanes", "--data-arg", "image=100000"])
    assert shown.startswith("train: --data-arg image must need at most 2 GB of memory, got 100000 (estimated 680 "
                            "GB); that is what generating one sample needs; lower it or raise --max-memory (GB)")
    said = _python_error(tmp_path, {"data": {"colour": 1}}, {}, task="lanes")
    assert said.startswith("TrainConfig: data option must be one of data_seed, ") and "got 'colour'" in said
    shown = _cli_error(capsys, tmp_path, ["lanes", "--data-arg", "colour=1"])
    assert shown.startswith("train: data option must be one of data_seed, ") and "got 'colour'" in shown


def test_the_task_is_a_field_in_python_and_TASK_on_the_command_line(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(AtrousError, match=r"^TrainConfig: task must be one of adding, .*, got 'nope'$"):
        TrainConfig("nope").resolved()
    assert _cli_error(capsys, tmp_path, ["nope"]).startswith("train: TASK must be one of adding, ")


def test_advice_after_a_run_names_arguments_in_python_and_flags_on_the_command_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    fit(_config(steps=2), run, device="cpu", progress=False)
    with pytest.raises(AtrousError) as err:
        fit(_config(steps=2), run, device="cpu", progress=False)
    assert str(err.value) == (f"fit: out must not hold a run already, got {str(run)!r}; resume it with "
                              f"out={str(run)!r}, resume=True or choose another out folder")
    assert main(["train", "adding", *SMALL_ARGS, "--steps", "2", "--out", str(run), "-q"]) == 2
    assert capsys.readouterr().err == (f"atrous: error: train: --out must not hold a run already, got {str(run)!r}; "
                                       f"resume it with --resume {run} or choose another --out\n")
    # a loss that overflows: the advice names init_from and lr / clip, or their flags
    kept = run / "last.pt"
    with pytest.raises(AtrousError) as err:
        fit(_config(steps=4, lr=1e30, init_from=str(run)), tmp_path / "new", device="cpu", progress=False)
    assert "no checkpoint was saved yet; lower lr or set clip" in str(err.value) and "--" not in str(err.value)
    with pytest.raises(AtrousError) as err:
        fit(_config(steps=4, lr=1e30, init_from=str(run), checkpoint_every=1), tmp_path / "new2", device="cpu",
            progress=False)
    new = tmp_path / "new2" / "last.pt"
    assert f"start a new run from it with init_from={str(new)!r} and a lower lr or a clip" in str(err.value)
    argv = ["train", "adding", *SMALL_ARGS, "--steps", "4", "--lr", "1e30", "--init-from", str(kept),
            "--checkpoint-every", "1", "-q", "--out", str(tmp_path / "new3")]
    assert main(argv) == 2
    err_line = capsys.readouterr().err
    new = tmp_path / "new3" / "last.pt"
    assert f"start a new run from it with --init-from {str(new)!r} and a lower --lr or a --clip\n" in err_line


def test_resume_names_the_option_that_differs(tmp_path: Path) -> None:
    saved = _config().resolved()
    with pytest.raises(AtrousError, match=r"^TrainConfig.resume_with: lr must match the run being resumed "
                                          r"\(0\.002\), got 0\.5; start a new run in another out folder"):
        saved.resume_with({"lr": 0.5})
