"""Figures and the table of the segmentation experiment (experiments/vision/segmentation.py).

Usage: python experiments/vision/plot_segmentation.py
Reads experiments/vision/results/segmentation.json and segmentation_examples.npz; writes
docs/figures/segmentation_scores.png and docs/figures/segmentation_outputs.png, and prints the markdown table.
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from _common import RESULTS, ROOT

FIGURES = ROOT / "docs" / "figures"
SHOWN = {"lanes": ("iou", "gap_recall", "distractor_fp"), "nuclei": ("iou", "object_iou", "small_object_iou")}


def scores_figure(result: dict) -> None:
    tasks = list(result["summary"])
    fig, axes = plt.subplots(1, len(tasks), figsize=(6.2 * len(tasks), 3.8), squeeze=False)
    variants = list(result["variants"])
    for ax, task in zip(axes[0], tasks, strict=True):
        metrics = SHOWN[task]
        width = 0.8 / len(variants)
        for i, variant in enumerate(variants):
            stats = [result["summary"][task][variant][m] for m in metrics]
            xs = np.arange(len(metrics)) + (i - (len(variants) - 1) / 2) * width
            ax.bar(xs, [s["mean"] for s in stats], width, yerr=[s["std"] for s in stats], capsize=2,
                   label=variant)
            for x, m in zip(xs, metrics, strict=True):
                runs = [r["metrics"][m] for r in result["runs"] if r["task"] == task and r["variant"] == variant]
                ax.scatter([x] * len(runs), runs, s=6, color="black", zorder=3)
        ax.set_xticks(np.arange(len(metrics)), metrics)
        ax.set_ylim(0, 1.0)
        ax.set_title(f"{task}: mean ± std over {len(result['seeds'])} seeds (dots: runs)")
    axes[0][0].legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(FIGURES / "segmentation_scores.png", dpi=110)
    plt.close(fig)


def outputs_figure(result: dict) -> None:
    data = np.load(RESULTS / "segmentation_examples.npz")
    tasks = list(result["summary"])
    variants = list(result["variants"])
    columns = ["input", "truth", *variants]
    fig, axes = plt.subplots(len(tasks), len(columns), figsize=(2.3 * len(columns), 2.6 * len(tasks)),
                             squeeze=False)
    for row, task in zip(axes, tasks, strict=True):
        for ax, name in zip(row, columns, strict=True):
            key = {"input": "x", "truth": "y"}.get(name, name)
            image = data[f"{task}/{key}"]
            if task == "nuclei":  # the 128 x 512 test strip: show its left 128 x 256
                image = image[:, :256]
            ax.imshow(image, cmap="gray" if name == "input" else "magma", interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{task}: {name}" if name in ("input", "truth") else name, fontsize=9)
    fig.tight_layout()
    fig.savefig(FIGURES / "segmentation_outputs.png", dpi=110)
    plt.close(fig)


def table(result: dict) -> None:
    for task, variants in result["summary"].items():
        metrics = list(next(iter(variants.values())))
        print(f"\n{task}\n")
        print("| variant | RF (px) | parameters | " + " | ".join(metrics) + " |")
        print("|---|---|---|" + "---|" * len(metrics))
        for variant, stats in variants.items():
            run = next(r for r in result["runs"] if r["task"] == task and r["variant"] == variant)
            field = "decoder" if run["receptive_field"] is None else str(run["receptive_field"][0])
            cells = [f"{s['mean']:.3f} ± {s['std']:.3f} [{s['min']:.3f}, {s['max']:.3f}]" for s in stats.values()]
            print(f"| {variant} | {field} | {run['parameters']:,} | " + " | ".join(cells) + " |")


def main() -> None:
    if {"-h", "--help"} & set(sys.argv[1:]):
        print(__doc__)
        return
    from atrous.train.provenance import require_clean

    require_clean("vision/plot_segmentation.py")  # --allow-dirty: write results from uncommitted code anyway
    result = json.loads((RESULTS / "segmentation.json").read_text())
    FIGURES.mkdir(parents=True, exist_ok=True)
    scores_figure(result)
    outputs_figure(result)
    table(result)


if __name__ == "__main__":
    main()
