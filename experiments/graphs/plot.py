"""Plot and tabulate the graph sweep: accuracy against d (PNG) and the markdown tables of docs/RESULTS.md ("Graphs").

    python experiments/graphs/plot.py [--results experiments/graphs/results.json]
                                      [--figure docs/figures/graphs_hops.png]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

LABELS = {"dilated_gnn": "dilated_gnn, dilations (d, 1)", "gcn": "gcn, 2 layers (same depth)",
          "gcn_deep": "gcn, max(2, d) layers (reaches d)"}


def _stats(values: list[float]) -> tuple[float, float, float]:
    return statistics.fmean(values), min(values), max(values)


def table(rows: list[dict[str, object]]) -> str:
    by: dict[tuple[str, int], list[float]] = defaultdict(list)
    for r in rows:
        if r["task"] == "hops":
            by[(str(r["model"]), int(r["d"]))].append(float(r["test_accuracy"]))  # type: ignore[call-overload]
    ds = sorted({d for _, d in by})
    lines = ["| d | " + " | ".join(LABELS[m] for m in LABELS) + " |", "|---|" + "---|" * len(LABELS)]
    for d in ds:
        cells = []
        for m in LABELS:
            v = by.get((m, d))
            if not v:
                cells.append("= gcn" if m == "gcn_deep" else "–")
                continue
            mean, lo, hi = _stats(v)
            cells.append(f"{mean:.3f} ({lo:.3f}–{hi:.3f}, n={len(v)})")
        lines.append(f"| {d} | " + " | ".join(cells) + " |")
    karate: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        if r["task"] == "karate":
            karate[str(r["model"])].append(float(r["test_accuracy"]))  # type: ignore[arg-type]
    if karate:
        lines += ["", "| karate model | test accuracy, mean (min–max) | per seed |", "|---|---|---|"]
        for m, v in sorted(karate.items()):
            mean, lo, hi = _stats(v)
            lines.append(f"| {m} | {mean:.3f} ({lo:.3f}–{hi:.3f}, n={len(v)}) | "
                         + ", ".join(f"{x:.3f}" for x in v) + " |")
    return "\n".join(lines)


def plot(rows: list[dict[str, object]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, kx) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [3, 1]})
    for m, label in LABELS.items():
        pts: dict[int, list[float]] = defaultdict(list)
        for r in rows:
            if r["task"] == "hops" and (r["model"] == m or (m == "gcn_deep" and r["model"] == "gcn"
                                                            and int(r["d"]) <= 2)):  # type: ignore[call-overload]
                pts[int(r["d"])].append(float(r["test_accuracy"]))  # type: ignore[call-overload]
        ds = sorted(pts)
        means = [statistics.fmean(pts[d]) for d in ds]
        lo = [means[i] - min(pts[d]) for i, d in enumerate(ds)]
        hi = [max(pts[d]) - means[i] for i, d in enumerate(ds)]
        ax.errorbar(ds, means, yerr=[lo, hi], marker="o", capsize=3, label=label)
        for d in ds:
            ax.scatter([d] * len(pts[d]), pts[d], s=8, color="grey", alpha=0.5, zorder=0)
    ax.axhline(0.5, color="black", lw=0.8, ls=":", label="chance (the label is a fair coin)")
    ax.set(xlabel="d (the label depends on the nodes exactly d hops away)", ylabel="test accuracy (final)",
           ylim=(0.4, 1.02), title="hops: mean over seeds, bars = min..max, dots = single runs")
    ax.legend(fontsize=8, loc="center right")
    karate: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        if r["task"] == "karate":
            karate[str(r["model"])].append(float(r["test_accuracy"]))  # type: ignore[arg-type]
    names = sorted(karate)
    kx.bar(names, [statistics.fmean(karate[n]) for n in names], color=["C0", "C1"][:len(names)], alpha=0.6)
    for i, n in enumerate(names):
        kx.scatter([i] * len(karate[n]), karate[n], color="black", s=10, zorder=3)
    kx.set(ylim=(0.4, 1.02), title="karate club (4 labels)", ylabel="test accuracy (30 nodes)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    from atrous.train.provenance import require_clean

    argv = list(sys.argv[1:] if argv is None else argv)
    require_clean("graphs/plot.py", argv)  # --allow-dirty: write results from uncommitted code anyway
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default="experiments/graphs/results.json")
    parser.add_argument("--figure", default="docs/figures/graphs_hops.png")
    args = parser.parse_args(argv)
    data = json.loads(Path(args.results).read_text())
    plot(data["runs"], Path(args.figure))
    print(table(data["runs"]))
    print(f"\nmeta: {json.dumps(data['meta'])}\nfigure: {args.figure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
