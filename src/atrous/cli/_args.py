"""Parsing of comma-separated command-line lists, with one-line errors naming the flag."""

from __future__ import annotations

from atrous.errors import ConfigError


def word_list(text: str, flag: str) -> list[str]:
    """``"same,valid"`` -> ``["same", "valid"]``; empty items are an error."""
    items = [t.strip() for t in text.split(",")]
    if not items or any(not t for t in items):
        raise ConfigError(f"{flag} must be a comma-separated list without empty items, got {text!r}")
    return items


def int_list(text: str, flag: str) -> list[int]:
    """``"1,2,4"`` -> ``[1, 2, 4]``; every item must be a positive int."""
    out = []
    for item in word_list(text, flag):
        try:
            value = int(item)
        except ValueError:
            raise ConfigError(f"{flag} must be a comma-separated list of positive ints, got {text!r}") from None
        if value < 1:
            raise ConfigError(f"{flag} must be positive ints, got {value} in {text!r}")
        out.append(value)
    return out
