"""Beat-matched vs 2**i TCN dilations on generated rhythm (``rhythm``) and on the Bach chorales (``chorales``).

Rhythm (RhythmPatterns: 120 BPM, 8 frames/s = 4 frames per beat, 4/4; tracks repeating every beat, bar, bar and
two bars, i.e. input offsets 3, 15 and 31 back): four TCNs of 16 channels, k = 3, trained 20 epochs (1,260 Adam
steps, lr 1e-2, clip 1.0: the task's defaults) with seeds 0, 1, 2 (``--seed k --data-seed k``):

* ``2^i`` 1, 2, 4 (3 levels, RF 29): the task's default; reaches the bar, not two bars;
* ``beat`` 1, 4, 16 (3 levels, RF 85, :func:`atrous.data.rhythm.beat_dilations`): the same parameters;
* ``2^i x4`` 1, 2, 4, 8 (4 levels, RF 61): reaches two bars with one more level (+37 % parameters);
* ``1,3,9`` (3 levels, RF 53): the same parameters, dilations that are not beat multiples but reach two bars.

For each run: the final test NLL, its curve, the exact taps (``atrous.rf.support``), and the best NLL reachable
from those taps (:meth:`RhythmPatterns.bound`) next to the generator's entropy (the ceiling).

Chorales (frames are quarter notes: beat = 1 frame, bar = 4): 3 levels of 32, k = 3, dropout 0.2, dilations
1, 2, 4 vs 1, 4, 16, 20 epochs, batch 4, Adam 3e-3, clip 0.4, seeds 0, 1, 2 (``--seed k``; the split is
``--data-seed 0`` for all).

Usage: python experiments/rhythm/sweep.py [--runs DIR] [--quick]
Writes experiments/rhythm/results/rhythm.json (finished runs in --runs are reused).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from atrous import rf
from atrous.models import create_model
from atrous.train import TrainConfig, fit, load_checkpoint
from atrous.train.tasks_music import rhythm_dataset

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"

RHYTHM_MODELS: dict[str, dict[str, Any]] = {
    "2^i (1,2,4)": {"dilations": [1, 2, 4]},
    "beat (1,4,16)": {"dilations": [1, 4, 16]},
    "2^i x4 (1,2,4,8)": {"dilations": [1, 2, 4, 8], "channels": [16] * 4},
    "unaligned (1,3,9)": {"dilations": [1, 3, 9]},
}
RHYTHM_HPARAMS = {"epochs": 20, "lr": 1e-2, "clip": 1.0}  # the task's defaults
CHORALE_MODELS: dict[str, dict[str, Any]] = {
    "2^i (1,2,4)": {"channels": [32] * 3, "kernel_size": 3, "dropout": 0.2, "dilations": [1, 2, 4]},
    "beat (1,4,16)": {"channels": [32] * 3, "kernel_size": 3, "dropout": 0.2, "dilations": [1, 4, 16]},
}
CHORALE_HPARAMS = {"epochs": 20, "batch_size": 4, "lr": 3e-3, "clip": 0.4}
SEEDS = (0, 1, 2)


def command(task: str, model_kwargs: Mapping[str, Any], data: Mapping[str, Any], **options: Any) -> str:
    """The ``atrous train`` command line of one run."""
    parts = ["atrous train", task]
    for key, value in model_kwargs.items():
        text = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else json.dumps(value)
        parts.append(f"--model-arg {key}={text}")
    for key, value in data.items():
        parts.append(f"--{key.replace('_', '-')} {value}")
    for key, value in options.items():
        parts.append(f"--{key.replace('_', '-')} {value}")
    return " ".join([*parts, "--threads 1"])


def train(task: str, out: Path, model_kwargs: Mapping[str, Any], data: Mapping[str, Any], seed: int,
          hparams: Mapping[str, Any]) -> tuple[dict[str, Any], torch.nn.Module, float]:
    """One run of ``atrous train``'s code path (or the finished run in ``out``): summary, model, wall seconds."""
    if (out / "summary.json").exists() and "wall_s" in json.loads((out / "summary.json").read_text()):
        summary = json.loads((out / "summary.json").read_text())
    else:
        started = time.monotonic()
        cfg = TrainConfig(task, model="tcn", model_kwargs=dict(model_kwargs), seed=seed, data=dict(data),
                          **hparams)
        summary = fit(cfg, out, device="cpu")
        summary["wall_s"] = round(time.monotonic() - started, 2)
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    ckpt = load_checkpoint(out / "last.pt")
    model = create_model(ckpt["model"]["name"], **ckpt["model"]["kwargs"])
    model.load_state_dict(ckpt["state_dict"])
    return summary, model.eval(), float(summary["wall_s"])


def curve(out: Path, metric: str) -> list[tuple[int, float]]:
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [(int(r["step"]), float(r[metric])) for r in rows if r["kind"] == "eval"]


def lags(model: torch.nn.Module) -> list[int]:
    """The input offsets (frames back from the output position) that the model reads: its exact taps."""
    offsets = rf.support(model.rf_graph()).offsets()  # type: ignore[operator]
    return sorted(int(-o) for o in offsets[:, 0])


