"""One status line on stderr for long measurements: rewritten in place on a terminal, silent elsewhere."""

from __future__ import annotations

import shutil
import sys
import time
from types import TracebackType
from typing import TextIO


class StatusLine:
    """A progress callback (``line("message")``) that shows the latest stage and the time spent so far.

    On a terminal each message replaces the previous one on a single line, which is erased on exit, so the
    command's own output follows as if nothing had been shown. Where ``stream`` is not a terminal (a pipe, a
    log file, a test) or ``enabled`` is false it writes nothing.
    """

    def __init__(self, label: str, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.label = label
        self.stream = sys.stderr if stream is None else stream
        self.live = enabled and self.stream.isatty()
        self.start = time.monotonic()
        self.shown = 0  # characters on the line now

    def __call__(self, message: str) -> None:
        if not self.live:
            return
        text = f"{self.label}: {message} [{time.monotonic() - self.start:.1f} s]"
        text = text[: max(20, shutil.get_terminal_size().columns - 1)]
        self.stream.write("\r" + text + " " * max(0, self.shown - len(text)))
        self.stream.flush()
        self.shown = max(self.shown, len(text))  # the padding keeps the longer line's width

    def close(self) -> None:
        if self.live and self.shown:
            self.stream.write("\r" + " " * self.shown + "\r")
            self.stream.flush()
            self.shown = 0

    def __enter__(self) -> StatusLine:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
