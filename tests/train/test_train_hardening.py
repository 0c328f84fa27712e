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
    (["--test-size", "1" + "0" * 39], "train: --test-size must be an int in 1..1000000000, got 1000000000000"),
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
    assert "best.pt' could not be written" in err and "nothing was written" in err  # the run had no best.pt yet
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


@pytest.mark.parametrize("deterministic", [False, True])
def test_resume_restores_every_setting_that_changes_the_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 deterministic: bool) -> None:
    """An interrupted run resumed with no option repeated, in a process whose settings all differ (threads,
    deterministic algorithms, default dtype, the convolution path switches, a path measurement that would now
    choose otherwise), gives the weights of the run that never stopped. (Deterministic algorithms take the plain
    convolution path, unmeasured.)"""
    from atrous.functional import _autotune, benchmark_enabled, set_benchmark

    monkeypatch.setattr(_autotune, "_MIN_WORK", 0)  # every dilated conv of the tiny TCN is measured
    monkeypatch.setattr(_autotune, "_measure", lambda names, *a, **k: {n: [1.0] for n in names})
    monkeypatch.setattr(_autotune, "_decide", lambda times: "fold2d" if "fold2d" in times else "plain")
    whole, split = tmp_path / "whole", tmp_path / "split"
    flags = ["--steps", "6", "--threads", "2", *(["--deterministic"] if deterministic else [])]
    old = set_benchmark(True)
    try:
        _autotune.clear_chosen_paths()
        assert run(capsys, *TINY, "--out", str(whole), *flags)[0] == 0
        _autotune.clear_chosen_paths()
        assert run(capsys, *TINY, "--out", str(split), *flags, "--stop-after", "3")[0] == 0
        assert not torch.are_deterministic_algorithms_enabled() and benchmark_enabled()  # the caller's, restored
        saved = load_checkpoint(split / "last.pt")
        assert set(saved["conv_paths"].values()) == (set() if deterministic else {"fold2d"})
        cfg = saved["config"]
        assert (cfg["threads"], cfg["deterministic"], cfg["dtype"], cfg["conv_benchmark"], cfg["device"]) == \
            (2, deterministic, "float32", True, "cpu")

        # a new process, as far as these settings go: nothing chosen, every switch different
        _autotune.clear_chosen_paths()
        set_benchmark(False)
        monkeypatch.setattr(_autotune, "_decide", lambda times: "plain")  # a measurement would now keep plain
        seen: list[tuple[str, object]] = []
        real_det, real_dtype = torch.use_deterministic_algorithms, torch.set_default_dtype
        monkeypatch.setattr(torch, "use_deterministic_algorithms",
                            lambda mode, **kw: (seen.append(("det", mode)), real_det(mode, **kw))[1])
        torch.set_default_dtype(torch.float64)
        real_det(not deterministic)
        try:
            monkeypatch.setattr(torch, "set_default_dtype", lambda d: (seen.append(("dtype", d)), real_dtype(d))[1])
            assert run(capsys, "--resume", str(split), "-q")[0] == 0
            assert torch.get_default_dtype() == torch.float64  # the caller's, restored
            assert torch.are_deterministic_algorithms_enabled() is not deterministic
        finally:
            real_dtype(torch.float32)
            real_det(False)
        assert seen[:2] == [("det", deterministic), ("dtype", torch.float32)]
        train_keys = [c for c in _autotune.chosen_paths() if c["backward"]]
        assert deterministic or (train_keys and all(c["path"] == "fold2d" and not c["measured"]
                                                    for c in train_keys))
    finally:
        set_benchmark(old)
        _autotune.clear_chosen_paths()
    a, b = load_checkpoint(whole / "last.pt"), load_checkpoint(split / "last.pt")
    assert b["progress"]["step"] == 6
    assert all(t.dtype == torch.float32 for t in b["state_dict"].values() if t.is_floating_point())
    assert all(torch.equal(x, y) for x, y in zip(a["state_dict"].values(), b["state_dict"].values(), strict=True))
    assert (whole / "metrics.jsonl").read_text().count("\n") == (split / "metrics.jsonl").read_text().count("\n")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_resume_refuses_a_device_it_cannot_restore(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from atrous.train.state import save_checkpoint

    out = tmp_path / "run"
    assert run(capsys, *TINY, "--out", str(out), "--steps", "4", "--stop-after", "2")[0] == 0
    code, _, err = run(capsys, "--resume", str(out), "--device", "meta", "-q")
    assert code == 2 and "--device must be a cpu device like the run being resumed" in err
    ckpt = load_checkpoint(out / "last.pt")
    ckpt["config"]["device"] = "cuda"
    save_checkpoint(out / "last.pt", {k: v for k, v in ckpt.items() if k != "format"})
    code, _, err = run(capsys, "--resume", str(out), "-q")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "the run being resumed trained on cuda and this machine has no CUDA device" in err


@pytest.mark.parametrize(("argv", "match"), [
    (["lanes", "--data-arg", "image=100000"], "--data-arg image must need at most 2 GB of memory, got 100000 "
                                              "(estimated 680 GB); that is what generating one sample needs"),
    (["nuclei", "--data-arg", "tile=50000"], "--data-arg tile must need at most 2 GB of memory, got 50000"),
    (["object_scale", "--data-arg", "image=20000"], "--data-arg image must need at most 2 GB of memory"),
    (["gridding", "--data-arg", "image=3000"], "--data-arg image must need at most 2 GB of memory, got 3000 "
                                               "(estimated 183 GB); that is one batch of 32 samples"),
    (["hops", "--data-arg", "nodes=100000"], "--data-arg nodes must need at most 2 GB of memory, got 100000"),
    (["enhancer", "--length", "100000000"], "--length must need at most 2 GB of memory, got 100000000"),
    (["rhythm", "--length", "100000000"], "--length must need at most 2 GB of memory, got 100000000"),
    (["copy", "--length", "100000000", "--max-memory", "1"], "--length must need at most 1 GB of memory"),
])
def test_every_tasks_data_is_capped_from_its_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                       argv: list[str], match: str) -> None:
    code, out, err = run(capsys, *argv, "--out", str(tmp_path / "run"), "-q")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and match in err, err
    assert "raise --max-memory" in err and not (tmp_path / "run").exists()


def test_every_tasks_defaults_fit_under_the_default_cap() -> None:
    from atrous._validate import DEFAULT_MAX_MEMORY_GB
    from atrous.train.config import TrainConfig
    from atrous.train.loop import check_memory
    from atrous.train.tasks import get_task, list_tasks

    for name in list_tasks():
        task = get_task(name)
        for model in task.model_names or ("tcn",):
            cfg = TrainConfig(name, model=model).resolved()
            assert cfg.batch_size is not None
            check_memory(cfg, task, cfg.batch_size, int(DEFAULT_MAX_MEMORY_GB * 1e9))  # raises past the cap
