"""Losses for dilated networks: shift consistency, a penalty on the sampling-phase dependence behind gridding.

What :func:`shift_consistency_loss` measures. For a dense-prediction model ``f`` (output the size of its
input) and a shift ``s``, it compares ``f(roll(x, s))`` with ``roll(f(x), s)``. A stack of stride-1
convolutions (dilated or not), pointwise ops and "same" padding is exactly shift-equivariant away from the
borders, so in the interior the loss is zero for it, whatever its dilations: gridding in such a stack is a
fixed hole pattern of every output, which no shift can reveal. What the loss does see:

* subsampling (strided convolutions, pooling) followed by upsampling: the output depends on the phase of the
  input relative to the sampling grid, and a shift by less than the stride (the "dilation" the output stride
  turns into) changes it; this is where dilated backbones (DeepLab at output stride 8 or 16) grid;
* any other non-equivariant part (position-dependent ops, coordinate channels, learnt position embeddings);
* borders: zero padding at every layer makes outputs within the receptive-field radius of a border depend on
  where the border is. ``margin`` excludes them; set it to the radius (for example
  ``(model.receptive_field().size[a] - 1) // 2`` of an atrous module, or from
  :func:`atrous.analysis.empirical.empirical_rf`) to measure only the first two.

``roll`` is a circular shift, so the input keeps its statistics (an image-pooling branch sees the same mean);
the ``|s|`` samples that wrap around are excluded from the comparison, together with ``margin`` samples at each
border of every shifted axis.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from atrous.errors import ShapeError, bad

__all__ = ["shift_consistency_loss"]

_WHERE = "shift_consistency_loss"


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _per_axis(value: object, dims: int, arg: str, rule: str, minimum: int) -> tuple[int, ...]:
    values = (value,) * dims if _is_int(value) else value
    if not (isinstance(values, (tuple, list)) and len(values) == dims and
            all(_is_int(v) and v >= minimum for v in values)):
        raise bad(_WHERE, arg, f"{rule} or {dims} of them (one per spatial axis)", value)
    return tuple(int(v) for v in values)


def _resolve_shifts(shifts: object, dilation: tuple[int, ...]) -> list[tuple[int, ...]]:
    dims = len(dilation)
    if shifts is None:
        out = [tuple(s if b == a else 0 for b in range(dims)) for a in range(dims) for s in range(1, dilation[a])]
        if not out:
            raise bad(_WHERE, "dilation", "at least 2 on some axis (shifts 1 .. dilation - 1)", dilation,
                      "pass shifts=... explicitly")
        return out
    rule = (f"a non-empty list of ints (each applied along every axis in turn) or of {dims}-tuples of ints, "
            "not all zero, each |shift| < dilation")
    if not isinstance(shifts, (list, tuple)) or not shifts:
        raise bad(_WHERE, "shifts", rule, shifts)
    out = []
    for s in shifts:
        if _is_int(s) and s != 0:
            out += [tuple(s if b == a else 0 for b in range(dims)) for a in range(dims)]
        elif isinstance(s, (tuple, list)) and len(s) == dims and all(_is_int(v) for v in s) and any(s):
            out.append(tuple(int(v) for v in s))
        else:
            raise bad(_WHERE, "shifts", rule, shifts)
    for vec in out:
        if any(abs(v) >= d for v, d in zip(vec, dilation)):
            raise bad(_WHERE, "shifts", rule, shifts)
    return out


def shift_consistency_loss(
    model_or_fn: Callable[[Tensor], Tensor],
    x: Tensor,
    dilation: int | Sequence[int],
    shifts: Sequence[int] | Sequence[Sequence[int]] | None = None,
    reduction: str = "mean",
    margin: int | Sequence[int] = 0,
) -> Tensor:
    """Mean squared difference between ``f(roll(x, s))`` and ``roll(f(x), s)`` over shifts ``s`` smaller than
    the dilation, on the interior where both are defined (see the module docstring for what it measures).

    Args:
        model_or_fn: an ``nn.Module`` or any callable mapping ``(B, C, *S)`` to ``(B, C', *S)`` (same spatial
            size). It is called ``1 + len(shifts)`` times, separately (no batch mixing), so gradients flow to
            its parameters and the loss can be used as a training regulariser.
        x: input ``(B, C, L)``, ``(B, C, H, W)`` or ``(B, C, D, H, W)``.
        dilation: an int or one per spatial axis; the default shifts are ``1 .. dilation - 1`` along each axis
            in turn (use the output stride for a subsampling backbone).
        shifts: None for the default, or a list whose items are ints (that shift along every axis in turn) or
            tuples with one shift per spatial axis (e.g. ``(1, 1)``: diagonal); negative shifts are allowed,
            every ``|shift|`` must be below the dilation on its axis.
        reduction: ``"mean"`` (over shifts and samples), ``"sum"``, or ``"none"``: a ``(len(shifts), B)`` tensor
            of the per-shift, per-sample mean squared differences.
        margin: samples excluded at both borders of every shifted axis, besides the ``|s|`` wrapped ones.

    Returns:
        A scalar (or ``(n_shifts, B)`` for ``reduction="none"``) in ``f``'s dtype.

    Raises:
        ConfigError: a bad ``dilation``, ``shifts``, ``reduction`` or ``margin``.
        ShapeError: ``x`` has no spatial axis, ``f`` changes the spatial size, or the interior is empty.

    >>> import torch
    >>> conv = torch.nn.Conv2d(2, 3, 3, padding=2, dilation=2)
    >>> x = torch.randn(2, 2, 24, 24, generator=torch.Generator().manual_seed(0))
    >>> bool(shift_consistency_loss(conv, x, dilation=2, margin=2) < 1e-10)      # equivariant: zero
    True
    >>> sub = torch.nn.Sequential(torch.nn.AvgPool2d(2), torch.nn.Upsample(scale_factor=2))
    >>> bool(shift_consistency_loss(sub, x, dilation=2, margin=2) > 0.1)          # phase-dependent
    True
    """
    if not callable(model_or_fn):
        raise bad(_WHERE, "model_or_fn", "an nn.Module or a callable", type(model_or_fn).__name__)
    if not isinstance(x, Tensor) or not 3 <= x.dim() <= 5:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ShapeError(f"{_WHERE}: x must be a (B, C, *S) tensor with 1 to 3 spatial axes, got {shape}")
    if reduction not in ("mean", "sum", "none"):
        raise bad(_WHERE, "reduction", "'mean', 'sum' or 'none'", reduction)
    dims = x.dim() - 2
    d = _per_axis(dilation, dims, "dilation", "a positive int", 1)
    m = _per_axis(margin, dims, "margin", "a non-negative int", 0)
    vectors = _resolve_shifts(shifts, d)
    axes = tuple(range(2, 2 + dims))

    y = model_or_fn(x)
    if not isinstance(y, Tensor) or y.dim() != x.dim() or y.shape[0] != x.shape[0] or y.shape[2:] != x.shape[2:]:
        shape = tuple(y.shape) if isinstance(y, Tensor) else type(y).__name__
        raise ShapeError(f"{_WHERE}: the model's output must keep the batch and spatial size of its input "
                         f"{tuple(x.shape)} (a dense prediction), got {shape}; upsample it to the input size")
    losses = []
    for vec in vectors:
        shifted = model_or_fn(torch.roll(x, vec, axes))
        expected = torch.roll(y, vec, axes)
        window: list[slice] = [slice(None), slice(None)]
        for a, s in enumerate(vec):
            n = x.shape[2 + a]
            if s == 0:
                window.append(slice(None))
                continue
            lo, hi = m[a] + max(s, 0), n - m[a] + min(s, 0)
            if lo >= hi:
                raise ShapeError(f"{_WHERE}: axis {a} of length {n} must be longer than 2 * margin + |shift| = "
                                 f"{2 * m[a] + abs(s)}, got {n}; lower margin or use a larger input")
            window.append(slice(lo, hi))
        diff = (shifted - expected)[tuple(window)]
        losses.append(diff.pow(2).flatten(1).mean(1))
    per_shift = torch.stack(losses)
    if reduction == "none":
        return per_shift
    return per_shift.mean() if reduction == "mean" else per_shift.sum()
