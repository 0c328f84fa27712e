"""Every number in docs/RESULTS.md's tables is a rounding of a number that experiments/tables.py prints from the
committed results, for the section the table is in.

Tables in the two arithmetic sections are computed by `atrous rf` / `atrous analyze` and asserted by their own
tests; a table under a heading that says "not checkable from the repository" has no committed data and is
skipped. Any other table must belong to a section listed in SECTIONS, so a new table cannot go unchecked.
"""

from __future__ import annotations

import importlib.util
import io
import re
from contextlib import redirect_stdout
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "RESULTS.md"
UNCHECKED = "not checkable from the repository"

#: heading (a prefix of its text) -> the experiments/tables.py section that prints its numbers
SECTIONS = {
    "Receptive-field arithmetic": None,  # tests/rf/test_worked_numbers.py
    "Real models": None,  # tests/analysis/
    "Sequence benchmarks": "bai2018",
    "Copy memory and adding": "bai2018",
    "Segmentation": "segmentation",
    "Vision tasks": "vision",
    "1. Receptive field vs object scale": "vision",
    "2. Gridding": "vision",
    "Graphs": "graphs",
    "Music rhythm": "rhythm",
    "Genomics: an enhancer": "genomics",
    "Genomics at 20 kb": "genomics20k",
}
COMPUTED_BY = ["tests/rf/test_worked_numbers.py", "tests/analysis"]

_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?:[eE]([-−+]?\d+))?")


def numbers(text: str) -> list[Decimal]:
    """The numbers of a piece of markdown, code spans and bold markers removed, thousands separators read."""
    text = re.sub(r"`[^`]*`", " ", text).replace("**", "").replace("..", " .. ")
    found = []
    for whole, frac, exp in _NUMBER.findall(text):
        literal = whole.replace(",", "") + frac + (f"e{exp.replace('−', '-')}" if exp else "")
        try:
            found.append(Decimal(literal))
        except InvalidOperation:
            continue
    return found


def tables(markdown: str) -> list[tuple[list[str], list[str]]]:
    """(headings in force, data rows) for each table; the header row and the separator are left out."""
    headings: list[str] = []
    out: list[tuple[list[str], list[str]]] = []
    rows: list[str] = []
    fenced = False
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("```"):
            fenced = not fenced
        if fenced:
            continue
        if line.startswith("|"):
            rows.append(line)
            continue
        if rows:
            out.append((list(headings), [r for r in rows[1:] if not re.fullmatch(r"\|[\s|:-]*", r)]))
            rows = []
        match = re.match(r"(#+) (.*)", line)
        if match:
            level = len(match.group(1))
            headings = [*headings[: level - 1], *[""] * max(0, level - 1 - len(headings)), match.group(2)]
    return out


def section(headings: list[str]) -> str | None:
    for heading in reversed(headings):
        for prefix, name in SECTIONS.items():
            if heading.startswith(prefix):
                return name
    raise AssertionError(f"a table under {headings!r} belongs to no section of tests/test_results_tables.py")


def _printed(name: str) -> list[Decimal]:
    spec = importlib.util.spec_from_file_location("experiment_tables", ROOT / "experiments" / "tables.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        assert module.main([name]) == 0
    return numbers(buffer.getvalue())


def rounds_to(value: Decimal, printed: list[Decimal]) -> bool:
    quantum = Decimal(1).scaleb(value.as_tuple().exponent)  # type: ignore[arg-type]
    return any(p.quantize(quantum, rounding=mode) == value for p in printed for mode in (ROUND_HALF_UP,
                                                                                         ROUND_HALF_EVEN))


def test_number_reader():
    assert numbers("| 12,530 | 2.1e-7 [0.214, 1.0] | `rates=1,2,4` 29 (0..28) | **0.97** |") == [
        Decimal("12530"), Decimal("2.1e-7"), Decimal("0.214"), Decimal("1.0"), Decimal("29"), Decimal("0"),
        Decimal("28"), Decimal("0.97")]
    assert rounds_to(Decimal("0.371"), [Decimal("0.370614")])
    assert not rounds_to(Decimal("0.372"), [Decimal("0.370614")])
    assert rounds_to(Decimal("2.1e-7"), [Decimal("2.0935e-07")])


def _cases() -> list[tuple[str, str, list[str]]]:
    cases = []
    for headings, rows in tables(RESULTS.read_text()):
        if any(UNCHECKED in h for h in headings):
            continue
        name = section(headings)
        if name is not None:
            cases.append((name, " / ".join(h for h in headings if h), rows))
    return cases


def test_every_table_is_checked_or_marked():
    names = {name for name, _, _ in _cases()}
    assert {"segmentation", "vision", "graphs", "rhythm", "genomics", "genomics20k"} <= names
    for path in COMPUTED_BY:
        assert (ROOT / path).exists(), path


@pytest.mark.parametrize("name", sorted({name for name, _, _ in _cases()}))
def test_table_numbers_come_from_the_committed_results(name):
    printed = _printed(name)
    missing = []
    for _, where, rows in (c for c in _cases() if c[0] == name):
        for row in rows:
            missing += [f"{v} in {where!r}: {row[:80]}" for v in numbers(row) if not rounds_to(v, printed)]
    assert not missing, "\n".join(missing)
