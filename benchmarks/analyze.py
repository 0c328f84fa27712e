"""Analysing ResNet-50: the traced analysis vs the gradient cross-check, in one process.

    python benchmarks/analyze.py [--json] [--repeats N]

Target (issue #3): the analytic analysis under 0.2 s and at least 20x faster than the empirical measurement of
the same model (torchvision resnet50, weights=None, input 1x3x224x224; the empirical check grows the input
until borders stop mattering). Both results are compared, so a fast wrong answer cannot pass.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from statistics import median

import torch
import torchvision

from _machine import cpu_model, git_commit
from atrous.analysis.analyze import analyze
from atrous.analysis.empirical import empirical_rf

TARGET_S = 0.2
TARGET_RATIO = 20.0


def environment() -> dict[str, object]:
    commit, cpu = git_commit(), cpu_model()
    return {"python": platform.python_version(), "torch": torch.__version__, "torchvision": torchvision.__version__,
            "threads": torch.get_num_threads(), "cpu": cpu, "commit": commit,
            "allocator": os.environ.get("GLIBC_TUNABLES", "glibc default")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    model = torchvision.models.resnet50(weights=None).eval()
    shape = (1, 3, 224, 224)
    analytic_s, empirical_s = [], []
    summary, measured = None, None
    analyze(model, shape)  # warm-up: first-call imports and caches
    for _ in range(args.repeats):  # interleaved, so noise on this shared machine hits both alike
        t0 = time.perf_counter()
        summary = analyze(model, shape).summary
        t1 = time.perf_counter()
        measured = empirical_rf(model, shape, node="layer4")
        t2 = time.perf_counter()
        analytic_s.append(t1 - t0)
        empirical_s.append(t2 - t1)
    assert summary is not None and measured is not None
    last = summary["last_spatial"]
    m = measured.as_dict()
    agree = last["rf"]["size"] == m["rf"]["size"] and last["rf"]["stride"] == m["rf"]["stride"] and \
        last["rf"]["offset"] == m["rf"]["offset"] and last["support"]["taps"] == m["support"]["taps"]
    a, e = median(analytic_s), median(empirical_s)
    report = {
        "benchmark": "analyze resnet50", "repeats": args.repeats, "env": environment(),
        "analytic_s": round(a, 4), "analytic_s_range": [round(min(analytic_s), 4), round(max(analytic_s), 4)],
        "empirical_s": round(e, 3), "empirical_s_range": [round(min(empirical_s), 3), round(max(empirical_s), 3)],
        "ratio": round(e / a, 1), "rf": last["rf"]["size"], "empirical_rf": m["rf"]["size"], "agree": agree,
        "meets_target": agree and a < TARGET_S and e / a >= TARGET_RATIO,
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(f"resnet50, median of {args.repeats} interleaved runs ({report['env']['cpu']}, "
              f"{report['env']['threads']} threads)")
        print(f"  analytic  {a * 1e3:8.1f} ms   (target < {TARGET_S * 1e3:.0f} ms)")
        print(f"  empirical {e * 1e3:8.1f} ms   ratio {e / a:.1f}x (target >= {TARGET_RATIO:.0f}x)")
        print(f"  RF analytic {last['rf']['size']} vs empirical {m['rf']['size']}: "
              f"{'agree' if agree else 'DISAGREE'}")
    return 0 if report["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
