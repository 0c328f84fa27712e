"""Why the compiled streaming step is C and not numba: the same TCN step both ways, same process, interleaved.

    python benchmarks/stream_numba.py [--json]

The model is pytorch-tcn 1.2.3's ``TCN(64, [64] * 14, kernel_size=2, causal=True)`` in eval mode. ``numba`` is a
step written for exactly this architecture (two causal convs per level, ReLU, residual; tap-major weights, rings
per conv) and jitted with ``@njit``: a best case for numba, with no interpreter over an instruction list and no
wrapper around the call. ``compiled`` is ``StreamingModule(model, B, engine="compiled")``, the general step
(every instruction of :mod:`atrous.stream.ir`) called through its Python wrapper. Both are checked against the
model's offline output first. Needs numba (``pip install numba==0.68.1``), which atrous itself does not use.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from typing import Any

import numpy as np
import torch
from torch.utils.benchmark import Timer

from _machine import cpu_model, git_commit
from atrous.stream import StreamingModule, compiled_available


def _numba_step() -> Any:
    try:
        from numba import njit
    except ImportError:
        raise SystemExit("benchmarks/stream_numba.py: needs numba (pip install numba==0.68.1)") from None

    @njit(cache=False)
    def tcn_step(weights, bias, rings, x, t, dilations, k, out):  # type: ignore[no-untyped-def]
        layers, batch, channels = weights.shape[0], x.shape[0], x.shape[1]
        h, res = x.copy(), x.copy()
        y = np.empty((batch, channels), np.float32)
        for layer in range(layers):
            d = dilations[layer // 2]
            span = (k - 1) * d
            for b in range(batch):
                for o in range(channels):
                    y[b, o] = bias[layer, o]
            for j in range(k):
                back = (k - 1 - j) * d
                for b in range(batch):
                    src = h[b] if back == 0 else rings[layer, (t - back) % span, b]
                    for c in range(channels):
                        s = src[c]
                        for o in range(channels):
                            y[b, o] += s * weights[layer, j, c, o]
            for b in range(batch):
                for c in range(channels):
                    rings[layer, t % span, b, c] = h[b, c]
            for b in range(batch):
                for o in range(channels):
                    h[b, o] = max(y[b, o], 0.0)
            if layer % 2 == 1:  # end of a level: residual, ReLU
                for b in range(batch):
                    for o in range(channels):
                        h[b, o] = max(h[b, o] + res[b, o], 0.0)
                        res[b, o] = h[b, o]
        out[:] = h

    return tcn_step


def _measure(peer: Any, tcn_step: Any, weights: np.ndarray, bias: np.ndarray, dilations: np.ndarray, n: int,
             k: int, batch: int) -> dict[str, Any]:
    rings = np.zeros((2 * n, (k - 1) * 2 ** (n - 1), batch, 64), np.float32)
    x = torch.randn(batch, 64, 200)
    y = np.empty((batch, 64), np.float32)
    with torch.no_grad():
        ref = peer(x)
    ys = []
    for t in range(200):
        tcn_step(weights, bias, rings, np.ascontiguousarray(x[:, :, t].numpy()), t, dilations, k, y)
        ys.append(y.copy())
    err = float((torch.from_numpy(np.stack(ys, 2)) - ref).abs().max() / ref.abs().max())
    stream = StreamingModule(peer, batch, engine="compiled")
    sample, sample_np = x[:, :, :1].contiguous(), np.ascontiguousarray(x[:, :, 0].numpy())
    clock = [200]

    def jitted() -> None:
        tcn_step(weights, bias, rings, sample_np, clock[0], dilations, k, y)
        clock[0] += 1

    fns = {"numba": jitted, "compiled": lambda: stream(sample)}
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(7):
        for name, fn in fns.items():
            times[name].append(Timer("fn()", globals={"fn": fn}).blocked_autorange(min_run_time=0.2).median * 1e6)
    return {"batch": batch, "numba_rel_err": err,
            **{name: {"median_us": statistics.median(v), "min_us": min(v), "max_us": max(v)}
               for name, v in times.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if not compiled_available():
        raise SystemExit("benchmarks/stream_numba.py: the compiled step is not built (python -m atrous.stream._build)")
    import numba
    import pytorch_tcn

    tcn_step = _numba_step()
    n, k = 14, 2
    torch.manual_seed(0)
    peer = pytorch_tcn.TCN(64, [64] * n, kernel_size=k, causal=True).eval()
    convs = [m for m in peer.modules() if type(m).__name__.endswith("TemporalConv1d")]
    with torch.no_grad():
        weights = np.ascontiguousarray(np.stack([c.weight.numpy().transpose(2, 1, 0) for c in convs]), np.float32)
        bias = np.stack([c.bias.numpy() for c in convs]).astype(np.float32)
    dilations = np.array([2**i for i in range(n)], np.int64)
    out: dict[str, Any] = {"commit": git_commit(), "cpu": cpu_model(), "numba": numba.__version__,
                           "torch": torch.__version__, "loadavg": os.getloadavg(), "results": []}
    for batch in (1, 16):
        row = _measure(peer, tcn_step, weights, bias, dilations, n, k, batch)
        out["results"].append(row)
        print(f"batch {batch}: " + ", ".join(f"{name} {row[name]['median_us']:.1f} us [{row[name]['min_us']:.1f}.."
                                           f"{row[name]['max_us']:.1f}]" for name in ("numba", "compiled"))
              + f"; numba vs offline {row['numba_rel_err']:.1e}", file=sys.stderr)
    out["loadavg_end"] = os.getloadavg()
    if args.json:
        print(json.dumps(out))
    else:
        print(f"commit {out['commit']}, {out['cpu']}, numba {out['numba']}, load {out['loadavg']} -> "
              f"{out['loadavg_end']}")
        for r in out["results"]:
            nb, c = r["numba"]["median_us"], r["compiled"]["median_us"]
            print(f"batch {r['batch']}: numba {nb:.1f} us, compiled {c:.1f} us (numba / compiled = {nb / c:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
