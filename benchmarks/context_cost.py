"""Sequence context vs attention cost: a dilated causal stack (O(N)) against causal self-attention (O(N²)).

Each configuration runs in a fresh subprocess, which reports the forward time (median of `blocked_autorange`)
and the peak extra resident memory of one forward pass (``ru_maxrss`` after minus resident size before), batch 1,
width 64, inference (``torch.no_grad``):

- ``tcn``: atrous' `tcn` with 14 levels of kernel 2 (dilations 1..8192, two causal convs per level, receptive
  field 32,767): it sees the whole sequence at every length measured here.
- ``attention``: one causal self-attention layer of the same width (4 heads), the classic materialised form
  ``softmax(Q Kᵀ / √d + mask) V`` whose score matrix is N × N per head.
- ``sdpa``: the same layer through ``F.scaled_dot_product_attention(is_causal=True)`` (PyTorch's fused kernel,
  which avoids storing the N × N matrix but still does O(N²) work).

    python benchmarks/context_cost.py [--quick] [--json] [--plot docs/context_cost.png]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys

WIDTH, HEADS, LEVELS = 64, 4, 14
#: the materialised attention is skipped where its score tensor alone would exceed this many bytes
MAX_SCORES_BYTES = 6 * 2**30


def _rss_kib() -> int:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def child(kind: str, n: int) -> dict[str, float]:
    import torch
    import torch.nn.functional as F
    from torch import nn
    from torch.utils.benchmark import Timer

    torch.manual_seed(0)
    x = torch.randn(1, WIDTH, n)
    if kind == "tcn":
        from atrous.models import create_model

        model = create_model("tcn", in_channels=WIDTH, channels=[WIDTH] * LEVELS, kernel_size=2).eval()

        def run() -> torch.Tensor:
            return model(x)
    else:
        proj = nn.Linear(WIDTH, 3 * WIDTH)
        out = nn.Linear(WIDTH, WIDTH)
        head = WIDTH // HEADS

        def run() -> torch.Tensor:
            q, k, v = proj(x.transpose(1, 2)).view(1, n, 3, HEADS, head).permute(2, 0, 3, 1, 4)
            if kind == "sdpa":
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:
                scores = q @ k.transpose(-1, -2) / head**0.5
                scores = scores.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), float("-inf"))
                y = scores.softmax(-1) @ v
            return out(y.transpose(1, 2).reshape(1, n, WIDTH)).transpose(1, 2)

    with torch.no_grad():
        before = _rss_kib()
        run()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t = Timer("run()", globals={"run": run}).blocked_autorange(min_run_time=0.5)
    return {"ms": t.median * 1e3, "iqr_ms": t.iqr * 1e3, "runs": len(t.times), "mem_mib": max(peak - before, 0) / 1024}


def measure(kind: str, n: int) -> dict[str, float] | None:
    if kind == "attention" and HEADS * n * n * 4 * 2 > MAX_SCORES_BYTES:  # scores and their softmax
        return None
    env = dict(os.environ, GLIBC_TUNABLES="glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=16G")
    p = subprocess.run([sys.executable, __file__, "--child", kind, str(n)], capture_output=True, text=True, env=env,
                       timeout=900)
    if p.returncode != 0:
        raise RuntimeError(f"{kind} at N={n} failed: {p.stderr.strip()[-300:]}")
    return dict(json.loads(p.stdout.strip().splitlines()[-1]))


def plot(rows: list[dict[str, object]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    labels = {"tcn": f"dilated causal TCN ({LEVELS} levels, RF 32,767)", "attention": "self-attention (materialised)",
              "sdpa": "self-attention (fused SDPA)"}
    for kind, label in labels.items():
        pts = [(r["n"], r[kind]) for r in rows if r.get(kind)]
        if not pts:
            continue
        ns = [p[0] for p in pts]
        axes[0].loglog(ns, [p[1]["ms"] for p in pts], "o-", label=label)  # type: ignore[index]
        axes[1].loglog(ns, [max(p[1]["mem_mib"], 0.1) for p in pts], "o-", label=label)  # type: ignore[index]
    axes[0].set_ylabel("forward time (ms)")
    axes[1].set_ylabel("peak extra memory (MiB)")
    for ax in axes:
        ax.set_xlabel("sequence length N")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Batch 1, width {WIDTH}, CPU forward (torch.no_grad)")
    fig.savefig(path, dpi=110)


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], int(sys.argv[3]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="N up to 4096")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--plot", metavar="PNG", help="write the figure here")
    args = parser.parse_args()
    import torch

    top = 12 if args.quick else 15
    rows: list[dict[str, object]] = []
    for e in range(8, top + 1):
        n = 2**e
        row: dict[str, object] = {"n": n}
        for kind in ("tcn", "attention", "sdpa"):
            row[kind] = measure(kind, n)
        rows.append(row)
        if not args.json:
            cells = []
            for kind in ("tcn", "attention", "sdpa"):
                r = row[kind]
                cells.append(f"{kind} " + ("skipped (scores > 6 GiB)" if r is None else
                                           f"{r['ms']:9.2f} ms {r['mem_mib']:8.1f} MiB"))  # type: ignore[index]
            print(f"N={n:6d}  " + "  |  ".join(cells), flush=True)
    meta = {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpu": platform.machine(),
            "loadavg": os.getloadavg()[0], "allocator": "GLIBC_TUNABLES=glibc.malloc.mmap_max=0:"
            "glibc.malloc.trim_threshold=16G"}
    if args.plot:
        plot(rows, args.plot)
    if args.json:
        print(json.dumps({"meta": meta, "rows": rows}))
    else:
        print(f"torch {meta['torch']}, {meta['threads']} threads, load {meta['loadavg']:.2f}, {meta['allocator']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
