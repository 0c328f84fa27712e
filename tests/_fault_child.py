"""Run by the fault tests in a child process: ``python _fault_child.py MODE ...``.

* ``slow MARKER NAME SKIP ARGV...``: run ``atrous ARGV`` with the fsync of the (SKIP+1)-th temporary file of
  NAME made to hang after creating MARKER, so that the parent can ``kill -9`` this process in the middle of that
  write, at a known point (the file's bytes are written, the rename has not happened).
* ``full FOLDER``: in a fresh mount namespace where FOLDER is a 4 MB tmpfs (the parent starts this under
  ``unshare``), fill the disk between commands and print what happened as one JSON object.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path

TINY = ["adding", "--length", "12", "--train-size", "32", "--test-size", "8", "--batch-size", "8",
        "--model-arg", "channels=4,4", "--model-arg", "kernel_size=2", "-q", "--threads", "1"]
REPORT = ["report", "atrous:tcn", "--input-shape", "1,1,64", "--samples", "1", "--no-erf"]


def slow(marker: str, name: str, skip: int, argv: list[str]) -> int:
    import atrous._files as files

    real, seen = os.fsync, [0]

    def fsync(fd: int) -> None:
        target = os.readlink(f"/proc/self/fd/{fd}")
        if os.path.basename(target).startswith(f".{name}.") and target.endswith(".tmp"):
            seen[0] += 1
            if seen[0] > skip:
                Path(marker).write_text(target)
                time.sleep(120)  # the parent kills us here
        real(fd)

    files.os.fsync = fsync  # type: ignore[attr-defined]  (the os module itself: this process only)
    from atrous.cli.main import main

    return main(argv)


def _run(argv: list[str]) -> dict[str, object]:
    from atrous.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return {"code": code, "out": out.getvalue(), "err": err.getvalue()}


def _fill(folder: Path) -> Path:
    """Fill the disk: a file grown until the filesystem refuses a byte more."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as f:
        for size in (1 << 20, 1 << 14, 1 << 10, 64, 1):
            with contextlib.suppress(OSError):
                while f.write(b"\0" * size):
                    pass
    return filler


def full(folder: Path) -> dict[str, object]:
    run, report, result = folder / "run", folder / "r.html", {}
    result["first"] = _run(["train", *TINY, "--out", str(run), "--steps", "8", "--stop-after", "2"])
    result["report"] = _run([*REPORT, "-o", str(report)])
    last, page = (run / "last.pt").read_bytes(), report.read_bytes()
    filler = _fill(folder)
    result["resume_full"] = _run(["train", "--resume", str(run)])  # not a byte free: the first metrics line fails
    result["report_full"] = _run([*REPORT, "-o", str(report)])
    with open(filler, "r+b") as f:  # two pages free: metrics lines fit, a checkpoint does not
        f.truncate(filler.stat().st_size - 8192)
    result["resume_checkpoint_full"] = _run(["train", "--resume", str(run)])
    result["last_kept"] = (run / "last.pt").read_bytes() == last
    result["report_kept"] = report.read_bytes() == page
    result["leftovers"] = sorted(p.name for p in [*folder.iterdir(), *run.iterdir()] if p.name.endswith(".tmp"))
    filler.unlink()
    result["resume_after"] = _run(["train", "--resume", str(run)])
    result["report_after"] = _run([*REPORT, "-o", str(report)])
    result["whole"] = _run(["train", *TINY, "--out", str(folder / "whole"), "--steps", "8"])
    import torch

    from atrous.train import load_checkpoint

    a, b = load_checkpoint(run / "last.pt"), load_checkpoint(folder / "whole" / "last.pt")
    result["final_step"] = a["progress"]["step"]
    result["exact"] = all(torch.equal(x, y) for x, y in zip(a["state_dict"].values(), b["state_dict"].values()))
    return result


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "slow":
        sys.exit(slow(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:]))
    print(json.dumps(full(Path(sys.argv[2]))))
