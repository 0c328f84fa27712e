"""Per-step latency of streaming a TCN one sample at a time: atrous against pytorch-tcn and naive recomputation.

    python benchmarks/stream.py [--json] [--quick]

The model is what pytorch-tcn 1.2.3 builds for ``TCN(64, [64] * n, kernel_size=k, causal=True)`` (its defaults:
weight norm, dropout 0.1, ReLU; two causal convs per level, dilation ``2**i``, residual), in eval mode. The atrous
model is ``create_model("tcn", in_channels=64, channels=[64] * n, kernel_size=k, dropout=0.1, weight_norm=True)``
with the peer's weights loaded, and the script first checks that both give the same offline output and that every
streamed path below reproduces it. Methods, batch 1, one sample per step, measured interleaved in rounds with
``torch.utils.benchmark.Timer.blocked_autorange`` (median of each round; the spread is min..max over rounds):

* ``naive``: the atrous model on the last RF samples, keeping the last output (what you do without a state);
* ``pytorch_tcn``: the peer's streaming, ``model.inference(x)`` (batch 1 only: it refuses more);
* ``step``: the pure functional :func:`atrous.stream.step` (copies each layer's buffer every step);
* ``module_torch``: :class:`atrous.stream.StreamingModule` with ``engine="torch"`` (torch ops on ring buffers);
* ``module``: :class:`atrous.stream.StreamingModule` with the default engine (generated numpy step);
* ``module_b16`` / ``module_torch_b16``: the same at batch 16 (time per step of all 16 streams).

Needs the benchmark-only peer: ``pip install 'atrous[bench]'`` (pytorch-tcn 1.2.3).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.benchmark import Timer

from atrous.models import create_model
from atrous.stream import StreamingModule, init_state, step


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=False).stdout.strip()
    except OSError:
        return ""


def _measure(fns: dict[str, Callable[[], Any]], rounds: int, min_run_time: float) -> dict[str, dict[str, float]]:
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            m = Timer(stmt="fn()", globals={"fn": fn}).blocked_autorange(min_run_time=min_run_time)
            times[name].append(m.median * 1e6)
    return {k: {"median_us": statistics.median(v), "min_us": min(v), "max_us": max(v)} for k, v in times.items()}


def _models(n: int, k: int) -> tuple[nn.Module, nn.Module]:
    """pytorch-tcn's TCN and the atrous TCN carrying the same weights (checked to give the same output)."""
    try:
        import pytorch_tcn
    except ImportError:
        raise SystemExit("benchmarks/stream.py: needs pytorch-tcn (pip install 'atrous[bench]')") from None
    torch.manual_seed(0)
    peer = pytorch_tcn.TCN(64, [64] * n, kernel_size=k, causal=True).eval()
    ours = create_model("tcn", in_channels=64, channels=[64] * n, kernel_size=k, dropout=0.1,
                        weight_norm=True).eval()
    weights = {name.replace("network.", "levels.", 1): p for name, p in peer.named_parameters()}
    ours.load_state_dict(weights, strict=True)
    x = torch.randn(1, 64, 300)
    with torch.no_grad():
        a, b = peer(x), ours(x)
    if (a - b).abs().max() > 1e-5 * a.abs().max():
        raise SystemExit(f"benchmarks/stream.py: pytorch-tcn and atrous TCN differ (n={n}, k={k})")
    return peer, ours


def _check_streams(peer: Any, ours: nn.Module) -> dict[str, float]:
    """Max relative difference to the offline output of every streamed path, one sample per step."""
    x = torch.randn(1, 64, 200)
    with torch.no_grad():
        ref = ours(x)
        peer.reset_buffers()
        got = {"pytorch_tcn": torch.cat([peer.inference(x[:, :, t:t + 1]) for t in range(200)], 2)}
        peer.reset_buffers()
        for engine in ("numpy", "torch"):
            s = StreamingModule(ours, 1, engine=engine)
            got[f"module_{engine}"] = torch.cat([s(x[:, :, t:t + 1]) for t in range(200)], 2)
        state, ys = init_state(ours, 1), []
        for t in range(200):
            y, state = step(ours, x[:, :, t:t + 1], state)
            ys.append(y)
        got["step"] = torch.cat(ys, 2)
    err = {name: float((y - ref).abs().max() / ref.abs().max()) for name, y in got.items()}
    if max(err.values()) > 1e-5:
        raise SystemExit(f"benchmarks/stream.py: a streamed path differs from offline: {err}")
    return err


