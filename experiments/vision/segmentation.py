"""Segmentation with a small DeepLab (issue 8, item 1): no dilation vs exponential dilation vs ASPP vs ASPP with
the V3+ decoder skip, on the generated ``lanes`` task and on the real ``nuclei`` masks (stardist's image).

Every variant is the registry's ``deeplabv3`` at output stride 8 with the task's narrow stages (16, 32, 48, 64):

* ``no dilation``: ``dilated=false head=conv``: the stride-free stages stay undilated, one 3x3 head conv;
* ``exponential``: the dilated backbone (rates 2 then 4 in the stride-free stages) and a cascade head at rates
  1, 2, 4, 8;
* ``ASPP``: the dilated backbone and ASPP at rates 2, 4, 7 with image pooling (the task default);
* ``ASPP + decoder``: the same and the V3+ decoder (a stride-4 skip);
* ``no dilation + decoder``: a control, the first setting with the decoder, to tell what the decoder's resolution
  gives from what the dilation gives.

Seeds 0, 1, 2 (``--seed k --data-seed k``), the tasks' default optimisation (Adam, 400 steps of 16). Scores on the
test split: IoU (headline), and per task ``gap_recall`` / ``distractor_fp`` (lanes) or ``object_recall`` /
``small_recall``, ``object_iou``, ``small_object_iou`` (nuclei). The receptive field of the logits at the
output stride comes from ``atrous.rf``; the decoder variants have none there (their bilinear upsampling makes it
position-dependent: ``atrous analyze`` traces them with their phases).

Usage: python experiments/vision/segmentation.py [--runs DIR] [--tasks lanes,nuclei] [--seeds 0,1,2]
Writes experiments/vision/results/segmentation.json and segmentation_examples.npz (seed 0's predictions).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import RESULTS, ROOT, command, environment, mean_spread, train, write

from atrous.train import get_task

VARIANTS: dict[str, dict[str, Any]] = {
    "no dilation": {"head": "conv", "dilated": False, "rates": None},
    "exponential": {"head": "cascade", "rates": [1, 2, 4, 8]},
    "ASPP": {},
    "ASPP + decoder": {"decoder": True},
    # the control: the decoder's resolution without dilation, to separate the field from the resolution
    "no dilation + decoder": {"head": "conv", "dilated": False, "rates": None, "decoder": True},
}
METRICS = {"lanes": ("iou", "gap_recall", "dash_recall", "distractor_fp", "accuracy"),
           "nuclei": ("iou", "object_iou", "small_object_iou", "object_recall", "small_recall", "accuracy")}


def one_run(task: str, variant: str, seed: int, runs: Path) -> dict[str, Any]:
    kwargs = VARIANTS[variant]
    data = {"data_seed": seed}
    out = runs / f"{task}-{variant.replace(' ', '_').replace('+', 'plus')}-seed{seed}"
    summary, model, wall = train(task, out, kwargs, data, seed=seed, model="deeplabv3")
    metrics = {m: summary["metrics"][f"test_{m}"] for m in METRICS[task]}
    try:
        field = list(model.receptive_field().size)
    except Exception:  # the decoder's bilinear upsampling: position-dependent field (see DeepLabV3's docstring)
        field = None
    return {"task": task, "variant": variant, "seed": seed, "metrics": metrics, "wall_s": wall,
            "parameters": sum(p.numel() for p in model.parameters()), "receptive_field": field,
            "command": command(task, kwargs, data, seed=seed, model="deeplabv3"), "run": str(out)}


def examples(task: str, runs: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """Seed 0's test input, truth and each variant's prediction on the first test sample."""
    from atrous.train import load_model

    ds = get_task(task).datasets({**get_task(task).data, "data_seed": seed})["test"]
    x, y, extra = ds[0]
    out = {"x": x[0].numpy(), "y": y.numpy(), "extra": extra.numpy()}
    for variant in VARIANTS:
        run = runs / f"{task}-{variant.replace(' ', '_').replace('+', 'plus')}-seed{seed}"
        model = load_model(run / "last.pt").eval()
        with torch.no_grad():
            out[variant] = model(x[None])[0].argmax(0).numpy()
    return out


def grid(doc: str, variants: Mapping[str, Any], one_run: Callable[[str, str, int, Path], dict[str, Any]]
         ) -> tuple[argparse.Namespace, list[int], list[dict[str, Any]], dict[str, Any], float]:
    """Parse the command line (--runs, --tasks, --seeds), run every task × seed × variant with ``one_run`` on one
    thread, printing each run's metrics; return the options, the seeds, the rows, the per-task summary (mean and
    spread of each metric) and the wall time."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "segmentation")
    parser.add_argument("--tasks", default="lanes,nuclei")
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    torch.set_num_threads(1)
    started = time.monotonic()
    args.tasks = args.tasks.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    width = max(len(v) for v in variants) + 2
    rows = []
    for task in args.tasks:
        for seed in seeds:
            for variant in variants:
                row = one_run(task, variant, seed, args.runs)
                print(f"{task:7s} {variant:{width}s} seed {seed}: " +
                      " ".join(f"{k} {v:.3f}" for k, v in row["metrics"].items()) + f"  ({row['wall_s']:.0f} s)",
                      flush=True)
                rows.append(row)
    summary = {task: {variant: {m: mean_spread([r["metrics"][m] for r in rows
                                                if r["task"] == task and r["variant"] == variant])
                                for m in METRICS[task]}
                      for variant in variants} for task in args.tasks}
    return args, seeds, rows, summary, round(time.monotonic() - started, 1)


def main() -> None:
    from atrous.train.provenance import require_clean

    require_clean("vision/segmentation.py")  # --allow-dirty: write results from uncommitted code anyway
    args, seeds, rows, summary, wall = grid(__doc__, VARIANTS, one_run)
    tasks = args.tasks
    write("segmentation.json", {"environment": environment(), "seeds": seeds, "variants": VARIANTS, "runs": rows,
                                "summary": summary, "wall_s": wall})
    np.savez_compressed(RESULTS / "segmentation_examples.npz",
                        **{f"{task}/{k}": v for task in tasks for k, v in examples(task, args.runs).items()})


if __name__ == "__main__":
    main()
