"""Plot accuracy against enhancer distance per model (mean ± std over seeds) with the blind ceiling.

Usage: python experiments/genomics/plot.py  (reads experiments/genomics/results/distance.json, writes
docs/figures/genomics_distance.png)
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LABELS = {"spliceai": "dilated tower (d = 1..128)", "undilated_tower": "undilated tower (same depth)",
          "pooled_tower": "pooled tower (7 max-pools, 128 bp/output)"}


def main() -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    result = json.loads((ROOT / "experiments/genomics/results/distance.json").read_text())
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for model, label in LABELS.items():
        rows = [r for r in result["table"] if r["model"] == model]
        xs = [r["distance"] for r in rows]
        ax.errorbar(xs, [r["accuracy"]["mean"] for r in rows], yerr=[r["accuracy"]["std"] for r in rows],
                    marker="o", capsize=3, label=label)
    ceiling = [r["blind_ceiling"]["mean"] for r in result["table"] if r["model"] == "spliceai"]
    ax.plot(result["distances"], ceiling, "k--", lw=1, label="ceiling without the enhancer")
    ax.axhline(0.5, color="grey", lw=0.5)
    ax.set_xscale("log")
    ax.set_xlabel("enhancer distance upstream of the promoter (bp)")
    ax.set_ylabel(f"test accuracy ({result['eval_size']} sequences, {len(result['seeds'])} seeds)")
    ax.set_ylim(0.45, 1.02)
    ax.set_title(f"enhancer task, {result['data']['length']} bp sequences")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    out = ROOT / "docs/figures/genomics_distance.png"
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
