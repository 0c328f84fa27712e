"""Accuracy against enhancer distance up to 20 kb: a dilated tower, an undilated tower, a pooled tower.

The ``enhancer`` task (docs/train.md, "DNA") at 20,608 bp, with enhancers at log-uniform distances 20..20,000 bp.
Trained from scratch at that length, a 14-unit dilated tower stays at the blind ceiling (a pilot of 750 steps
at 4 kb did; docs/RESULTS.md), so the dilated and undilated towers follow a length curriculum, each stage one
``atrous train enhancer`` run started from the previous stage's weights (``--init-from``):

=====  =========  ==============  =====  =====
stage  length bp  distances bp    steps  batch
=====  =========  ==============  =====  =====
0      256        20..100         600    16
1      512        20..300         900    16
2      4,160      20..4,000       450    16
3      20,608     20..20,000      300    8
=====  =========  ==============  =====  =====

The pooled tower (a max-pool of 2 after each of its first 12 units: one output per 4,096 bp) has no output at
the short lengths, so it trains at 20,608 bp only, for 1,200 steps of 8 (9,600 sequences; the curriculum
models see 33,600 shorter ones). Every stage draws fresh sequences (``--train-size steps x batch``, one epoch).

Each model is then scored on test sets whose enhancers (or decoys) all sit at one distance (DISTANCES), EVAL_SIZE
sequences of 20,608 bp each, with the blind ceiling of each set (:func:`atrous.data.dna.blind_ceiling`).

Usage: python experiments/genomics/distance_20k.py [--runs DIR] [--seeds 0,1,2] [--models a,b] [--quick]
Writes experiments/genomics/results/distance_20k.json (merging runs from earlier invocations); finished stages
in DIR are reused, so the script can be split over processes by seed or model.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import torch
from distance import spread  # the sibling script (its folder is on sys.path when run as a script)

from atrous.data.dna import EnhancerPromoter, blind_ceiling
from atrous.models import create_model
from atrous.train import TrainConfig, evaluate, fit, get_task, load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"
LENGTH, MAX_DISTANCE = 20_608, 20_000
UNITS = 14  # dilations 1, 2, ..., 8192: receptive field 65,557 bp, 32,778 bp either side
DILATED = {"in_channels": 4, "out_channels": 1, "channels": 16, "kernel_sizes": [15] + [3] * (UNITS - 1),
           "dilations": [2 ** i for i in range(UNITS)], "units_per_group": 1, "crop": False}
MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "dilated": ("spliceai", DILATED),
    "undilated": ("undilated_tower", {"in_channels": 4, "out_channels": 1, "channels": 16, "depth": UNITS,
                                      "first_kernel": 15}),
    "pooled": ("pooled_tower", {"in_channels": 4, "out_channels": 1, "channels": 16, "depth": UNITS, "pools": 12,
                                "first_kernel": 15}),
}
#: (length, max_distance, steps, batch) per stage
CURRICULUM = ((256, 100, 600, 16), (512, 300, 900, 16), (4160, 4000, 450, 16), (LENGTH, MAX_DISTANCE, 300, 8))
STAGES = {"dilated": CURRICULUM, "undilated": CURRICULUM, "pooled": ((LENGTH, MAX_DISTANCE, 1200, 8),)}
DISTANCES = (50, 300, 1000, 5000, 10000, 20000)
EVAL_SIZE = 128


def stage_config(name: str, seed: int, stage: tuple[int, int, int, int], init: Path | None,
                 steps_scale: float) -> TrainConfig:
    length, max_d, steps, batch = stage
    steps = max(2, int(steps * steps_scale))
    model, kwargs = MODELS[name]
    data = {"data_seed": seed, "length": length, "min_distance": 20, "max_distance": max_d,
            "train_size": steps * batch, "test_size": 128}
    return TrainConfig("enhancer", model=model, model_kwargs=kwargs, epochs=1, seed=seed, batch_size=batch,
                       data=data, init_from=None if init is None else str(init))


def command(cfg: TrainConfig, out: Path) -> str:
    args = [f"atrous train enhancer --model {cfg.model} --seed {cfg.seed} --epochs 1 --batch-size {cfg.batch_size}"]
    args += [f"--model-arg {k}={json.dumps(v, separators=(',', ':'))}" for k, v in cfg.model_kwargs.items()]
    args += [f"--data-arg {k}={v}" for k, v in cfg.data.items() if k not in ("train_size", "test_size")]
    args += [f"--train-size {cfg.data['train_size']} --test-size {cfg.data['test_size']}"]
    if cfg.init_from:
        args.append(f"--init-from {cfg.init_from}")
    return " ".join(args) + f" --threads 1 --out {out}"


def train(name: str, seed: int, runs: Path, steps_scale: float) -> tuple[list[dict[str, Any]], torch.nn.Module]:
    init: Path | None = None
    stages = []
    for i, stage in enumerate(STAGES[name]):
        out = runs / f"{name}-seed{seed}-stage{i}"
        cfg = stage_config(name, seed, stage, init, steps_scale)
        if not (out / "summary.json").exists():
            started = time.monotonic()
            summary = fit(cfg, out, device="cpu", progress=False)
            summary["wall_s"] = round(time.monotonic() - started, 1)
            (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        summary = json.loads((out / "summary.json").read_text())
        stages.append({"stage": i, "length": stage[0], "max_distance": stage[1], "steps": summary["step"],
                       "batch": stage[3], "test_accuracy": summary["metrics"]["test_accuracy"],
                       "wall_s": summary.get("wall_s"), "command": command(cfg, out)})
        print(f"  {name} seed {seed} stage {i}: {stage[0]} bp, test accuracy "
              f"{summary['metrics']['test_accuracy']:.3f}, {summary.get('wall_s')} s", flush=True)
        init = out / "last.pt"
    assert init is not None
    ckpt = load_checkpoint(init)
    net = create_model(ckpt["model"]["name"], **ckpt["model"]["kwargs"])
    net.load_state_dict(ckpt["state_dict"])
    return stages, net.eval()


def main() -> int:
    from atrous.train.provenance import require_clean

    require_clean("genomics/distance_20k.py")  # --allow-dirty: write results from uncommitted code anyway
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=Path, default=ROOT / "runs" / "genomics20k")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--quick", action="store_true", help="2%% of the steps, 16 test sequences (a smoke test)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    task = get_task("enhancer")
    seeds = [int(s) for s in args.seeds.split(",")]
    names = [m for m in args.models.split(",") if m]
    for m in names:
        if m not in MODELS:
            raise SystemExit(f"distance_20k.py: --models must name {', '.join(MODELS)}, got {m!r}")
    scale, eval_size = (0.02, 16) if args.quick else (1.0, EVAL_SIZE)
    path = RESULTS / ("distance_20k_quick.json" if args.quick else "distance_20k.json")
    started = time.monotonic()
    runs: list[dict[str, Any]] = []
    for name in names:
        for seed in seeds:
            stages, net = train(name, seed, args.runs, scale)
            per_distance = {}
            t0 = time.monotonic()
            for d in DISTANCES:
                test = EnhancerPromoter(LENGTH, eval_size, "test", seed, 20, MAX_DISTANCE, d, 64)
                metrics = evaluate(net, task, {"test": test}, 32, torch.device("cpu"))
                kinds = [int(test[i][4]) for i in range(len(test))]
                per_distance[str(d)] = {"accuracy": metrics["test_accuracy"], "loss": metrics["test_loss"],
                                        "blind_ceiling": blind_ceiling(kinds)}
            rf = net.receptive_field()
            runs.append({"model": name, "registry_name": MODELS[name][0], "seed": seed,
                         "params": sum(p.numel() for p in net.parameters()), "rf": rf.size[0], "rf_step": rf.jump[0],
                         "stages": stages, "eval_wall_s": round(time.monotonic() - t0, 1),
                         "per_distance": per_distance})
            accs = " ".join(f"{d}:{v['accuracy']:.3f}" for d, v in per_distance.items())
            print(f"{name:10s} seed {seed}  RF {rf.size[0]:6d}/{rf.jump[0]:5d}  {accs}", flush=True)
    old = json.loads(path.read_text())["runs"] if path.exists() else []  # read late: other invocations may write
    runs += [r for r in old if not (r["model"] in names and r["seed"] in seeds)]
    present = [m for m in MODELS if any(r["model"] == m for r in runs)]
    table = [{"model": m, "distance": d,
              "accuracy": spread([r["per_distance"][str(d)]["accuracy"] for r in runs if r["model"] == m]),
              "blind_ceiling": spread([r["per_distance"][str(d)]["blind_ceiling"] for r in runs if r["model"] == m])}
             for m in present for d in DISTANCES]
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                            check=False).stdout.strip()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "experiment": "distance_20k", "task": "enhancer", "length": LENGTH, "max_distance": MAX_DISTANCE,
        "motifs": "jaspar",  # every stage uses the task's default; without pyjaspar a run refuses
        "models": {m: {"registry_name": MODELS[m][0], "kwargs": MODELS[m][1],
                       "stages": [dict(zip(("length", "max_distance", "steps", "batch"), s)) for s in STAGES[m]]}
                   for m in MODELS},
        "distances": list(DISTANCES), "eval_size": eval_size, "table": table,
        "runs": sorted(runs, key=lambda r: (list(MODELS).index(r["model"]), r["seed"])),
        "environment": {"torch": torch.__version__, "threads": torch.get_num_threads(),
                        "cpu": platform.processor() or platform.machine(), "git_commit": commit},
        "last_invocation_wall_s": round(time.monotonic() - started, 1)}, indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
