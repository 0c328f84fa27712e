"""Warnings raised while a command runs (by the model's own code, by torch) become one formatted line each."""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["grouped", "note", "warnings_as_notes"]


def note(text: str) -> None:
    """One line on stderr, whitespace folded."""
    print("atrous: note: " + " ".join(text.split()), file=sys.stderr)


@contextmanager
def warnings_as_notes() -> Iterator[None]:
    """Show each distinct warning of the block once, as ``atrous: note: ...`` after it ends."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            seen: set[str] = set()
            for w in caught:
                text = f"{w.message} ({w.category.__name__})"
                if text not in seen:
                    seen.add(text)
                    note(text)


_IN_MODULE = re.compile(r"^(?P<op>\S+) in module '(?P<name>[^']+)'(?P<rest>[ :,].*)$", re.DOTALL)


def grouped(notes: list[str]) -> list[str]:
    """Notes that differ only in the module they name, as one line naming every module, in first-seen order.

    >>> grouped(["up in module 'a' resizes", "up in module 'b' resizes", "other"])
    ["up in each of 2 modules ('a', 'b') resizes", 'other']
    """
    order: list[str | tuple[str, str]] = []
    names: dict[tuple[str, str], list[str]] = {}
    for text in notes:
        m = _IN_MODULE.match(text)
        if m is None:
            order.append(text)
            continue
        key = (m["op"], m["rest"])
        if key not in names:
            names[key] = []
            order.append(key)
        names[key].append(m["name"])
    out = []
    for item in order:
        if isinstance(item, str):
            out.append(item)
            continue
        (op, rest), modules = item, names[item]
        if len(modules) == 1:
            out.append(f"{op} in module '{modules[0]}'{rest}")
        else:
            out.append(f"{op} in each of {len(modules)} modules ({', '.join(repr(n) for n in modules)}){rest}")
    return out
