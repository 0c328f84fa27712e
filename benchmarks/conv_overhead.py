"""Per-call overhead of the dilated conv modules: settings resolved once in the module against the public op that
resolves them on every call, with plain F.conv*d as the floor, in one process.

    python benchmarks/conv_overhead.py [--json] [--repeats N]

A ``DilatedConv1d`` / ``DilatedConv2d`` resolves its stride, dilation and padding words when it is built; its
forward checks only the tensors. ``dilated_conv1d(x, w, ..., padding="same")`` (what the forward called before)
builds and checks the layer spec on each call. On small tensors, where the arithmetic is cheap, the difference is
the overhead a model pays per layer and per call. Each time is the median of torch.utils.benchmark
blocked_autorange, the three calls interleaved over ``--repeats`` rounds (this machine is shared and noisy).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from statistics import median
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.benchmark import Timer

from _machine import cpu_model, git_commit
from atrous.functional import dilated_conv1d, dilated_conv2d
from atrous.nn import DilatedConv1d, DilatedConv2d

Fn = Callable[[], Any]


def cases() -> dict[str, dict[str, Fn]]:
    torch.manual_seed(0)
    out: dict[str, dict[str, Fn]] = {}
    x1 = torch.randn(1, 4, 64)
    m1 = DilatedConv1d(4, 4, 3, dilation=2, padding="same").eval()
    w1, b1 = m1.weight.detach(), m1.bias.detach()
    out["conv1d 1x4x64 k3 d2 same"] = {
        "module (resolved once)": lambda: m1(x1),
        "public op (resolves each call)": lambda: dilated_conv1d(x1, w1, b1, 1, 2, "same"),
        "F.conv1d (floor)": lambda: F.conv1d(x1, w1, b1, 1, 2, 2),
    }
    x2 = torch.randn(1, 4, 16, 16)
    m2 = DilatedConv2d(4, 4, 3, dilation=3, padding="same").eval()
    w2, b2 = m2.weight.detach(), m2.bias.detach()
    out["conv2d 1x4x16x16 k3 d3 same"] = {
        "module (resolved once)": lambda: m2(x2),
        "public op (resolves each call)": lambda: dilated_conv2d(x2, w2, b2, 1, 3, "same"),
        "F.conv2d (floor)": lambda: F.conv2d(x2, w2, b2, 1, 3, 3),
    }
    return out


def measure(fns: dict[str, Fn], repeats: int) -> dict[str, dict[str, float]]:
    times: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    with torch.no_grad():
        for r in range(repeats):
            for name in names[r % len(names):] + names[:r % len(names)]:
                t = Timer("fn()", globals={"fn": fns[name]}).blocked_autorange(min_run_time=0.2)
                times[name].append(t.median * 1e6)
    return {name: {"median_us": median(v), "min_us": min(v), "max_us": max(v)} for name, v in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object and nothing else")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds (default 5)")
    args = parser.parse_args()
    results = {name: measure(fns, args.repeats) for name, fns in cases().items()}
    meta = {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpu": cpu_model(),
            "commit": git_commit(), "repeats": args.repeats}
    if args.json:
        print(json.dumps({"environment": meta, "results": results}))
        return 0
    print(f"torch {meta['torch']}, {meta['threads']} threads, {meta['cpu']}, commit {meta['commit']}")
    for case, rows in results.items():
        floor = rows[next(n for n in rows if "floor" in n)]["median_us"]
        print(case)
        for name, t in rows.items():
            print(f"  {name:<32}{t['median_us']:8.1f} us  (range {t['min_us']:.1f}-{t['max_us']:.1f}; "
                  f"{t['median_us'] - floor:+.1f} us over the floor)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
