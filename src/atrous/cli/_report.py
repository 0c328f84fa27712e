"""The summary lines shared by `atrous rf` and `atrous analyze` (from the JSON object described in docs/cli.md)."""

from __future__ import annotations

from typing import Any

from atrous.cli._format import axes, percent


def volume(extent: list[int]) -> str:
    total = 1
    for e in extent:
        total *= e
    return str(total) if len(extent) == 1 else f"{total} ({axes(extent)})"


def rf_lines(rf: dict[str, Any], sup: dict[str, Any], label: str = "receptive field") -> list[str]:
    size = axes(rf["size"]) + (" (+ global)" if rf["global"] else "")
    lines = [f"{label:<17}{size}, stride {axes(rf['stride'])}, centre of output 0 at {axes(rf['offset'])}"]
    if "lookback" in rf:
        lines.append(f"lookback/ahead   {axes(rf['lookback'])} past, {axes(rf['lookahead'])} future samples")
    if rf.get("size_min") != rf.get("size_max"):
        lines.append(f"paths            smallest RF {axes(rf['size_min'])}, largest {axes(rf['size_max'])}")
    extent = sup.get("extent", rf["size"])
    lines.append(f"support          {sup['taps']} of {volume(extent)} inputs read "
                 f"(coverage {percent(sup['coverage'])}, {sup['holes']} holes)")
    return lines


def summary_lines(s: dict[str, Any], show_holes: bool = False) -> list[str]:
    """Receptive field, support, alignment and gridding of a summary object, one fact per line."""
    lines = rf_lines(s["rf"], s["support"])
    if "output_length" in s:
        lines.append(f"output length    {axes(s['output_length'])}")
    if s["aligned"] is None:
        lines.append("alignment        unknown")
    else:
        lines.append("alignment        " + ("all merges aligned" if s["aligned"] else "NOT aligned"))
    lines.extend(f"  - {m}" for m in s.get("alignment", []))
    grid = s["gridding"]
    verdict = "not checked (measured, not traced)" if s.get("method") == "empirical" else \
        "HDC ok" if grid["hdc_ok"] else "HDC fails"
    lines.append("gridding         " + verdict)
    lines.extend(f"  - {m}" for m in grid["messages"])
    if show_holes:
        for a, ax in enumerate(s["support"].get("per_axis", [])):
            more = " ..." if ax["holes"] > len(ax["hole_offsets"]) else ""
            listed = ", ".join(map(str, ax["hole_offsets"])) or "none"
            lines.append(f"holes, axis {a}     {listed}{more}")
    return lines
