"""Progress bars for the Python API: tqdm (a widget in Jupyter when ipywidgets is there, text elsewhere)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["bar", "in_notebook", "stages", "tqdm_class", "wanted"]


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


def wanted(enabled: bool | None) -> bool:
    """Whether to draw progress: ``enabled``, or for None, inside a notebook or when stderr is a terminal."""
    return enabled if enabled is not None else in_notebook() or sys.stderr.isatty()


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
def _lazy(enabled: bool | None, make: Callable[[], Any]) -> Iterator[Callable[[], Any] | None]:
    """A getter of one tqdm bar made by ``make`` on first use (nothing is drawn before), closed at the end; None
    when disabled (see :func:`wanted`)."""
    if not wanted(enabled):
        yield None
        return
    shown: list[Any] = []

    def get() -> Any:
        if not shown:
            shown.append(make())
        return shown[0]

    try:
        yield get
    finally:
        if shown:
            shown[0].close()


@contextmanager
def bar(label: str, enabled: bool | None = None) -> Iterator[Callable[[int, int], None] | None]:
    """A ``progress(done, total)`` callback drawing one bar, or None when disabled (see :func:`_lazy`)."""
    with _lazy(enabled, lambda: tqdm_class()(total=None, desc=label, leave=False)) as get:
        if get is None:
            yield None
            return

        def update(done: int, total: int) -> None:
            b = get()
            b.total = total
            b.update(done - b.n)

        yield update


@contextmanager
def stages(label: str, enabled: bool | None = None) -> Iterator[Callable[[str], None] | None]:
    """A ``say(line)`` callback for work that goes in stages of unknown number (the empirical receptive field's
    passes): one bar counting the stages, showing the latest line; None when disabled (as :func:`bar`)."""
    with _lazy(enabled, lambda: tqdm_class()(total=None, desc=label, unit="stage", leave=False)) as get:
        if get is None:
            yield None
            return

        def say(line: str) -> None:
            b = get()
            b.set_postfix_str(line, refresh=False)
            b.update(1)

        yield say
