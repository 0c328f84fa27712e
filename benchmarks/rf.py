"""Exact support of large 1-D stacks: atrous.rf.support vs a brute-force impulse, in one process.

    python benchmarks/rf.py [--json] [--repeats N]

Stacks: a SpliceAI-10k tower (32 dilated convs in residual blocks, RF 10,001) and three WaveNet cycles
(30 causal k=2 convs, dilations 1..512, RF 3,070). Target (issue #2): each support under 50 ms.

The baseline pushes a one-hot at a middle output back through every layer of the graph on a finite input
(np.add.at per tap, zero padding handled by bounds), which is what one would write without atrous.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import timeit
from statistics import median

import numpy as np

from _machine import cpu_model, git_commit
from atrous import rf
from atrous.rf.presets import spliceai, wavenet

TARGET_MS = 50.0


def impulse_support(graph: rf.Graph) -> tuple[int, np.ndarray]:
    """Brute force: lengths forward, then a one-hot back through every node; returns (start, counts)."""
    size = rf.receptive_field(graph).size[0]
    n = 4 * size + 64
    lengths = []
    for node in graph.nodes:
        if node.op == "input":
            lengths.append(n)
        elif node.op == "layer":
            lengths.append(node.layer.output_length(lengths[node.inputs[0]])[0])
        else:
            lengths.append(min(lengths[i] for i in node.inputs))
    out = graph.output
    mid = lengths[out] // 2
    grads = {out: np.zeros(lengths[out])}
    grads[out][mid] = 1.0
    jump = 1
    for i in range(out, 0, -1):
        g = grads.pop(i, None)
        if g is None:
            continue
        node = graph.nodes[i]
        if node.op == "layer":
            layer = node.layer
            src = node.inputs[0]
            back = grads.setdefault(src, np.zeros(lengths[src]))
            idx = np.arange(len(g)) * layer.stride[0] - layer.padding[0][0]
            for t in range(layer.kernel[0]):
                j = idx + t * layer.dilation[0]
                ok = (j >= 0) & (j < lengths[src])
                np.add.at(back, j[ok], g[ok])
        else:
            for src in node.inputs:
                grads.setdefault(src, np.zeros(lengths[src]))[: len(g)] += g
    g0 = grads[0]
    nz = np.flatnonzero(g0)
    for node in graph.nodes:
        if node.layer is not None and node.op == "layer":
            jump *= node.layer.stride[0]
    return int(nz[0] - mid * jump), g0[nz[0]: nz[-1] + 1]


def measure(fn, repeats: int) -> tuple[float, float, float]:
    times = timeit.Timer(fn).repeat(repeat=repeats, number=1)
    ms = sorted(t * 1e3 for t in times)
    return median(ms), ms[0], ms[-1]


def environment() -> dict[str, object]:
    commit, cpu = git_commit(), cpu_model()
    return {"python": platform.python_version(), "numpy": np.__version__, "cpu": cpu,
            "cpus": os.cpu_count(), "commit": commit, "atrous": __import__("atrous").__version__}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    cases = {"spliceai-10k (32 convs, residual)": spliceai(), "wavenet x3 (30 causal convs)": wavenet(cycles=3)}
    results = []
    for name, graph in cases.items():
        sup = rf.support(graph)
        start, counts = impulse_support(graph)
        # path counts pass 2**53 in the SpliceAI tower (up to ~7e36), so compare them to float precision;
        # which offsets are read (taps and holes) must agree exactly
        same = sup.origin[0] == start and sup.counts.shape == counts.shape and \
            np.array_equal(sup.counts != 0, counts != 0) and np.allclose(sup.counts, counts, rtol=1e-12, atol=0)
        if not same:
            raise SystemExit(f"{name}: atrous.rf.support disagrees with the brute-force impulse")
        # interleave the two so that noise on this shared machine hits both alike
        a_times, b_times = [], []
        for _ in range(args.repeats):
            a_times.append(measure(lambda g=graph: rf.support(g), 1)[0])
            b_times.append(measure(lambda g=graph: impulse_support(g), 1)[0])
        a, b = median(a_times), median(b_times)
        results.append({
            "stack": name, "rf": int(sup.extent[0]), "taps": sup.taps, "holes": sup.holes,
            "support_ms": round(a, 3), "support_ms_range": [round(min(a_times), 3), round(max(a_times), 3)],
            "bruteforce_ms": round(b, 3), "bruteforce_ms_range": [round(min(b_times), 3), round(max(b_times), 3)],
            "speedup": round(b / a, 1), "target_ms": TARGET_MS, "meets_target": a < TARGET_MS,
        })
    report = {"benchmark": "rf.support", "repeats": args.repeats, "env": environment(), "results": results}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"exact support, median of {args.repeats} interleaved runs ({report['env']['cpu']})")
        for r in results:
            print(f"  {r['stack']:<36} RF {r['rf']:>6}  atrous {r['support_ms']:7.2f} ms  brute force "
                  f"{r['bruteforce_ms']:8.2f} ms  ({r['speedup']}x)  under {TARGET_MS:.0f} ms: "
                  f"{'yes' if r['meets_target'] else 'NO'}")
    return 0 if all(r["meets_target"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
