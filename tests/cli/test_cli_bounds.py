"""Every hostile command line of the fuzz suite, run in a child process: none prints a traceback, none computes
for more than 10 CPU seconds (or waits a minute), and the child's peak memory stays under 2 GB (every case keeps
the default caps, or lowers them).

The cases are the fixed user errors, the oversized training runs of every task, and command lines drawn at
random (seeded) from the grammar the hypothesis tests draw from: `atrous rf` options, SOURCE strings for `atrous
analyze`, `atrous train` numeric options on a tiny run. They run one after another in one child (importing torch
once), which reports its peak resident memory after each case; the peak after the last case bounds every case.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

from _cases import (
    NUMBER_WORDS,
    RF_FLAGS,
    SOURCE_ALPHABET,
    SOURCES,
    TRAIN_FLAGS,
    TRAIN_HUGE,
    TRAIN_TINY,
    USER_ERRORS,
)

HERE = Path(__file__).parent
#: a CLI call that computed for longer than this (CPU seconds) hung, whatever it printed
HANG_S = 10.0
#: and one that waited this long (wall clock) without finishing hung too: a machine shared with other jobs can
#: stretch a 1-second call several times over, so the wall-clock bound is looser than the CPU one
WAIT_S = 60.0
#: peak resident memory of the child, over every case (the default --max-memory is 2 GB)
PEAK_BYTES = 2 * 10**9


def _value(rng: random.Random) -> str:
    return rng.choice(NUMBER_WORDS) if rng.random() < 0.6 else str(rng.randint(-3, 40))


def cases(seed: int = 0, draws: int = 40) -> list[list[str]]:
    """The fixed cases and ``draws`` random command lines of each grammar. Random `rf` lines end with
    ``--max-memory 0.2 --max-time 5`` (argparse keeps the last value), so a drawn cap never raises the default."""
    rng = random.Random(seed)
    out = [argv for argv, _ in USER_ERRORS] + TRAIN_HUGE
    for _ in range(draws):
        pairs = [x for _ in range(rng.randint(1, 4)) for x in (rng.choice(RF_FLAGS), _value(rng))]
        out.append(["rf", *pairs, *(["--causal"] if rng.random() < 0.3 else []), "--max-memory", "0.2",
                    "--max-time", "5"])
    for _ in range(draws):
        source = rng.choice(SOURCES) if rng.random() < 0.5 else "".join(
            rng.choice(SOURCE_ALPHABET) for _ in range(rng.randint(0, 20)))
        out.append(["analyze", source, "--input-shape", "1,1,32", "--summary-only", "--json"])
    for _ in range(draws):
        flag = rng.choice(TRAIN_FLAGS)
        if flag == "--threads":
            value = str(rng.choice([0, -1, 1, 2, 10**6]))  # a valid count above the cores would only be slow
        else:
            value = _value(rng)
        out.append([*TRAIN_TINY, flag, value])
    return out


def test_every_fuzz_case_is_bounded_in_time_and_memory() -> None:
    argvs = cases(draws=30)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent.parent / "src"), str(HERE),
                                                        os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(HERE / "_batch.py")], input=json.dumps(argvs), env=env,
                          capture_output=True, text=True, timeout=WAIT_S * 3 + 10 * len(argvs))
    lines = [json.loads(x) for x in done.stdout.splitlines()]
    results = [r for r in lines if "case" in r]
    assert done.returncode == 0 and len(results) == len(argvs), (done.returncode, lines[-1:], done.stderr[-3000:])
    ready = lines[0]["ready"]
    worst = max(results, key=lambda r: r["cpu"])
    for r in results:
        argv, err = argvs[r["case"]], r["err"]
        assert r["code"] in (0, 2), (argv, err)  # never the bug line (exit 1)
        if r["code"] == 2:
            assert r["out"] == "" and len(err.strip().splitlines()) == 1, (argv, err)
        assert "Traceback" not in err, (argv, err)
        assert r["cpu"] < HANG_S and r["seconds"] < WAIT_S, (argv, r["cpu"], r["seconds"])
    peak = results[-1]["peak"]
    raised = [argvs[r["case"]] for a, r in zip([{"peak": ready}, *results], results) if r["peak"] > a["peak"]]
    assert peak < PEAK_BYTES, (peak, raised[-3:])
    print(f"{len(argvs)} CLI calls: peak RSS {peak / 1e6:.0f} MB (after imports {ready / 1e6:.0f} MB), slowest "
          f"{worst['cpu']:.2f} CPU s, {worst['seconds']:.2f} s wall ({' '.join(argvs[worst['case']][:4])} ...), "
          f"{sum(r['code'] == 2 for r in results)} refused")
