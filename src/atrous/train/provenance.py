"""Where a run's code came from: the git commit of the checkout that holds the running ``atrous`` package and
whether that checkout had changes not yet committed.

:func:`record_source` appends one line to ``out/source.jsonl`` each time a run starts or resumes, so a run that
was resumed on other code says so. A package installed outside a git checkout records ``"commit": null``.
"""

from __future__ import annotations

import json
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import torch

__all__ = ["SOURCE_FILE", "git_state", "read_sources", "record_source", "require_clean"]

SOURCE_FILE = "source.jsonl"
#: changed paths listed in a record; the count is always given in full
MAX_LISTED = 20
_PACKAGE = Path(__file__).resolve().parents[1]


def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def git_state(folder: str | Path | None = None) -> dict[str, Any]:
    """The commit checked out at ``folder`` (default: the checkout holding this package) and its dirty state.

    Returns:
        ``{"commit": full hash or None, "dirty": bool or None, "changed": [porcelain lines], "n_changed": int}``;
        ``dirty`` counts modified, staged, deleted and untracked (not ignored) files.

    >>> sorted(git_state("/").keys())
    ['changed', 'commit', 'dirty', 'n_changed']
    """
    where = _PACKAGE if folder is None else Path(folder)
    commit = _git(where, "rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None, "changed": [], "n_changed": 0}
    status = _git(where, "status", "--porcelain")
    changed = [] if status is None else [line for line in status.splitlines() if line.strip()]
    return {"commit": commit.strip(), "dirty": None if status is None else bool(changed),
            "changed": changed[:MAX_LISTED], "n_changed": len(changed)}


def record_source(out: str | Path, event: str, step: int) -> dict[str, Any]:
    """Append this process's source (``git_state()``, torch and Python versions, UTC time) to
    ``out/source.jsonl``; ``event`` is ``"start"`` or ``"resume"`` and ``step`` the step it starts from."""
    line = {"event": event, "step": step, **git_state(), "torch": torch.__version__,
            "python": platform.python_version(), "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    with open(Path(out) / SOURCE_FILE, "a") as f:
        f.write(json.dumps(line) + "\n")
    return line


def read_sources(out: str | Path) -> list[dict[str, Any]]:
    """The records of ``out/source.jsonl`` in order (empty where the run predates them)."""
    path = Path(out) / SOURCE_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def require_clean(script: str, argv: list[str] | None = None, folder: str | Path | None = None) -> dict[str, Any]:
    """Refuse to write results from a checkout with uncommitted changes, unless ``--allow-dirty`` is given.

    For the scripts that write the JSON, tables and figures behind docs/RESULTS.md: a result must name the commit
    that produced it. ``--allow-dirty`` is removed from ``argv`` (default ``sys.argv``) so the script's own
    parser never sees it; ``-h`` / ``--help`` skip the check. ``folder``: the checkout (default: the one holding
    this package). Exits with status 2 and one line on stderr when the
    checkout is dirty. Returns :func:`git_state`.
    """
    import sys

    args = sys.argv if argv is None else argv
    allowed = "--allow-dirty" in args
    while "--allow-dirty" in args:
        args.remove("--allow-dirty")
    state = git_state(folder)
    if allowed or "-h" in args or "--help" in args or not state["dirty"]:
        return state
    first = state["changed"][0].strip() if state["changed"] else "?"
    print(f"{script}: the checkout must be committed so the results name their commit, got {state['n_changed']} "
          f"uncommitted change(s) (first: {first}); commit them, or pass --allow-dirty for a trial run",
          file=sys.stderr)
    raise SystemExit(2)
