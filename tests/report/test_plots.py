"""The report's figures: each renders for 1-D causal, 2-D dilated, classifier and 3-D models, leaves the caller's
matplotlib backend alone, keeps its text apart, and says what the issue asked it to say."""

from __future__ import annotations

import dataclasses
import itertools
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _report_models import NAMES, report

from atrous.errors import ConfigError
from atrous.report import plots
from atrous.report.data import ReportData

SRC = Path(__file__).resolve().parents[2] / "src"

FIGURES: dict[str, Callable[..., str]] = {
    "erf": plots.erf_figure, "frequency": plots.frequency_figure, "growth": plots.growth_figure,
    "support": plots.support_figure, "timeline": plots.timeline_figure,
}


def _words(svg: str) -> str:
    """The text of an SVG figure: matplotlib draws glyphs as paths and keeps each string in a comment."""
    return " ".join(re.findall(r"<!-- (.*?) -->", svg, flags=re.S))


def _svg_ok(svg: str) -> None:
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg") and len(svg) > 5_000


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("figure", sorted(FIGURES))
def test_every_figure_renders(name: str, figure: str) -> None:
    data = report(name)
    if figure == "timeline" and data.field is not None and data.field.dims != 1:
        with pytest.raises(ConfigError, match="1-D stacks only"):
            plots.timeline_figure(data)
        return
    _svg_ok(FIGURES[figure](data))


@pytest.mark.parametrize("name", ["gridding", "tcn"])
def test_erf_and_frequency_options(name: str) -> None:
    data = report(name)
    for scale in ("log", "linear"):
        _svg_ok(plots.erf_figure(data, scale=scale))
    for scale, log_frequency in itertools.product(("db", "linear"), (True, False)):
        _svg_ok(plots.frequency_figure(data, scale=scale, log_frequency=log_frequency))
    with pytest.raises(ConfigError, match="scale must be 'log' or 'linear', got 'dB'"):
        plots.erf_figure(data, scale="dB")
    with pytest.raises(ConfigError, match="scale must be 'db' or 'linear'"):
        plots.frequency_figure(data, scale="log")


def test_the_caller_backend_is_untouched_and_pyplot_never_imported(tmp_path: Path) -> None:
    """In a fresh interpreter: choose a backend that is not Agg, render every figure, and find it unchanged."""
    script = textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(SRC)!r}, {str(Path(__file__).parent)!r}]
        import matplotlib
        matplotlib.use("pdf")
        matplotlib.rcParams["font.size"] = 17.0
        from _report_models import report
        from atrous.report import plots
        for name in ("tcn", "gridding"):
            data = report(name)
            for draw in (plots.erf_figure, plots.frequency_figure, plots.growth_figure, plots.support_figure):
                assert draw(data).lstrip().startswith("<?xml")
        plots.timeline_figure(report("tcn"))
        assert "matplotlib.pyplot" not in sys.modules, "pyplot was imported"
        assert matplotlib.get_backend() == "pdf", matplotlib.get_backend()
        assert matplotlib.rcParams["font.size"] == 17.0
        print("ok")
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-2000:]
    source = (SRC / "atrous" / "report" / "plots.py").read_text()
    assert "pyplot" not in source.replace("``matplotlib.pyplot``", "") and "matplotlib.use(" not in source


def _drawn_text(fig: Any) -> list[tuple[str, Any]]:
    """Every text the figure actually draws, with its box on the canvas (ticks outside the view are not drawn)."""
    import matplotlib.text
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    seen: list[Any] = []
    original = matplotlib.text.Text.draw

    def draw(self: Any, renderer: Any) -> None:
        if self.get_visible() and self.get_text().strip():
            seen.append(self)
        original(self, renderer)

    canvas = FigureCanvasAgg(fig)
    matplotlib.text.Text.draw = draw  # type: ignore[method-assign]
    try:
        canvas.draw()
    finally:
        matplotlib.text.Text.draw = original  # type: ignore[method-assign]
    renderer = canvas.get_renderer()
    return [(t.get_text(), t.get_window_extent(renderer)) for t in seen]


def _draw(figure: str, data: ReportData) -> Any:
    with plots._style():
        return getattr(plots, f"_draw_{figure}")(data)


@pytest.mark.parametrize("name", [*NAMES, "tcn_short"])
def test_no_two_texts_overlap_and_none_leaves_the_figure(name: str) -> None:
    data = report(name)
    for figure in FIGURES:
        if figure == "timeline" and data.field is not None and data.field.dims != 1:
            continue
        fig = _draw(figure, data)
        texts = _drawn_text(fig)
        assert texts
        for (a, box_a), (b, box_b) in itertools.combinations(texts, 2):
            w = min(box_a.x1, box_b.x1) - max(box_a.x0, box_b.x0)
            h = min(box_a.y1, box_b.y1) - max(box_a.y0, box_b.y0)
            assert w <= 0.5 or h <= 0.5, f"{figure}: {a!r} overlaps {b!r}"
        for text, box in texts:
            assert box.x0 >= -1 and box.y0 >= -1 and box.x1 <= fig.bbox.x1 + 1 and box.y1 <= fig.bbox.y1 + 1, \
                f"{figure}: {text!r} leaves the figure"


