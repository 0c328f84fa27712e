"""`torchrun --nproc-per-node 2 -m atrous train ...`: DDP on two CPU processes (gloo) matches one process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from _train_runs import records, tiny

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _atrous(args: list[str], prefix: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([*prefix, "-m", "atrous", *args], capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(tmp_path):
    # global batch 8 = 4 per process: each step's samples are the same as one process's batch of 8, so the
    # averaged DDP gradient equals the single-process one up to float rounding
    args = ["train", *tiny("adding"), "--model-arg", "dropout=0.0", "--steps", "10", "--log-every", "1",
            "--device", "cpu", "--json"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr",
                "127.0.0.1", "--master-port", str(_free_port())]
    ddp = _atrous([*args, "--out", str(tmp_path / "ddp")], torchrun)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    summary = json.loads(ddp.stdout)  # rank 0 prints the one JSON object; rank 1 prints nothing
    assert summary["world"] == 2 and summary["status"] == "finished" and summary["step"] == 10

    one = _atrous([*args, "--out", str(tmp_path / "one")], [sys.executable])
    assert one.returncode == 0, one.stderr[-3000:]
    a, b = records(tmp_path / "ddp"), records(tmp_path / "one")
    assert [r["kind"] for r in a] == [r["kind"] for r in b] and len(a) == 10 + 1  # 10 train lines, the final eval
    for x, y in zip(a, b):
        assert x["step"] == y["step"]
        assert {k: v for k, v in x.items() if isinstance(v, float)} == pytest.approx(
            {k: v for k, v in y.items() if isinstance(v, float)}, rel=1e-4)
    assert sorted(p.name for p in (tmp_path / "ddp").iterdir()) == [
        "best.pt", "config.json", "last.pt", "metrics.jsonl", "source.jsonl", "summary.json"]
