"""Dilated convolutions: the public ops and layers (library defaults) against plain F.conv*d, in one process.

    python benchmarks/conv.py [--json] [--quick] [--no-tune] [--no-backward] [--measure-all] [--repeats N]

Targets (issue #4), on this CPU:
  * 1-D (B=8, 64 -> 64 channels, L=16384, k=3, "same"): dilated_conv1d is never slower than F.conv1d beyond noise
    at any dilation, forward and forward + backward: ratio >= 0.95, or no lower than F.conv1d measured against
    itself in the same rounds (the "noise" column).
  * 2-D (B=4, 64 -> 64, 128x128, 3x3, padding = rate): DilatedConv2d, called on NCHW input as a user passes it, is
    at least 1.4x faster in the forward pass than NCHW F.conv2d at rates >= 12, and never slower (beyond noise) at
    any rate, forward and forward + backward, with the same values (its output may be channels-last).
    The same layer on channels-last input (a model run channels-last) is reported beside it.
  * ASPP (atrous.nn.ASPP(64, 64), eval, on a 4x64x128x128 map): output stride 8 (rates 12, 24, 36) at least 1.4x
    faster in the forward pass with its layout choice than the same module forced to NCHW; output stride 16
    (rates 6, 12, 18) never slower.

Every time is the median of torch.utils.benchmark blocked_autorange, baseline and candidates interleaved over
``--repeats`` rounds (this machine is shared and noisy); ratio = baseline time / public time (> 1: faster). The
public op measures its paths on its first call (not timed) and the chosen path is reported. The library's
defaults are benchmarked (the automatic channels-last layout for 2-D paddings >= 7); --measure-all turns on
set_benchmark(True), which also measures the 1-D fold. Unless --no-tune, the script re-executes itself with
GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=16G, so that page faults of fresh 32 MiB
tensors do not dominate; the JSON records the allocator settings used. Exit status 1 when a target fails.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from statistics import median
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.benchmark import Timer

from atrous.functional import _autotune
from atrous.functional.conv import chosen_paths, dilated_conv1d, set_benchmark
from atrous.nn import ASPP, DilatedConv2d

TUNABLES = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=16G"
TARGET_1D = 0.95
TARGET_2D = 1.4
NOT_SLOWER = 0.95  # "never slower": ratio >= this, or within the noise of the baseline timed against itself
AGAIN = "baseline again"  # the baseline timed a second time in each round: the noise of identical code
Fn = Callable[[], Any]


def environment(tuned: bool) -> dict[str, Any]:
    here = os.path.dirname(os.path.abspath(__file__))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=here).stdout
    dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, cwd=here).stdout
    cpu, flags = "", ""
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and not cpu:
                    cpu = line.split(":", 1)[1].strip()
                if line.startswith("flags") and not flags:
                    flags = line
    isa = "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "other"
    return {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpu": cpu, "isa": isa, "cpus": os.cpu_count(), "commit": commit.strip() + ("+dirty" if dirty else ""),
            "allocator": os.environ.get("GLIBC_TUNABLES", "glibc default") if tuned or "GLIBC_TUNABLES" in os.environ
            else "glibc default (--no-tune)", "loadavg": list(os.getloadavg())}


def median_ms(fn: Fn, min_run_time: float) -> float:
    timer = Timer("fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    return float(timer.blocked_autorange(min_run_time=min_run_time).median * 1e3)


def compare(fns: dict[str, Fn], repeats: int, min_run_time: float) -> dict[str, list[float]]:
    """Interleaved medians of each function: round r times every function once, in a rotating order."""
    names = list(fns)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            times[name].append(median_ms(fns[name], min_run_time))
    return times


def fwd_bwd(fn: Callable[..., torch.Tensor], *leaves: torch.Tensor) -> Fn:
    seed: list[torch.Tensor] = []

    def run() -> None:
        y = fn(*leaves)
        if not seed:
            seed.append(torch.randn_like(y))
        y.backward(seed[0])
        for t in leaves:
            t.grad = None
    return run


def chosen(op: str, shape: tuple[int, ...], dilation: int, backward: bool, shared_input: bool = False) -> str:
    for c in chosen_paths():
        if c["op"] == op and c["input_shape"] == list(shape) and c["dilation"][0] == dilation and \
                c["backward"] == backward and c["shared_input"] == shared_input:
            return f"{c['path']} (measured {c['speedup']:.2f}x)" if c["path"] != "plain" else "plain"
    return "plain (not measured)"


def row(case: str, rate: int, times: dict[str, list[float]], base: str, public: str, path: str,
        target: float | None, diff: float, noise_allowed: bool = False) -> dict[str, Any]:
    """One comparison. ``noise`` is the ratio of the baseline to itself (timed twice in every round): what
    identical code measured here; with ``noise_allowed`` a ratio inside that band also meets the target."""
    b, p = median(times[base]), median(times[public])
    ratios = [x / y for x, y in zip(times[base], times[public])]
    same = [x / y for x, y in zip(times[base], times[AGAIN])]
    ok = None if target is None else b / p >= target or (noise_allowed and b / p >= min(same))
    return {"case": case, "rate": rate, "baseline": base, "public": public, "baseline_ms": round(b, 3),
            "public_ms": round(p, 3), "ratio": round(b / p, 3),
            "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)],
            "noise": [round(min(same), 3), round(max(same), 3)], "path": path, "max_abs_diff": diff,
            "target": target, "pass": ok}


def bench_1d(dilations: list[int], repeats: int, mrt: float) -> list[dict[str, Any]]:
    rows = []
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 64, 16384, generator=g)
    w = torch.randn(64, 64, 3, generator=g) / 64
    for d in dilations:
        def ref(x: torch.Tensor, w: torch.Tensor, d: int = d) -> torch.Tensor:
            return F.conv1d(x, w, None, 1, d, d)

        def ours(x: torch.Tensor, w: torch.Tensor, d: int = d) -> torch.Tensor:
            return dilated_conv1d(x, w, dilation=d, padding="same")

        with torch.no_grad():
            diff = float((ours(x, w) - ref(x, w)).abs().max())  # first call: measures and chooses the path
            times = compare({"F.conv1d": partial(ref, x, w), "dilated_conv1d": partial(ours, x, w),
                             AGAIN: partial(ref, x, w)}, repeats, mrt)
        rows.append(row("1d fwd", d, times, "F.conv1d", "dilated_conv1d", chosen("conv1d", tuple(x.shape), d, False),
                        TARGET_1D, diff, noise_allowed=True))
        xg, wg = x.clone().requires_grad_(), w.clone().requires_grad_()
        fwd_bwd(ours, xg, wg)()  # measures the training configuration
        times = compare({"F.conv1d": fwd_bwd(ref, xg, wg), "dilated_conv1d": fwd_bwd(ours, xg, wg),
                         AGAIN: fwd_bwd(ref, xg, wg)}, repeats, mrt)
        rows.append(row("1d fwd+bwd", d, times, "F.conv1d", "dilated_conv1d",
                        chosen("conv1d", tuple(x.shape), d, True), TARGET_1D, diff, noise_allowed=True))
        print_row(rows[-2])
        print_row(rows[-1])
    return rows


def layout(t: torch.Tensor) -> str:
    return "contiguous" if t.is_contiguous() else \
        "channels-last" if t.is_contiguous(memory_format=torch.channels_last) else "strided"


def bench_2d(rates: list[int], repeats: int, mrt: float, backward: bool) -> list[dict[str, Any]]:
    rows = []
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 64, 128, 128, generator=g)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    for r in rates:
        torch.manual_seed(r)
        module = DilatedConv2d(64, 64, 3, dilation=r, padding="same", bias=False)
        w = module.weight.detach()

        def ref(x: torch.Tensor, w: torch.Tensor, r: int = r) -> torch.Tensor:
            return F.conv2d(x, w, None, 1, r, r)

        def ours(x: torch.Tensor, w: torch.Tensor, m: DilatedConv2d = module) -> torch.Tensor:
            return m(x)  # type: ignore[no-any-return]

        with torch.no_grad():
            want = ref(x, w)
            y = module(x)  # first call: measures and chooses the path (not timed)
            diff = max(float((y - want).abs().max()), float((module(x_cl) - want).abs().max()))
            out_layout = layout(y)
            times = compare({"F.conv2d": partial(ref, x, w), "DilatedConv2d": partial(module, x),
                             "DilatedConv2d(cl in)": partial(module, x_cl), AGAIN: partial(ref, x, w)},
                            repeats, mrt)
        path = f"{chosen('conv2d', tuple(x.shape), r, False)}, output {out_layout}"
        rows.append(row("2d fwd", r, times, "F.conv2d", "DilatedConv2d", path,
                        TARGET_2D if r >= 12 else NOT_SLOWER, diff, noise_allowed=r < 12))
        rows.append(row("2d fwd, channels-last input", r, times, "F.conv2d", "DilatedConv2d(cl in)",
                        "plain on channels-last", None, diff))
        for item in rows[-2:]:
            print_row(item)
        if backward:
            xg, wg = x.clone().requires_grad_(), module.weight

            def ref_fb(x: torch.Tensor, w: torch.Tensor, r: int = r) -> torch.Tensor:
                return F.conv2d(x, w, None, 1, r, r)

            def ours_fb(x: torch.Tensor, w: torch.Tensor, m: DilatedConv2d = module) -> torch.Tensor:
                return m(x)  # type: ignore[no-any-return]

            fwd_bwd(ours_fb, xg, wg)()  # measures the training configuration
            times = compare({"F.conv2d": fwd_bwd(ref_fb, xg, wg), "DilatedConv2d": fwd_bwd(ours_fb, xg, wg),
                             AGAIN: fwd_bwd(ref_fb, xg, wg)}, repeats, mrt)
            rows.append(row("2d fwd+bwd", r, times, "F.conv2d", "DilatedConv2d",
                            chosen("conv2d", tuple(x.shape), r, True), NOT_SLOWER, diff, noise_allowed=True))
            print_row(rows[-1])
    return rows


def bench_aspp(strides: list[int], repeats: int, mrt: float) -> list[dict[str, Any]]:
    """ASPP(64, 64) in eval mode on a 4x64x128x128 map: its layout choice against the same module forced NCHW."""
    rows = []
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 64, 128, 128, generator=g)
    for os_ in strides:
        torch.manual_seed(os_)
        aspp = ASPP(64, 64, output_stride=os_).eval()

        def nchw(x: torch.Tensor, m: ASPP = aspp) -> torch.Tensor:
            with _autotune.force_path("plain"):
                return m(x)  # type: ignore[no-any-return]

        with torch.no_grad():
            y, want = aspp(x), nchw(x)  # first call: measures the widest branch and chooses the layout
            diff = float((y - want).abs().max())
            out_layout = layout(y)
            times = compare({"ASPP NCHW": partial(nchw, x), "ASPP": partial(aspp, x), AGAIN: partial(nchw, x)},
                            repeats, mrt)
        widest = max(aspp.rates)
        path = f"widest branch: {chosen('conv2d', tuple(x.shape), widest, False, True)}, output {out_layout}"
        target = TARGET_2D if min(aspp.rates) >= 12 else NOT_SLOWER
        rows.append(row(f"aspp fwd os{os_} {','.join(map(str, aspp.rates))}", widest, times, "ASPP NCHW", "ASPP",
                        path, target, diff, noise_allowed=target == NOT_SLOWER))
        print_row(rows[-1])
    return rows


QUIET = False


def print_row(r: dict[str, Any]) -> None:
    if QUIET:
        return
    verdict = "" if r["pass"] is None else ("  ok" if r["pass"] else f"  FAIL (target >= {r['target']}x)")
    print(f"{r['case']:<28} {r['rate']:>4}  {r['baseline']:<9} {r['baseline_ms']:8.2f} ms  {r['public']:<20} "
          f"{r['public_ms']:8.2f} ms  {r['ratio']:5.2f}x [{r['ratio_range'][0]:.2f}-{r['ratio_range'][1]:.2f}] "
          f"noise [{r['noise'][0]:.2f}-{r['noise'][1]:.2f}]  "
          f"{r['path']}{verdict}", flush=True)


def main() -> int:
    global QUIET
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object and nothing else")
    parser.add_argument("--quick", action="store_true", help="fewer rates, one round, shorter timings")
    parser.add_argument("--no-tune", action="store_true", help="keep the default glibc allocator settings")
    parser.add_argument("--no-backward", action="store_true", help="skip the 2-D forward+backward sweep")
    parser.add_argument("--measure-all", action="store_true",
                        help="set_benchmark(True): measure every alternative (the 1-D fold too), not only the defaults")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved rounds (default 3, --quick 2)")
    args = parser.parse_args()
    if not args.no_tune and os.environ.get("GLIBC_TUNABLES") != TUNABLES:
        env = {**os.environ, "GLIBC_TUNABLES": TUNABLES}
        os.execve(sys.executable, [sys.executable, *sys.argv], env)
    QUIET = args.json
    set_benchmark(args.measure_all)  # default: the library's defaults, which is what a user gets
    repeats = args.repeats or (2 if args.quick else 3)
    mrt = 0.2 if args.quick else 0.6
    dil_1d = [1, 8, 64] if args.quick else [1, 2, 4, 8, 16, 64, 256]
    rates_2d = [1, 6, 12, 18, 24]
    env = environment(not args.no_tune)
    if not QUIET:
        print(f"torch {env['torch']}, {env['threads']} threads, {env['cpu']} ({env['isa']}), commit {env['commit']}, "
              f"allocator: {env['allocator']}, load {' '.join(f'{v:.2f}' for v in env['loadavg'])}; "
              f"{repeats} interleaved round(s); {'set_benchmark(True)' if args.measure_all else 'library defaults'}")
    rows = bench_2d(rates_2d, repeats, mrt, not args.no_backward) + bench_aspp([8, 16], repeats, mrt) + \
        bench_1d(dil_1d, repeats, mrt)
    failed = [r for r in rows if r["pass"] is False]
    report = {"benchmark": "conv", "env": {**env, "loadavg_end": list(os.getloadavg())}, "repeats": repeats,
              "quick": args.quick, "measure_all": args.measure_all, "rows": rows, "chosen_paths": chosen_paths(),
              "targets": {"1d_min_ratio": TARGET_1D, "2d_rate>=12_min_forward_ratio": TARGET_2D,
                          "aspp_os8_min_forward_ratio": TARGET_2D, "never_slower_min_ratio": NOT_SLOWER},
              "failed": [f"{r['case']} rate {r['rate']}: {r['ratio']}x < {r['target']}x" for r in failed],
              "ok": not failed}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"load average at the end: {' '.join(f'{v:.2f}' for v in report['env']['loadavg_end'])}")
        print("all targets met" if not failed else "targets missed:\n  " + "\n  ".join(report["failed"]))
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
