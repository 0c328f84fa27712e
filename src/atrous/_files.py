"""Files that are either whole or absent: write a temporary file beside the target, fsync it, rename it over the
target, fsync the folder. An interrupted or failed write (a kill, a full disk) leaves the old file untouched and
no temporary behind, except after a hard kill (``kill -9``, a power cut): the next write of the same file removes
the temporaries that dead processes left for it, and :func:`remove_stale_temporaries` those of a whole folder.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_write", "atomic_write_with", "remove_stale_temporaries", "temporary_name"]

_TMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)\.tmp$")


def temporary_name(path: Path) -> Path:
    """``dir/.NAME.PID.tmp``: hidden, beside the target (same filesystem, so the rename is atomic)."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a folder be opened and synced
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[Path]:
    tmp = temporary_name(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def atomic_write_with(path: str | os.PathLike[str], write: Callable[[IO[bytes]], object]) -> None:
    """Call ``write(file)`` on a temporary file, fsync it and rename it to ``path`` (first removing the
    temporaries of ``path`` that killed processes left behind)."""
    target = Path(path)
    remove_stale_temporaries(target.parent, target.name)
    with _replacing(target) as tmp:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())


def atomic_write(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Write ``data`` (text is UTF-8) to ``path`` atomically.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "a.txt"
    >>> atomic_write(p, "hello"); p.read_text(), sorted(x.name for x in p.parent.iterdir())
    ('hello', ['a.txt'])
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    atomic_write_with(path, lambda f: f.write(raw))


def remove_stale_temporaries(folder: str | os.PathLike[str], name: str | None = None) -> list[Path]:
    """Delete the ``.NAME.PID.tmp`` files in ``folder`` (only those of ``name`` when given) whose writing process
    is gone; returns them."""
    removed: list[Path] = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = _TMP.match(entry.name)
        if m is None or (name is not None and m["name"] != name) or _alive(int(m["pid"])):
            continue
        with contextlib.suppress(OSError):
            entry.unlink()
            removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this process is not writing it now: a leftover of an earlier run that had our pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True
