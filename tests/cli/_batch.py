"""Run by test_cli_bounds.py in a child process: every command line of a JSON list read from stdin, in turn,
through ``atrous.cli.main.main``; one JSON line on stdout when a case starts and one when it ends (exit code, what
it printed, wall-clock and CPU seconds, and this process's peak resident memory so far), so that the parent sees
which case hung or raised the peak."""

from __future__ import annotations

import contextlib
import io
import json
import resource
import sys
import tempfile
import time

import _hostile  # noqa: F401  (the SOURCE cases name it; importable from here as in the in-process tests)


def peak_bytes() -> int:
    """This program's peak resident set size: ``VmHWM`` of /proc/self/status on Linux, which starts afresh when a
    program is executed. (``ru_maxrss`` does not: Linux carries the parent's peak over ``fork`` and ``execve``, so
    a child of a test process that once held 3.5 GB reports 3.5 GB.) ``ru_maxrss`` elsewhere."""
    try:
        with open("/proc/self/status") as f:
            kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
        return kb * 1024
    except (OSError, StopIteration, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main() -> None:
    import torch

    from atrous.cli.main import main as atrous

    torch.set_num_threads(1)  # as the training tests: a shared machine's cores are not all ours
    cases = json.load(sys.stdin)
    base = tempfile.mkdtemp(prefix="atrous-batch-")
    print(json.dumps({"ready": peak_bytes()}), flush=True)
    for i, argv in enumerate(cases):
        argv = [a.replace("{out}", f"{base}/{i}") for a in argv]
        print(json.dumps({"start": i}), flush=True)
        out, err = io.StringIO(), io.StringIO()
        t0, c0 = time.monotonic(), time.process_time()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = atrous(argv)
        print(json.dumps({"case": i, "code": code, "out": out.getvalue()[-2000:], "err": err.getvalue()[-2000:],
                          "seconds": time.monotonic() - t0, "cpu": time.process_time() - c0,
                          "peak": peak_bytes()}), flush=True)


if __name__ == "__main__":
    main()