def test_support_title_words_the_coverage_as_coverage() -> None:
    words = _words(plots.support_figure(report("gridding")))
    assert "120 holes (red); 29.0% of the 13×13 field is read (49 inputs)" in words


def test_the_box_is_clipped_to_the_input_with_a_note() -> None:
    small = report("classifier")  # its field is far larger than the 24×24 input
    notes = plots.erf_notes(small)
    assert any("reaches past the edges of the 24×24 input" in n and "clipped" in n for n in notes)
    assert "clipped to the input" in _words(plots.erf_figure(small))
    assert not any("clipped" in n for n in plots.erf_notes(report("gridding")))  # 13×13 inside 48×48


def test_log_scale_shows_the_tails_a_linear_scale_hides() -> None:
    """The colour bar is normalised to the peak; on the log scale it spans several decades."""
    fig = _draw("erf", report("gridding"))
    bar = next(ax for ax in fig.axes if ax.get_label() == "<colorbar>")
    low, high = sorted(bar.get_ylim())
    assert high == pytest.approx(1.0) and low <= 1e-2 and "share of the peak (log scale)" in bar.get_ylabel()


def _frequency_with(data: ReportData, pairs: list[tuple[int, int]]) -> ReportData:
    omega = np.linspace(0, np.pi, 512)
    layers = [(f"blocks.{i}.conv/convolution", k, r, np.abs(np.cos(r * omega / 2))) for i, (k, r) in enumerate(pairs)]
    f = data.frequency[0]
    return dataclasses.replace(data, frequency=[dataclasses.replace(f, omega=omega, stack=np.abs(np.cos(omega / 2)),
                                                                    layers=layers)])


def _legend(fig: Any) -> list[Any]:
    return [t for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


def test_frequency_draws_layer_curves_only_where_readable() -> None:
    data = report("tcn")
    few = _legend(_draw("frequency", _frequency_with(data, [(3, 1), (3, 2), (3, 2), (3, 4)])))
    labels = [t.get_text() for t in few]
    assert "k=3, rate 2 ×2: blocks.1.conv, blocks.2.conv" in labels  # grouped, by module path
    assert not any("envelope" in s or "/" in s for s in labels)
    assert all(t.get_fontsize() >= 8 for t in few)
    many = [t.get_text() for t in _legend(_draw("frequency", _frequency_with(data, [(3, r) for r in range(1, 9)])))]
    assert any("min–max envelope of 8 dilated layers (rates 1–8; too many to draw one by one)" in s for s in many)
    assert not any(s.startswith("k=") for s in many)
    fast = [t.get_text() for t in _legend(_draw("frequency", _frequency_with(data, [(3, 2), (3, 96), (3, 192)])))]
    assert any(s.startswith("k=3, rate 2") for s in fast)
    assert any("envelope of 2 dilated layers (rates 96–192; ripples finer than the plot)" in s for s in fast)


def test_growth_is_monotone_by_module_path() -> None:
    data = report("classifier")
    fig = _draw("growth", data)
    ax = fig.axes[0]
    line = next(p for p in ax.patches if str(p.get_label()).startswith("largest field so far, max over paths"))
    y = np.asarray(line.get_data().values, dtype=float)
    own = np.array([layer.rf[0] for layer in data.layers], dtype=float)
    assert np.all(np.diff(y) >= 0) and np.any(np.diff(own) < 0)  # the shortcut steps down; the curve does not
    labels = [t.get_text() for t in ax.get_xticklabels()]
    paths = {name for name, _ in __import__("_report_models").Classifier().named_modules()}
    assert labels and all(label in paths or label == "mean (top-level call)" for label in labels)


def test_causal_erf_is_drawn_against_the_lag_without_a_gaussian() -> None:
    data = report("tcn")
    words = _words(plots.erf_figure(data))
    assert "half the mass within lag" in words and "mass-weighted lag" in words and "lookback 60" in words
    assert "Gaussian" not in words and "σ" not in words


def test_timeline_marks_the_lookback_and_every_dilated_layer() -> None:
    data = report("tcn")
    words = _words(plots.timeline_figure(data))
    assert "lookback 60" in words and "lag" in words
    for layer in data.layers:
        if layer.kernel[0] > 1:
            assert f"{layer.name.split('/')[0]}  k={layer.kernel[0]} d={layer.dilation[0]}" in words
    fig = _draw("timeline", data)
    taps = [ln for ln in fig.axes[0].get_lines() if ln.get_marker() == "o"]
    assert float(np.max(taps[-1].get_xdata())) == 16  # the last layer: kernel 3 at rate 8
    assert all(float(np.min(ln.get_xdata())) == 0 for ln in taps)  # every causal layer taps the newest sample
    bars = fig.axes[0].patches
    assert len(bars) == len(taps) and max(b.get_x() + b.get_width() for b in bars) == 60.5  # the lookback


def test_a_degenerate_fit_is_not_drawn() -> None:
    data = report("gridding")
    e = data.erf
    assert e is not None
    spike = np.zeros_like(e.map)
    spike[24, 24] = 1.0
    flat = dataclasses.replace(data, erf=dataclasses.replace(e, map=spike), data_free=None)
    words = _words(plots.erf_figure(flat))
    assert "degenerate" in words and "Gaussian 1σ/2σ" not in words
    assert "Gaussian 1σ/2σ" in _words(plots.erf_figure(data)) or min(e.r2) < 0.5