def bench(n: int, k: int, rounds: int, min_run_time: float) -> dict[str, Any]:
    peer, model = _models(n, k)
    errors = _check_streams(peer, model)
    rf = int(model.receptive_field().size[0])  # type: ignore[operator]
    window = torch.randn(1, 64, rf)
    sample, sample16 = torch.randn(1, 64, 1), torch.randn(16, 64, 1)
    state = [init_state(model, 1)]
    streams = {"module": StreamingModule(model, 1), "module_torch": StreamingModule(model, 1, engine="torch"),
               "module_b16": StreamingModule(model, 16),
               "module_torch_b16": StreamingModule(model, 16, engine="torch")}

    def naive() -> None:
        with torch.no_grad():
            model(window)[:, :, -1:]

    def peer_step() -> None:
        with torch.no_grad():
            peer.inference(sample)

    def functional() -> None:
        with torch.no_grad():
            _, state[0] = step(model, sample, state[0])

    fns: dict[str, Callable[[], Any]] = {"naive": naive, "pytorch_tcn": peer_step, "step": functional}
    for name, s in streams.items():
        x = sample16 if name.endswith("b16") else sample
        fns[name] = lambda s=s, x=x: s(x)
    res = _measure(fns, rounds, min_run_time)
    med = {name: r["median_us"] for name, r in res.items()}
    return {"n": n, "k": k, "rf": rf, "us_per_step": res, "max_rel_err_vs_offline": errors,
            "module_vs_naive": med["naive"] / med["module"],
            "module_vs_pytorch_tcn": med["pytorch_tcn"] / med["module"],
            "module_torch_vs_pytorch_tcn": med["pytorch_tcn"] / med["module_torch"],
            "step_vs_naive": med["naive"] / med["step"],
            "b16_throughput_vs_b1": 16 * med["module"] / med["module_b16"],
            "b16_torch_throughput_vs_b1": 16 * med["module_torch"] / med["module_torch_b16"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds (1-2 minutes)")
    args = parser.parse_args(argv)
    rounds, mrt = (3, 0.05) if args.quick else (7, 0.5)
    results = [bench(8, 3, rounds, mrt), bench(14, 2, rounds, mrt)]
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(),
           "cpu": platform.processor() or platform.machine(), "python": sys.version.split()[0],
           "commit": _commit(), "loadavg": os.getloadavg(), "rounds": rounds, "min_run_time_s": mrt,
           "results": results}
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"torch {out['torch']}, {out['threads']} threads, {out['cpu']}, commit {out['commit']}, "
          f"load average {out['loadavg']}")
    for r in results:
        print(f"TCN n={r['n']} k={r['k']} (RF {r['rf']}), one sample per step, us per step "
              f"(median [min..max] over {rounds} interleaved rounds):")
        for name, t in r["us_per_step"].items():
            print(f"  {name:17s} {t['median_us']:12.1f}  [{t['min_us']:.1f}..{t['max_us']:.1f}]")
        print(f"  module vs naive {r['module_vs_naive']:.0f}x, vs pytorch-tcn {r['module_vs_pytorch_tcn']:.1f}x "
              f"(module_torch vs pytorch-tcn {r['module_torch_vs_pytorch_tcn']:.2f}x); batch 16 throughput vs "
              f"batch 1: {r['b16_throughput_vs_b1']:.1f}x (torch engine {r['b16_torch_throughput_vs_b1']:.1f}x)")
        print(f"  max relative error vs offline: {r['max_rel_err_vs_offline']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
