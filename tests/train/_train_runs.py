"""Tiny command lines for every task (a few steps of a small model), shared by the training tests."""

from __future__ import annotations

import json
from pathlib import Path

#: data and optimisation options of a tiny run per task
DATA = {
    "adding": ["--length", "16", "--train-size", "96", "--test-size", "32", "--batch-size", "8", "--lr", "0.01"],
    "copy": ["--length", "6", "--train-size", "96", "--test-size", "32", "--batch-size", "8", "--lr", "0.01"],
    "digits": ["--batch-size", "32", "--lr", "0.01"],
    "pdigits": ["--batch-size", "32", "--lr", "0.01"],
    "chorales": ["--limit", "5", "--batch-size", "1", "--lr", "0.01"],
}
#: a small model per family (the task's defaults would be Bai et al.'s full size)
MODEL = {
    "tcn": ["--model-arg", "channels=8,8,8", "--model-arg", "kernel_size=3", "--model-arg", "dropout=0.2"],
    "lstm": ["--model-arg", "hidden_size=12"],
    "gru": ["--model-arg", "hidden_size=12"],
}


def tiny(task: str, model: str = "tcn") -> list[str]:
    return [task, "--model", model, *DATA[task], *MODEL[model]]


def records(out: Path, kind: str | None = None) -> list[dict[str, object]]:
    """The metrics lines of a run, without the wall-clock field."""
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "time"} for r in lines if kind is None or r["kind"] == kind]
