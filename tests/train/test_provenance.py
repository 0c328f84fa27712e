"""`atrous train` records the commit and dirty state of the code it ran, at start and at every resume."""

from __future__ import annotations

import json
import subprocess

import pytest
from _train_runs import tiny

from atrous.cli.main import main
from atrous.train.provenance import git_state, read_sources, require_clean


def _git(folder, *args):
    subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True)


def test_git_state_of_a_checkout(tmp_path):
    assert git_state(tmp_path) == {"commit": None, "dirty": None, "changed": [], "n_changed": 0}
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("1\n")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    clean = git_state(tmp_path)
    assert len(clean["commit"]) == 40 and clean["dirty"] is False and clean["n_changed"] == 0
    (tmp_path / "a.txt").write_text("2\n")
    dirty = git_state(tmp_path)
    assert dirty["commit"] == clean["commit"] and dirty["dirty"] is True
    assert dirty["n_changed"] == 1 and dirty["changed"][0].endswith("a.txt")


def test_train_records_start_and_resume(capsys, tmp_path):
    out = tmp_path / "run"
    base = ["train", *tiny("adding"), "--device", "cpu", "--seed", "0", "--out", str(out), "--json"]
    assert main([*base, "--steps", "4", "--epochs", "1"]) == 0
    assert main(["train", "--resume", str(out), "--epochs", "2", "--json"]) == 0
    capsys.readouterr()
    lines = read_sources(out)
    assert [(r["event"], r["step"]) for r in lines] == [("start", 0), ("resume", 4)]
    assert all(set(r) >= {"commit", "dirty", "torch", "time"} for r in lines)
    assert json.loads((out / "source.jsonl").read_text().splitlines()[0]) == lines[0]


def test_result_scripts_refuse_a_dirty_checkout(tmp_path, capsys):
    _git(tmp_path, "init", "-q")
    (tmp_path / "a.txt").write_text("1\n")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    assert require_clean("plot.py", ["x"], tmp_path)["dirty"] is False
    (tmp_path / "a.txt").write_text("2\n")
    with pytest.raises(SystemExit) as stop:
        require_clean("plot.py", ["--out", "x"], tmp_path)
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("plot.py: the checkout must be committed") and "--allow-dirty" in err and "a.txt" in err
    argv = ["--allow-dirty", "--out", "x"]
    assert require_clean("plot.py", argv, tmp_path)["dirty"] is True and argv == ["--out", "x"]
