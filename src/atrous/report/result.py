"""What ``atrous.report(...)`` and :func:`~atrous.report.collect` return: the report's material that shows itself.

A short ``repr``, the interactive page inline in Jupyter (``_repr_html_``), ``to_dict()`` (the ``atrous report
--json`` object) and ``save(path)`` (the self-contained page, written atomically).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atrous._files import atomic_write
from atrous.report.data import ReportData
from atrous.report.html import render_fragment, render_html

__all__ = ["Report"]


@dataclass(repr=False)
class Report(ReportData):
    """One report; see :class:`~atrous.report.data.ReportData` for its fields."""

    def __repr__(self) -> str:
        f = self.field
        parts = [f"source={self.source!r}", "input=" + "x".join(map(str, self.input_shape))]
        if f is not None:
            parts.append(f"node={f.node!r}, rf={'x'.join(map(str, f.size))}" + (" + global" if f.is_global else "")
                         + f", holes={f.holes}")
        else:
            parts.append("analysis=None")
        if self.erf is not None:
            parts.append(f"erf_samples={self.erf.samples}")
        parts.append(f"advice={len(self.advice)}")
        return f"Report({', '.join(parts)})"

    def _repr_html_(self) -> str:
        return render_fragment(self)

    def to_dict(self) -> dict[str, Any]:
        """The ``atrous report --json`` object."""
        return self.as_dict()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the self-contained HTML page (atomically) and return its path."""
        out = Path(path)
        atomic_write(out, render_html(self))
        return out

