"""What every read pattern derives from its taps and the volume of its box."""

from __future__ import annotations

from typing import TYPE_CHECKING


class TapCounts:
    """``holes`` and ``coverage`` from ``taps`` (inputs read) and ``volume`` (cells of the receptive-field box),
    which the subclass provides as fields or properties."""

    if TYPE_CHECKING:

        @property
        def taps(self) -> int: ...

        @property
        def volume(self) -> int: ...

    @property
    def holes(self) -> int:
        return self.volume - self.taps

    @property
    def coverage(self) -> float:
        return self.taps / self.volume
