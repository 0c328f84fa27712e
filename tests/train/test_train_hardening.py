"""`atrous train` against bad numbers, divergence, lost files and silent non-exact resumes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from atrous.cli.main import main
from atrous.train import load_checkpoint

TINY = ["adding", "--length", "12", "--train-size", "32", "--test-size", "8", "--batch-size", "8",
        "--model-arg", "channels=4,4", "--model-arg", "kernel_size=2", "-q"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["train", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("extra", "match"), [
    (["--lr", "inf"], "train: --lr must be a finite number > 0, got inf"),
    (["--lr", "nan"], "train: --lr must be a finite number > 0, got nan"),
    (["--clip", "nan"], "train: --clip must be a finite number >= 0, got nan"),
    (["--stop-after", "0"], "train: --stop-after must be an int in 1..1000000000, got 0"),
    (["--stop-after", "-1"], "train: --stop-after must be an int in 1..1000000000, got -1"),
    (["--seed", str(10**30)], "train: --seed must be an int in 0..9223372036854775807"),
    (["--threads", "1000000"], "train: --threads must be an int in 1.."),
    (["--max-memory", "inf"], "train: --max-memory must be a finite number > 0, got inf"),
    (["--train-size", "1000000000"], "train: --train-size must need at most 2 GB of memory, got 1000000000"),
    (["--length", "1000000000"], "train: --length must need at most 2 GB of memory, got 1000000000"),
    (["--model-arg", "channels=1000000,1000000"], "train: --model-arg must need at most 2 GB of memory"),
    (["--model-arg", "channels=0,4"], "create_model('tcn'): channels must be a positive int, got 0"),
])
def test_bad_numbers_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str],
                                  match: str) -> None:
    code, out, err = run(capsys, *TINY, "--out", str(tmp_path / "run"), *extra)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and match in err, err
    assert not (tmp_path / "run" / "last.pt").exists()


def test_out_that_is_a_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "f").write_text("x")
    code, _, err = run(capsys, *TINY, "--out", str(tmp_path / "f" / "run"))
    assert code == 2 and "--out must be a folder this process can write" in err


def test_a_diverging_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert run(capsys, *TINY, "--out", str(out), "--steps", "2")[0] == 0
    good = load_checkpoint(out / "last.pt")
    code, _, err = run(capsys, *TINY, "--out", str(tmp_path / "new"), "--lr", "1e30", "--init-from", str(out))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "the loss must stay finite, got" in err and "no checkpoint was saved yet" in err
    assert not (tmp_path / "new" / "last.pt").exists()
    # a run that diverges after its first checkpoint keeps it untouched
    code, _, err = run(capsys, *TINY, "--out", str(tmp_path / "late"), "--lr", "1e30", "--checkpoint-every", "1",
                       "--optimizer", "sgd", "--init-from", str(out))
    assert code == 2 and "the loss must stay finite" in err
    if (tmp_path / "late" / "last.pt").exists():
        kept = load_checkpoint(tmp_path / "late" / "last.pt")
        assert all(torch.isfinite(t).all() for t in kept["state_dict"].values())
        assert "keeps the last good checkpoint" in err
    assert all(torch.isfinite(t).all() for t in good["state_dict"].values())


def test_resume_restores_the_thread_count_without_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    whole, split = tmp_path / "whole", tmp_path / "split"
    assert run(capsys, *TINY, "--out", str(whole), "--steps", "6", "--threads", "2")[0] == 0
    assert run(capsys, *TINY, "--out", str(split), "--steps", "6", "--threads", "2", "--stop-after", "3")[0] == 0
    assert torch.get_num_threads() == 1  # fit restored the caller's count (the train tests run on one thread)
    seen: list[int] = []
    real = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: (seen.append(n), real(n))[1])
    assert run(capsys, "--resume", str(split), "-q")[0] == 0  # no --threads given
    assert seen and seen[0] == 2
    a, b = load_checkpoint(whole / "last.pt"), load_checkpoint(split / "last.pt")
    assert a["config"]["threads"] == b["config"]["threads"] == 2 and b["progress"]["step"] == 6
    assert all(torch.equal(x, y) for x, y in zip(a["state_dict"].values(), b["state_dict"].values(), strict=True))
    code, _, err = run(capsys, "--resume", str(split), "--threads", "1", "--steps", "7", "-q")
    assert code == 2 and "threads must match the run being resumed (2), got 1" in err


def test_stale_temporaries_are_removed_and_a_failed_save_keeps_the_old_checkpoint(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import atrous._files as files

    out = tmp_path / "run"
    assert run(capsys, *TINY, "--out", str(out), "--steps", "4", "--stop-after", "2")[0] == 0
    stale = out / ".last.pt.999999999.tmp"  # a pid that cannot be running
    stale.write_bytes(b"\0" * 1000)
    before = (out / "last.pt").read_bytes()

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full_disk)
    code, _, err = run(capsys, "--resume", str(out), "-q")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "No space left on device" in err
    assert "the previous one is unchanged" in err
    assert not stale.exists() and (out / "last.pt").read_bytes() == before
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    monkeypatch.undo()
    assert run(capsys, "--resume", str(out), "-q")[0] == 0


def test_resume_without_metrics_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert run(capsys, *TINY, "--out", str(out), "--steps", "4", "--stop-after", "2")[0] == 0
    (out / "metrics.jsonl").unlink()
    code, _, err = run(capsys, "--resume", str(out), "-q")
    assert code == 2 and "metrics.jsonl' must exist and be writable to resume the run" in err


@pytest.mark.parametrize("content", [b"", b"not a checkpoint", b"PK\x03\x04"])
def test_resume_from_a_broken_checkpoint_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     content: bytes) -> None:
    (tmp_path / "last.pt").write_bytes(content)
    code, _, err = run(capsys, "--resume", str(tmp_path), "-q")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "checkpoint must be a file written by atrous" in err
