"""The rhythm task end to end (`atrous train rhythm`: the loss falls, the checkpoint reloads), and the TCN's
``dilations`` option: the receptive field follows it, the taps are the gradient support, streaming still matches."""

from __future__ import annotations

import json

import pytest
import torch
from _train_runs import records

from atrous import rf
from atrous.analysis.empirical import empirical_rf
from atrous.cli.main import main
from atrous.models import create_model
from atrous.stream import StreamingModule
from atrous.train import evaluate, get_task, list_tasks, load_checkpoint
from atrous.train.tasks_music import rhythm_dataset

#: 2 bars of 4 frames per beat; two beat and two bar tracks; a small TCN reaching the bar
TINY = ["--data-arg", "periods=1,1,4,4", "--length", "32", "--train-size", "960", "--test-size", "16",
        "--model-arg", "channels=16,16", "--model-arg", "dilations=1,4", "--batch-size", "16", "--lr", "0.02"]


def test_rhythm_trains_the_loss_falls_and_the_checkpoint_reloads(capsys, tmp_path):
    assert "rhythm" in list_tasks()
    code = main(["train", "rhythm", *TINY, "--steps", "60", "--seed", "0", "--out", str(tmp_path), "--log-every", "1",
                 "--device", "cpu", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out)
    assert summary["status"] == "finished" and summary["model"]["name"] == "tcn"
    assert summary["model"]["kwargs"]["dilations"] == [1, 4] and summary["model"]["kwargs"]["in_channels"] == 4
    losses = [float(r["loss"]) for r in records(tmp_path, "train")]
    assert sum(losses[-10:]) / 10 < 0.8 * sum(losses[:10]) / 10, losses

    config = json.loads((tmp_path / "config.json").read_text())
    test = rhythm_dataset(config["data"], "test")
    assert test.period_frames == (4, 4, 16, 16) and test[0][0].shape == (4, 31)
    # the metric is a frame NLL, so it cannot beat the generator's entropy by more than sampling noise
    assert summary["metrics"]["test_nll"] > 0.8 * test.entropy()
    task = get_task("rhythm")
    ckpt = load_checkpoint(tmp_path / "last.pt")
    rebuilt = create_model(ckpt["model"]["name"], **ckpt["model"]["kwargs"])
    rebuilt.load_state_dict(ckpt["state_dict"])
    datasets = task.datasets(config["data"])
    assert evaluate(rebuilt, task, datasets, 64, torch.device("cpu")) == pytest.approx(summary["metrics"], rel=1e-5)


@pytest.mark.parametrize("dilations", [(1, 4, 16), (3, 1, 2)])
def test_tcn_dilations_set_the_taps_the_receptive_field_and_stream(dilations):
    model = create_model("tcn", in_channels=2, out_channels=2, channels=[4, 4, 4], kernel_size=3,
                         dilations=list(dilations)).eval()
    assert [level.conv1.dilation[0] for level in model.levels] == list(dilations)
    size = 1 + 2 * 2 * sum(dilations)
    assert model.receptive_field().size == (size,)
    measured = empirical_rf(model, (1, 2, size + 8))
    assert list(measured.size) == [size]
    assert rf.support(model.rf_graph()).holes == 0
    # the same parameters as 2**i: dilations move taps, they add no weights
    plain = create_model("tcn", in_channels=2, out_channels=2, channels=[4, 4, 4], kernel_size=3)
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in plain.parameters())
    x = torch.randn(2, 2, 70)
    with torch.no_grad():
        offline = model(x)
        for chunk in (1, 3, 64):
            stream = StreamingModule(model, batch_size=2)
            out = torch.cat([stream(x[..., t:t + chunk]) for t in range(0, 70, chunk)], dim=2)
            torch.testing.assert_close(out, offline, rtol=1e-5, atol=1e-5)


def test_bad_dilations_and_the_report(capsys):
    assert main(["train", "rhythm", "--model-arg", "dilations=1,4", "--steps", "1", "--out", "/nonexistent"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "TCN: dilations must be a list of 3 positive ints" in err
    assert main(["train", "rhythm", "--data-arg", "periods=1,4", "--steps", "1", "--out", "/nonexistent"]) == 2
    assert "rhythm: periods must be a list of 4 periods in beats" in capsys.readouterr().err
    code = main(["report", "atrous:tcn?in_channels=4&out_channels=4&channels=[8,8,8]&dilations=[1,4,16]",
                 "--input-shape", "1,4,100", "--no-erf", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["rf"]["size"] == [85] and out["support"]["holes"] == 0
