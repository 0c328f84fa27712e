"""The status line that long measurements (``analyze --empirical``) show on stderr."""

from __future__ import annotations

import io

from atrous.cli._progress import StatusLine


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_one_line_rewritten_in_place_and_erased() -> None:
    out = Terminal()
    with StatusLine("atrous: measuring", out) as line:
        line("pass 1: measuring at 3x1x224x224 (one channel)")
        line("pass 2")
    text = out.getvalue()
    assert "\n" not in text
    before, first, second, erase, after = text.split("\r")
    assert before == after == ""
    assert first.startswith("atrous: measuring: pass 1: measuring at 3x1x224x224 (one channel) [")
    assert second.startswith("atrous: measuring: pass 2 [") and len(second) == len(first)  # padded over the first
    assert erase == " " * len(first)


def test_silent_off_a_terminal_and_when_disabled() -> None:
    pipe, term = io.StringIO(), Terminal()
    for stream, enabled in ((pipe, True), (term, False)):
        with StatusLine("atrous", stream, enabled=enabled) as line:
            line("pass 1")
    assert pipe.getvalue() == term.getvalue() == ""
