"""Per-step latency of streaming a TCN one sample at a time, beside the machine's bounds for that step.

    python benchmarks/stream.py [--json] [--quick] [--only n8|n14]

The model is pytorch-tcn 1.2.3's own ``TCN(64, [64] * n, kernel_size=k, causal=True)`` (its defaults: weight norm,
dropout 0.1, ReLU; two causal convs per level, dilation ``2**i``, residual) in eval mode, streamed by atrous as it
is. The script first checks that every streamed path reproduces the peer's offline output (<= 1e-5 relative).
Methods, one sample per step, measured interleaved in rounds with ``torch.utils.benchmark.Timer.blocked_autorange``
(median of each round; the spread is min..max over rounds):

* ``naive``: the model on the last RF samples, keeping the last output (what you do without a state);
* ``pytorch_tcn``: the peer's own streaming, ``model(x, inference=True)`` (batch 1 only: it refuses more);
* ``step``: the pure functional :func:`atrous.stream.step` (copies each layer's buffer every step);
* ``torch`` / ``numpy`` / ``compiled``: :class:`atrous.stream.StreamingModule` with that engine;
* ``numpy_b16`` / ``compiled_b16``: the same at batch 16 (time per step of all 16 streams);
* ``compiled_c_call`` (a diagnostic, not an API): the compiled step's C function alone, called through ctypes
  with fixed input and output pointers, the least any Python caller pays; ``compiled`` minus it is the
  wrapper (checks, the output tensor, the call's arguments).

Bounds, measured in the same run on one thread: the GEMM rate of ``torch.mm`` on two 1024x1024 float32 matrices
(FLOPs of a step over it: the FLOP floor) and the rate at which one thread reads as many bytes as the weights
(``torch.sum`` of a float32 tensor of that size: the weights' bytes over it are the bandwidth floor of batch 1).
Progress goes to stderr; Ctrl-C prints the table of what was measured so far.

Needs the benchmark-only peer: ``pip install 'atrous[bench]'`` (pytorch-tcn 1.2.3).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.benchmark import Timer

from _machine import cpu_model, git_commit
from atrous.stream import StreamingModule, compiled_available, init_state, step


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _median_us(fn: Callable[[], Any], min_run_time: float) -> float:
    return float(Timer(stmt="fn()", globals={"fn": fn}).blocked_autorange(min_run_time=min_run_time).median * 1e6)


def _peer(n: int, k: int) -> nn.Module:
    try:
        import pytorch_tcn
    except ImportError:
        raise SystemExit("benchmarks/stream.py: needs pytorch-tcn (pip install 'atrous[bench]')") from None
    torch.manual_seed(0)
    return pytorch_tcn.TCN(64, [64] * n, kernel_size=k, causal=True).eval()


def _check_streams(peer: Any, engines: list[str]) -> dict[str, float]:
    """Max relative difference to the peer's offline output of every streamed path, one sample per step."""
    x = torch.randn(1, 64, 200)
    with torch.no_grad():
        ref = peer(x)
        peer.reset_buffers()
        got = {"pytorch_tcn": torch.cat([peer(x[:, :, t:t + 1], inference=True) for t in range(200)], 2)}
        peer.reset_buffers()
        for engine in engines:
            s = StreamingModule(peer, 1, engine=engine)
            got[engine] = torch.cat([s(x[:, :, t:t + 1]) for t in range(200)], 2)
        state, ys = init_state(peer, 1), []
        for t in range(200):
            y, state = step(peer, x[:, :, t:t + 1], state)
            ys.append(y)
        got["step"] = torch.cat(ys, 2)
    err = {name: float((y - ref).abs().max() / ref.abs().max()) for name, y in got.items()}
    if max(err.values()) > 1e-5:
        raise SystemExit(f"benchmarks/stream.py: a streamed path differs from offline: {err}")
    return err


