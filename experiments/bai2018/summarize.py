"""The Bai et al. (2018) table, rebuilt from the committed results store (experiments/bai2018/results/).

    python experiments/bai2018/summarize.py [--store DIR] [--markdown | --json]

Reads each run's config.json, metrics.jsonl (the test metric after every epoch) and run.json (written by
collect.py: finished or partial, wall time, commits). Prints two tables: one row per run, and one row per task
and model over the finished runs at the same budget (mean, [min, max], how many seeds met the paper's number
and how many left the "predict the mean" plateau within the budget). Partial runs are listed, labelled, and left
out of the second table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: Table 1 of the paper: task -> (metric key, {model: published value}, what it measures, the paper's epochs (None
#: for the digits, which stand in for MNIST: no budget of the paper applies), the level below which a run has left
#: the plateau of answering the mean / blanks)
PAPER = {
    "adding": ("test_mse", {"tcn": 5.8e-5, "gru": 5.3e-5, "lstm": 0.164}, "test MSE, T=600", 10, 0.05),
    "copy": ("test_loss", {"tcn": 3.5e-5, "gru": 0.0197, "lstm": 0.0204}, "test loss, T=1000", 50, 0.01),
    "digits": ("test_accuracy", {"tcn": 0.990, "gru": 0.962, "lstm": 0.872}, "accuracy (paper: seq. MNIST)",
               None, None),
    "pdigits": ("test_accuracy", {"tcn": 0.972, "gru": 0.873, "lstm": 0.857}, "accuracy (paper: P-MNIST)",
                None, None),
}

#: tasks whose learning rate is chosen per model on one seed: that seed's runs are the sweep, grouped apart from
#: the seeds run afterwards at the chosen rate (choosing on the runs that are reported would flatter every model)
SWEEP_SEED = {"digits": 0, "pdigits": 0}


def fmt(value: float | None) -> str:
    """Small losses in scientific notation, the rest with 4 significant digits."""
    if value is None:
        return "-"
    return f"{value:.2e}" if 0 < abs(value) < 1e-3 else f"{value:.4g}"


def load(store: Path) -> list[dict]:
    """One dict per run folder of the store: its record, config and per-epoch evaluations."""
    runs = []
    for folder in sorted(p for p in store.iterdir() if (p / "run.json").exists()) if store.is_dir() else []:
        info = json.loads((folder / "run.json").read_text())
        info["lr"] = json.loads((folder / "config.json").read_text()).get("lr")
        if info["task"] not in PAPER:
            continue
        key, published, what, epochs, plateau = PAPER[info["task"]]
        lines = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines() if line.strip()]
        # one evaluation per epoch, should a metrics file hold one twice
        evals = sorted({m["epoch"]: m[key] for m in lines if m["kind"] == "eval" and key in m}.items())
        lower = info["task"] in ("adding", "copy")
        paper = published.get(info["model"])
        best = (min if lower else max)(evals, key=lambda e: e[1]) if evals else None
        final = evals[-1][1] if evals else None

        def meets(v: float, paper: float | None = paper, lower: bool = lower) -> bool:
            return paper is not None and (v <= paper if lower else v >= paper)

        left = next((e for e, v in evals if plateau is not None and v < plateau), None)
        runs.append({**info, "metric": key, "paper": paper, "what": what, "paper_epochs": epochs,
                     "curve": evals, "final": final, "best": None if best is None else best[1],
                     "best_epoch": None if best is None else best[0],
                     "met_final": final is not None and meets(final),
                     "met_any": any(meets(v) for _, v in evals),
                     "left_plateau_epoch": left, "plateau": plateau})
    return runs


def run_rows(runs: list[dict]) -> list[tuple[str, ...]]:
    rows = []
    for r in runs:
        status = "finished" if r["status"] == "finished" else f"PARTIAL ({r['epochs_done']} of {r['epochs']} epochs)"
        left = "-" if r["plateau"] is None else ("no" if r["left_plateau_epoch"] is None
                                                 else f"epoch {r['left_plateau_epoch']}")
        wall = "-" if r["wall_s"] is None else f"{r['wall_s'] / 60:.1f} min"
        rows.append((r["task"], r["model"], "-" if r["params"] is None else f"{r['params']:,}", str(r["seed"]),
                     fmt(r["lr"]), f"{r['epochs_done']}/{r['epochs']}", status, fmt(r["final"]),
                     f"{fmt(r['best'])} (epoch {r['best_epoch']})", fmt(r["paper"]),
                     f"{'yes' if r['met_final'] else 'no'} / {'yes' if r['met_any'] else 'no'}", left, wall,
                     ", ".join(c[:7] for c in r["commits"]) + (" (dirty)" if r["dirty"] else "")))
    return rows


RUN_HEADER = ("task", "model", "params", "seed", "lr", "epochs", "status", "last epoch", "best", "paper",
              "paper met: final / any epoch", "left plateau", "wall", "commit")


def group_rows(runs: list[dict]) -> list[tuple[str, ...]]:
    groups: dict[tuple[str, str, int, bool, float], list[dict]] = {}
    for r in runs:
        if r["status"] == "finished":
            sweep = SWEEP_SEED.get(r["task"]) == r["seed"]
            groups.setdefault((r["task"], r["model"], r["epochs"], sweep, r["lr"]), []).append(r)
    rows = []
    for (task, model, epochs, sweep, lr), rs in sorted(groups.items()):
        finals = [r["final"] for r in rs]
        seeds = ", ".join(str(r["seed"]) for r in rs)
        spread = f"[{fmt(min(finals))}, {fmt(max(finals))}]" if len(rs) > 1 else "(one seed)"
        left = sum(r["left_plateau_epoch"] is not None for r in rs)
        plateau = "-" if rs[0]["plateau"] is None else f"{left} of {len(rs)}"
        budget = f"{epochs} epochs" + (" (the paper's)" if epochs == rs[0]["paper_epochs"] else "") + (
            ", lr sweep" if sweep else "")
        rows.append((task, model, fmt(lr), budget,
                     f"{len(rs)} ({seeds})", fmt(statistics.fmean(finals)), spread,
                     f"{sum(r['met_final'] for r in rs)} of {len(rs)}", f"{sum(r['met_any'] for r in rs)} of {len(rs)}",
                     plateau, fmt(rs[0]["paper"])))
    return rows


GROUP_HEADER = ("task", "model", "lr", "budget", "seeds", "final, mean", "final, [min, max]", "paper met at the end",
                "paper met at any epoch", "left plateau", "paper")


def _print(header: tuple[str, ...], rows: list[tuple[str, ...]], markdown: bool) -> None:
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, default=HERE / "results",
                        help="results store, one folder per run (default experiments/bai2018/results)")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--markdown", action="store_true", help="markdown tables (as in docs/RESULTS.md)")
    out.add_argument("--json", action="store_true", help="one JSON object: the runs and the groups")
    parser.add_argument("--curves", action="store_true", help="also print each run's test metric after every epoch")
    parser.add_argument("--task", action="append", choices=sorted(PAPER),
                        help="only this task's runs (repeat for several; default: every task)")
    args = parser.parse_args(argv)
    if not args.store.is_dir():
        print(f"summarize.py: --store must be a folder, got {str(args.store)!r}", file=sys.stderr)
        return 2
    runs = [r for r in load(args.store) if args.task is None or r["task"] in args.task]
    if args.json:
        print(json.dumps({"runs": runs, "groups": [dict(zip(GROUP_HEADER, g)) for g in group_rows(runs)]}))
        return 0
    if not runs:
        print(f"no runs in {args.store} (collect them with experiments/bai2018/collect.py)")
        return 0
    print("Runs:\n")
    _print(RUN_HEADER, run_rows(runs), args.markdown)
    print("\nFinished runs by task and model:\n")
    _print(GROUP_HEADER, group_rows(runs), args.markdown)
    if args.curves:
        for r in runs:
            print(f"\n{r['name']} ({r['metric']} after each epoch): " +
                  ", ".join(f"{e}: {fmt(v)}" for e, v in r["curve"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
