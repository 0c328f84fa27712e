"""Faults from outside: ``kill -9`` in the middle of a checkpoint or report write, and a disk that fills up.

Each must leave the previous file whole, say what happened in one line, and leave nothing behind that the next
start does not clean up; a run interrupted either way and resumed ends with the weights of a run that never
stopped. The kills are real (a child process, SIGKILL) at a known point: the child's fsync of the file being
written waits after creating a marker, so the kill lands after the temporary file's bytes are written and before
the rename. The full disk is real where the test may mount a small tmpfs in its own mount namespace
(``unshare``); the patched-write tests in tests/cli and tests/train cover the same paths everywhere else.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from atrous.cli.main import main
from atrous.train import load_checkpoint

HERE = Path(__file__).parent
CHILD = HERE / "_fault_child.py"
sys.path.insert(0, str(HERE))
from _fault_child import REPORT, TINY  # noqa: E402


def _env() -> dict[str, str]:
    src = str(HERE.parent / "src")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([src, str(HERE), os.environ.get("PYTHONPATH", "")])}


def _kill_during_write(tmp_path: Path, name: str, skip: int, argv: list[str]) -> str:
    """Start ``atrous ARGV`` in a child, wait until it is inside the (skip+1)-th write of NAME, ``kill -9`` it;
    returns the temporary file it was writing."""
    marker = tmp_path / "marker"
    child = subprocess.Popen([sys.executable, str(CHILD), "slow", str(marker), name, str(skip), *argv],
                             env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert marker.exists(), (child.poll(), child.stderr.read().decode() if child.poll() is not None else "")
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait(30) == -signal.SIGKILL
    child.stderr.close()
    return marker.read_text()


def test_kill_9_during_a_checkpoint_write_then_resume_is_exact(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    run, whole = tmp_path / "run", tmp_path / "whole"
    argv = ["train", *TINY, "--out", str(run), "--steps", "6", "--checkpoint-every", "1"]
    tmp = Path(_kill_during_write(tmp_path, "last.pt", 2, argv))  # killed while saving step 3
    assert tmp.exists() and tmp.parent == run and tmp.stat().st_size > 0  # the killed write's temporary
    kept = load_checkpoint(run / "last.pt")
    assert kept["progress"]["step"] == 2  # the previous checkpoint, whole
    assert main(["train", "--resume", str(run)]) == 0  # no option repeated: threads come from the run
    assert not tmp.exists() and not [p for p in run.iterdir() if p.name.endswith(".tmp")]
    assert main(["train", *TINY, "--out", str(whole), "--steps", "6"]) == 0
    capsys.readouterr()
    a, b = load_checkpoint(whole / "last.pt"), load_checkpoint(run / "last.pt")
    assert b["progress"]["step"] == 6
    assert all(torch.equal(x, y) for x, y in zip(a["state_dict"].values(), b["state_dict"].values(), strict=True))
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    want = [json.loads(x) for x in (whole / "metrics.jsonl").read_text().splitlines()]
    assert [{k: v for k, v in r.items() if k != "time"} for r in lines] == \
        [{k: v for k, v in r.items() if k != "time"} for r in want]


def test_kill_9_during_a_report_write_keeps_the_old_report(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "r.html"
    assert main([*REPORT, "-o", str(page)]) == 0
    before = page.read_bytes()
    tmp = Path(_kill_during_write(tmp_path, "r.html", 0, [*REPORT, "-o", str(page), "--seed", "3"]))
    assert page.read_bytes() == before and tmp.exists()  # the old report, whole; the killed write's temporary
    assert main([*REPORT, "-o", str(page)]) == 0  # the next write of the page removes what the kill left
    out = capsys.readouterr().out
    assert "replaced the previous report" in out and not tmp.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["marker", "r.html"]


def _can_mount_tmpfs() -> bool:
    if shutil.which("unshare") is None or not sys.platform.startswith("linux"):
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt 2>/dev/null || "
                            "mount -t tmpfs -o size=1m tmpfs /tmp"], capture_output=True, timeout=30)
    return probe.returncode == 0


@pytest.mark.skipif(not _can_mount_tmpfs(), reason="no user namespace in which to mount a small tmpfs")
def test_a_full_disk_loses_no_file_and_resume_is_exact(tmp_path: Path) -> None:
    folder = tmp_path / "disk"
    folder.mkdir()
    script = (f"mount -t tmpfs -o size=4m tmpfs {folder} && cd {folder} && "
              f"exec {sys.executable} {CHILD} full {folder}")
    done = subprocess.run(["unshare", "-rm", "sh", "-c", script], env=_env(), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    r = json.loads(done.stdout)
    for key in ("first", "report", "resume_after", "report_after", "whole"):
        assert r[key]["code"] == 0, (key, r[key]["err"])
    for key, match in [("resume_full", "metrics.jsonl' could not be written (No space left on device); last.pt "
                                       "keeps the run up to its last checkpoint"),
                       ("report_full", "cannot be written (No space left on device); the previous file is "
                                       "unchanged"),
                       ("resume_checkpoint_full", "could not be written (No space left on device)")]:
        err = r[key]["err"]
        assert r[key]["code"] == 2 and len(err.strip().splitlines()) == 1 and match in err, (key, err)
    assert r["last_kept"] and r["report_kept"] and r["leftovers"] == []
    assert r["final_step"] == 8 and r["exact"]
