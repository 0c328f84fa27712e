"""experiments/bai2018: collect.py copies a run folder into the store with its record, and summarize.py counts
seeds, paper-met and plateau escapes from the per-epoch test metrics."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _module(name):
    spec = importlib.util.spec_from_file_location(f"bai2018_{name}", ROOT / "experiments" / "bai2018" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(folder: Path, seed: int, curve: list[float], epochs: int, finished: bool, task: str = "adding",
         metric: str = "test_mse", lr: float = 2e-3) -> None:
    folder.mkdir(parents=True)
    config = {"task": task, "model": "tcn", "epochs": epochs, "steps": None, "seed": seed, "batch_size": 32, "lr": lr,
              "data": {"length": 600, "train_size": 320, "test_size": 100, "data_seed": seed}}
    (folder / "config.json").write_text(json.dumps(config))
    lines = [{"kind": "eval", "step": 10 * (e + 1), "epoch": e + 1, metric: v} for e, v in enumerate(curve)]
    (folder / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (folder / "source.jsonl").write_text(json.dumps({"event": "start", "step": 0, "commit": "a" * 40,
                                                     "dirty": False}) + "\n")
    wall = [{"event": "start", "start_s": 100}] + ([{"event": "end", "end_s": 160}] if finished else [])
    (folder / "wall.jsonl").write_text("".join(json.dumps(x) + "\n" for x in wall))
    if finished:
        (folder / "summary.json").write_text(json.dumps({"status": "finished", "step": 10 * epochs,
                                                         "steps": 10 * epochs, "params": 70369}))
    (folder / "last.pt").write_bytes(b"not copied")


def test_collect_and_summarize(tmp_path, capsys):
    collect, summarize = _module("collect"), _module("summarize")
    runs, store = tmp_path / "runs", tmp_path / "store"
    _run(runs / "adding-tcn-seed0", 0, [0.17, 0.17, 4e-5], 3, True)  # escapes, meets 5.8e-5
    _run(runs / "adding-tcn-seed1", 1, [0.17, 0.03, 9e-5], 3, True)  # escapes, misses
    _run(runs / "adding-tcn-seed2", 2, [0.17], 3, False)  # still running
    assert collect.main(["--runs", str(runs), "--store", str(store)]) == 0
    assert sorted(p.name for p in store.iterdir()) == ["adding-tcn-seed0", "adding-tcn-seed1"]
    assert not (store / "adding-tcn-seed0" / "last.pt").exists()
    record = json.loads((store / "adding-tcn-seed0" / "run.json").read_text())
    assert record["status"] == "finished" and record["wall_s"] == 60 and record["dirty"] is False
    assert collect.main(["--runs", str(runs), "--store", str(store), "--partial"]) == 0
    partial = json.loads((store / "adding-tcn-seed2" / "run.json").read_text())
    assert partial["status"] == "partial" and partial["running_when_collected"] and partial["steps"] == 30

    capsys.readouterr()
    assert summarize.main(["--store", str(store), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    (group,) = out["groups"]
    assert group["seeds"] == "2 (0, 1)" and group["paper met at the end"] == "1 of 2"
    assert group["left plateau"] == "2 of 2" and group["final, [min, max]"] == "[4.00e-05, 9.00e-05]"
    assert summarize.main(["--store", str(store), "--markdown"]) == 0
    assert "PARTIAL (1 of 3 epochs)" in capsys.readouterr().out


def test_summarize_help_and_a_missing_store(tmp_path, capsys):
    summarize = _module("summarize")
    with pytest.raises(SystemExit) as done:
        summarize.main(["--help"])
    assert done.value.code == 0 and "results store" in capsys.readouterr().out
    assert summarize.main(["--store", str(tmp_path / "none")]) == 2
    assert "--store must be a folder" in capsys.readouterr().err


def test_the_digits_sweep_seed_is_grouped_apart_and_tasks_filter(tmp_path, capsys):
    collect, summarize = _module("collect"), _module("summarize")
    runs, store = tmp_path / "runs", tmp_path / "store"
    _run(runs / "adding-tcn-seed0", 0, [0.17, 4e-5], 2, True)
    for seed, acc in ((0, 0.99), (1, 0.97), (2, 0.95)):  # seed 0 chose the rate; 1 and 2 are the comparison
        _run(runs / f"digits-tcn-seed{seed}-lr5e-3", seed, [0.5, acc], 2, True, "digits", "test_accuracy", 5e-3)
    assert collect.main(["--runs", str(runs), "--store", str(store)]) == 0
    capsys.readouterr()
    assert summarize.main(["--store", str(store), "--json", "--task", "digits"]) == 0
    groups = json.loads(capsys.readouterr().out)["groups"]
    assert [(g["task"], g["seeds"], g["budget"], g["final, mean"]) for g in groups] == [
        ("digits", "2 (1, 2)", "2 epochs", "0.96"), ("digits", "1 (0)", "2 epochs, lr sweep", "0.99")]


def test_collect_counts_a_killed_process_and_leaves_unchanged_runs(tmp_path, capsys):
    """A run killed without an end line and resumed: its first process counts up to its last logged step, an
    evaluation found twice counts once, and collecting again leaves the stored run (and its date) alone."""
    collect, summarize = _module("collect"), _module("summarize")
    runs, store = tmp_path / "runs", tmp_path / "store"
    run = runs / "adding-tcn-seed0"
    _run(run, 0, [0.17, 0.17, 4e-5], 3, True)
    lines = [{"kind": "train", "step": 5, "epoch": 1, "loss": 1.0, "time": 40.0},
             {"kind": "eval", "step": 10, "epoch": 1, "test_mse": 0.17},
             {"kind": "train", "step": 15, "epoch": 2, "loss": 1.0, "time": 52.5},  # the killed process's last line
             {"kind": "eval", "step": 10, "epoch": 1, "test_mse": 0.17},  # the same epoch twice
             {"kind": "train", "step": 15, "epoch": 2, "loss": 1.0, "time": 7.0},
             {"kind": "eval", "step": 20, "epoch": 2, "test_mse": 0.17},
             {"kind": "eval", "step": 30, "epoch": 3, "test_mse": 4e-5}]
    (run / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    wall = [{"event": "start", "start_s": 100}, {"event": "resume", "start_s": 1000}, {"event": "end", "end_s": 1030}]
    (run / "wall.jsonl").write_text("".join(json.dumps(x) + "\n" for x in wall))
    assert collect.main(["--runs", str(runs), "--store", str(store)]) == 0
    record = json.loads((store / run.name / "run.json").read_text())
    assert record["killed_and_resumed"] == 1 and record["epochs_done"] == 3
    assert record["wall_s"] == 52.5 + 30  # the killed process to its last line, the resumed one start to end
    capsys.readouterr()
    assert summarize.main(["--store", str(store), "--json", "--curves"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["runs"][0]["curve"] == [[1, 0.17], [2, 0.17], [3, 4e-5]]

    stamped = (store / run.name / "run.json").read_text()
    (store / run.name / "run.json").write_text(stamped.replace(record["collected"], "2000-01-01T00:00:00Z"))
    assert collect.main(["--runs", str(runs), "--store", str(store)]) == 0
    assert "unchanged adding-tcn-seed0" in capsys.readouterr().out
    assert "2000-01-01T00:00:00Z" in (store / run.name / "run.json").read_text()
