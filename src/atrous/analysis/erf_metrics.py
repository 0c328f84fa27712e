"""Numbers that describe an effective-receptive-field map: Gaussian fits, area ratios, radial mass.

Everything here works on a plain non-negative numpy array (1-D, 2-D or 3-D) and never imports torch, so the
metrics can be applied to maps measured elsewhere. Coordinates are array indices (input samples).

- :func:`gaussian_fit`: per axis, a Gaussian ``a * exp(-(x - c)^2 / (2 sigma^2))`` fitted by least squares to
  the marginal of the map (the map summed over the other axes, normalised to sum 1), with the fit's R².
- :func:`area_ratios`: the RepLKNet high-contribution area ratio: ``A = log10(map + 1) / max(...)``, then the
  smallest centred square (interval, cube) of side ``2i + 1``, ``i >= 1``, lying inside the map, whose share of
  ``sum(A)`` exceeds ``t``; the ratio is its area over the map's. ``None`` when no such square fits.
- :func:`radial_mass`: share of the map's mass within Euclidean distance ``r`` of the centre.
- :func:`power_law`: the exponent ``a`` of ``y ∝ x^a`` fitted in log-log space (the ERF depth sweep).
- :func:`lag_stats` and :func:`lag_holding`: one-sided statistics of a causal (1-D) ERF, in samples behind the
  newest input the unit reads: the mass-weighted lag and the lags holding 50% and 95% of the mass. A causal ERF
  starts at lag 0 and decays into the past; a Gaussian centred somewhere in between describes it poorly.
- :func:`degenerate_fit`: why a Gaussian fit cannot summarise the map (a spike, a non-finite value, a fit that
  caught a narrow peak rather than the spread), or ``None`` when it can.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from atrous.errors import ShapeError, bad

__all__ = [
    "AxisFit",
    "LagStats",
    "PowerLaw",
    "area_ratios",
    "degenerate_fit",
    "gaussian_fit",
    "lag_holding",
    "lag_stats",
    "marginal",
    "mass_width",
    "moments",
    "power_law",
    "radial_mass",
]

THRESHOLDS = (0.2, 0.3, 0.5, 0.99)
RADII = (5, 10, 20, 30, 40, 60, 80)


@dataclass(frozen=True)
class AxisFit:
    """A Gaussian fitted to the marginal of a map along one axis (coordinates in input samples)."""

    center: float
    sigma: float
    amplitude: float
    r2: float


@dataclass(frozen=True)
class LagStats:
    """One-sided summary of a 1-D ERF, in samples behind the newest input the unit reads (that input is lag 0).

    ``lag50`` and ``lag95``: the smallest lag ``L`` such that the inputs at lags ``<= L`` hold 50% (95%) of the
    mass. ``future``: the share of the mass at negative lags (inputs after the newest one; 0 for a causal unit).
    ``span``: the largest lag with any mass.
    """

    mean_lag: float
    lag50: int
    lag95: int
    future: float
    span: int


@dataclass(frozen=True)
class PowerLaw:
    """``y = scale * x ** exponent`` fitted to positive samples in log-log space; ``r2`` of that fit."""

    exponent: float
    scale: float
    r2: float


def _check_map(erf: object, where: str) -> np.ndarray:
    arr = np.asarray(erf, dtype=np.float64) if isinstance(erf, np.ndarray) else None
    if arr is None or not 1 <= arr.ndim <= 3 or arr.size == 0:
        raise bad(where, "erf", "a non-empty 1-D, 2-D or 3-D numpy array", type(erf).__name__ if arr is None
                  else f"shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise bad(where, "erf", "finite and non-negative (take absolute gradients first)",
                  f"min {np.nanmin(arr):.3g}" if np.any(np.isfinite(arr)) else "nan")
    return arr


def marginal(erf: np.ndarray, axis: int) -> np.ndarray:
    """The map summed over every axis but ``axis``, normalised to sum 1 (all zeros if the map is empty)."""
    arr = _check_map(erf, "marginal")
    if not 0 <= axis < arr.ndim:
        raise bad("marginal", "axis", f"an int in 0..{arr.ndim - 1}", axis)
    m = arr.sum(axis=tuple(a for a in range(arr.ndim) if a != axis))
    total = m.sum()
    return np.asarray(m / total) if total > 0 else np.zeros_like(m)


def _gauss(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.asarray(p[0] * np.exp(-0.5 * ((x - p[1]) / p[2]) ** 2))


def _fit_1d(y: np.ndarray) -> AxisFit:
    """Levenberg-Marquardt on (amplitude, centre, sigma), started from the moments of ``y``."""
    x = np.arange(y.size, dtype=np.float64)
    total = y.sum()
    if total <= 0:
        raise ShapeError("gaussian_fit: the map is zero everywhere, so there is no ERF to fit")
    mean = float((x * y).sum() / total)
    var = float(((x - mean) ** 2 * y).sum() / total)
    sigma0 = math.sqrt(var) if var > 0 else 0.5
    p = np.array([float(y.max()), mean, sigma0])
    lam = 1e-3
    cost = float(((_gauss(x, p) - y) ** 2).sum())
    for _ in range(200):
        g = _gauss(x, p)
        z = (x - p[1]) / p[2]
        jac = np.stack([g / p[0] if p[0] != 0 else np.exp(-0.5 * z**2), g * z / p[2], g * z**2 / p[2]], axis=1)
        r = y - g
        jtj = jac.T @ jac
        step = np.linalg.solve(jtj + lam * np.diag(np.diag(jtj) + 1e-30), jac.T @ r)
        trial = p + step
        trial[2] = abs(trial[2]) if trial[2] != 0 else p[2]
        new_cost = float(((_gauss(x, trial) - y) ** 2).sum())
        if new_cost < cost:
            converged = cost - new_cost <= 1e-15 * max(cost, 1e-300)
            p, cost, lam = trial, new_cost, lam / 10
            if converged:
                break
        else:
            lam *= 10
            if lam > 1e12:
                break
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - cost / ss_tot if ss_tot > 0 else 1.0
    return AxisFit(center=float(p[1]), sigma=float(abs(p[2])), amplitude=float(p[0]), r2=r2)


def gaussian_fit(erf: np.ndarray) -> tuple[AxisFit, ...]:
    """One Gaussian per axis, fitted to the map's normalised marginal along that axis.

    >>> x = np.arange(41.0)
    >>> fit = gaussian_fit(np.exp(-0.5 * ((x - 20) / 3) ** 2))[0]
    >>> round(fit.center, 6), round(fit.sigma, 6), round(fit.r2, 6)
    (20.0, 3.0, 1.0)
    """
    arr = _check_map(erf, "gaussian_fit")
    return tuple(_fit_1d(marginal(arr, a)) for a in range(arr.ndim))


def area_ratios(erf: np.ndarray, thresholds: Sequence[float] = THRESHOLDS) -> dict[str, float | None]:
    """RepLKNet high-contribution area ratios; ``None`` where the threshold cannot be reached.

    Keys are the thresholds as strings (``"0.2"``). The square is centred on the map's geometric centre
    (index ``n // 2`` per axis) and must lie inside the map.

    >>> flat = np.zeros((101, 101)); flat[45:56, 45:56] = 1.0     # an 11 x 11 plateau
    >>> r = area_ratios(flat, (0.5, 0.99, 1.0))
    >>> r["0.5"] == 81 / 101**2, r["0.99"] == 121 / 101**2, r["1.0"]
    (True, True, None)
    """
    arr = _check_map(erf, "area_ratios")
    for t in thresholds:
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t <= 1:
            raise bad("area_ratios", "thresholds", "numbers in (0, 1]", list(thresholds))
    peak = float(np.log10(arr + 1).max())
    out: dict[str, float | None] = {str(float(t)): None for t in thresholds}
    if peak <= 0:
        return out
    a = np.log10(arr + 1) / peak
    total = float(a.sum())
    centre = [n // 2 for n in arr.shape]
    largest = min(min(c, n - 1 - c) for c, n in zip(centre, arr.shape))
    pending = sorted(float(t) for t in thresholds)
    for i in range(1, largest + 1):
        box = tuple(slice(c - i, c + i + 1) for c in centre)
        share = float(a[box].sum()) / total
        while pending and share > pending[0]:
            out[str(pending.pop(0))] = (2 * i + 1) ** arr.ndim / arr.size
        if not pending:
            break
    return out


def radial_mass(erf: np.ndarray, radii: Sequence[float] = RADII) -> dict[str, float]:
    """Share of the map's mass within Euclidean distance ``r`` (in samples) of its geometric centre.

    Radii larger than the map's half-diagonal are left out.

    >>> m = np.zeros(21); m[10] = 2.0; m[13] = 1.0; m[17] = 1.0
    >>> radial_mass(m, (2, 3, 10))
    {'2': 0.5, '3': 0.75, '10': 1.0}
    """
    arr = _check_map(erf, "radial_mass")
    total = float(arr.sum())
    if total <= 0:
        raise ShapeError("radial_mass: the map is zero everywhere")
    grids = np.meshgrid(*[np.arange(n) - n // 2 for n in arr.shape], indexing="ij")
    dist = np.sqrt(sum(g.astype(np.float64) ** 2 for g in grids))
    reach = float(dist.max())
    out: dict[str, float] = {}
    for r in radii:
        if isinstance(r, bool) or not isinstance(r, (int, float)) or r < 0:
            raise bad("radial_mass", "radii", "non-negative numbers", list(radii))
        if r <= reach or not out:
            out[f"{r:g}"] = float(arr[dist <= r].sum()) / total
    return out


def moments(erf: np.ndarray) -> tuple[tuple[float, float], ...]:
    """Per axis, the mean and the standard deviation of the normalised marginal (in samples).

    >>> moments(np.array([0, 1, 2, 1, 0.0]))
    ((2.0, 0.7071067811865476),)
    """
    arr = _check_map(erf, "moments")
    out = []
    for a in range(arr.ndim):
        m = marginal(arr, a)
        if m.sum() <= 0:
            raise ShapeError("moments: the map is zero everywhere")
        x = np.arange(m.size, dtype=np.float64)
        mean = float((x * m).sum())
        out.append((mean, math.sqrt(float(((x - mean) ** 2 * m).sum()))))
    return tuple(out)


def mass_width(erf: np.ndarray, axis: int, mass: float = 0.95) -> int:
    """Length of the central interval of the marginal along ``axis`` that holds ``mass`` of it.

    The interval runs from the ``(1 - mass) / 2`` quantile to the ``(1 + mass) / 2`` quantile, inclusive.

    >>> mass_width(np.array([0, 1, 1, 1, 1, 0.0]), 0, mass=0.5)
    2
    """
    if not 0 < mass < 1:
        raise bad("mass_width", "mass", "a number in (0, 1)", mass)
    m = marginal(erf, axis)
    if m.sum() <= 0:
        raise ShapeError("mass_width: the map is zero everywhere")
    cdf = np.cumsum(m)
    lo = int(np.searchsorted(cdf, (1 - mass) / 2, side="right"))
    hi = int(np.searchsorted(cdf, (1 + mass) / 2 - 1e-12, side="left"))
    return hi - lo + 1


def power_law(x: Sequence[float], y: Sequence[float]) -> PowerLaw:
    """Fit ``y = scale * x ** exponent`` by least squares on ``log y`` against ``log x``.

    >>> fit = power_law([1, 4, 9, 16], [3, 6, 9, 12])
    >>> round(fit.exponent, 9), round(fit.scale, 9), fit.r2
    (0.5, 3.0, 1.0)
    """
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    if xs.shape != ys.shape or xs.ndim != 1 or xs.size < 2 or np.any(xs <= 0) or np.any(ys <= 0):
        raise bad("power_law", "x, y", "two equal-length lists of at least 2 positive numbers",
                  (list(xs), list(ys)))
    lx, ly = np.log(xs), np.log(ys)
    slope, intercept = np.polyfit(lx, ly, 1)
    pred = slope * lx + intercept
    ss_tot = float(((ly - ly.mean()) ** 2).sum())
    r2 = 1.0 - float(((ly - pred) ** 2).sum()) / ss_tot if ss_tot > 0 else 1.0
    return PowerLaw(exponent=float(slope), scale=float(np.exp(intercept)), r2=r2)


def _lag_profile(erf: np.ndarray, newest: object, axis: int, where: str) -> tuple[np.ndarray, np.ndarray]:
    """``(lags, mass)`` ordered by increasing lag (``lag = newest - index``), the mass summed over other axes."""
    if isinstance(newest, bool) or not isinstance(newest, (int, np.integer)):
        raise bad(where, "newest", "an int (the index of the newest input the unit reads)", newest)
    arr = _check_map(erf, where)
    if not 0 <= axis < arr.ndim:
        raise bad(where, "axis", f"an int in 0..{arr.ndim - 1}", axis)
    m = arr.sum(axis=tuple(a for a in range(arr.ndim) if a != axis))
    if m.sum() <= 0:
        raise ShapeError(f"{where}: the map is zero everywhere")
    lags = int(newest) - np.arange(m.size)
    return lags[::-1], m[::-1]


def lag_holding(erf: np.ndarray, newest: int, mass: float = 0.95, axis: int = 0) -> int:
    """The smallest lag ``L`` such that the inputs at lags ``<= L`` hold ``mass`` of the map along ``axis``.

    ``newest`` is the index (along ``axis``) of the newest input the measured unit reads (lag 0).

    >>> lag_holding(np.array([0, 1, 1, 2, 4.0]), newest=4, mass=0.5), lag_holding(np.array([0, 1, 1, 2, 4.0]), 4)
    (0, 3)
    """
    if isinstance(mass, bool) or not isinstance(mass, (int, float)) or not 0 < mass <= 1:
        raise bad("lag_holding", "mass", "a number in (0, 1]", mass)
    lags, m = _lag_profile(erf, newest, axis, "lag_holding")
    cum = np.cumsum(m)
    # relative slack: 0.95 of a sum of floats is reached although rounding leaves it a hair short
    return int(lags[int(np.searchsorted(cum, mass * cum[-1] * (1 - 1e-12), side="left"))])


def lag_stats(erf: np.ndarray, newest: int, axis: int = 0) -> LagStats:
    """The one-sided statistics of a map along ``axis`` seen from input ``newest`` (see :class:`LagStats`).

    >>> s = lag_stats(np.array([0, 1, 1, 2, 4.0]), newest=4)
    >>> s.mean_lag, s.lag50, s.lag95, s.future, s.span
    (0.875, 0, 3, 0.0, 3)
    """
    lags, m = _lag_profile(erf, newest, axis, "lag_stats")
    total = float(m.sum())
    return LagStats(
        mean_lag=float((lags * m).sum()) / total,
        lag50=lag_holding(erf, newest, 0.5, axis),
        lag95=lag_holding(erf, newest, 0.95, axis),
        future=float(m[lags < 0].sum()) / total,
        span=int(lags[m > 0].max()),
    )


def degenerate_fit(fit: AxisFit, length: float | None = None, spread: float | None = None) -> str | None:
    """Why the Gaussian ``fit`` cannot summarise its map, or ``None`` when it can.

    ``length`` is the length (in samples) of the field the map is measured over (the theoretical receptive
    field, clipped to the input); ``spread`` the standard deviation of the marginal that was fitted (see
    :func:`moments`). Flagged: non-finite values; sigma below half a sample (a single spike, which any narrow
    Gaussian fits, so an R² of 1 means nothing); an R² below 0; sigma under 2% of the field or under a quarter
    of the map's own spread (the fit caught a narrow peak, not the spread); sigma over twice the field (a flat
    map). A low but positive R² is a poor fit, not a degenerate one: it is left to the caller.

    >>> print(degenerate_fit(AxisFit(6.0, 0.16, 1.0, 1.0), length=13))  # doctest: +NORMALIZE_WHITESPACE
    σ 0.16 is below half a sample: the map is a single spike, which any narrow Gaussian fits, so its R² of 1 means
    nothing
    >>> degenerate_fit(AxisFit(center=6.0, sigma=2.5, amplitude=0.2, r2=0.97), length=13) is None
    True
    """
    values = (fit.center, fit.sigma, fit.amplitude, fit.r2)
    if not all(math.isfinite(v) for v in values):
        return "the fit did not converge (a non-finite centre, σ, amplitude or R²)"
    sigma = fit.sigma
    if sigma < 0.5:
        meaningless = ", so its R² of 1 means nothing" if fit.r2 >= 0.999 else ""
        return (f"σ {sigma:.2g} is below half a sample: the map is a single spike, which any narrow Gaussian "
                f"fits{meaningless}")
    if fit.r2 < 0:
        return f"R² {fit.r2:.2f} is below 0: the Gaussian fits the map worse than a constant"
    if length is not None and length >= 10 and sigma < length / 50:
        return (f"σ {sigma:.2g} is under 2% of the {length:g}-sample field: the fit caught a narrow peak, "
                "not the spread of the map")
    if spread is not None and spread > 0 and sigma < spread / 4:
        return (f"σ {sigma:.2g} is under a quarter of the map's standard deviation {spread:.3g}: the fit caught "
                "a narrow peak, not the spread of the map")
    if length is not None and length > 0 and sigma > 2 * length:
        return f"σ {sigma:.3g} is over twice the {length:g}-sample field: the map is flat, not a bump"
    return None
