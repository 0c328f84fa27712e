"""Accuracy against enhancer distance: a dilated tower, an undilated tower of the same depth, a pooled tower.

For each model (``spliceai`` as the dilated tower, ``undilated_tower``, ``pooled_tower``; the ``enhancer``
task's defaults) and seeds 0, 1, 2 (model initialisation, data order and data), train once on enhancers at
log-uniform distances 20..max_distance, then score the trained model on test sets whose enhancers all sit at one
distance (DISTANCES), EVAL_SIZE sequences each. The blind ceiling of each test set (the best accuracy without
seeing the enhancer, :func:`atrous.data.dna.blind_ceiling`) is recorded with it.

Usage: python experiments/genomics/distance.py [--runs DIR] [--quick]
Writes experiments/genomics/results/distance.json; runs already finished in DIR are reused.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

import torch

from atrous.data.dna import EnhancerPromoter, blind_ceiling
from atrous.models import create_model
from atrous.train import TrainConfig, evaluate, fit, get_task, load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"
MODELS = ("spliceai", "undilated_tower", "pooled_tower")
SEEDS = (0, 1, 2)
DISTANCES = (20, 50, 100, 200, 300)
EVAL_SIZE = 256


def train(model: str, seed: int, out: Path, steps: int | None) -> tuple[dict[str, Any], torch.nn.Module]:
    if not (out / "summary.json").exists():
        started = time.monotonic()
        cfg = TrainConfig("enhancer", model=model, seed=seed, data={"data_seed": seed},
                          **({"steps": steps} if steps else {}))
        summary = fit(cfg, out, device="cpu")
        summary["wall_s"] = round(time.monotonic() - started, 2)
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    summary = json.loads((out / "summary.json").read_text())
    ckpt = load_checkpoint(out / "last.pt")
    net = create_model(ckpt["model"]["name"], **ckpt["model"]["kwargs"])
    net.load_state_dict(ckpt["state_dict"])
    return summary, net.eval()


def spread(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "n": len(values)}


def main() -> int:
    from atrous.train.provenance import require_clean

    require_clean("genomics/distance.py")  # --allow-dirty: write results from uncommitted code anyway
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "genomics")
    parser.add_argument("--quick", action="store_true", help="one seed, 20 steps (a smoke test)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    task = get_task("enhancer")
    seeds, steps = ((0,), 20) if args.quick else (SEEDS, None)
    started = time.monotonic()
    runs = []
    for model in MODELS:
        for seed in seeds:
            summary, net = train(model, seed, args.runs / f"{model}-seed{seed}", steps)
            per_distance = {}
            t0 = time.monotonic()
            for d in DISTANCES:
                opts = {**task.data, "data_seed": seed, "distance": d, "test_size": EVAL_SIZE}
                test = EnhancerPromoter(opts["length"], EVAL_SIZE, "test", seed, opts["min_distance"],
                                        opts["max_distance"], d, opts["shift"])
                metrics = evaluate(net, task, {"test": test}, 128, torch.device("cpu"))
                kinds = [int(test[i][4]) for i in range(len(test))]
                per_distance[str(d)] = {"accuracy": metrics["test_accuracy"], "loss": metrics["test_loss"],
                                        "blind_ceiling": blind_ceiling(kinds)}
            rf = net.receptive_field()
            runs.append({"model": model, "seed": seed, "params": summary["params"], "rf": rf.size[0],
                         "rf_step": rf.jump[0], "test_accuracy": summary["metrics"]["test_accuracy"],
                         "steps": summary["step"], "wall_s": summary.get("wall_s"),
                         "eval_wall_s": round(time.monotonic() - t0, 1), "per_distance": per_distance,
                         "command": f"atrous train enhancer --model {model} --seed {seed} --data-seed {seed} "
                                    f"--threads 1" + (f" --steps {steps}" if steps else "")})
            accs = " ".join(f"{d}:{v['accuracy']:.3f}" for d, v in per_distance.items())
            print(f"{model:16s} seed {seed}  RF {rf.size[0]:5d}/{rf.jump[0]:4d}  {accs}  "
                  f"train {summary.get('wall_s')} s", flush=True)
    table = [{"model": m, "distance": d,
              "accuracy": spread([r["per_distance"][str(d)]["accuracy"] for r in runs if r["model"] == m]),
              "blind_ceiling": spread([r["per_distance"][str(d)]["blind_ceiling"] for r in runs
                                       if r["model"] == m])}
             for m in MODELS for d in DISTANCES]
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=False).stdout.strip()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / ("distance_quick.json" if args.quick else "distance.json")
    path.write_text(json.dumps({
        "experiment": "distance", "task": "enhancer", "data": dict(task.data), "hparams": dict(task.hparams),
        "models": {m: dict(task.models[m]) for m in MODELS}, "seeds": list(seeds), "distances": list(DISTANCES),
        "eval_size": EVAL_SIZE, "table": table, "runs": runs,
        "environment": {"torch": torch.__version__, "threads": torch.get_num_threads(),
                        "cpu": platform.processor() or platform.machine(), "git_commit": commit},
        "script_wall_s": round(time.monotonic() - started, 1)}, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
