"""The enhancer task end to end: the loss falls, the checkpoint reloads, the logits are read at the promoter, and
the models' receptive fields are what the task's argument needs."""

from __future__ import annotations

import json

import pytest
import torch
from _train_runs import records

from atrous.analysis.empirical import empirical_rf
from atrous.cli.main import main
from atrous.models import create_model
from atrous.train import evaluate, get_task, load_checkpoint
from atrous.train.tasks_genomics import TOWER_DILATIONS, promoter_logits

#: a tiny run: 256 bp, enhancers 20..100 bp upstream, a 6-unit tower (RF 253, half 126 >= 100 + 15)
TINY = ["--data-arg", "length=256", "--data-arg", "max_distance=100", "--data-arg", "shift=32", "--train-size",
        "256", "--test-size", "64", "--model-arg", "channels=8", "--lr", "0.01", "--batch-size", "16"]
TOWER = ["--model-arg", "dilations=1,2,4,8,16,32", "--model-arg", "kernel_sizes=3,3,3,3,3,3"]


def _train(capsys, out, *extra):
    code = main(["train", "enhancer", *TINY, "--seed", "0", "--out", str(out), "--log-every", "1", "--device", "cpu",
                 "--json", *extra])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_loss_falls_and_the_checkpoint_reloads(capsys, tmp_path):
    summary = _train(capsys, tmp_path, *TOWER, "--epochs", "2", "--steps", "30")
    assert summary["model"]["name"] == "spliceai" and summary["step"] == 30  # the task's default model
    losses = [float(r["loss"]) for r in records(tmp_path, "train")]
    assert sum(losses[-8:]) / 8 < 0.9 * sum(losses[:8]) / 8, losses
    config = json.loads((tmp_path / "config.json").read_text())
    task = get_task("enhancer")
    datasets = task.datasets(config["data"])
    assert datasets["train"][0][0].shape == (4, 256)
    ckpt = load_checkpoint(tmp_path / "last.pt")
    rebuilt = create_model(ckpt["model"]["name"], **ckpt["model"]["kwargs"])
    rebuilt.load_state_dict(ckpt["state_dict"])
    assert evaluate(rebuilt, task, datasets, 64, torch.device("cpu")) == pytest.approx(summary["metrics"], rel=1e-5)


@pytest.mark.parametrize(("model", "args"), [("undilated_tower", ["--model-arg", "depth=3"]),
                                             ("pooled_tower", ["--model-arg", "depth=3", "--model-arg", "pools=3"])])
def test_the_baselines_train(capsys, tmp_path, model, args):
    summary = _train(capsys, tmp_path, "--model", model, *args, "--steps", "3")
    assert summary["status"] == "finished" and 0.0 <= summary["metrics"]["test_accuracy"] <= 1.0


def test_promoter_logits_reads_the_promoters_bin():
    full = torch.randn(2, 1, 64)
    assert torch.equal(promoter_logits(full, torch.tensor([5, 60]), 64), full[[0, 1], 0, [5, 60]])
    pooled = torch.randn(2, 1, 8)  # one logit per 8 bp
    assert torch.equal(promoter_logits(pooled, torch.tensor([7, 60]), 64), pooled[[0, 1], 0, [0, 7]])


def test_the_models_reach_is_what_the_task_needs():
    task = get_task("enhancer")
    opts = task.data
    tower = create_model("spliceai", **task.models["spliceai"])
    reach = (tower.receptive_field().size[0] - 1) // 2
    assert reach >= opts["max_distance"] + 15  # the whole enhancer, from the promoter, at the longest distance
    # the undilated tower (RF 57) sees a whole enhancer 20 bp upstream, and no part of one 50 bp upstream
    undilated = (create_model("undilated_tower", **task.models["undilated_tower"]).receptive_field().size[0] - 1) // 2
    assert opts["min_distance"] <= undilated < 50 - 15
    pooled = create_model("pooled_tower", **task.models["pooled_tower"])
    assert (pooled.receptive_field().size[0] - 1) // 2 >= opts["max_distance"] + 15
    # two more doublings (dilations up to 2^13) reach 20 kb from the promoter: RF 1 + 4 (2^14 - 1) = 65,533
    far = create_model("spliceai", **{**task.models["spliceai"], "dilations": [2 ** i for i in range(14)],
                                      "kernel_sizes": [3] * 14})
    assert far.receptive_field().size[0] == 65_533 and len(TOWER_DILATIONS) < 14
    assert (tower.receptive_field().size[0] - 1) // 2 == 14 + 2 * (2 ** len(TOWER_DILATIONS) - 2)  # k=15, then k=3


def test_a_small_tower_receptive_field_equals_gradient_support():
    model = create_model("pooled_tower", depth=3, pools=2, channels=4)
    analytic, measured = model.receptive_field(), empirical_rf(model, (1, 4, 64))
    assert list(measured.size) == list(analytic.size) and list(measured.stride) == list(analytic.jump)


def test_the_run_records_its_motif_source_and_refuses_without_pyjaspar(capsys, tmp_path, monkeypatch):
    import sys

    from atrous.data import dna

    summary = _train(capsys, tmp_path / "jaspar", "--model", "undilated_tower", "--model-arg", "depth=3",
                     "--steps", "1")
    assert summary["status"] == "finished"
    assert json.loads((tmp_path / "jaspar" / "config.json").read_text())["data"]["motifs"] == "jaspar"
    dna.load_motif.cache_clear()
    monkeypatch.setitem(sys.modules, "pyjaspar", None)  # import pyjaspar now raises ImportError
    try:
        argv = ["train", "enhancer", *TINY, "--model", "undilated_tower", "--model-arg", "depth=3", "--steps", "1",
                "--device", "cpu", "--json"]
        assert main([*argv, "--out", str(tmp_path / "refused")]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "--data-arg motifs=consensus" in err
        assert main([*argv, "--out", str(tmp_path / "consensus"), "--data-arg", "motifs=consensus"]) == 0
        capsys.readouterr()
        assert json.loads((tmp_path / "consensus" / "config.json").read_text())["data"]["motifs"] == "consensus"
    finally:
        dna.load_motif.cache_clear()
        dna._CACHE.clear()
