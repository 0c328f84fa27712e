"""Print, from the committed results, the numbers behind every table of docs/RESULTS.md that has committed data.

    python experiments/tables.py [SECTION ...]     # default: all sections

SECTION: bai2018, segmentation, vision, graphs, rhythm, genomics, genomics20k. Values are printed with 6
significant digits; the tables in docs/RESULTS.md round them (tests/test_results_tables.py checks that every
number there is a rounding of a number printed here for its section). Reads JSON only: no torch, no training,
no figures.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _load(path: str) -> Any:
    return json.loads((HERE / path).read_text())


def g(value: float) -> str:
    return f"{value:.6g}"


def stats(s: dict[str, float]) -> str:
    return f"{g(s['mean'])} ± {g(s['std'])} [{g(s['min'])}, {g(s['max'])}]"


def spread(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return stats({"mean": statistics.fmean(values), "std": std, "min": min(values), "max": max(values)})


def bai2018() -> None:
    sys.path.insert(0, str(HERE / "bai2018"))
    import summarize

    summarize.main(["--markdown", "--curves"])


def _runs_and_summary(result: dict, seeds: object, label: str) -> None:
    """The seeds, run count and wall times of a segmentation result file, then its per-task summary."""
    walls = [r["wall_s"] for r in result["runs"]]
    print(f"seeds {seeds}; runs {len(result['runs'])}; wall per run {g(min(walls))}..{g(max(walls))} s")
    for task, variants in result["summary"].items():
        print(f"\n{task}{label}: variant | metric: mean ± std [min, max]")
        for variant, metrics in variants.items():
            print(f"{variant} | " + " | ".join(f"{m} {stats(s)}" for m, s in metrics.items()))


def segmentation() -> None:
    result = _load("vision/results/segmentation.json")
    print("settings: variant | model args | RF of the logits (px; None: position-dependent) | parameters")
    for variant, args in result["variants"].items():
        run = next(r for r in result["runs"] if r["variant"] == variant)
        rf = None if run["receptive_field"] is None else run["receptive_field"][0]
        print(f"{variant} | {json.dumps(args)} | {rf} | {run['parameters']}")
    _runs_and_summary(result, sorted({r["seed"] for r in result["runs"]}), "")
    if (HERE / "vision/results/segmentation_arms.json").exists():
        arms = _load("vision/results/segmentation_arms.json")
        print("\narms (segmentation_arms.json): variant | model args | parameters")
        for variant, args in arms["variants"].items():
            run = next(r for r in arms["runs"] if r["variant"] == variant)
            print(f"{variant} | {json.dumps(args)} | {run['parameters']}")
        _runs_and_summary(arms, arms["seeds"], " (arms)")


def vision() -> None:
    rf = _load("vision/results/rf_sweep.json")
    print("object_scale: object size | d | RF | RF / s | accuracy mean ± std [min, max]")
    for row in rf["table"]:
        print(f"{row['object_size']} | {row['dilation']} | {row['rf']} | {row['rf_over_object']:.4f} | "
              f"{stats(row['accuracy'])}")
    print(f"runs {len(rf['runs'])}, params {sorted({r['params'] for r in rf['runs']})}, "
          f"holes {sorted({r['holes'] for r in rf['runs']})}")
    grid = _load("vision/results/gridding.json")
    print("\ngridding: rates | RF | holes of RF^2 | params | metric: mean ± std [min, max]")
    keys = ("fg_accuracy", "accuracy", "checkerboard_gradient", "neighbour_corr_noise", "checkerboard_test",
            "checkerboard_noise", "shift_interior", "shift_with_borders")
    for row in grid["table"]:
        print(f"{row['variant']} | {row['rf']} | {row['holes']} of {row['rf'] ** 2} | {row['params']} | "
              + " | ".join(f"{k} {stats(row[k])}" for k in keys))
    print("reference: " + ", ".join(f"{k} {g(v)}" for k, v in grid["reference"].items()))
    for run in grid["runs"]:
        if run["seed"] == 0 and run["variant"] == "2,2,2":
            print(f"2,2,2 seed 0: fg_accuracy {g(run['fg_accuracy'])}")


def graphs() -> None:
    runs = _load("graphs/results.json")["runs"]
    by: dict[tuple[str, int], list[float]] = defaultdict(list)
    for r in runs:
        if r["task"] == "hops":
            by[(r["model"], r["d"])].append(r["test_accuracy"])
    print("hops: model | d | mean (min-max) over seeds")
    for (model, d), values in sorted(by.items()):
        print(f"{model} | {d} | {g(statistics.fmean(values))} ({g(min(values))} - {g(max(values))}), n={len(values)}")
    print("\nkarate: model | mean (min-max) | per seed")
    karate: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for r in runs:
        if r["task"] == "karate":
            karate[r["model"]].append((r["seed"], r["test_accuracy"]))
    for model, pairs in sorted(karate.items()):
        values = [v for _, v in sorted(pairs)]
        print(f"{model} | {g(statistics.fmean(values))} ({g(min(values))} - {g(max(values))}) | "
              + ", ".join(g(v) for v in values))
    print(f"runs {len(runs)}")


def rhythm() -> None:
    result = _load("rhythm/results/rhythm.json")
    runs = result["runs"]
    print("rhythm: model | dilations | levels | params | RF (taps 0..RF-1) | period lags, read | bound | "
          "test NLL mean ± std [min, max] | oracle test NLL")
    for row in result["table"]:
        if row["task"] != "rhythm":
            continue
        run = next(r for r in runs if r["task"] == "rhythm" and r["model"] == row["model"])
        print(f"{row['model']} | {run['dilations']} | {len(run['dilations'])} | {row['params']} | {row['rf']} "
              f"(taps 0..{row['rf'] - 1}) | {run['period_lags']} {run['reads_period_lags']} | "
              f"{g(row['bound']['mean'])} | {stats(row['test_nll'])} | {stats(row['oracle_test_nll'])}")
    print("\nchorales: model | dilations | RF | params | valid NLL | test NLL | best valid NLL")
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in runs:
        if r["task"] == "chorales":
            groups[r["model"]].append(r)
    for model, rs in groups.items():
        print(f"{model} | {rs[0]['dilations']} | {rs[0]['rf']} | {rs[0]['params']} | "
              + " | ".join(spread([r[k] for r in rs]) for k in ("valid_nll", "test_nll", "best_valid_nll")))


def _genomics(name: str) -> None:
    result = _load(f"genomics/results/{name}.json")
    print("models: name | kwargs | RF | output step | parameters")
    for model, spec in result["models"].items():
        run = next(r for r in result["runs"] if r["model"] == model)
        kwargs = spec.get("kwargs", spec)
        print(f"{model} | {json.dumps(kwargs)} | {run['rf']} | {run['rf_step']} | {run['params']}")
    print("\ndistance | model | blind ceiling mean ± std | accuracy mean ± std [min, max]")
    for row in result["table"]:
        print(f"{row['distance']} | {row['model']} | {stats(row['blind_ceiling'])} | {stats(row['accuracy'])}")


def genomics() -> None:
    _genomics("distance")


def genomics20k() -> None:
    _genomics("distance_20k")


SECTIONS = {"bai2018": bai2018, "segmentation": segmentation, "vision": vision, "graphs": graphs,
            "rhythm": rhythm, "genomics": genomics, "genomics20k": genomics20k}


def main(argv: list[str] | None = None) -> int:
    names = list(sys.argv[1:] if argv is None else argv)
    if any(n in ("-h", "--help") for n in names):
        print(__doc__)
        return 0
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        print(f"tables.py: SECTION must be one of {', '.join(SECTIONS)}, got {unknown[0]!r}", file=sys.stderr)
        return 2
    for name in names or list(SECTIONS):
        print(f"## {name}\n")
        SECTIONS[name]()
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
