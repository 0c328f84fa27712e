"""Gridding: the same ``dilated_cnn`` (3 layers of 16) with rates 2,2,2 vs HDC's 1,2,5 vs smoothed 2,2,2 (and
1,2,3, a hole-free schedule with the receptive field of 2,2,2) on the ``gridding`` task (TinyShapes).

For every variant and seeds 0, 1, 2 (model initialisation, data order and data), train with the task's
defaults (400 Adam steps) and measure on the run's 500 test images:

* ``fg_accuracy`` (object pixels; the headline) and ``accuracy`` (all pixels), per-class accuracy;
* the checkerboard energy (:func:`atrous.data.shapes.checkerboard_energy`, period 2) of the logits on the test
  images, on white-noise inputs (the network's own texture), and of the input-gradient map of the centre unit
  (``|d logits(centre) / d x|``, what that unit reads), averaged over maps;
* the correlation of horizontally / vertically adjacent logits on white noise (0 in expectation for 2,2,2,
  whose neighbouring outputs read disjoint inputs);
* :func:`atrous.functional.shift_consistency_loss` with shifts 1 along each axis, on the interior (margin =
  receptive-field radius) and with no margin (borders included);
* the exact support of the receptive field (taps, holes) from :mod:`atrous.rf`.

Usage: python experiments/vision/gridding.py [--runs DIR] [--quick]
Writes experiments/vision/results/gridding.json and gridding_examples.npz (seed 0's outputs, for the figure).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import RESULTS, ROOT, command, environment, mean_spread, train, write
from torch import nn

from atrous import rf
from atrous.data.shapes import TinyShapes, checkerboard_energy
from atrous.functional.losses import shift_consistency_loss

VARIANTS: dict[str, dict[str, Any]] = {
    "2,2,2": {"rates": [2, 2, 2]},
    "1,2,5 (HDC)": {"rates": [1, 2, 5]},
    "smoothed 2,2,2": {"rates": [2, 2, 2], "smoothed": True},
    "1,2,3 (hole-free, RF 13)": {"rates": [1, 2, 3]},
}
SEEDS = (0, 1, 2)
NOISE_SEED = 1234


def neighbour_correlation(maps: torch.Tensor) -> float:
    """Correlation between horizontally and vertically adjacent values of each map, averaged."""
    z = maps - maps.mean(dim=(-2, -1), keepdim=True)
    var = z.square().mean()
    return float(((z[..., 1:, :] * z[..., :-1, :]).mean() + (z[..., :, 1:] * z[..., :, :-1]).mean()) / (2 * var))


def input_gradient(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``|d (sum of the logits at the centre pixel) / d input|`` per image: the map of what that unit reads."""
    x = x.clone().requires_grad_(True)
    out = model(x)
    out[:, :, x.shape[-2] // 2, x.shape[-1] // 2].sum().backward()
    assert x.grad is not None
    return x.grad[:, 0].abs()


def measure(model: nn.Module, test: TinyShapes) -> dict[str, Any]:
    x = torch.stack([test[i][0] for i in range(len(test))])
    y = torch.stack([test[i][1] for i in range(len(test))])
    noise = torch.randn(64, 1, test.image, test.image, generator=torch.Generator().manual_seed(NOISE_SEED))
    radius = (model.receptive_field().size[0] - 1) // 2
    grad = input_gradient(model, x[:64])
    with torch.no_grad():
        logits, on_noise = model(x), model(noise)
        pred = logits.argmax(1)
        per_class = {str(c): float((pred[y == c] == c).float().mean()) for c in range(TinyShapes.classes)}
        return {
            "per_class_accuracy": per_class,
            "checkerboard_test": float(checkerboard_energy(logits, 2).mean()),
            "checkerboard_noise": float(checkerboard_energy(on_noise, 2).mean()),
            "checkerboard_gradient": float(checkerboard_energy(grad, 2).mean()),
            "neighbour_corr_noise": neighbour_correlation(on_noise),
            "shift_interior": float(shift_consistency_loss(model, x[:64], dilation=2, margin=radius)),
            "shift_with_borders": float(shift_consistency_loss(model, x[:64], dilation=2, margin=0)),
            "example": {"x": x[0, 0].numpy(), "y": y[0].numpy(), "pred": pred[0].numpy(),
                        "noise_logit": on_noise[0, 1].numpy(), "gradient": grad[0].numpy()},
        }


def main() -> int:
    from atrous.train.provenance import require_clean

    require_clean("vision/gridding.py")  # --allow-dirty: write results from uncommitted code anyway
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "vision" / "gridding")
    parser.add_argument("--quick", action="store_true", help="one seed (a smoke test)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = (0,) if args.quick else SEEDS
    started = time.monotonic()
    runs, examples = [], {}
    for name, kwargs in VARIANTS.items():
        for seed in seeds:
            data = {"data_seed": seed}
            slug = name.split(" (")[0].replace(",", "").replace(" ", "-")
            summary, model, wall = train("gridding", args.runs / f"{slug}-seed{seed}", kwargs, data, seed=seed)
            test = TinyShapes(**{"image": 24, "count": 500, "split": "test", "seed": seed})
            m = measure(model, test)
            example = m.pop("example")
            if seed == seeds[0]:
                examples.update({f"{slug}/{k}": v for k, v in example.items()})
            support = rf.support(model.rf_graph())
            metrics = summary["metrics"]
            runs.append({"variant": name, **kwargs, "seed": seed, "rf": model.receptive_field().size[0],
                         "taps": int(support.taps), "holes": int(support.holes), "coverage": float(support.coverage),
                         "params": summary["params"], "fg_accuracy": metrics["test_fg_accuracy"],
                         "accuracy": metrics["test_accuracy"], "loss": metrics["test_loss"], **m, "wall_s": wall,
                         "command": command("gridding", kwargs, data, seed=seed)})
            r = runs[-1]
            print(f"{name:26s} seed {seed}  RF {r['rf']}  fg {r['fg_accuracy']:.3f}  cb test "
                  f"{r['checkerboard_test']:.4f}  cb noise {r['checkerboard_noise']:.4f}  cb grad "
                  f"{r['checkerboard_gradient']:.3f}  corr {r['neighbour_corr_noise']:.3f}  shift "
                  f"{r['shift_interior']:.1e}/{r['shift_with_borders']:.1e}  {wall:.1f} s", flush=True)
    keys = ("fg_accuracy", "accuracy", "checkerboard_test", "checkerboard_noise", "checkerboard_gradient",
            "neighbour_corr_noise", "shift_interior", "shift_with_borders")
    table = []
    for name in VARIANTS:
        group = [r for r in runs if r["variant"] == name]
        table.append({"variant": name, "rf": group[0]["rf"], "holes": group[0]["holes"],
                      "params": group[0]["params"], **{k: mean_spread([r[k] for r in group]) for k in keys}})
    # reference levels: the one-hot targets and the inputs of the test split of seed 0
    test = TinyShapes(image=24, count=500, split="test", seed=seeds[0])
    xs = torch.stack([test[i][0] for i in range(len(test))])
    ys = torch.nn.functional.one_hot(torch.stack([test[i][1] for i in range(len(test))]), 5).permute(0, 3, 1, 2)
    reference = {"checkerboard_inputs": float(checkerboard_energy(xs, 2).mean()),
                 "checkerboard_targets": float(checkerboard_energy(ys.double(), 2)[:, 1:].mean()),
                 "checkerboard_white_noise": float(checkerboard_energy(torch.randn(
                     500, 24, 24, generator=torch.Generator().manual_seed(NOISE_SEED)), 2).mean()),
                 "fg_accuracy_always_4": float(ys[:, 4].sum() / ys[:, 1:].sum())}
    RESULTS.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(RESULTS / ("gridding_examples_quick.npz" if args.quick else "gridding_examples.npz"),
                        **examples)
    path = write("gridding_quick.json" if args.quick else "gridding.json", {
        "experiment": "gridding", "task": "gridding", "model": "dilated_cnn width 16, 3 layers", "seeds": list(seeds),
        "table": table, "reference": reference, "runs": runs, "environment": environment(),
        "train_wall_s": round(sum(r["wall_s"] for r in runs), 1),
        "script_wall_s": round(time.monotonic() - started, 1),
    })
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
