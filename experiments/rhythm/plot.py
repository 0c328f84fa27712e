"""The figure of the rhythm experiment from its JSON results.

Usage: python experiments/rhythm/plot.py
Reads experiments/rhythm/results/rhythm.json; writes docs/figures/rhythm_nll.png: (a) final rhythm test NLL per
model (each seed a dot, the mean a bar) with the generator's entropy and each model's tap-limited bound, (b) test
NLL against training steps (mean over seeds, each seed thin), (c) Bach chorales valid / test NLL per model.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"
FIGURES = ROOT / "docs" / "figures"
COLOURS = ["#7570b3", "#d95f02", "#1b9e77", "#999999"]


def main() -> int:
    if {"-h", "--help"} & set(sys.argv[1:]):
        print(__doc__)
        return 0
    from atrous.train.provenance import require_clean

    require_clean("rhythm/plot.py")  # --allow-dirty: write results from uncommitted code anyway
    result = json.loads((RESULTS / "rhythm.json").read_text())
    runs = result["runs"]
    rhythm = [r for r in runs if r["task"] == "rhythm"]
    chorales = [r for r in runs if r["task"] == "chorales"]
    models = list(dict.fromkeys(r["model"] for r in rhythm))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), gridspec_kw={"width_ratios": [1.1, 1.3, 0.8]})

    ax = axes[0]
    entropy = statistics.fmean(r["entropy"] for r in rhythm)
    for i, name in enumerate(models):
        group = [r for r in rhythm if r["model"] == name]
        values = [r["test_nll"] for r in group]
        ax.bar(i, statistics.fmean(values), color=COLOURS[i], alpha=0.35, width=0.6)
        ax.scatter([i] * len(values), values, color=COLOURS[i], zorder=3, s=18)
        ax.hlines(group[0]["bound"], i - 0.3, i + 0.3, colors="k", linestyles="--", linewidth=1.2,
                  label="best NLL from the model's taps" if i == 0 else None)
    ax.axhline(entropy, color="k", linewidth=0.8, label=f"generator entropy {entropy:.3f}")
    ax.set_xticks(range(len(models)), [f"{m}\nRF {r['rf']}, {r['params']} p." for m, r in
                                       zip(models, [next(r for r in rhythm if r['model'] == m) for m in models])],
                  fontsize=7.5)
    ax.set_ylim(0.9, 1.5)
    ax.set_ylabel("test NLL (nats / frame, 4 tracks)")
    ax.set_title("(a) rhythm: final test NLL, 3 seeds")
    ax.legend(fontsize=7.5, loc="upper right")

    ax = axes[1]
    for i, name in enumerate(models):
        group = [r for r in rhythm if r["model"] == name]
        for r in group:
            steps, nll = zip(*r["curve"])
            ax.plot(steps, nll, color=COLOURS[i], alpha=0.3, linewidth=0.8)
        steps = [s for s, _ in group[0]["curve"]]
        mean = [statistics.fmean(r["curve"][k][1] for r in group) for k in range(len(steps))]
        ax.plot(steps, mean, color=COLOURS[i], linewidth=2, label=name)
    ax.axhline(entropy, color="k", linewidth=0.8)
    ax.set_ylim(0.9, 2.2)
    ax.set_xlabel("training step")
    ax.set_ylabel("test NLL")
    ax.set_title("(b) rhythm: test NLL vs steps (mean bold, seeds thin)")
    ax.legend(fontsize=7.5)

    ax = axes[2]
    names = list(dict.fromkeys(r["model"] for r in chorales))
    for i, name in enumerate(names):
        group = [r for r in chorales if r["model"] == name]
        for k, (metric, shift) in enumerate((("valid_nll", -0.15), ("test_nll", 0.15))):
            values = [r[metric] for r in group]
            ax.bar(i + shift, statistics.fmean(values), width=0.3, color=COLOURS[i], alpha=0.35 if k else 0.6,
                   label=metric if i == 0 else None)
            ax.scatter([i + shift] * len(values), values, color="k", s=10, zorder=3)
    low = min(min(r["valid_nll"], r["test_nll"]) for r in chorales)
    high = max(max(r["valid_nll"], r["test_nll"]) for r in chorales)
    ax.set_ylim(low - 0.3, high + 0.3)
    ax.set_xticks(range(len(names)), [f"{n}\nRF {next(r for r in chorales if r['model'] == n)['rf']}" for n in names],
                  fontsize=8)
    ax.set_ylabel("frame NLL (88 keys)")
    ax.set_title("(c) Bach chorales, 3 seeds")
    ax.legend(fontsize=7.5)

    fig.tight_layout()
    FIGURES.mkdir(parents=True, exist_ok=True)
    path = FIGURES / "rhythm_nll.png"
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
