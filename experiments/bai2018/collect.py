"""Copy Bai et al. runs from a runs folder (git-ignored) into the committed results store.

    python experiments/bai2018/collect.py [--runs runs/bai2018] [--store experiments/bai2018/results] [--partial]

For each run folder it copies the small files (config.json, metrics.jsonl, source.jsonl, wall.jsonl,
command.txt, summary.json), never the checkpoints, and writes run.json: finished or partial, steps and epochs
done, wall-clock seconds (from wall.jsonl, the launcher's record; an unfinished segment counts up to now, a killed
and resumed one up to its last logged step), and the commit and dirty state of every start and resume (from
source.jsonl). Only finished runs are collected unless --partial is given; a partial run is labelled so in run.json
and by summarize.py. Collecting again replaces a run's folder in the store, so a partial run becomes a finished one
once it ends; a finished run whose files have not changed is left as it is.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

FILES = ("config.json", "metrics.jsonl", "source.jsonl", "wall.jsonl", "command.txt", "summary.json")
HERE = Path(__file__).resolve().parent


def _lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _logged_seconds(metrics: list[dict]) -> list[float]:
    """The last logged time of each process of a run: the trainer's clock restarts at every start and resume."""
    segments: list[float] = []
    last = None
    for m in metrics:
        if "time" not in m:
            continue
        if last is None or m["time"] < last:
            segments.append(0.0)
        segments[-1] = last = m["time"]
    return segments


def wall_seconds(run: Path, now: float | None = None) -> tuple[float | None, bool, int]:
    """Seconds the run's processes ran (sum over starts and resumes), whether one is still running, and how many
    were killed without an end line. A killed process counts up to its last logged step (the trainer's own clock),
    so the few seconds between that line and the kill are missing: the total is then a lower bound."""
    events = _lines(run / "wall.jsonl")
    if not events:
        return None, False, 0
    logged = _logged_seconds(_lines(run / "metrics.jsonl"))
    if len(logged) != sum(e["event"] in ("start", "resume") for e in events):
        logged = []  # a process that logged nothing: the segments cannot be matched, count killed ones as 0 s
    total, started, open_, killed, segment = 0.0, None, False, 0, -1
    for e in events:
        if e["event"] in ("start", "resume"):
            if started is not None:  # the previous process was killed before it could write its end line
                total += logged[segment] if 0 <= segment < len(logged) else 0.0
                killed += 1
            started, segment = e["start_s"], segment + 1
        elif e["event"] == "end" and started is not None:
            total += e["end_s"] - started
            started = None
    if started is not None:  # still running (or killed without an end line)
        total += (time.time() if now is None else now) - started
        open_ = True
    return total, open_, killed


def _planned_steps(config: dict) -> int | None:
    """Steps of the whole budget, from the config (the data loader keeps a last, smaller batch)."""
    size, batch = config["data"].get("train_size"), config["batch_size"]
    if config["steps"] is not None:
        return config["steps"]
    return None if size is None or batch is None else config["epochs"] * -(-size // batch)


def record(run: Path) -> dict:
    """What run.json says about a run folder."""
    summary = json.loads((run / "summary.json").read_text()) if (run / "summary.json").exists() else None
    config = json.loads((run / "config.json").read_text())
    metrics = _lines(run / "metrics.jsonl")
    evals = [m for m in metrics if m["kind"] == "eval"]
    steps = max((m["step"] for m in metrics), default=0)
    finished = summary is not None and summary["status"] == "finished" and summary["step"] == summary["steps"]
    wall, running, killed = wall_seconds(run)
    sources = _lines(run / "source.jsonl")
    return {
        "name": run.name, "task": config["task"], "model": config["model"], "seed": config["seed"],
        "data_seed": config["data"].get("data_seed"), "status": "finished" if finished else "partial",
        "running_when_collected": running, "step": steps,
        "steps": summary["steps"] if summary is not None else _planned_steps(config),
        "epochs_done": len({m["epoch"] for m in evals}), "epochs": config["epochs"],
        "params": None if summary is None else summary["params"],
        "wall_s": None if wall is None else round(wall, 1), "killed_and_resumed": killed,
        "commits": sorted({s["commit"] for s in sources if s.get("commit")}),
        "dirty": any(bool(s.get("dirty")) for s in sources) if sources else None,
        "collected": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _unchanged(run: Path, target: Path, info: dict) -> bool:
    """True when the store already holds this finished run with the same files (collecting again leaves it, the
    date it was collected included)."""
    if info["running_when_collected"] or not (target / "run.json").exists():
        return False
    if json.loads((target / "run.json").read_text())["status"] != info["status"]:
        return False
    return all((run / n).exists() == (target / n).exists()
               and (not (run / n).exists() or (run / n).read_bytes() == (target / n).read_bytes()) for n in FILES)


def collect(runs: Path, store: Path, partial: bool) -> list[dict]:
    done = []
    for run in sorted(p for p in runs.iterdir() if (p / "config.json").exists() and (p / "metrics.jsonl").exists()):
        info = record(run)
        if info["status"] != "finished" and not partial:
            print(f"skip {run.name}: {info['status']} ({info['epochs_done']} of {info['epochs']} epochs); "
                  "--partial collects it labelled as partial")
            continue
        target = store / run.name
        if _unchanged(run, target, info):
            print(f"unchanged {run.name}")
            continue
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        for name in FILES:
            if (run / name).exists():
                shutil.copy2(run / name, target / name)
        (target / "run.json").write_text(json.dumps(info, indent=2) + "\n")
        print(f"collected {run.name}: {info['status']}, {info['epochs_done']} of {info['epochs']} epochs, "
              f"wall {info['wall_s']} s, commits {', '.join(c[:7] for c in info['commits']) or '?'}"
              f"{' (dirty tree)' if info['dirty'] else ''}")
        done.append(info)
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=Path("runs/bai2018"), help="runs folder (default runs/bai2018)")
    parser.add_argument("--store", type=Path, default=HERE / "results", help="results store (default %(default)s)")
    parser.add_argument("--partial", action="store_true", help="also collect unfinished runs, labelled partial")
    args = parser.parse_args(argv)
    if not args.runs.is_dir():
        print(f"collect.py: --runs must be a folder, got {str(args.runs)!r}", file=sys.stderr)
        return 2
    collect(args.runs, args.store, args.partial)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
