"""The vision tasks (object_scale, gridding) end to end: the loss falls, `atrous train` checkpoints reload, and the
models they train know their receptive field."""

from __future__ import annotations

import json

import pytest
import torch
from _train_runs import records

from atrous.analysis.empirical import empirical_rf
from atrous.cli.main import main
from atrous.models import create_model
from atrous.train import evaluate, get_task, load_checkpoint, load_model
from atrous.train.tasks_vision import centre_logits

#: tiny runs: small images, a few hundred samples, a narrow network whose receptive field covers the object
TINY = {
    "object_scale": ["--data-arg", "object_size=5", "--data-arg", "image=12", "--train-size", "256",
                     "--test-size", "64", "--model-arg", "rates=1,1,1", "--model-arg", "width=8", "--lr", "0.01"],
    "gridding": ["--data-arg", "image=12", "--train-size", "256", "--test-size", "32", "--model-arg", "rates=1,2,2",
                 "--model-arg", "width=8", "--lr", "0.01"],
}


def _train(capsys, out, task, *extra):
    code = main(["train", task, *TINY[task], "--batch-size", "16", "--epochs", "10", "--seed", "0", "--out", str(out),
                 "--log-every", "1", "--device", "cpu", "--json", *extra])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


@pytest.mark.parametrize(("task", "steps"), [("object_scale", 40), ("gridding", 30)])
def test_loss_falls_and_the_checkpoint_reloads(capsys, tmp_path, task, steps):
    summary = _train(capsys, tmp_path, task, "--steps", str(steps))
    assert summary["status"] == "finished" and summary["step"] == steps
    assert summary["model"]["name"] == "dilated_cnn"  # the task's model, without --model
    losses = [float(r["loss"]) for r in records(tmp_path, "train")]
    k = steps // 4
    assert sum(losses[-k:]) / k < 0.8 * sum(losses[:k]) / k, losses

    config = json.loads((tmp_path / "config.json").read_text())
    assert config["data"]["image"] == 12  # --data-arg reached the data options
    task_obj = get_task(task)
    datasets = task_obj.datasets(config["data"])
    assert datasets["train"][0][0].shape == (1, 12, 12)
    ckpt = load_checkpoint(tmp_path / "last.pt")
    rebuilt = create_model(ckpt["model"]["name"], **ckpt["model"]["kwargs"])
    rebuilt.load_state_dict(ckpt["state_dict"])
    metrics = evaluate(rebuilt, task_obj, datasets, 128, torch.device("cpu"))
    assert metrics == pytest.approx(summary["metrics"], rel=1e-5)
    best = load_model(tmp_path / "best.pt")
    headline = f"test_{task_obj.metric}"
    assert evaluate(best, task_obj, datasets, 128, torch.device("cpu"))[headline] == \
        pytest.approx(summary["best"][headline], rel=1e-5)


def test_object_scale_learns_when_the_receptive_field_covers_the_object(capsys, tmp_path):
    """RF 7 >= object 5: far above chance (25 %) after 60 steps; RF 3 < 5: chance, whatever the training."""
    seeing = _train(capsys, tmp_path / "rf7", "object_scale", "--steps", "60")
    blind = _train(capsys, tmp_path / "rf3", "object_scale", "--steps", "60", "--model-arg", "rates=1")
    assert seeing["metrics"]["test_accuracy"] > 0.6
    assert blind["metrics"]["test_accuracy"] < 0.45


def test_bad_data_option_is_one_line(capsys, tmp_path):
    code = main(["train", "object_scale", "--data-arg", "object_size=4", "--steps", "1", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "MarkPairs: size must be an odd int >= 3" in err
    code = main(["train", "gridding", "--data-arg", "colour=1", "--steps", "1", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "data option must be one of data_seed, image, noise, density" in err


def test_centre_logits_reads_each_samples_centre():
    out = torch.randn(3, 4, 6, 7)
    centre = torch.tensor([[0, 0], [5, 6], [2, 3]])
    expected = torch.stack([out[b, :, int(r), int(c)] for b, (r, c) in enumerate(centre)])
    assert torch.equal(centre_logits(out, centre), expected)


@pytest.mark.parametrize("kwargs", [{"rates": [2, 2, 2]}, {"rates": [2, 2, 2], "smoothed": True},
                                    {"rates": [1, 1, 3, 3]}])
def test_the_trained_variants_receptive_field_equals_gradient_support(kwargs):
    model = create_model("dilated_cnn", width=4, **kwargs)
    analytic = model.receptive_field()
    measured = empirical_rf(model, (1, 1, 32, 32), collapse_channels=True)
    expected = 1 + 2 * sum(kwargs["rates"]) + (2 * 3 if kwargs.get("smoothed") else 0)  # +2(d-1) per smoothed layer
    assert list(measured.size) == list(analytic.size) == [expected, expected]
    assert [float(v) for v in measured.offset] == [float(v) for v in analytic.offset]
