"""Plain-text tables and value formatting for people (no dependency beyond the standard library)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def axes(values: Sequence[object] | None) -> str:
    """``[15]`` -> ``15``; ``[67, 67]`` -> ``67x67``; ``[0.5, 0]`` -> ``0.5x0``; None -> ``-``."""
    if values is None:
        return "-"
    parts = [f"{v:g}" if isinstance(v, float) else str(v) for v in values]
    return "x".join(parts)


def percent(x: float) -> str:
    return f"{100 * x:.1f}%"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool] | None = None) -> str:
    """Columns padded to their widest cell; numbers right-aligned where ``right`` says so."""
    right = right or [False] * len(headers)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right)).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def jumps(row: dict[str, Any], key: str = "jump") -> str:
    """A jump or stride for people, exact where a summary row has it: ``8``, ``1/2``, ``1x1/2``."""
    exact = row.get(f"{key}_exact")
    return axes(exact if exact is not None else row.get(key))


def phase_line(rf: dict[str, Any]) -> list[str]:
    """One line on the phases of an upsampled output (none when every unit reads the same pattern)."""
    phases = rf.get("phases") or []
    if all(p == 1 for p in phases):
        return []
    sizes = rf.get("phase_sizes") or [[] for _ in phases]
    extents = "x".join(f"{min(s)}..{max(s)}" if s and min(s) != max(s) else str(s[0] if s else "?") for s in sizes)
    return [f"phases           {axes(phases)}: the receptive field depends on the output unit's index modulo this "
            f"(extent {extents} over the phases, jump {jumps(rf, 'stride')}); offset and support are for unit 0"]
