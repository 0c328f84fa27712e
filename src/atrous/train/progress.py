"""The progress of a training run: a one-line bar on stderr on a terminal, a tqdm bar in a notebook."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

__all__ = ["Progress"]


class Progress:
    """``update(step, **fields)`` redraws ``[#####.....] step/total  key value ...  it/s``; ``close()`` ends
    the line. Disabled (silent) when ``enabled`` is false; ``enabled=None`` draws in a Jupyter notebook (through
    tqdm) or when stderr is a terminal."""

    def __init__(self, total: int, initial: int = 0, enabled: bool | None = True, stream: TextIO | None = None,
                 width: int = 24) -> None:
        from atrous._progress import in_notebook, tqdm_class, wanted

        notebook = in_notebook() and stream is None
        enabled = wanted(enabled)
        self.total, self.enabled, self.width = max(total, 1), enabled, width
        self.stream = stream or sys.stderr
        self._start, self._initial, self._drawn = time.monotonic(), initial, 0.0
        self._tqdm: Any = None
        if enabled and notebook:
            self._tqdm = tqdm_class()(total=self.total, initial=initial, desc="training")

    def update(self, step: int, **fields: object) -> None:
        if not self.enabled:
            return
        if self._tqdm is not None:
            self._tqdm.set_postfix({k: f"{v:.4g}" if isinstance(v, float) else v for k, v in fields.items()},
                                   refresh=False)
            self._tqdm.update(step - self._tqdm.n)
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
        if self._tqdm is not None:
            self._tqdm.write(text)
        elif self.enabled:
            print(f"\r\033[K{text}", file=self.stream, flush=True)
            self._drawn = 0.0

    def close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()
        elif self.enabled:
            print(file=self.stream, flush=True)
