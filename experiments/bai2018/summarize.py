"""Print the Bai et al. (2018) reproduction table from the runs' summary.json files.

Usage: python experiments/bai2018/summarize.py [RUNS] [--markdown]   (default runs/bai2018)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

#: Table 1 of the paper: task -> (metric key, {model: published value}, what the published value measures)
PAPER = {
    "adding": ("test_mse", {"tcn": 5.8e-5, "gru": 5.3e-5, "lstm": 0.164}, "MSE, T=600"),
    "copy": ("test_loss", {"tcn": 3.5e-5, "gru": 0.0197, "lstm": 0.0204}, "loss, T=1000"),
    "digits": ("test_accuracy", {"tcn": 0.990, "gru": 0.962, "lstm": 0.872}, "accuracy on seq. MNIST (not digits)"),
    "pdigits": ("test_accuracy", {"tcn": 0.972, "gru": 0.873, "lstm": 0.857}, "accuracy on P-MNIST (not digits)"),
    "chorales": ("test_nll", {"tcn": 8.10, "gru": 8.43, "lstm": 8.45}, "NLL on JSB (not these chorales)"),
}


def _wall(run: Path) -> float | None:
    """Seconds of training, from the last line of metrics.jsonl that carries a time (resumed runs add up)."""
    times = [json.loads(line).get("time") for line in (run / "metrics.jsonl").read_text().splitlines()]
    times = [t for t in times if t is not None]
    return times[-1] if times else None


def main() -> int:
    args = [a for a in sys.argv[1:] if a != "--markdown"]
    markdown = "--markdown" in sys.argv[1:]
    runs = Path(args[0] if args else "runs/bai2018")
    rows = []
    for path in sorted(runs.glob("*/summary.json")):
        s = json.loads(path.read_text())
        if s["task"] not in PAPER:
            continue
        key, published, what = PAPER[s["task"]]
        model = s["model"]["name"]
        value = s["metrics"].get(key)
        best = s["best"].get(key)
        cfg = json.loads((path.parent / "config.json").read_text())
        wall = _wall(path.parent)
        rows.append((s["task"], model, f"{s['params']:,}", str(cfg["seed"]), f"{s['step']}/{s['steps']}", s["status"],
                     "-" if value is None else f"{value:.4g}", "-" if best is None else f"{best:.4g}",
                     f"{published.get(model, float('nan')):.4g}", what,
                     "-" if wall is None else f"{wall / 60:.1f} min"))
    header = ("task", "model", "params", "seed", "steps", "status", "final", "best", "paper", "paper's metric",
              "train time")
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for r in rows:
            print("| " + " | ".join(r) + " |")
        return 0
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
