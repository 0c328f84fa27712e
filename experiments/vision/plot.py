"""Figures of the vision experiments from their JSON results.

Usage: python experiments/vision/plot.py
Reads experiments/vision/results/{rf_sweep.json, gridding.json, gridding_examples.npz}; writes
docs/figures/rf_vs_object.png, docs/figures/gridding_outputs.png and docs/figures/gridding_metrics.png.
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from _common import RESULTS, ROOT
from matplotlib.colors import ListedColormap

FIGURES = ROOT / "docs" / "figures"
LABELS = ListedColormap(["#f2f2f2", "#1b9e77", "#d95f02", "#7570b3", "#e7298a"])


def rf_figure() -> None:
    result = json.loads((RESULTS / "rf_sweep.json").read_text())
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for size, colour in zip(sorted({r["object_size"] for r in result["runs"]}), ("tab:blue", "tab:orange")):
        runs = [r for r in result["runs"] if r["object_size"] == size]
        ax.scatter([r["rf_over_object"] for r in runs], [r["accuracy"] for r in runs], s=14, alpha=0.5,
                   color=colour)
        rows = [t for t in result["table"] if t["object_size"] == size]
        ax.errorbar([t["rf_over_object"] for t in rows], [t["accuracy"]["mean"] for t in rows],
                    yerr=[t["accuracy"]["std"] for t in rows], color=colour, marker="o", capsize=3,
                    label=f"object size {size} (RF " + ", ".join(str(t["rf"]) for t in rows) + ")")
    ax.axhline(result["chance"], color="grey", linestyle="--", linewidth=1, label="chance (4 classes)")
    ax.axvline(1.0, color="black", linestyle=":", linewidth=1)
    ax.set_xlabel("receptive field / object size (rates 1, 1, d, d; d = 1..5)")
    ax.set_ylabel("test accuracy (500 images)")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"object_scale: {len(result['seeds'])} seeds per point (dots), mean ± std")
    ax.legend(loc="center right", fontsize=8)
    fig.tight_layout()
    fig.savefig(FIGURES / "rf_vs_object.png", dpi=120)
    plt.close(fig)


def gridding_figures() -> None:
    result = json.loads((RESULTS / "gridding.json").read_text())
    examples = np.load(RESULTS / "gridding_examples.npz")
    variants = [t["variant"] for t in result["table"]]
    slugs = [v.split(" (")[0].replace(",", "").replace(" ", "-") for v in variants]
    columns = [("x", "input (test image)"), ("y", "target (shape size)"), ("pred", "prediction"),
               ("noise_logit", "logit (class 1) on white noise"), ("gradient", "|d logits(centre) / d input|")]
    fig, axes = plt.subplots(len(slugs), len(columns), figsize=(2.3 * len(columns), 2.3 * len(slugs)))
    for i, (slug, name) in enumerate(zip(slugs, variants)):
        for j, (key, title) in enumerate(columns):
            ax = axes[i, j]
            image = examples[f"{slug}/{key}"]
            if key in ("y", "pred"):
                ax.imshow(image, cmap=LABELS, vmin=0, vmax=4, interpolation="nearest")
            elif key == "gradient":
                ax.imshow(np.sqrt(image / max(float(image.max()), 1e-12)), cmap="magma", interpolation="nearest")
            else:
                ax.imshow(image, cmap="gray", interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=8)
            if j == 0:
                ax.set_ylabel(name, fontsize=8)
    fig.suptitle("gridding task, seed 0: rows = rates; the gradient map is sqrt-scaled", fontsize=9)
    fig.tight_layout()
    fig.savefig(FIGURES / "gridding_outputs.png", dpi=110)
    plt.close(fig)

    panels = [("fg_accuracy", "object-pixel accuracy"),
              ("checkerboard_gradient", "checkerboard energy\nof the gradient map"),
              ("neighbour_corr_noise", "adjacent-output correlation\n(white-noise input)"),
              ("checkerboard_test", "checkerboard energy\nof the logits (test)"),
              ("shift_with_borders", "shift-consistency loss\n(borders included)")]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.6))
    colours = ["tab:red", "tab:blue", "tab:green", "tab:purple"]
    for ax, (key, title) in zip(axes, panels):
        means = [t[key]["mean"] for t in result["table"]]
        stds = [t[key]["std"] for t in result["table"]]
        ax.bar(range(len(variants)), means, yerr=stds, color=colours[: len(variants)], alpha=0.7, capsize=3)
        for k, name in enumerate(variants):
            values = [r[key] for r in result["runs"] if r["variant"] == name]
            ax.scatter([k] * len(values), values, color="black", s=8, zorder=3)
        if key == "fg_accuracy":
            ax.axhline(result["reference"]["fg_accuracy_always_4"], color="grey", linestyle="--", linewidth=1)
        if key == "checkerboard_test":
            ax.axhline(result["reference"]["checkerboard_white_noise"], color="grey", linestyle="--", linewidth=1)
        ax.set_xticks(range(len(variants)))
        ax.set_xticklabels([v.replace(" (hole-free, RF 13)", "\nRF 13").replace(" (HDC)", "\nHDC").replace(
            "smoothed ", "smoothed\n") for v in variants], fontsize=7)
        ax.set_title(title, fontsize=9)
    fig.suptitle(f"gridding task: mean ± std over seeds {result['seeds']} (dots: runs); dashed: always-4 "
                 "accuracy / white-noise level", fontsize=9)
    fig.tight_layout()
    fig.savefig(FIGURES / "gridding_metrics.png", dpi=110)
    plt.close(fig)


def main() -> int:
    if {"-h", "--help"} & set(sys.argv[1:]):
        print(__doc__)
        return 0
    from atrous.train.provenance import require_clean

    require_clean("vision/plot.py")  # --allow-dirty: write results from uncommitted code anyway
    FIGURES.mkdir(parents=True, exist_ok=True)
    if (RESULTS / "rf_sweep.json").exists():
        rf_figure()
    if (RESULTS / "gridding.json").exists():
        gridding_figures()
    print(f"wrote figures to {FIGURES}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
