"""The material of one report: plain data, filled by :func:`atrous.report.collect.collect`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from atrous.analysis.erf import ERF

__all__ = ["Frequency", "ReportData"]


@dataclass
class Frequency:
    """The frequency view of one axis of the analysed node (input frequency, radians per sample)."""

    axis: int
    omega: np.ndarray
    stack: np.ndarray  # |H| of the whole linearised stack
    layers: list[tuple[str, int, int, np.ndarray]]  # (name, kernel, rate in input samples, |H|)
    cutoff: float | None  # -3 dB point of the stack
    stride: float  # the node's jump
    alias_free_stride: int | None  # floor(pi / cutoff)
    aliased_energy: float  # share of |H|^2 above pi / stride
    verdict: str  # "low" / "moderate" / "high" gridding risk
    why: str


@dataclass
class ReportData:
    """The material of one report; ``as_dict()`` is the ``atrous report --json`` object."""

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

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.summary or {})
        if self.summary is None:
            out["analysis_error"] = self.analysis_error
        trf = self.box[1] if self.box is not None else None
        out["erf"] = None if self.erf is None else self.erf.as_dict(trf)
        if self.erf_error is not None:
            out["erf_error"] = self.erf_error
        out["frequency"] = [
            {"axis": f.axis, "cutoff": f.cutoff, "stride": f.stride, "alias_free_stride": f.alias_free_stride,
             "aliased_energy": round(f.aliased_energy, 6), "gridding_risk": f.verdict, "why": f.why,
             "layers": [{"name": n, "kernel": k, "rate": r} for n, k, r, _ in f.layers]}
            for f in self.frequency
        ]
        out["recommendations"] = list(self.advice)
        out["source"] = self.source
        return out
