"""The README's copy of what `make run` prints is what `make run` prints (ERF numbers to within 5%: they are sums
of float gradients, whose last digits may follow the thread count)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from atrous.cli.main import main

README = Path(__file__).resolve().parents[2] / "README.md"
COMMAND = "atrous report atrous:deeplabv3 --input-shape 1,3,513,513 -o report.html"
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _readme_block() -> list[str]:
    text = README.read_text()
    start = text.index(f"$ {COMMAND}\n") + len(COMMAND) + 3
    return text[start: text.index("```", start)].rstrip("\n").splitlines()


def _same(shown: str, real: str) -> bool:
    if shown == real:
        return True
    if "ERF" not in shown and not shown.startswith("area ratio"):
        return False
    a, b = NUMBER.findall(shown), NUMBER.findall(real)
    words = NUMBER.sub("#", shown) == NUMBER.sub("#", real)
    return words and len(a) == len(b) and all(abs(float(x) - float(y)) <= 0.05 * max(abs(float(y)), 1e-9)
                                              for x, y in zip(a, b))


@pytest.mark.slow
def test_readme_shows_what_make_run_prints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "report.html"
    assert main([*COMMAND.split()[1:-1], str(page)]) == 0
    captured = capsys.readouterr()
    real = [*captured.err.strip().splitlines(), *captured.out.strip().splitlines()]
    real[-1] = real[-1].replace(str(page.resolve()), "/path/to/atrous/report.html")
    shown = _readme_block()
    assert len(shown) == len(real)
    bad = [(s, r) for s, r in zip(shown, real) if not _same(s, r)]
    assert bad == []
    assert not any("Warning:" in line and not line.startswith("atrous: note:") for line in real)
