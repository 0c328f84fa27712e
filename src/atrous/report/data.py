"""The material of one report: plain data, filled by :func:`atrous.report.collect.collect`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from atrous.analysis.erf import ERF
from atrous.report.explorer import Explorer

__all__ = ["Field", "Frequency", "Layer", "ReportData", "RunInfo"]


@dataclass(frozen=True)
class Field:
    """The receptive field of the node the spatial sections describe, read once from the analysis summary.

    For a classifier (a global operation at the output) this is the last spatial map before it, and ``is_global``
    says that the output itself reads everything."""

    node: str
    size: tuple[int, ...]
    stride: tuple[float, ...]
    offset: tuple[float, ...]
    start: tuple[float, ...]
    exact: bool
    is_global: bool  # the output (not this map) depends on the whole input
    taps: int
    holes: int
    coverage: float
    extent: tuple[int, ...]
    hdc_ok: bool
    gridding: tuple[str, ...]  # the gridding messages
    lookback: tuple[int, ...] | None  # 1-D stacks: past samples read by the newest output
    lookahead: tuple[int, ...] | None  # 1-D stacks: future samples read (0: causal)

    @property
    def dims(self) -> int:
        return len(self.size)

    @property
    def causal(self) -> bool:
        """A 1-D field that reads no future sample."""
        return self.dims == 1 and self.lookahead is not None and max(self.lookahead) <= 0


@dataclass(frozen=True)
class Layer:
    """One row of the per-layer table: a traced node that changes the geometry (module path, kernel, ...)."""

    name: str
    op: str
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    rf: tuple[float, ...]
    jump: tuple[float, ...]
    offset: tuple[float, ...]  # input coordinate of the centre of output 0's field
    coverage: float
    length: tuple[int, ...] | None  # output size along each axis


@dataclass(frozen=True)
class RunInfo:
    """What a report of a trained checkpoint says of its run."""

    task: str
    model: str
    step: int | None
    epoch: int | None
    metric: str | None
    value: float | None
    model_args: dict[str, Any]


#: evenly spaced frequency points on [0, pi] drawn in the frequency figure, and the most points of the finer grid
#: the cut-off is searched on (see collect._frequency_grid)
PLOT_POINTS, MAX_CUT_POINTS = 512, 2**18


@dataclass
class Frequency:
    """The frequency view of one axis of the analysed node (input frequency, radians per sample)."""

    axis: int
    omega: np.ndarray  # PLOT_POINTS evenly spaced on [0, pi], and for wide fields more, spaced on a log scale
    stack: np.ndarray  # |H| of the whole linearised stack
    layers: list[tuple[str, int, int, np.ndarray]]  # (name, kernel, rate in input samples, |H|)
    cutoff: float | None  # -3 dB point of the stack
    stride: float  # the node's jump
    alias_free_stride: int | None  # floor(pi / cutoff)
    aliased_energy: float  # share of |H|^2 above pi / stride
    verdict: str  # "low" / "moderate" / "high" gridding risk
    why: str
    cutoff_step: float = 0.0  # spacing of the grid the cut-off was found on (finer than omega's for wide fields)


@dataclass(repr=False)
class ReportData:
    """The material of one report; ``as_dict()`` is the ``atrous report --json`` object. What users get is its
    displayable subclass :class:`~atrous.report.result.Report`."""

    source: str
    input_shape: tuple[int, ...]
    summary: dict[str, Any] | None  # atrous analyze's object (None when tracing failed)
    analysis_error: str | None
    node: str  # the node the spatial sections describe
    box: tuple[tuple[float, ...], tuple[float, ...]] | None  # TRF of the ERF's unit: (start, size) per axis
    growth: list[tuple[str, str, list[float]]]  # (node, op, rf per axis) in graph order
    support: np.ndarray | None  # path counts of the analysed node, or None
    support_origin: tuple[int, ...] | None
    erf: ERF | None
    erf_error: str | None
    data_free: np.ndarray | None
    frequency: list[Frequency] = field(default_factory=list)
    advice: list[str] = field(default_factory=list)
    #: what of the ERF may be quoted (``gaussian_ok``, ``gaussian_degenerate``, ``causal``, ``lags``): set with the
    #: recommendations, from the same judgement (report/recommend.py ``erf_verdict``)
    erf_verdict: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # warnings the model's own code raised, and other remarks
    run: RunInfo | None = None
    explorer: Explorer | None = None  # what the interactive page embeds

    @property
    def field(self) -> Field | None:
        """The typed receptive field of the described node (None when the model could not be analysed)."""
        return field_of(self.summary) if self.summary is not None else None

    @property
    def layers(self) -> list[Layer]:
        """The per-layer table: every traced node that has a kernel (convolution, pooling, padding, resize)."""
        return layers_of(self.summary) if self.summary is not None else []

    @property
    def max_dilation(self) -> int:
        """The largest dilation of any layer (1: the model has no dilated layer)."""
        return max((max(layer.dilation) for layer in self.layers), default=1)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.summary or {})
        if self.summary is None:
            out["analysis_error"] = self.analysis_error
        trf = self.box[1] if self.box is not None else None
        out["erf"] = None if self.erf is None else {**self.erf.as_dict(trf), **self.erf_verdict}
        if self.erf_error is not None:
            out["erf_error"] = self.erf_error
        out["frequency"] = [
            {"axis": f.axis, "cutoff": f.cutoff, "cutoff_grid_step": f.cutoff_step, "stride": f.stride,
             "alias_free_stride": f.alias_free_stride,
             "aliased_energy": round(f.aliased_energy, 6), "gridding_risk": f.verdict, "why": f.why,
             "layers": [{"name": n, "kernel": k, "rate": r} for n, k, r, _ in f.layers]}
            for f in self.frequency
        ]
        out["recommendations"] = list(self.advice)
        out["source"] = self.source
        return out


def field_of(summary: dict[str, Any]) -> Field:
    """The :class:`Field` of an ``atrous analyze`` object (its last spatial map for a classifier)."""
    part = summary["last_spatial"] if summary["rf"]["global"] and "last_spatial" in summary else summary
    rf, sup, grid = part["rf"], part["support"], part["gridding"]
    size = tuple(int(v) for v in rf["size"])
    start = rf.get("start")
    return Field(
        node=str(part["node"] if part is not summary else summary.get("graph_node", "output")), size=size,
        stride=tuple(float(v) for v in rf["stride"]), offset=tuple(float(v) for v in rf["offset"]),
        start=tuple(float(v) for v in start) if start is not None else
        tuple(float(o) - (n - 1) / 2 for o, n in zip(rf["offset"], size)),
        exact=bool(rf.get("exact", True)), is_global=bool(summary["rf"]["global"]), taps=int(sup["taps"]),
        holes=int(sup["holes"]), coverage=float(sup["coverage"]),
        extent=tuple(int(v) for v in sup.get("extent", size)), hdc_ok=bool(grid["hdc_ok"]),
        gridding=tuple(grid["messages"]),
        lookback=tuple(int(v) for v in rf["lookback"]) if "lookback" in rf else None,
        lookahead=tuple(int(v) for v in rf["lookahead"]) if "lookahead" in rf else None,
    )


def layers_of(summary: dict[str, Any]) -> list[Layer]:
    """The :class:`Layer` rows of an ``atrous analyze`` object, in graph order."""
    out = []
    for row in summary.get("layers", []):
        if row.get("kernel") is None:  # merges, pointwise and layout nodes
            continue
        length = row.get("length")
        out.append(Layer(
            name=str(row["name"]), op=str(row.get("op", "")), kernel=tuple(int(v) for v in row["kernel"]),
            stride=tuple(int(v) for v in row["stride"]), dilation=tuple(int(v) for v in row["dilation"]),
            rf=tuple(float(v) for v in row["rf"]), jump=tuple(float(v) for v in row["jump"]),
            offset=tuple(float(v) for v in row.get("offset", [0] * len(row["rf"]))),
            coverage=float(row.get("coverage", 1.0)),
            length=tuple(int(v) for v in length) if length is not None else None,
        ))
    return out
