"""Receptive field vs object scale: accuracy of ``dilated_cnn`` with rates 1, 1, d, d on ``object_scale``.

For object sizes 13 and 21, dilations d = 1..5 (receptive field 5 + 4d = 9..25, hole-free for every d) and
seeds 0, 1, 2 (model initialisation, data order and data), train with the task's defaults (200 Adam steps)
and record the final test accuracy (500 test images) against RF / object size.

Usage: python experiments/vision/rf_sweep.py [--runs DIR] [--quick]
Writes experiments/vision/results/rf_sweep.json; runs already finished in DIR are reused.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from _common import ROOT, command, environment, mean_spread, train, write

from atrous import rf

SIZES = (13, 21)
DILATIONS = (1, 2, 3, 4, 5)
SEEDS = (0, 1, 2)


def main() -> int:
    from atrous.train.provenance import require_clean

    require_clean("vision/rf_sweep.py")  # --allow-dirty: write results from uncommitted code anyway
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "vision" / "rf_sweep")
    parser.add_argument("--quick", action="store_true", help="one seed, sizes 13 only (a smoke test)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    sizes, seeds = ((13,), (0,)) if args.quick else (SIZES, SEEDS)
    started = time.monotonic()
    runs = []
    for size in sizes:
        for d in DILATIONS:
            rates = [1, 1, d, d]
            for seed in seeds:
                data = {"object_size": size, "data_seed": seed}
                summary, model, wall = train("object_scale", args.runs / f"s{size}-d{d}-seed{seed}", {"rates": rates},
                                             data, seed=seed)
                rf_size = model.receptive_field().size[0]
                support = rf.support(model.rf_graph())
                runs.append({"object_size": size, "dilation": d, "rates": rates, "seed": seed, "rf": rf_size,
                             "rf_over_object": rf_size / size, "holes": int(support.holes),
                             "accuracy": summary["metrics"]["test_accuracy"], "loss": summary["metrics"]["test_loss"],
                             "params": summary["params"], "wall_s": wall,
                             "command": command("object_scale", {"rates": rates}, data, seed=seed)})
                print(f"s={size:2d} d={d} seed={seed}  RF {rf_size:2d} ({rf_size / size:.2f}x)  "
                      f"accuracy {runs[-1]['accuracy']:.3f}  {wall:.1f} s", flush=True)
    table = []
    for size in sizes:
        for d in DILATIONS:
            group = [r for r in runs if r["object_size"] == size and r["dilation"] == d]
            table.append({"object_size": size, "dilation": d, "rf": group[0]["rf"],
                          "rf_over_object": group[0]["rf_over_object"],
                          "accuracy": mean_spread([r["accuracy"] for r in group])})
    path = write("rf_sweep_quick.json" if args.quick else "rf_sweep.json", {
        "experiment": "rf_sweep", "task": "object_scale", "model": "dilated_cnn rates 1,1,d,d width 8",
        "chance": 0.25, "seeds": list(seeds), "table": table, "runs": runs, "environment": environment(),
        "train_wall_s": round(sum(r["wall_s"] for r in runs), 1),
        "script_wall_s": round(time.monotonic() - started, 1),
    })
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
