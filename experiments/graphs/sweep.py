"""Accuracy against d on the `hops` task (dilated_gnn vs gcn), and the karate club, over several seeds.

Calls `atrous train` in-process (`atrous.cli.main.main`) for every run, skips runs whose folder already holds a
`summary.json`, and writes one JSON of every run's final test metrics:

    python experiments/graphs/sweep.py [--runs runs/graphs] [--out experiments/graphs/results.json]
                                       [--d 1,2,3,4,5,6] [--seeds 0,1,2] [--karate-seeds 0,1,2,3,4] [--threads 1]

Models per d (all 32 wide):
  dilated_gnn   2 layers, dilations (d, 1): the first layer reads the d-ring itself
  gcn           2 layers of Kipf & Welling's one-hop convolution (the same depth)
  gcn_deep      max(2, d) one-hop layers: deep enough that the d-ring is inside its receptive field
Seed s sets both the initialisation / data order (--seed) and the generated graphs (--data-seed).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

from atrous.cli.main import main


def _ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t]


def _run(out: Path, argv: list[str], threads: int) -> dict[str, object]:
    summary = out / "summary.json"
    if not summary.exists():
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            code = main(["train", *argv, "--out", str(out), "--threads", str(threads), "--device", "cpu", "--json"])
        if code != 0:
            raise SystemExit(f"sweep: atrous train {' '.join(argv)} failed with exit code {code}")
    result: dict[str, object] = json.loads(summary.read_text())
    return result


def hops_runs(d_values: list[int], seeds: list[int]) -> list[tuple[str, int, int, list[str]]]:
    runs = []
    for d in d_values:
        for seed in seeds:
            common = ["hops", "--data-arg", f"d={d}", "--seed", str(seed), "--data-seed", str(seed)]
            runs.append(("dilated_gnn", d, seed, [*common, "--model", "dilated_gnn",
                                                   "--model-arg", f"dilations={d},1"]))
            runs.append(("gcn", d, seed, [*common, "--model", "gcn", "--model-arg", "num_layers=2"]))
            if d > 2:  # at d <= 2 gcn_deep is gcn
                runs.append(("gcn_deep", d, seed, [*common, "--model", "gcn", "--model-arg", f"num_layers={d}"]))
    return runs


def main_(argv: list[str] | None = None) -> int:
    from atrous.train.provenance import require_clean

    argv = list(sys.argv[1:] if argv is None else argv)
    require_clean("graphs/sweep.py", argv)  # --allow-dirty: write results from uncommitted code anyway
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", default="runs/graphs")
    parser.add_argument("--out", default="experiments/graphs/results.json")
    parser.add_argument("--d", type=_ints, default=[1, 2, 3, 4, 5, 6])
    parser.add_argument("--seeds", type=_ints, default=[0, 1, 2])
    parser.add_argument("--karate-seeds", type=_ints, default=[0, 1, 2, 3, 4])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    runs, started = Path(args.runs), time.monotonic()
    rows: list[dict[str, object]] = []
    todo = hops_runs(args.d, args.seeds)
    for i, (model, d, seed, cmd) in enumerate(todo):
        summary = _run(runs / f"hops-d{d}-{model}-seed{seed}", cmd, args.threads)
        rows.append({"task": "hops", "model": model, "d": d, "seed": seed, "params": summary["params"],
                     "command": "atrous train " + " ".join(cmd), **summary["metrics"]})  # type: ignore[dict-item]
        print(f"[{i + 1}/{len(todo)}] hops d={d} {model} seed {seed}: "
              f"test accuracy {rows[-1]['test_accuracy']:.3f}", file=sys.stderr)
    for seed in args.karate_seeds:
        for model in ("dilated_gnn", "gcn"):
            cmd = ["karate", "--model", model, "--seed", str(seed), "--data-seed", str(seed)]
            summary = _run(runs / f"karate-{model}-seed{seed}", cmd, args.threads)
            rows.append({"task": "karate", "model": model, "seed": seed, "params": summary["params"],
                         "command": "atrous train " + " ".join(cmd), **summary["metrics"]})  # type: ignore[dict-item]
            print(f"karate {model} seed {seed}: test accuracy {rows[-1]['test_accuracy']:.3f}", file=sys.stderr)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    meta = {"torch": torch.__version__, "threads": args.threads, "python": platform.python_version(),
            "machine": platform.machine(), "commit": commit, "wall_s": round(time.monotonic() - started, 1),
            "note": "wall time counts only the runs not already in --runs"}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"meta": meta, "runs": rows}, indent=1) + "\n")
    print(f"wrote {args.out} ({len(rows)} runs, {meta['wall_s']} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main_())
