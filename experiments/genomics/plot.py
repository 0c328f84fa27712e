"""Plot accuracy against enhancer distance per model (mean ± std over seeds) with the blind ceiling.

Usage: python experiments/genomics/plot.py [distance|distance_20k]
(reads experiments/genomics/results/NAME.json, writes docs/figures/genomics_NAME.png)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LABELS = {
    "distance": {"spliceai": "dilated tower (d = 1..128)", "undilated_tower": "undilated tower (same depth)",
                 "pooled_tower": "pooled tower (7 max-pools, 128 bp/output)"},
    "distance_20k": {"dilated": "dilated tower (d = 1..8192, curriculum)",
                     "undilated": "undilated tower (same depth, curriculum)",
                     "pooled": "pooled tower (12 max-pools, 4096 bp/output)"},
}


def main() -> int:
    if {"-h", "--help"} & set(sys.argv[1:]):
        print(__doc__)
        return 0
    from atrous.train.provenance import require_clean

    require_clean("genomics/plot.py")  # --allow-dirty: write results from uncommitted code anyway
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    name = sys.argv[1] if len(sys.argv) > 1 else "distance"
    if name not in LABELS:
        raise SystemExit(f"plot.py: the experiment must be one of {', '.join(LABELS)}, got {name!r}")
    result = json.loads((ROOT / f"experiments/genomics/results/{name}.json").read_text())
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    first = None
    for model, label in LABELS[name].items():
        rows = [r for r in result["table"] if r["model"] == model]
        if not rows:
            continue
        first = first or model
        n = rows[0]["accuracy"]["n"]
        ax.errorbar([r["distance"] for r in rows], [r["accuracy"]["mean"] for r in rows],
                    yerr=[r["accuracy"]["std"] for r in rows], marker="o", capsize=3, label=f"{label}, {n} seeds")
    ceiling = [r["blind_ceiling"]["mean"] for r in result["table"] if r["model"] == first]
    ax.plot(result["distances"], ceiling, "k--", lw=1, label="ceiling without the enhancer")
    ax.axhline(0.5, color="grey", lw=0.5)
    ax.set_xscale("log")
    ax.set_xticks(result["distances"], [f"{d // 1000} k" if d >= 1000 else str(d) for d in result["distances"]])
    ax.minorticks_off()
    ax.set_xlabel("enhancer distance upstream of the promoter (bp)")
    ax.set_ylabel(f"test accuracy ({result['eval_size']} sequences per distance)")
    ax.set_ylim(0.45, 1.02)
    length = result["data"]["length"] if "data" in result else result["length"]
    ax.set_title(f"enhancer task, {length:,} bp sequences")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
    fig.tight_layout()
    out = ROOT / f"docs/figures/genomics_{name}.png"
    fig.savefig(out, dpi=120, bbox_inches="tight")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
