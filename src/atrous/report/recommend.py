"""Concrete, numeric advice drawn from a report's measurements (one sentence each)."""

from __future__ import annotations

import math
from typing import Any

from atrous.report.data import ReportData

__all__ = ["recommendations"]


def _fmt(values: Any) -> str:
    return "x".join(f"{v:g}" for v in values)


def _spatial(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary part describing the spatial map (the last spatial map for classifiers)."""
    if summary["rf"]["global"] and "last_spatial" in summary:
        return dict(summary["last_spatial"])
    return summary


def recommendations(data: ReportData) -> list[str]:
    """Advice lines: gridding fixes, border layers, misaligned merges, ERF usage and offset, aliasing."""
    out: list[str] = []
    s = data.summary
    if s is not None:
        part = _spatial(s)
        sup = part["support"]
        volume = math.prod(part["rf"]["size"])
        if sup["holes"] > 0 and volume > 0:
            out.append(f"{sup['holes']} of {volume} inputs ({sup['holes'] / volume:.0%}) inside the receptive "
                       f"field {_fmt(part['rf']['size'])} are never read: small objects and thin structures can "
                       "fall between the taps.")
        out.extend(m[0].upper() + m[1:] + ("" if m.endswith(".") else ".") for m in part["gridding"]["messages"]
                   if "global operation" not in m and not m.lower().startswith("exact support"))
        if s.get("aligned") is False:
            out.append("Some merges add branches whose receptive fields are not centred alike: "
                       + "; ".join(s.get("alignment", [])[:3]) + ". Pad the branches so their centres agree.")
        if data.input_shape and any(r > n for r, n in zip(part["rf"]["size"], data.input_shape[2:])):
            out.append(f"The receptive field {_fmt(part['rf']['size'])} is larger than the input "
                       f"{_fmt(data.input_shape[2:])}: outer taps of the widest layers read only padding at this "
                       "size; feed larger inputs or lower the largest rates.")
    e = data.erf
    if e is not None and data.box is not None:
        trf = data.box[1]
        widths = e.width()
        share = [w / t for w, t in zip(widths, trf)]
        if max(share) < 0.5:
            out.append(f"The ERF holds 95% of its gradient mass within {_fmt(widths)} samples, "
                       f"{max(share):.0%} of the theoretical receptive field {_fmt(trf)}: most of the theoretical "
                       "field barely influences the output at this initialisation (the ERF grows as sqrt(depth) "
                       "and with training).")
        centre = [b + (t - 1) / 2 for b, t in zip(data.box[0], trf)]
        shift = [c - m for c, m in zip(e.center, centre)]
        geometric = [(n - 1) / 2 for n in data.input_shape[2:]]
        if max(abs(g - c) for g, c in zip(geometric, centre)) >= 1:
            out.append(f"The measured unit {_fmt(e.unit)} is centred at input {_fmt(centre)}, not at the image "
                       f"centre {_fmt(geometric)}: its ERF peaks near {_fmt(round(c, 1) for c in e.center)} for "
                       "that reason (asymmetric padding and strides), not because of the weights.")
        elif any(abs(v) >= max(2.0, 0.1 * sd) for v, sd in zip(shift, e.sigma)):
            out.append(f"The ERF centre {_fmt(round(c, 1) for c in e.center)} is off the receptive field's "
                       f"centre {_fmt(centre)} by {_fmt(round(v, 1) for v in shift)} samples: the learned or "
                       "initial weights favour one side.")
    if e is not None and min(e.r2) < 0.5:
        why = (" A global operation (such as ASPP's image pooling) adds influence from every input, which a "
               "single Gaussian cannot fit." if s is not None and s["rf"]["global"] else "")
        out.append(f"The ERF is far from a Gaussian (R² {_fmt(round(r, 2) for r in e.r2)}): its sigma and area "
                   f"ratios summarise it poorly; read the map instead.{why}")
    for f in data.frequency:
        if f.alias_free_stride is not None and f.stride > f.alias_free_stride:
            out.append(f"Axis {f.axis}: the network subsamples by {f.stride:g} but its -3 dB cut-off "
                       f"{f.cutoff:.3f} rad/sample only allows a stride of {f.alias_free_stride} without "
                       f"aliasing; {f.aliased_energy:.0%} of the response lies above the output Nyquist.")
    if not out:
        out.append("No problems found: every offset in the receptive field is read, merges are aligned and "
                   "the receptive field fits the input.")
    return out
