"""The graph tasks end to end: `atrous train hops|karate` lowers the loss for both models, and the checkpoints
rebuild the trained network."""

from __future__ import annotations

import json

import pytest
import torch
from _train_runs import records

from atrous.cli.main import main
from atrous.models import create_model
from atrous.train import TASKS, evaluate, list_tasks, load_checkpoint, load_model, train_step

TINY = {
    "hops": ["--data-arg", "d=2", "--data-arg", "nodes=60", "--train-size", "4", "--test-size", "2", "--lr", "0.05"],
    "karate": ["--lr", "0.05"],
}
MODEL = {"dilated_gnn": ["--model-arg", "dilations=2,1", "--model-arg", "hidden_channels=8"],
         "gcn": ["--model-arg", "hidden_channels=8"]}


def _train(capsys, out, task, model, steps):
    argv = ["train", task, "--model", model, *TINY[task], *MODEL[model], "--steps", str(steps), "--seed", "1",
            "--device", "cpu", "--out", str(out), "--log-every", "1", "--json"]
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_graph_tasks_are_registered_with_their_models():
    assert {"hops", "karate"} <= set(list_tasks())
    assert TASKS["hops"].model_names == ("dilated_gnn", "gcn")


@pytest.mark.parametrize(("task", "model", "steps"), [
    ("hops", "dilated_gnn", 16), ("hops", "gcn", 16), ("karate", "dilated_gnn", 12), ("karate", "gcn", 12),
])
def test_loss_falls_and_checkpoints_reload(capsys, tmp_path, task, model, steps):
    summary = _train(capsys, tmp_path, task, model, steps)
    assert summary["status"] == "finished" and summary["step"] == steps
    losses = [float(r["loss"]) for r in records(tmp_path, "train")]
    assert len(losses) == steps
    k = 4
    assert sum(losses[-k:]) / k < sum(losses[:k]) / k, losses

    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert ckpt["model"]["name"] == model
    config = json.loads((tmp_path / "config.json").read_text())
    if task == "hops":
        assert config["data"]["d"] == 2 and config["data"]["nodes"] == 60
    task_obj = TASKS[task]
    datasets = task_obj.datasets(config["data"])
    rebuilt = load_model(tmp_path / "last.pt")
    assert evaluate(rebuilt, task_obj, datasets, 128, torch.device("cpu")) == pytest.approx(summary["metrics"],
                                                                                          rel=1e-5)
    best = load_model(tmp_path / "best.pt")
    best_metrics = evaluate(best, task_obj, datasets, 128, torch.device("cpu"))
    assert best_metrics["test_accuracy"] == pytest.approx(summary["best"]["test_accuracy"], rel=1e-5)


def test_dilated_layer_reads_the_ring_and_learns_it_where_gcn_cannot():
    """d = 3 with two layers: the dilated network's first layer reads the 3-ring, a 2-layer GCN cannot reach it.
    A short full-batch fit separates them clearly (the sweep in experiments/graphs measures it properly)."""
    task = TASKS["hops"]
    data = {"d": 3, "nodes": 100, "train_size": 6, "test_size": 3, "degree": 6.0, "data_seed": 0}
    datasets = task.datasets(data)
    batch = task.collate([datasets["train"][i] for i in range(6)])
    accuracy = {}
    for name, kwargs in (("dilated_gnn", {"dilations": [3, 1]}), ("gcn", {"num_layers": 2})):
        torch.manual_seed(0)
        model = create_model(name, in_channels=1, out_channels=2, hidden_channels=16, **kwargs)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
        for _ in range(60):
            train_step(model, task, batch, optimizer, 0.0)
        accuracy[name] = evaluate(model, task, datasets, 128, torch.device("cpu"))["test_accuracy"]
    assert accuracy["dilated_gnn"] > 0.9 and accuracy["gcn"] < 0.7, accuracy


@pytest.mark.parametrize(("argv", "match"), [
    (["train", "hops", "--model", "gcn", "--data-arg", "d"], r"--data-arg must be KEY=VALUE, got 'd'"),
    (["train", "hops", "--model", "gcn", "--data-arg", "colour=1"], r"data option must be one of data_seed, d,"),
    (["train", "hops", "--model", "tcn"], r"--model must be one of dilated_gnn, gcn, got 'tcn'"),
    (["train", "hops", "--model", "gcn", "--data-arg", "d=0", "--steps", "1"], r"HopRings: d must be an int >= 1"),
])
def test_bad_graph_options(capsys, tmp_path, argv, match):
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    import re

    assert re.search(match, err), err
