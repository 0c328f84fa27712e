"""Per-step latency of streaming a TCN one sample at a time, against naive recomputation over the receptive field.

    python benchmarks/stream.py [--json] [--quick]

The TCN is built like pytorch-tcn's ``TCN(64, [64] * n, kernel_size=k, causal=True)``: ``create_model("tcn",
in_channels=64, channels=[64] * n, kernel_size=k)``. Methods, measured interleaved in rounds with
``torch.utils.benchmark.Timer.blocked_autorange``:

* ``naive``: the whole model on the last RF samples, keeping the last output (what you do without a state);
* ``step``: the pure functional :func:`atrous.stream.step` (copies each layer's buffer every step);
* ``module``: :class:`atrous.stream.StreamingModule` (in-place ring buffers, one-sample fast path).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
from typing import Any

import torch
from torch.utils.benchmark import Timer

from atrous.models import create_model
from atrous.stream import StreamingModule, init_state, step


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=False).stdout.strip()
    except OSError:
        return ""


def _measure(fns: dict[str, Any], rounds: int, min_run_time: float) -> dict[str, dict[str, float]]:
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            m = Timer(stmt="fn()", globals={"fn": fn}).blocked_autorange(min_run_time=min_run_time)
            times[name].append(m.median * 1e6)
    return {k: {"median_us": statistics.median(v), "min_us": min(v), "max_us": max(v)} for k, v in times.items()}


def bench(n: int, k: int, rounds: int, min_run_time: float) -> dict[str, Any]:
    torch.manual_seed(0)
    model = create_model("tcn", in_channels=64, channels=[64] * n, kernel_size=k).eval()
    rf = int(model.receptive_field().size[0])  # type: ignore[operator]
    window = torch.randn(1, 64, rf)
    sample = torch.randn(1, 64, 1)
    state = [init_state(model, 1)]
    stream1 = StreamingModule(model, 1)
    stream16 = StreamingModule(model, 16)
    sample16 = torch.randn(16, 64, 1)

    def naive() -> None:
        with torch.no_grad():
            model(window)[:, :, -1:]

    def functional() -> None:
        with torch.no_grad():
            _, state[0] = step(model, sample, state[0])

    fns = {"naive": naive, "step": functional, "module": lambda: stream1(sample),
           "module_b16": lambda: stream16(sample16)}
    res = _measure(fns, rounds, min_run_time)
    module = res["module"]["median_us"]
    return {"n": n, "k": k, "rf": rf, "us_per_step": res,
            "speedup_module_vs_naive": res["naive"]["median_us"] / module,
            "speedup_step_vs_naive": res["naive"]["median_us"] / res["step"]["median_us"],
            "b16_throughput_vs_b1": 16 * module / res["module_b16"]["median_us"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    args = parser.parse_args(argv)
    rounds, mrt = (2, 0.2) if args.quick else (3, 0.5)
    results = [bench(8, 3, rounds, mrt), bench(14, 2, rounds, mrt)]
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpu": platform.processor() or
           platform.machine(), "python": sys.version.split()[0], "commit": _commit(), "results": results}
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"torch {out['torch']}, {out['threads']} threads, {out['cpu']}, commit {out['commit']}")
    for r in results:
        print(f"TCN n={r['n']} k={r['k']} (RF {r['rf']}), batch 1, one sample per step, us per step "
              "(median [min..max over rounds]):")
        for name, t in r["us_per_step"].items():
            print(f"  {name:11s} {t['median_us']:12.1f}  [{t['min_us']:.1f}..{t['max_us']:.1f}]")
        print(f"  module vs naive: {r['speedup_module_vs_naive']:.0f}x; step vs naive: "
              f"{r['speedup_step_vs_naive']:.1f}x; batch 16 throughput vs batch 1: {r['b16_throughput_vs_b1']:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
