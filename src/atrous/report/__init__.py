"""The HTML report: summary, receptive-field growth, support and holes, ERF, frequency view, advice.

``collect(model, input_shape)`` computes everything once; ``render_html(data)`` draws it (matplotlib is
imported only there). ``atrous report SOURCE`` does both and writes one self-contained HTML file.
"""

from atrous.report.collect import collect
from atrous.report.data import Frequency, ReportData
from atrous.report.html import render_html

__all__ = ["Frequency", "ReportData", "collect", "render_html"]
