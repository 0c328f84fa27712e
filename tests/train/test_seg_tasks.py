"""The segmentation tasks (lanes, nuclei) end to end, and the DeepLabV3 variants they compare."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch
from _train_runs import records

from atrous.analysis.empirical import empirical_rf
from atrous.cli.main import main
from atrous.errors import ConfigError
from atrous.models import create_model
from atrous.train import evaluate, get_task, load_model

SMALL = ["--model-arg", "channels=[4,8,8,8]", "--model-arg", "aspp_channels=8", "--model-arg", "rates=[1]"]
TINY = {
    "lanes": ["--data-arg", "image=32", "--data-arg", "dash=4", "--data-arg", "gap=8", "--train-size", "128",
              "--test-size", "16", *SMALL],
    "nuclei": ["--data-arg", "tile=32", "--train-size", "128", *SMALL],
}
needs_stardist = pytest.mark.skipif(importlib.util.find_spec("stardist") is None or
                                    importlib.util.find_spec("tifffile") is None,
                                    reason="the stardist wheel (data files) and tifffile are not installed")


def _train(capsys, out, task, *extra):
    code = main(["train", task, *TINY[task], "--batch-size", "8", "--lr", "0.01", "--seed", "0", "--out", str(out),
                 "--log-every", "1", "--device", "cpu", "--json", *extra])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


@pytest.mark.parametrize("task", ["lanes", pytest.param("nuclei", marks=needs_stardist)])
def test_loss_falls_and_the_checkpoint_reloads(capsys, tmp_path, task):
    summary = _train(capsys, tmp_path, task, "--steps", "24", "--model-arg", "decoder=true")
    assert summary["status"] == "finished" and summary["model"]["name"] == "deeplabv3"
    losses = [float(r["loss"]) for r in records(tmp_path, "train")]
    assert sum(losses[-6:]) / 6 < 0.8 * sum(losses[:6]) / 6, losses
    metrics = summary["metrics"]
    assert 0.0 <= metrics["test_iou"] <= 1.0
    extra = ("test_gap_recall", "test_distractor_fp") if task == "lanes" else \
        ("test_object_recall", "test_small_recall")
    assert all(0.0 <= metrics[k] <= 1.0 for k in extra)
    task_obj = get_task(task)
    config = json.loads((tmp_path / "config.json").read_text())
    model = load_model(tmp_path / "last.pt")
    assert evaluate(model, task_obj, task_obj.datasets(config["data"]), 64, torch.device("cpu")) == \
        pytest.approx(metrics, rel=1e-5)


def test_the_report_works_on_a_trained_segmentation_model(capsys, tmp_path):
    _train(capsys, tmp_path / "run", "lanes", "--steps", "2")
    code = main(["report", str(tmp_path / "run"), "--input-shape", "1,1,64,64", "--samples", "2",
                 "-o", str(tmp_path / "r.html")])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "r.html").stat().st_size > 10_000


@pytest.mark.parametrize("kwargs", [{"head": "conv", "dilated": False}, {"head": "cascade", "rates": [1, 2, 3]},
                                    {"head": "conv"}])
def test_deeplab_variants_know_their_receptive_field(kwargs):
    model = create_model("deeplabv3", in_channels=1, channels=[4, 4, 4, 4], aspp_channels=4, output_stride=8,
                         upsample=False, **kwargs)
    analytic = model.receptive_field().size
    measured = empirical_rf(model.eval().double(), (1, 1, 160, 160)).size
    assert tuple(measured) == tuple(analytic)


def test_no_dilation_shrinks_the_field_and_bad_heads_are_refused():
    plain = create_model("deeplabv3", head="conv", dilated=False, output_stride=8).receptive_field().size
    dilated = create_model("deeplabv3", head="conv", output_stride=8).receptive_field().size
    assert plain[0] < dilated[0]
    with pytest.raises(ConfigError, match="DeepLabV3: head must be one of aspp, cascade, conv"):
        create_model("deeplabv3", head="pyramid")
    with pytest.raises(ConfigError, match="DeepLabV3: rates must be None with head='conv'"):
        create_model("deeplabv3", head="conv", rates=[1, 2])
