"""Concrete, numeric advice drawn from a report's measurements (one sentence each), and the honest summary of its
ERF that the figures, the tables and the advice share.

Every sentence fires only when its premise holds: rate advice only for a model that has dilated layers; a
Gaussian's σ and centre only where the fit is not degenerate; for a causal 1-D model, sequences and lookback
(one-sided lag statistics) instead of image centres and Gaussians.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from atrous.analysis.erf_metrics import LagStats, moments
from atrous.report.data import ReportData

__all__ = ["ErfView", "erf_statistics", "erf_view", "layer_label", "module_path", "recommendations"]


def module_path(name: str) -> str:
    """The module path a traced node belongs to: ``levels.0.conv1/convolution`` -> ``levels.0.conv1``.

    >>> module_path("levels.0.conv1/convolution"), module_path("aspp/mean"), module_path("layer1.0.conv2")
    ('levels.0.conv1', 'aspp', 'layer1.0.conv2')
    """
    head = name.split("/", 1)[0]
    return head or name


def layer_label(name: str, op: str) -> str:
    """How a layer is named on a figure: its module path, with the operation where the node is a functional
    call inside a module's forward (``aspp (mean)``) or in the model's own forward (``mean (top-level call)``).

    >>> layer_label("levels.0.conv1/convolution", "CausalConv1d"), layer_label("aspp/mean", "mean")
    ('levels.0.conv1', 'aspp (mean)')
    >>> layer_label("upsample_bilinear2d", "upsample_bilinear2d"), layer_label("stem", "Conv2d")
    ('upsample_bilinear2d (top-level call)', 'stem')
    """
    path, _, call = name.partition("/")
    if call:
        return path if call.startswith("convolution") or not path else f"{path} ({call})"
    if op and op == op.lower() and name.startswith(op):
        return f"{name} (top-level call)"
    return name


def _paths_in(message: str) -> str:
    """A message of the analysis with its quoted graph nodes named by module path: ``'layer1.0/add'`` becomes
    ``'layer1.0' (add)``.

    >>> _paths_in("merge 'blocks.2/add' is not aligned: 'blocks.2.conv/convolution' has jump [1]")
    "merge 'blocks.2' (add) is not aligned: 'blocks.2.conv' has jump [1]"
    """
    def name(match: re.Match[str]) -> str:
        path, call = match.group(1), match.group(2)
        return f"'{path}'" if call.startswith("convolution") else f"'{path}' ({call})"

    return re.sub(r"'([^'/\s]+)/([^'\s]+)'", name, message)


def _fmt(values: Iterable[float], sep: str = "x") -> str:
    return sep.join(f"{v:g}" for v in values)


def _axes_word(dims: int) -> str:
    return {1: "L", 2: "HxW", 3: "DxHxW"}[dims]


@dataclass(frozen=True)
class ErfView:
    """What can honestly be said of a report's ERF.

    ``box``: first and last input index of the unit's theoretical receptive field per axis, clipped to the input
    (``None``: unknown, or outside the input); ``clipped``: the field is larger than that. ``degenerate``: per
    axis, why the Gaussian fit cannot summarise the map (``None`` where it can). ``causal``: a 1-D unit that
    reads no future sample; then ``newest`` is the index of the newest input it reads and ``lags`` its one-sided
    statistics, and no Gaussian is used. ``notes``: the sentences a caption should carry.
    """

    box: tuple[tuple[int, ...], tuple[int, ...]] | None
    clipped: bool
    degenerate: tuple[str | None, ...]
    causal: bool
    newest: int | None
    lags: LagStats | None
    notes: list[str] = field(default_factory=list)

    @property
    def gaussian_ok(self) -> bool:
        """The Gaussian fit may be drawn and quoted: not causal, not degenerate, R² at least 0.5 on every axis."""
        return not self.causal and all(d is None for d in self.degenerate) and self.r2_ok

    r2_ok: bool = True

    @property
    def lengths(self) -> tuple[int, ...] | None:
        """The length of the clipped box per axis."""
        return None if self.box is None else tuple(h - lo + 1 for lo, h in zip(*self.box))


def erf_view(data: ReportData) -> ErfView:
    """The :class:`ErfView` of ``data`` (requires ``data.erf``)."""
    e = data.erf
    if e is None:
        raise ValueError("erf_view: the report has no ERF")
    shape = e.map.shape
    notes: list[str] = []
    box = None
    clipped = False
    if data.box is not None:
        first = [math.ceil(s) for s in data.box[0]]
        last = [math.floor(s + n - 1) for s, n in zip(data.box[0], data.box[1])]
        lo = [max(0, f) for f in first]
        hi = [min(n - 1, la) for la, n in zip(last, shape)]
        clipped = any(f < 0 for f in first) or any(la > n - 1 for la, n in zip(last, shape))
        if all(a <= b for a, b in zip(lo, hi)):
            box = (tuple(lo), tuple(hi))
            if clipped:
                spans = ", ".join(f"{f}…{la}" for f, la in zip(first, last))
                where = f"{shape[0]}-sample input" if len(shape) == 1 else f"{_fmt(shape, '×')} input"
                notes.append(f"The theoretical receptive field of unit {list(e.unit)} ({_fmt(data.box[1], '×')}; "
                             f"inputs {spans}) reaches past the edges of the {where}: its box is drawn clipped to "
                             "the input.")
        else:
            notes.append(f"The theoretical receptive field of unit {list(e.unit)} lies outside the input.")
    f = data.field
    causal = e.map.ndim == 1 and f is not None and f.causal
    newest = None
    lags = None
    degenerate: tuple[str | None, ...] = tuple(None for _ in shape)
    if causal:
        nonzero = np.flatnonzero(e.map > 0)
        newest = int(last[0]) if data.box is not None else int(nonzero[-1]) if nonzero.size else shape[0] - 1
        newest = min(max(newest, 0), shape[0] - 1)
        if e.map.sum() > 0:
            lags = e.lag_stats(newest)
            notes.append(f"One-sided statistics (a causal ERF starts at the unit's newest input and decays into "
                         f"the past, so no Gaussian is fitted): mass-weighted lag {lags.mean_lag:.1f}, 50% of the "
                         f"mass within lag {lags.lag50}, 95% within lag {lags.lag95}.")
    else:
        lengths = None if box is None else [h - lo + 1 for lo, h in zip(*box)]
        degenerate = e.degenerate(lengths)
        names = ["L"] if e.map.ndim == 1 else list("DHW"[3 - e.map.ndim:])
        bad = [(n, why) for n, why in zip(names, degenerate) if why is not None]
        if bad:
            if len({why for _, why in bad}) == 1:
                where = "along " + ", ".join(n for n, _ in bad)
                notes.append(f"The Gaussian fit {where} is degenerate: {bad[0][1]}. It is not drawn and its σ "
                             "does not describe the ERF.")
            else:
                notes.append("The Gaussian fit is degenerate: " + "; ".join(f"along {n}, {why}" for n, why in bad)
                             + ". It is not drawn and its σ does not describe the ERF.")
    r2_ok = causal or min(e.r2) >= 0.5
    if not causal and not r2_ok and all(d is None for d in degenerate):
        notes.append(f"The Gaussian fits the ERF poorly (R² {_fmt((round(r, 2) for r in e.r2), '×')}): it is not "
                     "drawn; read the map and the cross-sections instead.")
    return ErfView(box=box, clipped=clipped, degenerate=degenerate, causal=causal, newest=newest, lags=lags,
                   notes=notes, r2_ok=r2_ok)


def erf_verdict(data: ReportData) -> dict[str, Any]:
    """What of the ERF can be quoted, for the JSON and the terminal: whether the Gaussian describes it, why not per
    axis, and the one-sided lags of a causal unit (the judgement of the page's captions). Empty without an ERF."""
    if data.erf is None:
        return {}
    view = erf_view(data)
    out: dict[str, Any] = {"gaussian_ok": view.gaussian_ok, "gaussian_degenerate": list(view.degenerate),
                           "causal": view.causal}
    if view.lags is not None:
        out["lags"] = {"mean": round(view.lags.mean_lag, 6), "lag50": view.lags.lag50, "lag95": view.lags.lag95,
                       "newest": view.newest}
    return out


def erf_statistics(data: ReportData) -> list[tuple[str, str]]:
    """(label, value) rows summarising the ERF honestly, for a table beside :func:`~atrous.report.plots.erf_figure`.

    A causal 1-D ERF gets its one-sided statistics (lags behind the unit's newest input) and the lookback; any
    other gets the Gaussian's centre, σ and R² per axis, where a degenerate axis shows why instead of σ. Both
    end with the width holding 95% of the mass and its share of the theoretical field (clipped to the input).
    """
    e = data.erf
    if e is None:
        return []
    view = erf_view(data)
    rows = [("node, unit", f"{module_path(e.node)}, {list(e.unit)} of {list(e.output_size)}"),
            ("samples", str(e.samples))]
    if view.causal and view.lags is not None:
        s = view.lags
        rows += [("mass-weighted lag", f"{s.mean_lag:.1f} samples"),
                 ("lag holding 50% of the mass", f"{s.lag50} samples"),
                 ("lag holding 95% of the mass", f"{s.lag95} samples")]
        f = data.field
        if f is not None and f.lookback is not None:
            rows.append(("lookback (theoretical)", f"{f.lookback[0]} samples"))
            if view.newest is not None and view.newest < f.lookback[0]:
                rows.append(("lookback inside the input", f"{view.newest} samples (the sequence starts later)"))
        return rows
    names = ["L"] if e.map.ndim == 1 else list("DHW"[3 - e.map.ndim:])
    for n, fit, why in zip(names, e.fits, view.degenerate):
        if why is None:
            rows.append((f"Gaussian along {n}", f"centre {fit.center:.2f}, σ {fit.sigma:.2f}, R² {fit.r2:.4f}"))
        else:
            rows.append((f"Gaussian along {n}", f"degenerate: {why}"))
    widths = e.width()
    rows.append(("95% mass width", _fmt(widths, " × ")))
    lengths = view.lengths
    if lengths is not None:
        rows.append(("95% width / theoretical field" + (" (clipped to the input)" if view.clipped else ""),
                     " × ".join(f"{w / n:.0%}" for w, n in zip(widths, lengths))))
    return rows


def _capital(message: str) -> str:
    return message[0].upper() + message[1:] + ("" if message.endswith(".") else ".")


def recommendations(data: ReportData) -> list[str]:
    """Advice lines: gridding fixes, border layers, misaligned merges, the field against the input, ERF usage
    (one-sided for causal models), degenerate fits, aliasing; each only where its premise holds."""
    out: list[str] = []
    f = data.field
    dims = f.dims if f is not None else (data.erf.map.ndim if data.erf is not None else 0)
    sequence = dims == 1
    causal = f is not None and f.causal
    dilated = data.max_dilation > 1
    trained = data.run is not None
    if f is not None:
        volume = math.prod(f.extent)
        if f.holes > 0 and volume > 0:
            what = ("short events can fall between the taps" if sequence
                    else "small objects and thin structures can fall between the taps")
            out.append(f"{f.holes} of {volume} inputs ({f.holes / volume:.0%}) inside the receptive field "
                       f"{_fmt(f.size)} are never read: {what}.")
        out.extend(_capital(_paths_in(m)) for m in f.gridding
                   if "global operation" not in m and not m.lower().startswith("exact support"))
        s = data.summary or {}
        if s.get("aligned") is False:
            found = [_paths_in(m) for m in s.get("alignment", [])[:3]]
            fix = "" if any("pad" in m for m in found) else " Pad the branches so their centres agree."
            out.append("Some merges add branches whose receptive fields are not centred alike: "
                       + "; ".join(found) + "." + fix)
        spatial = data.input_shape[2:]
        if len(spatial) == f.dims and any(r > n for r, n in zip(f.size, spatial)):
            out.append(_too_large(data, sequence, causal, dilated))
    e = data.erf
    if e is not None:
        view = erf_view(data)
        run = data.run
        when = ("at this initialisation" if run is None else f"after training on {run.task}"
                + (f" (step {run.step})" if run.step is not None else ""))
        grows = "" if trained else " (the ERF grows as sqrt(depth) and with training)"
        if view.causal and view.lags is not None:
            lagged = view.lags
            lookback = f.lookback[0] if f is not None and f.lookback is not None else None
            reach = min(lookback, view.newest) if lookback is not None and view.newest is not None else lookback
            if reach and lagged.lag95 < 0.5 * reach:
                history = (f"the lookback of {lookback}" if reach == lookback else
                           f"the {reach} past samples this unit has (lookback {lookback})")
                out.append(f"95% of the gradient mass lies within the newest {lagged.lag95 + 1} samples (lag ≤ "
                           f"{lagged.lag95}; half within lag {lagged.lag50}) of {history}: most of the history the "
                           f"model could read barely influences its output {when}{grows}.")
        elif view.lengths is not None:
            widths = e.width()
            share = [w / n for w, n in zip(widths, view.lengths)]
            if max(share) < 0.5:
                against = f"the theoretical receptive field {_fmt(data.box[1]) if data.box else ''}" + (
                    f" clipped to the input ({_fmt(view.lengths)})" if view.clipped else "")
                out.append(f"The ERF holds 95% of its gradient mass within {_fmt(widths)} samples, "
                           f"{max(share):.0%} of {against}: most of the theoretical field barely influences the "
                           f"output {when}{grows}.")
        if not view.causal:
            out.extend(_centre(data, view, sequence))
            bad = [why for why in view.degenerate if why is not None]
            if bad:
                out.append(f"The Gaussian fit to the ERF is degenerate: {bad[0]}. Its σ and centre are not "
                           "quoted; read the map and the 95% mass width instead.")
            elif min(e.r2) < 0.5:
                why = (" A global operation (such as ASPP's image pooling) adds influence from every input, which "
                       "a single Gaussian cannot fit." if f is not None and f.is_global else "")
                out.append(f"The ERF is far from a Gaussian (R² {_fmt(round(r, 2) for r in e.r2)}): its sigma and "
                           f"area ratios summarise it poorly; read the map instead.{why}")
    names = ["L"] if dims == 1 else list("DHW"[3 - dims:]) if dims else []
    for fr in data.frequency:
        if fr.alias_free_stride is not None and fr.cutoff is not None and fr.stride > fr.alias_free_stride:
            axis = names[fr.axis] if fr.axis < len(names) else str(fr.axis)
            out.append(f"Axis {axis}: the network subsamples by {fr.stride:g} but its -3 dB cut-off "
                       f"{fr.cutoff:.3f} rad/sample only allows a stride of {fr.alias_free_stride} without "
                       f"aliasing; {fr.aliased_energy:.0%} of the response lies above the output Nyquist.")
    if not out:
        out.append("No problems found: every sample of the lookback is read and the lookback fits the sequence."
                   if causal else "No problems found: every offset in the receptive field is read, merges are "
                   "aligned and the receptive field fits the input.")
    return out


def _too_large(data: ReportData, sequence: bool, causal: bool, dilated: bool) -> str:
    """The field is larger than the input: what to do depends on where the field comes from."""
    f = data.field
    assert f is not None
    spatial = data.input_shape[2:]
    largest = max((layer for layer in data.layers), key=lambda layer: max(layer.dilation), default=None)
    rates = (f" (the largest is {max(largest.dilation)}, at {module_path(largest.name)})"
             if dilated and largest is not None else "")
    if causal and f.lookback is not None:
        head = (f"The lookback {f.lookback[0]} is longer than the {spatial[0]}-sample sequence: every output "
                "reads padding from before the sequence starts")
        fix = "feed longer sequences (or warm the model up on earlier context)"
    else:
        unit = "sequence" if sequence else "input"
        head = (f"The receptive field {_fmt(f.size)} is larger than the {unit} {_fmt(spatial)}: outer taps of the "
                "widest layers read only padding at this size")
        fix = "feed larger inputs" if not sequence else "feed longer sequences"
    if dilated:
        return f"{head}; {fix} or lower the largest rates{rates}."
    stride = max(f.stride)
    if stride > 1:
        return (f"{head}; {fix}. The model has no dilation: its field comes from depth and a total stride of "
                f"{stride:g}, so fewer downsampling stages would shrink it, if the task needs less context.")
    return f"{head}; {fix}."


def _centre(data: ReportData, view: ErfView, sequence: bool) -> list[str]:
    """Why the ERF peaks where it does: the unit's field is off the input's centre (geometry), or the fitted
    centre is off the field's centre (the weights). Not for causal units, whose field ends at the newest input."""
    e = data.erf
    if e is None or data.box is None:
        return []
    trf = data.box[1]
    centre = [b + (t - 1) / 2 for b, t in zip(data.box[0], trf)]
    geometric = [(n - 1) / 2 for n in data.input_shape[2:]]
    where = "sequence centre" if sequence else "image centre"
    if len(geometric) == len(centre) and max(abs(g - c) for g, c in zip(geometric, centre)) >= 1:
        mass = [round(m, 1) for m, _ in moments(e.map)]
        return [f"The measured unit {_fmt(e.unit)} is centred at input {_fmt(centre)}, not at the {where} "
                f"{_fmt(geometric)}: its ERF's centre of mass lies near {_fmt(mass)} for that reason (asymmetric "
                "padding and strides), not because of the weights."]
    if any(why is not None for why in view.degenerate):
        return []
    shift = [c - m for c, m in zip(e.center, centre)]
    if any(abs(v) >= max(2.0, 0.1 * sd) for v, sd in zip(shift, e.sigma)):
        cause = "the trained weights favour one side" if data.run is not None else \
            "the learned or initial weights favour one side"
        return [f"The ERF centre {_fmt(round(c, 1) for c in e.center)} is off the receptive field's centre "
                f"{_fmt(centre)} by {_fmt(round(v, 1) for v in shift)} samples: {cause}."]
    return []
