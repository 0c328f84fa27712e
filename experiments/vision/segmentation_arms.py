"""The arms that separate the receptive field from the head and the size in the segmentation comparison (issue 18).

``ASPP + decoder`` (212,946 parameters) against ``no dilation + decoder`` (166,546) changes three things at once:
the field, the head (ASPP with image pooling vs one 3x3 conv) and the capacity. Two more undilated models with
the decoder, each differing from ``ASPP + decoder`` in fewer ways:

* ``undilated ASPP + decoder``: ``dilated=false rates=1,1,1 decoder=true``: the same ASPP head (three 3x3
  branches, a 1x1 branch, image pooling) at rate 1 on the undilated backbone. Same parameters as ``ASPP +
  decoder`` (212,946); only the dilations differ (local field 119 px instead of 247, both with image pooling).
* ``no dilation + decoder, wide``: the conv-head control with ``aspp_channels=58``: 213,970 parameters, within
  0.5 % of ``ASPP + decoder``; head and field differ, capacity does not.

Same task settings, seeds and scores as experiments/vision/segmentation.py (seeds 0, 1, 2 with ``--seed k
--data-seed k``; Adam, 400 steps of 16).

Usage: python experiments/vision/segmentation_arms.py [--runs DIR] [--tasks lanes,nuclei] [--seeds 0,1,2]
Writes experiments/vision/results/segmentation_arms.json (runs already in --runs are read, not re-trained).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch
from _common import ROOT, command, environment, mean_spread, train, write
from segmentation import METRICS

ARMS: dict[str, dict[str, Any]] = {
    "undilated ASPP + decoder": {"dilated": False, "rates": [1, 1, 1], "decoder": True},
    "no dilation + decoder, wide": {"head": "conv", "dilated": False, "rates": None, "decoder": True,
                                    "aspp_channels": 58},
}


def one_run(task: str, arm: str, seed: int, runs: Path) -> dict[str, Any]:
    kwargs = ARMS[arm]
    data = {"data_seed": seed}
    out = runs / f"{task}-{arm.replace(' ', '_').replace('+', 'plus').replace(',', '')}-seed{seed}"
    summary, model, wall = train(task, out, kwargs, data, seed=seed, model="deeplabv3")
    return {"task": task, "variant": arm, "seed": seed,
            "metrics": {m: summary["metrics"][f"test_{m}"] for m in METRICS[task]}, "wall_s": wall,
            "parameters": sum(p.numel() for p in model.parameters()),
            "command": command(task, kwargs, data, seed=seed, model="deeplabv3"), "run": str(out)}


def main() -> None:
    from atrous.train.provenance import require_clean

    state = require_clean("vision/segmentation_arms.py")  # --allow-dirty: write results from uncommitted code
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "segmentation")
    parser.add_argument("--tasks", default="lanes,nuclei")
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.monotonic()
    tasks, seeds = args.tasks.split(","), [int(s) for s in args.seeds.split(",")]
    rows = []
    for task in tasks:
        for seed in seeds:
            for arm in ARMS:
                row = one_run(task, arm, seed, args.runs)
                print(f"{task:7s} {arm:28s} seed {seed}: " +
                      " ".join(f"{k} {v:.3f}" for k, v in row["metrics"].items()) + f"  ({row['wall_s']:.0f} s)",
                      flush=True)
                rows.append(row)
    summary = {task: {arm: {m: mean_spread([r["metrics"][m] for r in rows if r["task"] == task and r["variant"] == arm])
                            for m in METRICS[task]} for arm in ARMS} for task in tasks}
    write("segmentation_arms.json", {"environment": {**environment(), "dirty": state["dirty"]}, "seeds": seeds,
                                     "variants": ARMS, "runs": rows, "summary": summary,
                                     "wall_s": round(time.monotonic() - started, 1)})


if __name__ == "__main__":
    main()