def oracle_nll(test: Any, reads: Sequence[int] | None) -> float:
    """The frame NLL, on this very test set, of the best predictor that reads ``reads`` (None: the whole past)."""
    from atrous.data.music import frame_nll

    x, y = (torch.stack(t) for t in zip(*(test[i] for i in range(len(test)))))
    return float(frame_nll(test.oracle_logits(x, reads), y).mean())


def mean_spread(values: Sequence[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "n": len(values)}


def environment() -> dict[str, Any]:
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=False).stdout.strip()
    return {"torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpu": platform.processor() or platform.machine(), "python": platform.python_version(),
            "git_commit": commit}


def main() -> int:
    from atrous.train.provenance import require_clean

    require_clean("rhythm/sweep.py")  # --allow-dirty: write results from uncommitted code anyway
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "rhythm")
    parser.add_argument("--quick", action="store_true", help="one seed, one epoch (a smoke test)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = (0,) if args.quick else SEEDS
    rhythm_hp = {**RHYTHM_HPARAMS, "epochs": 1} if args.quick else RHYTHM_HPARAMS
    chorale_hp = {**CHORALE_HPARAMS, "epochs": 1} if args.quick else CHORALE_HPARAMS
    started = time.monotonic()

    runs: list[dict[str, Any]] = []
    for name, kwargs in RHYTHM_MODELS.items():
        for seed in seeds:
            data = {"data_seed": seed}
            slug = name.split(" (")[0].replace("^", "").replace(" ", "-")
            out = args.runs / ("quick" if args.quick else "full-e20") / f"rhythm-{slug}-seed{seed}"
            summary, model, wall = train("rhythm", out, kwargs, data, seed, rhythm_hp)
            config = json.loads((out / "config.json").read_text())
            test = rhythm_dataset(config["data"], "test")
            reads = lags(model)
            runs.append({"task": "rhythm", "model": name, **kwargs, "seed": seed, "params": summary["params"],
                         "rf": model.receptive_field().size[0], "period_lags": [p - 1 for p in test.period_frames],
                         "reads_period_lags": [p - 1 in reads for p in test.period_frames],
                         "test_nll": summary["metrics"]["test_nll"], "entropy": test.entropy(),
                         "bound": test.bound(reads), "oracle_test_nll": oracle_nll(test, reads),
                         "oracle_test_nll_full": oracle_nll(test, None), "curve": curve(out, "test_nll"),
                         "wall_s": wall, "command": command("rhythm", kwargs, data, seed=seed, **rhythm_hp)})
            r = runs[-1]
            print(f"rhythm   {name:20s} seed {seed}  RF {r['rf']:3d}  params {r['params']}  test_nll "
                  f"{r['test_nll']:.4f}  bound {r['bound']:.4f}  entropy {r['entropy']:.4f}  {wall:.1f} s", flush=True)
    for name, kwargs in CHORALE_MODELS.items():
        for seed in seeds:
            slug = name.split(" (")[0].replace("^", "").replace(" ", "-")
            out = args.runs / ("quick" if args.quick else "full-e20") / f"chorales-{slug}-seed{seed}"
            summary, model, wall = train("chorales", out, kwargs, {}, seed, chorale_hp)
            runs.append({"task": "chorales", "model": name, **kwargs, "seed": seed, "params": summary["params"],
                         "rf": model.receptive_field().size[0], "valid_nll": summary["metrics"]["valid_nll"],
                         "test_nll": summary["metrics"]["test_nll"], "best_valid_nll": summary["best"]["valid_nll"],
                         "curve": curve(out, "valid_nll"), "wall_s": wall,
                         "command": command("chorales", kwargs, {}, seed=seed, **chorale_hp)})
            r = runs[-1]
            print(f"chorales {name:20s} seed {seed}  RF {r['rf']:3d}  params {r['params']}  valid_nll "
                  f"{r['valid_nll']:.4f}  test_nll {r['test_nll']:.4f}  {wall:.1f} s", flush=True)

    table = []
    for task, models in (("rhythm", RHYTHM_MODELS), ("chorales", CHORALE_MODELS)):
        keys = ("test_nll", "bound", "oracle_test_nll", "oracle_test_nll_full") if task == "rhythm" \
            else ("valid_nll", "test_nll")
        for name in models:
            group = [r for r in runs if r["task"] == task and r["model"] == name]
            table.append({"task": task, "model": name, "rf": group[0]["rf"], "params": group[0]["params"],
                          **{k: mean_spread([r[k] for r in group]) for k in keys},
                          **({"entropy": mean_spread([r["entropy"] for r in group])} if task == "rhythm" else {})})
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / ("rhythm_quick.json" if args.quick else "rhythm.json")
    path.write_text(json.dumps({
        "experiment": "rhythm", "seeds": list(seeds), "rhythm_hparams": rhythm_hp, "chorale_hparams": chorale_hp,
        "table": table, "runs": runs, "environment": environment(),
        "train_wall_s": round(sum(r["wall_s"] for r in runs), 1), "script_wall_s": round(time.monotonic() - started, 1),
    }, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
