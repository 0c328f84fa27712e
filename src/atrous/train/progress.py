"""A one-line progress bar on stderr, drawn only on a terminal (no dependency)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """``update(step, **fields)`` redraws ``[#####.....] step/total  key value ...  it/s``; ``close()`` ends
    the line. Disabled (silent) when ``enabled`` is false."""

    def __init__(self, total: int, initial: int = 0, enabled: bool = True, stream: TextIO | None = None,
                 width: int = 24) -> None:
        self.total, self.enabled, self.width = max(total, 1), enabled, width
        self.stream = stream or sys.stderr
        self._start, self._initial, self._drawn = time.monotonic(), initial, 0.0

    def update(self, step: int, **fields: object) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if step < self.total and now - self._drawn < 0.1:
            return
        self._drawn = now
        filled = int(self.width * min(step, self.total) / self.total)
        rate = (step - self._initial) / max(now - self._start, 1e-9)
        info = "  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in fields.items())
        line = f"\r[{'#' * filled}{'.' * (self.width - filled)}] {step}/{self.total}  {info}  {rate:.1f} it/s"
        print(line, end="", file=self.stream, flush=True)

    def message(self, text: str) -> None:
        """Print a line above the bar."""
        if self.enabled:
            print(f"\r\033[K{text}", file=self.stream, flush=True)
            self._drawn = 0.0

    def close(self) -> None:
        if self.enabled:
            print(file=self.stream, flush=True)
