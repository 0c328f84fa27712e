"""ERF measurement cost and the depth sweep.

1. ResNet-50 (torchvision, weights=None) at 224x224, 16 samples: wall time of `effective_rf` (batched,
   16 per pass) against the same measurement one sample per pass (the loop most ERF scripts use), in one run.
2. Depth sweeps: sigma ∝ depth^a for (a) a uniform linear 3x3 stack (a = 0.5 exactly with the std) and
   (b) randomly initialised 3x3 conv + ReLU stacks (Luo et al.: about 0.5), both measured.

    python benchmarks/erf.py [--json] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import torch
from torch import nn

from atrous.analysis.erf import depth_sweep, effective_rf


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _timed(fn) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def resnet50_erf(samples: int) -> dict[str, object]:
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None)
    batched, erf = _timed(lambda: effective_rf(model, (1, 3, 224, 224), samples=samples, batch_size=16))
    single, _ = _timed(lambda: effective_rf(model, (1, 3, 224, 224), samples=samples, batch_size=1))
    assert not isinstance(erf, tuple)
    return {"samples": samples, "batched_s": round(batched, 2), "one_per_pass_s": round(single, 2),
            "speedup": round(single / batched, 2), "node": erf.node, "unit": list(erf.unit),  # type: ignore[attr-defined]
            "sigma": [round(s, 2) for s in erf.sigma], "center": [round(c, 2) for c in erf.center],  # type: ignore[attr-defined]
            "area_ratio": erf.area_ratio()}  # type: ignore[attr-defined]


def _uniform(n: int) -> nn.Module:
    net = nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=1, bias=False) for _ in range(n)])
    for conv in net:
        nn.init.ones_(conv.weight)
    return net


def _relu_stack(n: int) -> nn.Module:
    torch.manual_seed(n)
    layers: list[nn.Module] = [nn.Conv2d(1, 16, 3, padding=1)]
    for _ in range(n - 1):
        layers += [nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1)]
    return nn.Sequential(*layers)


def sweeps(quick: bool) -> dict[str, object]:
    depths = [2, 4, 8, 16] if quick else [2, 4, 8, 16, 32]
    size = 129 if quick else 161
    out: dict[str, object] = {}
    for label, build, kwargs in (("uniform_linear", _uniform, {"samples": 1, "dtype": torch.float64}),
                                 ("random_relu", _relu_stack, {"samples": 32, "inits": 1 if quick else 4})):
        for measure in ("std", "sigma"):
            sweep = depth_sweep(build, depths, (1, 1, size, size), measure=measure, **kwargs)
            out[f"{label}/{measure}"] = {"depths": list(sweep.depths),
                                         "width": [[round(w, 3) for w in ws] for ws in sweep.width],
                                         "exponent": [round(a, 3) for a in sweep.exponent],
                                         "r2": [round(f.r2, 4) for f in sweep.fit]}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--quick", action="store_true", help="4 samples and a shorter sweep")
    args = parser.parse_args()
    result = {
        "torch": torch.__version__, "threads": torch.get_num_threads(), "cpu": platform.processor() or
        platform.machine(), "commit": _commit(), "loadavg": os.getloadavg()[0],
        "resnet50": resnet50_erf(4 if args.quick else 16),
        "sweeps": sweeps(args.quick),
    }
    if args.json:
        print(json.dumps(result))
    else:
        r = result["resnet50"]
        print(f"torch {result['torch']}, {result['threads']} threads, commit {result['commit']}, "
              f"load {result['loadavg']:.2f}")
        print(f"ResNet-50 ERF, {r['samples']} samples: batched {r['batched_s']} s, one per pass "  # type: ignore[index]
              f"{r['one_per_pass_s']} s ({r['speedup']}x); node {r['node']} unit {r['unit']}, "  # type: ignore[index]
              f"sigma {r['sigma']}, centre {r['center']}, area ratio {r['area_ratio']}")  # type: ignore[index]
        for key, s in result["sweeps"].items():  # type: ignore[union-attr]
            print(f"depth sweep {key}: depths {s['depths']} width {s['width']} exponent {s['exponent']} "
                  f"(R² {s['r2']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
