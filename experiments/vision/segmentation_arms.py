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

from pathlib import Path
from typing import Any

from _common import command, environment, train, write
from segmentation import METRICS, grid

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
    _, seeds, rows, summary, wall = grid(__doc__, ARMS, one_run)
    write("segmentation_arms.json", {"environment": {**environment(), "dirty": state["dirty"]}, "seeds": seeds,
                                     "variants": ARMS, "runs": rows, "summary": summary, "wall_s": wall})

if __name__ == "__main__":
    main()