def _c_call(stream: StreamingModule, sample: torch.Tensor) -> Callable[[], Any] | None:
    """The C function of the compiled step with nothing around it (private handles: a diagnostic only)."""
    import ctypes

    native = getattr(stream, "_program", None)
    run, state = getattr(native, "_lib", None), getattr(native, "_run", None)
    if run is None or state is None:
        return None
    at, x, y = ctypes.addressof(state), sample.data_ptr(), torch.empty(stream.batch_size, 64, 1)
    call = run.atrous_run
    return lambda: call(at, x, y.data_ptr())


def _bounds(n: int, k: int, min_run_time: float) -> dict[str, float]:
    """GEMM rate and the read rate for the weights' bytes, on one thread, now."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
        gemm = 2 * 1024**3 / (_median_us(lambda: torch.mm(a, b), min_run_time) * 1e-6)
        weights = torch.randn(2 * n * 64 * 64 * k)
        read = weights.numel() * 4 / (_median_us(lambda: weights.sum(), min_run_time) * 1e-6)
    finally:
        torch.set_num_threads(threads)
    return {"gemm_flops": gemm, "read_bytes_per_s": read}


def bench(n: int, k: int, rounds: int, min_run_time: float, rows: list[dict[str, Any]]) -> dict[str, Any]:
    peer = _peer(n, k)
    engines = (["compiled"] if compiled_available() else []) + ["numpy", "torch"]
    errors = _check_streams(peer, engines)
    rf = 1 + 2 * (k - 1) * (2**n - 1)
    flops = 2 * n * 2 * 64 * 64 * k  # per stream per step: 2n convs, 64 -> 64 channels, k taps
    weight_bytes = 2 * n * (64 * 64 * k + 64) * 4
    window = torch.randn(1, 64, rf)
    sample, sample16 = torch.randn(1, 64, 1), torch.randn(16, 64, 1)
    state = [init_state(peer, 1)]

    def naive() -> None:
        with torch.no_grad():
            peer(window)[:, :, -1:]

    def peer_step() -> None:
        with torch.no_grad():
            peer(sample, inference=True)

    def functional() -> None:
        with torch.no_grad():
            _, state[0] = step(peer, sample, state[0])

    fns: dict[str, Callable[[], Any]] = {"naive": naive, "pytorch_tcn": peer_step, "step": functional}
    for engine in engines:
        s = StreamingModule(peer, 1, engine=engine)
        fns[engine] = lambda s=s: s(sample)
        c_call = _c_call(s, sample) if engine == "compiled" else None
        if c_call is not None:
            fns["compiled_c_call"] = c_call
    for engine in engines[:2]:
        s = StreamingModule(peer, 16, engine=engine)
        fns[f"{engine}_b16"] = lambda s=s: s(sample16)
    times: dict[str, list[float]] = {name: [] for name in fns}
    bounds: list[dict[str, float]] = []
    row: dict[str, Any] = {"n": n, "k": k, "rf": rf, "flops_per_stream_step": flops, "weight_bytes": weight_bytes,
                           "max_rel_err_vs_offline": errors, "rounds_done": 0}
    rows.append(row)
    for r in range(rounds):
        bounds.append(_bounds(n, k, min_run_time))
        for name, fn in fns.items():
            times[name].append(_median_us(fn, min_run_time))
            _progress(f"  n={n} k={k} round {r + 1}/{rounds}: {name:14s} {times[name][-1]:10.1f} us")
            row["us_per_step"] = {name: {"median_us": statistics.median(v), "min_us": min(v), "max_us": max(v)}
                                  for name, v in times.items() if v}  # after every measurement: Ctrl-C shows it
        gemm = statistics.median(b["gemm_flops"] for b in bounds)
        read = statistics.median(b["read_bytes_per_s"] for b in bounds)
        row.update(gemm_gflops=gemm / 1e9, read_gb_per_s=read / 1e9, rounds_done=r + 1,
                   floor_b1_us=max(flops / gemm, weight_bytes / read) * 1e6, floor_b16_us=16 * flops / gemm * 1e6)
        med = {name: t["median_us"] for name, t in row["us_per_step"].items()}
        best = "compiled" if "compiled" in med else "numpy"
        row.update(best=best, best_vs_numpy=med["numpy"] / med[best],
                   best_vs_pytorch_tcn=med["pytorch_tcn"] / med[best], best_vs_naive=med["naive"] / med[best],
                   b1_vs_floor=med[best] / row["floor_b1_us"],
                   b16_vs_floor=med[f"{best}_b16"] / row["floor_b16_us"])
        if "compiled_c_call" in med:
            row["compiled_wrapper_us"] = med["compiled"] - med["compiled_c_call"]
    return row


def _print_table(out: dict[str, Any], interrupted: bool) -> None:
    print(f"torch {out['torch']}, {out['threads']} threads, {out['cpu']}, commit {out['commit']}, "
          f"load average {tuple(round(v, 2) for v in out['loadavg'])}, {out['allocator']}"
          + ("  (INTERRUPTED: partial table)" if interrupted else ""))
    for r in out["results"]:
        if "us_per_step" not in r:
            print(f"TCN n={r['n']} k={r['k']}: no round finished")
            continue
        print(f"pytorch-tcn TCN n={r['n']} k={r['k']} (RF {r['rf']}), us per step, median [min..max] over "
              f"{r['rounds_done']} complete interleaved rounds (and the measurements of an interrupted one):")
        for name, t in r["us_per_step"].items():
            print(f"  {name:14s} {t['median_us']:10.1f}  [{t['min_us']:.1f}..{t['max_us']:.1f}]")
        if "best" not in r:
            continue
        print(f"  bounds (this run, 1 thread): GEMM {r['gemm_gflops']:.1f} GFLOP/s, read "
              f"{r['read_gb_per_s']:.1f} GB/s; "
              f"batch 1 floor {r['floor_b1_us']:.1f} us ({r['flops_per_stream_step'] / 1e6:.2f} MFLOP, "
              f"{r['weight_bytes'] / 1024:.0f} KB of weights), batch 16 floor {r['floor_b16_us']:.1f} us")
        print(f"  {r['best']}: {r['best_vs_numpy']:.2f}x numpy, {r['best_vs_pytorch_tcn']:.0f}x pytorch-tcn, "
              f"{r['best_vs_naive']:.0f}x naive; batch 1 = {r['b1_vs_floor']:.2f}x its floor, batch 16 = "
              f"{r['b16_vs_floor']:.2f}x its FLOP floor")
        if "compiled_wrapper_us" in r:
            print(f"  compiled = C call {r['us_per_step']['compiled_c_call']['median_us']:.1f} us + wrapper "
                  f"{r['compiled_wrapper_us']:.1f} us (medians)")
        print(f"  max relative error vs offline: {r['max_rel_err_vs_offline']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (about 2 minutes)")
    parser.add_argument("--only", choices=["n8", "n14"], help="one model: n8 (n=8, k=3) or n14 (n=14, k=2)")
    args = parser.parse_args(argv)
    models = [(n, k) for n, k in ((8, 3), (14, 2)) if args.only in (None, f"n{n}")]
    rounds, mrt = (3, 0.05) if args.quick else (7, 0.3)
    out: dict[str, Any] = {
        "torch": torch.__version__, "threads": torch.get_num_threads(), "cpu": cpu_model() or platform.machine(),
        "python": sys.version.split()[0], "commit": git_commit(), "loadavg": os.getloadavg(), "rounds": rounds,
        "min_run_time_s": mrt, "compiled_available": compiled_available(),
        "allocator": f"GLIBC_TUNABLES={os.environ.get('GLIBC_TUNABLES', '') or '(default glibc malloc)'}",
        "results": []}
    interrupted = False
    try:
        for n, k in models:
            _progress(f"pytorch-tcn TCN n={n} k={k}: checking streamed == offline, then {rounds} rounds")
            bench(n, k, rounds, mrt, out["results"])
    except KeyboardInterrupt:
        interrupted = True
    out["loadavg_end"] = os.getloadavg()
    out["interrupted"] = interrupted
    if args.json:
        print(json.dumps(out))
    else:
        _print_table(out, interrupted)
    return 130 if interrupted else 0


if __name__ == "__main__":
    raise SystemExit(main())
