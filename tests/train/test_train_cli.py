"""`atrous train` end to end on every task: the loss falls, checkpoints rebuild, resume is exact."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch
from _train_runs import records, tiny
from torch import nn

from atrous.cli.main import main
from atrous.models import create_model
from atrous.train import TASKS, evaluate, load_checkpoint, load_model, train_step
from atrous.train.loop import _StopSignal


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """One parsed-chorales cache for the module (parsing is the slow part)."""
    return tmp_path_factory.mktemp("cache")


def _train(capsys, out, task, *extra, model="tcn", cache_dir=None):
    argv = ["train", *tiny(task, model), "--device", "cpu", "--seed", "1", "--out", str(out), "--log-every", "1",
            "--json", *extra]
    if task == "chorales":
        argv += ["--data-dir", str(cache_dir)]
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


@pytest.mark.parametrize(("task", "model", "steps"), [
    ("adding", "tcn", 24), ("copy", "tcn", 24), ("digits", "tcn", 30), ("pdigits", "gru", 30),
    ("chorales", "tcn", 12), ("adding", "lstm", 24),
])
def test_loss_falls_and_checkpoint_rebuilds(capsys, tmp_path, cache, task, model, steps):
    summary = _train(capsys, tmp_path, task, "--steps", str(steps), model=model, cache_dir=cache)
    assert summary["status"] == "finished" and summary["step"] == steps
    losses = [float(r["loss"]) for r in records(tmp_path, "train")]
    assert len(losses) == steps
    k = max(3, steps // 4)
    assert sum(losses[-k:]) / k < sum(losses[:k]) / k, losses

    # the last checkpoint rebuilds through create_model (the recurrent baselines through create_recurrent)
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt["model"] == summary["model"] and ckpt["model"]["name"] == model
    if model == "tcn":
        rebuilt = create_model(ckpt["model"]["name"], **ckpt["model"]["kwargs"])
        rebuilt.load_state_dict(ckpt["state_dict"])
    else:
        rebuilt = load_model(tmp_path / "last.pt")
    task_obj = TASKS[task]
    data = dict(json.loads((tmp_path / "config.json").read_text())["data"])
    datasets = task_obj.datasets(data)
    metrics = evaluate(rebuilt, task_obj, datasets, 128, torch.device("cpu"))
    assert metrics == pytest.approx(summary["metrics"], rel=1e-5)
    best = load_model(tmp_path / "best.pt")
    headline = f"{task_obj.eval_splits[0]}_{task_obj.metric}"
    best_metrics = evaluate(best, task_obj, datasets, 128, torch.device("cpu"))
    assert best_metrics[headline] == pytest.approx(summary["best"][headline], rel=1e-5)


def test_resume_is_exact_with_dropout(capsys, tmp_path):
    # digits with dropout 0.2 and the lr stepped every epoch: RNG, optimizer and scheduler all matter
    common = ["--steps", "60", "--lr-step", "1", "--checkpoint-every", "7", "--model-arg", "dropout=0.2"]
    whole = _train(capsys, tmp_path / "whole", "digits", *common)
    part = _train(capsys, tmp_path / "part", "digits", *common, "--stop-after", "23")
    assert part["status"] == "stopped" and part["step"] == 23
    part = _train_resume(capsys, tmp_path / "part", "--stop-after", "20")
    assert part["step"] == 43
    part = _train_resume(capsys, tmp_path / "part")
    assert part["status"] == "finished" and part["metrics"] == whole["metrics"]
    assert records(tmp_path / "part") == records(tmp_path / "whole")
    a, b = load_checkpoint(tmp_path / "whole"), load_checkpoint(tmp_path / "part")
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])


def _train_resume(capsys, out, *extra):
    code = main(["train", "--resume", str(out), "--json", *extra])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_resume_refuses_changed_options_and_new_run_refuses_used_folder(capsys, tmp_path):
    _train(capsys, tmp_path, "adding", "--steps", "3")
    assert main(["train", "--resume", str(tmp_path), "--lr", "0.5"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("atrous: error: train: lr must match the run being resumed (0.01), got 0.5")
    assert main(["train", "adding", "--out", str(tmp_path), "--steps", "3"]) == 2
    assert "--out must not hold a run already" in capsys.readouterr().err
    # more steps may be added to a finished run
    assert _train_resume(capsys, tmp_path, "--steps", "5")["step"] == 5


@pytest.mark.parametrize(("argv", "match"), [
    (["train", "nope"], r"train: TASK must be one of adding, copy, digits, pdigits, chorales(, \w+)*, got 'nope'"),
    (["train"], r"train: TASK is required"),
    (["train", "adding", "--model", "resnet"], r"train: --model must be one of .*gru.*got 'resnet'"),
    (["train", "adding", "--model-arg", "colour=red"], r"--model-arg must be an argument of 'tcn'"),
    (["train", "adding", "--model-arg", "oops"], r"--model-arg must be KEY=VALUE, got 'oops'"),
    (["train", "digits", "--length", "5"], r"data option must be one of data_seed for task 'digits'"),
    (["train", "adding", "--optimizer", "lbfgs"], r"--optimizer must be one of adam, rmsprop, sgd"),
    (["train", "adding", "--epochs", "0"], r"--epochs must be an int in 1..1000000000, got 0"),
    (["train", "--resume", "/nonexistent/run"], r"checkpoint must exist"),
])
def test_user_errors_are_one_line(capsys, tmp_path, argv, match):
    assert main([*argv, "--out", str(tmp_path / "x")] if "--resume" not in argv else argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    import re
    assert re.search(match, err), err


def test_clipping_happens_after_backward():
    torch.manual_seed(0)
    task = TASKS["adding"]
    model = nn.Sequential(nn.Conv1d(2, 4, 1), nn.ReLU(), nn.Conv1d(4, 1, 1))
    batch = (torch.randn(8, 2, 5) * 10, torch.randn(8) * 10)

    def update_norm(clip: float) -> float:
        net = create_copy(model)
        before = torch.cat([p.detach().flatten().clone() for p in net.parameters()])
        train_step(net, task, batch, torch.optim.SGD(net.parameters(), lr=1.0), clip)
        return float((torch.cat([p.detach().flatten() for p in net.parameters()]) - before).norm())

    assert update_norm(0.0) > 1.0  # the raw gradient is large, so the clipped test below can fail
    assert update_norm(1e-3) == pytest.approx(1e-3, rel=1e-4)


def create_copy(model: nn.Module) -> nn.Module:
    import copy

    return copy.deepcopy(model)


def test_a_signal_asks_for_a_clean_stop():
    # the handler in place before is put back: Python's default, or SIG_IGN when the suite runs in the
    # background of a non-interactive shell (`nohup make test &`)
    before = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # so that the kill below reaches the run's handler
    try:
        with _StopSignal() as stopper:
            os.kill(os.getpid(), signal.SIGINT)
            assert stopper.requested
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, before)


def test_an_ignored_signal_stays_ignored():
    # a run started with SIGINT ignored (`nohup atrous train ... &`) is not stopped by a Ctrl-C meant for the shell
    before = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with _StopSignal() as stopper:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGINT)
            assert not stopper.requested
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


def test_the_help_lists_every_registered_task():
    from atrous.cli.train_cmd import TASK_NAMES
    from atrous.train import list_tasks

    assert sorted(TASK_NAMES) == sorted(list_tasks())


def test_init_from_starts_from_another_runs_weights(capsys, tmp_path):
    _train(capsys, tmp_path / "a", "adding", "--steps", "3")
    # a near-zero learning rate: after one step the weights are still the ones loaded
    b = _train(capsys, tmp_path / "b", "adding", "--steps", "1", "--lr", "1e-12", "--init-from", str(tmp_path / "a"))
    assert b["status"] == "finished"
    a_state, b_state = load_checkpoint(tmp_path / "a")["state_dict"], load_checkpoint(tmp_path / "b")["state_dict"]
    assert all(torch.allclose(a_state[k].float(), b_state[k].float(), atol=1e-9) for k in a_state)
    fresh = _train(capsys, tmp_path / "c", "adding", "--steps", "1", "--lr", "1e-12")
    c_state = load_checkpoint(tmp_path / "c")["state_dict"]
    assert not all(torch.allclose(a_state[k].float(), c_state[k].float(), atol=1e-6) for k in a_state)
    assert json.loads((tmp_path / "b" / "config.json").read_text())["init_from"] == str(tmp_path / "a")
    assert fresh["status"] == "finished"
    # a file works as well as a folder; another architecture and a missing path are one-line errors
    _train(capsys, tmp_path / "d", "adding", "--steps", "1", "--init-from", str(tmp_path / "a" / "best.pt"))
    argv = ["train", *tiny("adding"), "--model-arg", "channels=4,4", "--out", str(tmp_path / "e"), "--steps", "1",
            "--init-from", str(tmp_path / "a")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "does not fit this model" in err, err
    assert main(["train", *tiny("adding"), "--out", str(tmp_path / "f"), "--init-from", str(tmp_path / "nope")]) == 2
    assert "--init-from must be a checkpoint file or a run folder" in capsys.readouterr().err
