"""Warnings raised while a command runs (by the model's own code, by torch) become one formatted line each."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["note", "warnings_as_notes"]


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
