"""The empirical receptive field as the fallback of ``atrous analyze``: fast path against full width, one process.

    python benchmarks/empirical.py [--json] [--repeats N] [--cases NAME,...] [--baseline full|checked]

Each case runs ``empirical_rf`` as ``atrous analyze`` does (the input shape a user gives, no ``min_size``):

* ``default``: the default (``collapse_channels=None``): the one-channel twin, checked on a small input;
* ``full``: every channel (``collapse_channels=False``), what ``analyze --empirical`` ran before (issue 14);
* ``checked``: the twin checked at the given input size (``collapse_channels=True``), the earlier opt-in.

The methods run interleaved, so load on this shared machine hits them alike; the report gives each median,
the range, the ratio to ``default`` and whether every result (mask included) equals the default's. Target
(issue 14): under 30 s for a ResNet-50-sized model on the 2-core machine. ``--baseline checked`` skips the
full-width runs, which take minutes each.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable
from statistics import median

import torch
from torch import nn

from _machine import cpu_model, git_commit
from atrous.analysis.empirical import EmpiricalRF, empirical_rf

TARGET_S = 30.0


def _tv(name: str) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import torchvision

        if name == "deeplabv3_resnet50":
            model: nn.Module = torchvision.models.segmentation.deeplabv3_resnet50(
                weights=None, weights_backbone=None).backbone
            return model
        return torchvision.models.get_model(name, weights=None)

    return build


def _timm(name: str) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import timm

        model: nn.Module = timm.create_model(name, pretrained=False)
        return model

    return build


def _tcn() -> nn.Module:
    from pytorch_tcn import TCN

    return TCN(4, [32] * 8, kernel_size=3, dilations=[2**i for i in range(8)], causal=True)


#: name -> (builder, input shape, node)
CASES: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...], str | None]] = {
    "resnet50": (_tv("resnet50"), (1, 3, 224, 224), "layer4"),
    "resnet18": (_tv("resnet18"), (1, 3, 224, 224), "layer4"),
    "mobilenet_v3_small": (_tv("mobilenet_v3_small"), (1, 3, 224, 224), "features"),
    "deeplabv3_resnet50.backbone": (_tv("deeplabv3_resnet50"), (1, 3, 224, 224), None),
    "timm:resnet26d": (_timm("resnet26d"), (1, 3, 224, 224), "layer4"),
    "timm:convnext_atto": (_timm("convnext_atto"), (1, 3, 224, 224), "stages"),
    "pytorch_tcn": (_tcn, (1, 4, 256), None),
}

METHODS = {"default": None, "full": False, "checked": True}


def environment() -> dict[str, object]:
    commit, cpu = git_commit(), cpu_model()
    return {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpu": cpu, "commit": commit, "load_average": list(os.getloadavg()),
            "allocator": os.environ.get("GLIBC_TUNABLES", "glibc default")}


def run_case(name: str, methods: list[str], repeats: int) -> dict[str, object]:
    build, shape, node = CASES[name]
    model = build().eval()
    times: dict[str, list[float]] = {m: [] for m in methods}
    results: dict[str, EmpiricalRF] = {}
    empirical_rf(model, shape, node=node)  # warm-up (first-call allocations), not timed
    for _ in range(repeats):
        for m in methods:
            t0 = time.perf_counter()
            results[m] = empirical_rf(model, shape, node=node, collapse_channels=METHODS[m])
            times[m].append(time.perf_counter() - t0)
    ref = results["default"]
    row: dict[str, object] = {"case": name, "input": list(shape), "node": node, "rf": list(ref.size),
                              "stride": [str(s) for s in ref.stride], "measured_at": list(ref.input_size)}
    for m in methods:
        row[f"{m}_s"] = round(median(times[m]), 2)
        row[f"{m}_s_range"] = [round(min(times[m]), 2), round(max(times[m]), 2)]
        if m != "default":
            row[f"{m}_ratio"] = round(median(times[m]) / median(times["default"]), 1)
            row[f"{m}_equal"] = results[m] == ref and torch.equal(results[m].mask, ref.mask)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated names (default: all)")
    parser.add_argument("--baseline", choices=("full", "checked"), default="full")
    args = parser.parse_args()
    names = [n for n in args.cases.split(",") if n]
    unknown = [n for n in names if n not in CASES]
    if unknown or args.repeats < 1:
        parser.error(f"unknown case {unknown[0]!r}; choose from {', '.join(CASES)}" if unknown
                     else "--repeats must be at least 1")
    methods = ["default", "checked"] + (["full"] if args.baseline == "full" else [])
    warnings.filterwarnings("ignore")  # torchvision/timm construction warnings are not the subject
    env = environment()
    rows = []
    for name in names:
        row = run_case(name, methods, args.repeats)
        rows.append(row)
        if not args.json:
            extra = "".join(f"  {m} {row[f'{m}_s']:7.2f} s ({row[f'{m}_ratio']}x, "
                            f"{'same' if row[f'{m}_equal'] else 'DIFFERENT'})" for m in methods[1:])
            print(f"{name:28s} {'x'.join(map(str, row['input'])):>12s}  default {row['default_s']:6.2f} s{extra}  "
                  f"RF {row['rf']} at {row['measured_at']}", flush=True)
    ok = all(all(bool(r[f"{m}_equal"]) for m in methods[1:]) for r in rows)
    slowest = max(float(r["default_s"]) for r in rows)  # type: ignore[arg-type]
    report = {"benchmark": "empirical_rf fallback", "repeats": args.repeats, "env": env, "rows": rows,
              "target_s": TARGET_S, "meets_target": ok and slowest < TARGET_S}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"torch {env['torch']}, {env['threads']} threads, {env['cpu']}, commit {env['commit']}, load "
              f"{env['load_average'][0]:.1f}; every result equal: {ok}; slowest default {slowest:.1f} s "
              f"(target < {TARGET_S:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
