"""Shared by the vision experiments: one training run through the public API, and summary statistics."""

from __future__ import annotations

import json
import platform
import statistics
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from atrous.models import create_model
from atrous.train import TrainConfig, fit, load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"


def command(task: str, model_kwargs: Mapping[str, Any], data: Mapping[str, Any], **options: Any) -> str:
    """The ``atrous train`` command line equivalent to one run."""
    parts = ["atrous train", task]
    model_kwargs = dict(model_kwargs)
    for key, value in model_kwargs.items():
        text = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else \
            value if isinstance(value, str) else json.dumps(value)
        parts.append(f"--model-arg {key}={text}")
    named = {"train_size": "--train-size", "test_size": "--test-size", "data_seed": "--data-seed"}  # their own flags
    for key, value in data.items():
        parts.append(f"{named[key]} {value}" if key in named else f"--data-arg {key}={json.dumps(value)}")
    for key, value in options.items():
        parts.append(f"--{key.replace('_', '-')} {value}")
    return " ".join([*parts, "--threads 1"])


def train(task: str, out: Path, model_kwargs: Mapping[str, Any], data: Mapping[str, Any], *, seed: int,
          model: str = "dilated_cnn", **hparams: Any) -> tuple[dict[str, Any], torch.nn.Module, float]:
    """Train with the task's default optimisation (or reuse a finished run in ``out``); returns the summary,
    the final model (eval mode) and the run's wall time in seconds (as recorded when it ran)."""
    started = time.monotonic()
    if (out / "summary.json").exists():
        summary = json.loads((out / "summary.json").read_text())
        wall = float(summary.get("wall_s", 0.0))
    else:
        cfg = TrainConfig(task, model=model, model_kwargs=dict(model_kwargs), seed=seed, data=dict(data),
                          **hparams)
        summary = fit(cfg, out, device="cpu")
        wall = time.monotonic() - started
        summary["wall_s"] = round(wall, 2)
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    ckpt = load_checkpoint(out / "last.pt")
    net = create_model(ckpt["model"]["name"], **ckpt["model"]["kwargs"])
    net.load_state_dict(ckpt["state_dict"])
    return summary, net.eval(), wall


def mean_spread(values: Sequence[float]) -> dict[str, float]:
    """Mean, sample standard deviation, min and max."""
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "n": len(values)}


def environment() -> dict[str, Any]:
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                check=False).stdout.strip()
    except OSError:
        commit = ""
    return {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpu": platform.processor() or
            platform.machine(), "python": platform.python_version(), "git_commit": commit}


def write(name: str, payload: Mapping[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path
