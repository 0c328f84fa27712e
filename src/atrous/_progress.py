"""Progress bars for the Python API: tqdm (a widget in Jupyter when ipywidgets is there, text elsewhere)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["bar", "in_notebook", "stages", "tqdm_class"]


def in_notebook() -> bool:
    """True inside a Jupyter kernel (IPython with a kernel attached)."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()
    except Exception:
        return False
    return ip is not None and "IPKernelApp" in getattr(ip, "config", {})


def tqdm_class() -> Any:
    """tqdm's notebook widget inside Jupyter when ipywidgets is installed, its text bar elsewhere."""
    if in_notebook():
        try:
            import ipywidgets  # noqa: F401
            from tqdm.notebook import tqdm

            return tqdm
        except ImportError:
            pass
    from tqdm import tqdm

    return tqdm


@contextmanager
def bar(label: str, enabled: bool | None = None) -> Iterator[Callable[[int, int], None] | None]:
    """A ``progress(done, total)`` callback drawing one bar, or None when disabled.

    ``enabled=None`` draws it in a notebook or when stderr is a terminal; nothing is drawn until the first call.
    """
    if enabled is None:
        enabled = in_notebook() or sys.stderr.isatty()
    if not enabled:
        yield None
        return
    shown: list[Any] = []

    def update(done: int, total: int) -> None:
        if not shown:
            shown.append(tqdm_class()(total=total, desc=label, leave=False))
        b = shown[0]
        b.total = total
        b.update(done - b.n)

    try:
        yield update
    finally:
        if shown:
            shown[0].close()


@contextmanager
def stages(label: str, enabled: bool | None = None) -> Iterator[Callable[[str], None] | None]:
    """A ``say(line)`` callback for work that goes in stages of unknown number (the empirical receptive field's
    passes): one bar counting the stages, showing the latest line; None when disabled (as :func:`bar`)."""
    if enabled is None:
        enabled = in_notebook() or sys.stderr.isatty()
    if not enabled:
        yield None
        return
    shown: list[Any] = []

    def say(line: str) -> None:
        if not shown:
            shown.append(tqdm_class()(total=None, desc=label, unit="stage", leave=False))
        shown[0].set_postfix_str(line, refresh=False)
        shown[0].update(1)

    try:
        yield say
    finally:
        if shown:
            shown[0].close()
