"""The report: summary, interactive explorer, per-layer table, receptive-field growth, ERF, frequency view, advice.

``collect(model, input_shape)`` computes everything once into a :class:`ReportData` (shown inline by Jupyter,
``.save(path)`` writes the page); ``render_html(data)`` draws it (matplotlib is imported only there). The package
itself is callable: ``atrous.report(model, input_shape, ...)`` is :func:`atrous._front.report`.
"""

import sys
import types
from typing import Any

from atrous.report.collect import collect
from atrous.report.data import Frequency, ReportData
from atrous.report.html import render_fragment, render_html
from atrous.report.result import Report

__all__ = ["Frequency", "Report", "ReportData", "collect", "render_fragment", "render_html"]


class _CallableModule(types.ModuleType):
    """``atrous.report`` is both this package and the front-door function (Python binds the name to the package
    once it is imported, so the function lives here as the package's ``__call__``)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Report:
        from atrous._front import report

        return report(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
