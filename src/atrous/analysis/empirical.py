"""Empirical receptive field: the input-gradient support of one output unit of any ``nn.Module``.

This is the cross-check of the analytic tracer: it knows nothing of the model's structure and only uses
autograd. The model is *linearised* so that the gradient of one output unit is non-zero exactly at the input
positions joined to that unit by a path through the network, and the support of that gradient is read off.

Linearisation. A deep copy of the model is moved to ``dtype`` and put in eval mode (the caller's model is
never touched), and its forward pass runs under the ``TorchFunctionMode`` of :mod:`atrous.analysis._linearise`,
which rewrites every op it calls, module or functional, composite ops included: convolutions and linear
layers use the positive constant weight ``1 / fan_in`` and no bias; activations, dropout, normalisations and
softmax over channels become the identity; max pooling becomes average pooling over the same windows
(dilation and ``ceil_mode`` included) and ``amax``/``amin`` become ``mean``. To keep values finite in deep
gated networks, a global statistic is divided by its own magnitude and a product (or quotient) of two
input-dependent tensors runs as their sum, which has the same support.

What is exact. A network of convolutions, pooling, pointwise ops, additions, concatenations, padding and
cropping becomes a sum over paths of positive products: its input gradient is, up to per-layer scales, the
path-count array of :func:`atrous.rf.support`, and it does not depend on the input values (ones are fed). The
measured support then equals the analytic one exactly. Ops left as they are (attention, products with learnt
parameters of either sign, subtractions) still give a non-zero gradient wherever a path exists, but an exact
cancellation cannot be ruled out there. TorchScript and compiled modules are not rewritten.

Global operations. A mean, sum or max over all spatial axes, or an adaptive pooling to size 1, is recorded
when the forward pass calls it. When the measured output has spatial axes, the result of that op is detached,
so ``size``, ``stride`` and the support describe the local path and ``is_global`` is true (as ``rf.global``
in the JSON contract, docs/cli.md). An output without spatial axes (classifier logits) is measured once, at
the start size,
with all its entries summed and nothing detached: ``is_global`` is true when every input position influences
it or a global op was seen (a valid strided stem may leave the last row unread); ``stride`` is then 0 (there
is no neighbouring unit) and ``size`` spans the measured support.

Input size. Borders cut paths, so the support is measured on an input large enough for them not to matter:
start from ``input_shape``'s spatial size (or ``min_size`` where larger) and double every axis on which the
support of the measured unit touches the first or last input position (or the first position of its
neighbour's support is the first input position, or the output has fewer than two units), up to
``max_size``. Once nothing touches a border, the measurement is repeated at twice the size and accepted when
size, stride, start and taps are unchanged: a path through an intermediate position outside its feature map
can be lost without the support reaching the border, so one clean measurement alone is no proof. (An
analytic estimate of the size would need the structure this module must not assume.) A model that fails on
the starting size (too small for its kernels and strides), a unit or neighbour with a zero gradient (it
reads only padding), and neighbours that do not shift forwards (paths cut near the border of a small input,
or an upsampled output) are retried on a doubled input: while some axis is shorter than 64, then up to three
more times, before an error is reported.

Collapsed channels. In the one-channel twin (``collapse_channels=True``, and by default wherever the checks
below pass) every tensor carries one channel, or as few as the ops force: the input has one channel, and every
convolution (grouped and depthwise ones included; transposed too) and linear layer uses the weight ``full(1 /
fan_in)`` of shape ``(1, C, *k)`` (``(1, F)`` for linear) for the ``C`` channels (``F`` features) of the
tensor it actually receives, with ``groups=1``, so channels never multiply. A per-channel parameter broadcast
in an elementwise op (ConvNeXt's layer scale of shape ``(C, 1, 1)``) met by one channel is replaced by its
mean over the channels, which is what the next ``1 / fan_in`` convolution would make of the channels it would
re-expand into; other broadcasts (a concatenation adds one channel per branch, ``repeat``, ``expand``)
re-expand them, and the next convolution collapses them again. The cost of a pass then scales with the number
of layers and their kernels instead of their widths: 6 to 130 times faster on torchvision classifiers
(docs/analysis.md).

The support is unchanged because the linearised network is linear with positive weights only: the gradient
of the output unit at an input position is a sum over the paths joining them of products of positive
weights, so it is non-zero exactly when at least one path exists, whatever the weights' values. Which
*positions* a path can visit is fixed by the kernels, strides, dilations, padding and merges; channels only
say how many parallel copies of each positional path there are. Collapsing keeps at least one copy of every
positional path (a convolution's output channel reads the same window of every channel it reads) and adds
none, so the set of input positions with a non-zero gradient is the same. (A learnt parameter of either sign
left in an elementwise product can cancel a sum in both networks alike; see "What is exact".)

This assumes that the forward pass treats channels generically, reading their count from the tensor.
Channel-count-dependent code breaks or changes meaning on one channel: a reshape with a literal channel
count (``x.view(B, 64, -1)``), a channel shuffle (``view(B, groups, C // groups, H, W)``), a channel split
(``chunk``, ``split``, ``x[:, c:]``). To catch this, before measuring, the full and the collapsed network are
run once (one sample, the centre unit), and the collapsed pass records every op that picks a subset of a
feature map's channels (``split``, ``chunk``, ``tensor_split``, ``narrow``, ``unbind``, ``select``,
``index_select`` along axis 1, or indexing that is not ``:`` on axis 1). The twin is refused when its pass
fails where the full one runs, when the output sizes or the two gradient supports differ, or when it met a
channel pick. The pick rule is what keeps a check on a small input sound: there both supports often fill the
whole input (ResNet-50's field is 427 wide), so they could agree while a pick dropped a whole branch from one of
them; a pick is recorded whatever the input size.

- ``collapse_channels=None`` (the default): the check runs on a small input, ``input_shape``'s spatial size
  capped at 4096 positions (64 x 64 in 2-D, 16 x 16 x 16 in 3-D; ``input_shape``'s own size, then doublings,
  where the model fails on it), and a refused twin means measuring at full width, which is exact and slow
  (minutes for a ResNet-50 on two cores). ``progress`` says which was chosen and why.
- ``collapse_channels=True``: the check runs at ``input_shape``'s size and a refusal raises
  :class:`~atrous.errors.UnsupportedOpError`, which suggests ``collapse_channels=False``.
- ``collapse_channels=False``: every channel, no check.

Speed. With the twin, a pass costs about as much as one channel of the widest layer: for torchvision's
ResNet-50 from 224 x 224, the check at 64 x 64 and four passes up to 1792 x 1792 take a few seconds where the
full-width measurement took minutes (``benchmarks/empirical.py``, docs/analysis.md). The measurement stays in
``dtype`` (float64 by default): a support is read as the non-zero entries of a gradient, and in a deep network
the weight of the longest paths (a product of one ``1 / fan_in`` per layer) falls below float32's smallest
number, which would show as false holes. ``progress`` receives one short line per stage (the copy, the
check, each pass with its input shape); the library never prints.

One backward pass. The batch holds ``1 + D`` copies of the input (``D`` spatial axes): sample 0 seeds the
centre unit ``n // 2`` of every output axis of length ``n`` (all channels at that position: the union over
channels, as a concatenation of branches is treated analytically), sample ``1 + a`` its neighbour one step
further along axis ``a`` (one step back when the centre unit is the last one). The stride (jump) along
``a`` is the shift of the first non-zero input position between samples 0 and ``1 + a``, so only that first
position of the neighbour must be clear of the border. The model must treat batch samples independently, as
ordinary models do in eval mode.
"""

from __future__ import annotations

import copy
import difflib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from atrous._validate import DEFAULT_MAX_MEMORY_GB, int_in_range, physical_memory
from atrous.analysis import _checks as checks
from atrous.analysis._linearise import Linearised, dilated_avg_pool
from atrous.analysis._pass_memory import PassMemory, saved_bytes
from atrous.errors import AtrousError, ConfigError, ShapeError, UnsupportedOpError, bad

__all__ = ["EmpiricalRF", "empirical_rf"]

_WHERE = "empirical_rf"
_T = TypeVar("_T")

_dilated_avg_pool = dilated_avg_pool  # the historical name, kept for callers of this module


@dataclass(frozen=True)
class EmpiricalRF:
    """Measured receptive field of one output unit; per-axis tuples are ordered like the tensor's axes.

    Output index ``i`` reads input positions ``i * stride + start .. i * stride + end`` (for the global
    case without spatial output, ``start``/``end`` are absolute input positions). ``mask`` is the support
    inside the box: ``mask[i0, i1, ...]`` is true when input offset ``start + (i0, i1, ...)`` is read.

    After an upsampling the pattern repeats only every ``phases[a]`` units along axis ``a``: ``stride`` is then
    a :class:`~fractions.Fraction` (shift over the period / period), ``start``, ``end``, ``offset``, ``taps``,
    ``holes`` and ``mask`` describe a unit of phase 0 (as output index 0 of the analysis), ``phase_sizes[a]``
    every phase's extent along ``a`` and ``size`` the largest of them.
    """

    size: tuple[int, ...]
    stride: tuple[Fraction | int, ...]
    start: tuple[int, ...]
    end: tuple[int, ...]
    offset: tuple[float, ...]
    taps: int
    holes: int
    coverage: float
    axis_taps: tuple[int, ...]
    axis_holes: tuple[int, ...]
    is_global: bool
    input_size: tuple[int, ...]
    output_size: tuple[int, ...]
    unit: tuple[int, ...]
    global_ops: tuple[str, ...] = ()
    mask: Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.bool), repr=False, compare=False)
    #: per axis, the period of the pattern (1 unless the output is upsampled) and every phase's extent
    phases: tuple[int, ...] = ()
    phase_sizes: tuple[tuple[int, ...], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The ``rf`` and ``support`` objects of the JSON contract (docs/cli.md)."""
        stride = [int(j) if Fraction(j).denominator == 1 else float(j) for j in self.stride]
        return {
            "rf": {"size": list(self.size), "stride": stride, "offset": list(self.offset),
                   "global": self.is_global, "stride_exact": [str(Fraction(j)) for j in self.stride],
                   "phases": list(self.phases or (1,) * len(self.size)),
                   "phase_sizes": [list(p) for p in self.phase_sizes] or [[n] for n in self.size]},
            "support": {"taps": self.taps, "coverage": self.coverage, "holes": self.holes,
                        "extent": [e - s + 1 for s, e in zip(self.start, self.end)]},
        }


# ---------------------------------------------------------------------------------------------------------
# Running the model


class _Stop(Exception):
    """Raised by the node hook: the rest of the forward pass is not needed."""


class _ModelFailed(ShapeError):
    """The model raised on this input size (perhaps too small for its kernels and strides)."""


#: Doublings tried when the model fails on the starting size or the measurement looks cut by the border,
#: once every axis is at least _SMALL long (below that, growing is always cheap and always tried).
_RETRIES = 3
_SMALL = 64


def _out_of_retries(count: int, sizes: tuple[int, ...]) -> bool:
    return count > _RETRIES and min(sizes) >= _SMALL


def _first_tensor(obj: object, what: str) -> Tensor:
    if isinstance(obj, Tensor):
        return obj
    if isinstance(obj, dict):
        values = [obj["out"]] if "out" in obj else list(obj.values())
        return _first_tensor(values[0], what) if values else _first_tensor(None, what)
    if isinstance(obj, (list, tuple)) and obj:
        return _first_tensor(obj[0], what)
    raise UnsupportedOpError(f"{_WHERE}: {what} must be a tensor (or a tuple, list or dict holding one), "
                             f"got {type(obj).__name__}")


@dataclass(frozen=True)
class _Setup:
    """What every pass needs: the working copy, the measured node, and how its input is built."""

    model: nn.Module
    target: tuple[str, nn.Module] | None
    channels: int  # of the input fed (1 when collapsing)
    collapse: bool
    dtype: torch.dtype
    device: torch.device
    #: the global reductions of the last pass, cut into leaves (see Linearised.cut_leaves)
    cut_leaves: list[Tensor] = field(default_factory=list)
    #: the ops of the last collapsed pass that picked channel subsets (see Linearised.channel_selections)
    selections: list[str] = field(default_factory=list)

    def leaf(self, batch: int, sizes: tuple[int, ...]) -> Tensor:
        return torch.ones((batch, self.channels, *sizes), dtype=self.dtype, device=self.device, requires_grad=True)


def _forward(setup: _Setup, x: Tensor, cut_global: bool) -> tuple[Tensor, tuple[str, ...]]:
    target = setup.target
    captured: list[Tensor] = []

    def hook(module: nn.Module, inputs: Any, output: Any) -> None:
        captured.append(_first_tensor(output, f"the output of node {target[0] if target else ''!r}"))
        raise _Stop

    handle = None if target is None else target[1].register_forward_hook(hook)
    mode = Linearised(x.dim() - 2, cut_global, setup.collapse)
    out: Any = None
    try:
        with mode:
            out = setup.model(x.clone())  # a clone, so in-place ops on the input never touch the leaf
    except _Stop:
        pass
    except AtrousError:
        raise
    except RuntimeError as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise _ModelFailed(f"{_WHERE}: the model failed on an input of shape {list(x.shape)} ({first}); pass an "
                         "input_shape the model accepts") from e
    finally:
        if handle is not None:
            handle.remove()
    if target is not None:
        if not captured:
            raise ConfigError(f"{_WHERE}: node must be a submodule that the forward pass calls, got "
                              f"{target[0]!r} (never called)")
        y = captured[0]
    else:
        y = _first_tensor(out, "the model's output")
    if not y.is_floating_point():
        raise UnsupportedOpError(f"{_WHERE}: the measured output must be a floating tensor, got {y.dtype}")
    setup.cut_leaves[:] = mode.cut_leaves  # the setup is frozen; its lists hold the last pass's records
    setup.selections[:] = mode.channel_selections
    return y, tuple(mode.global_ops)


def _no_dependence() -> UnsupportedOpError:
    return UnsupportedOpError(f"{_WHERE}: the output does not depend on the input (zero gradient); is part of "
                              "the forward pass run under torch.no_grad or detached?")


def _proj(mask: Tensor, axis: int) -> Tensor:
    """``mask`` projected on ``axis``: true where any position with that coordinate is true."""
    return mask.movedim(axis, 0).reshape(mask.shape[axis], -1).any(dim=1)


def _bounds(mask: Tensor, axis: int) -> tuple[int, int]:
    """First and last true index of ``mask`` projected on ``axis``."""
    idx = torch.nonzero(_proj(mask, axis)).flatten()
    return int(idx[0]), int(idx[-1])


@dataclass(frozen=True)
class _Pass:
    """One measurement: axes to grow, or a result (with its comparison key)."""

    grow: tuple[int, ...] = ()
    result: EmpiricalRF | None = None
    final: bool = False
    suspect: bool = False  # needs growth for a reason other than touching a border
    reason: str = ""
    more_units: bool = False  # no period found among the measured units: measure more of them
    realign: tuple[int, ...] = ()  # the periods found: measure again from a unit of phase 0

    @property
    def key(self) -> tuple[object, ...]:
        r = self.result
        assert r is not None
        return (r.size, r.stride, r.start, r.taps, r.axis_taps)


def _box(mask: Tensor, lo: Sequence[int], hi: Sequence[int]) -> tuple[Tensor, int, tuple[int, ...]]:
    box = mask[tuple(slice(a, b + 1) for a, b in zip(lo, hi))]
    axis_taps = tuple(int(_proj(box, a).sum()) for a in range(box.dim()))
    return box, int(box.sum()), axis_taps


def _non_spatial(setup: _Setup, sizes: tuple[int, ...]) -> EmpiricalRF:
    """An output without spatial axes: one sample, every output summed, no global path detached."""
    leaf = setup.leaf(1, sizes)
    out, global_ops = _forward(setup, leaf, cut_global=False)
    if not out.requires_grad:
        raise _no_dependence()
    (grad,) = torch.autograd.grad(out.sum(), leaf, allow_unused=True)
    mask = torch.zeros(sizes, dtype=torch.bool) if grad is None else (grad[0].abs().sum(0) != 0).cpu()
    if not bool(mask.any()):
        raise _no_dependence()
    lo, hi = zip(*(_bounds(mask, a) for a in range(len(sizes))))
    box, taps, axis_taps = _box(mask, lo, hi)
    size = tuple(b - a + 1 for a, b in zip(lo, hi))
    volume = math.prod(size)
    return EmpiricalRF(size, (0,) * len(sizes), tuple(lo), tuple(hi), tuple((a + b) / 2 for a, b in zip(lo, hi)),
                       taps, volume - taps, taps / volume, axis_taps,
                       tuple(n - t for n, t in zip(size, axis_taps)), bool(global_ops) or bool(mask.all()), sizes,
                       tuple(out.shape[1:]), (), global_ops, box)


#: most units measured along each axis to find the period of an upsampled output
MAX_UNITS = 64


def _translates(masks: list[Tensor], a: int, p: int) -> int | None:
    """The shift ``Q > 0`` with ``masks[v + p] == masks[v]`` moved by ``Q`` along ``a`` for every ``v``, if any."""
    shift = None
    for v in range(len(masks) - p):
        x, y = masks[v], masks[v + p]
        q = _bounds(y, a)[0] - _bounds(x, a)[0]
        if q <= 0 or (shift is not None and q != shift) or _bounds(x, a)[1] + q >= x.shape[a]:
            return None
        if not torch.equal(torch.roll(x, q, a), y):
            return None
        shift = q
    return shift


def _seeded_units(unit: tuple[int, ...], units: int) -> list[tuple[int, ...]]:
    """The output unit each sample of a pass seeds: sample 0 the centre ``unit``, then ``units`` units after it
    along each axis in turn (sample ``1 + a * units + v - 1`` is ``v`` units along axis ``a``)."""
    seeded = [unit]
    for a in range(len(unit)):
        for v in range(1, units + 1):
            seeded.append(tuple(u + v if b == a else u for b, u in enumerate(unit)))
    return seeded


def _measure(setup: _Setup, sizes: tuple[int, ...], units: int = 1, align: tuple[int, ...] | None = None,
             memory: PassMemory | None = None, say: Progress | None = None) -> _Pass:
    """Measure the centre unit and ``units`` units after it along each axis (``1 + D * units`` samples).

    The centre is moved down to a multiple of ``align`` (the periods found so far), so that it has phase 0. With
    ``memory``, the samples run in chunks that fit its ``max_memory``, and each chunk's saved bytes are recorded.
    """
    dims = len(sizes)
    align = align or (1,) * dims
    samples = 1 + dims * units
    planned = memory is not None and memory.per_position is not None  # else one at a time, to measure
    chunk = samples if memory is None else memory.chunk(samples, sizes)
    mask = torch.zeros((samples, *sizes), dtype=torch.bool)  # every sample's support, filled chunk by chunk
    reaches_global = False
    unit: tuple[int, ...] = ()
    out_size: tuple[int, ...] = ()
    global_ops: tuple[str, ...] = ()
    for first in range(0, samples, chunk):
        count = min(chunk, samples - first)
        if planned and chunk < samples and say is not None:
            say(f"  samples {first + 1}-{first + count} of {samples} at {'x'.join(map(str, sizes))} (in chunks "
                "that fit max_memory)")
        leaf = setup.leaf(count, sizes)
        with saved_bytes() as kept:
            out, global_ops = _forward(setup, leaf, cut_global=True)
        if memory is not None:
            memory.observe(count, sizes, kept[0] + 2 * leaf.numel() * leaf.element_size())
        if first == 0:
            if out.dim() != 2 + dims or out.shape[0] != count or (global_ops and not out.requires_grad):
                return _Pass(result=_non_spatial(setup, sizes), final=True)
            out_size = tuple(int(n) for n in out.shape[2:])
            short = tuple(a for a in range(dims) if out_size[a] < 1 + units)
            if short:
                return _Pass(grow=short, reason=f"the output has {out_size[short[0]]} unit(s) on axis {short[0]}")
            if not out.requires_grad:
                raise _no_dependence()
            unit = tuple(min(n // 2, n - 1 - units) // p * p for n, p in zip(out_size, align))
        seed = torch.zeros_like(out)
        for i, at in enumerate(_seeded_units(unit, units)[first:first + count]):
            index: tuple[int | slice, ...] = (i, slice(None), *at)
            seed[index] = 1
        cut = [c for c in setup.cut_leaves if c.requires_grad]
        grad, *cut_grads = torch.autograd.grad(out, [leaf, *cut], seed, allow_unused=True)
        reaches_global = reaches_global or any(g is not None and bool(g.abs().sum() != 0) for g in cut_grads)
        if grad is None and global_ops and first == 0:  # only a global path reaches the output: measure it
            return _Pass(result=_non_spatial(setup, sizes), final=True)  # like logits
        if grad is not None:
            mask[first:first + count] = (grad.abs().sum(1) != 0).cpu()
        del out, grad, cut_grads, leaf, seed
    if not bool(mask[0].any()) and global_ops:
        return _Pass(result=_non_spatial(setup, sizes), final=True)
    if not all(bool(m.any()) for m in mask):
        return _Pass(grow=tuple(range(dims)), suspect=True, reason=f"output unit {list(unit)} or a neighbour has a "
                     "zero input gradient (it may read only padding)")
    # every measured unit's support must stay clear of every border
    touching = [a for a in range(dims) if any(_bounds(m, a)[0] == 0 or _bounds(m, a)[1] == sizes[a] - 1
                                              for m in mask)]
    if touching:
        return _Pass(grow=tuple(touching), reason=f"the support of output unit {list(unit)} touches the input "
                                                   f"border on axis {touching[0]}")
    periods, shifts = [], []
    for a in range(dims):
        row = [mask[0], *(mask[1 + a * units + v] for v in range(units))]
        # every phase must be compared at least once (units >= 2P - 1): fewer comparisons can match by accident
        found = next(((p, q) for p in range(1, (units + 1) // 2 + 1) if (q := _translates(row, a, p)) is not None),
                     None)
        if found is None:  # paths cut near a small input's border, or an upsampled output with a longer period
            small = tuple(b for b in range(dims) if sizes[b] < _SMALL)
            return _Pass(grow=small or (a,), suspect=True, more_units=True,
                         reason=f"neighbouring output units on axis {a} do not repeat one pattern within {units} units")
        periods.append(found[0])
        shifts.append(found[1])
    if any(u % p for u, p in zip(unit, periods)):
        return _Pass(realign=tuple(periods))
    lo, hi = zip(*(_bounds(mask[0], a) for a in range(dims)))
    phase_sizes = []
    for a in range(dims):
        row = [mask[0], *(mask[1 + a * units + v] for v in range(periods[a] - 1))]
        phase_sizes.append(tuple(_bounds(m, a)[1] - _bounds(m, a)[0] + 1 for m in row))
    stride = tuple(Fraction(q, p) for q, p in zip(shifts, periods))
    box, taps, axis_taps = _box(mask[0], lo, hi)
    extent = tuple(b - a + 1 for a, b in zip(lo, hi))
    start = tuple(f - u // p * q for f, u, p, q in zip(lo, unit, periods, shifts))
    end = tuple(s + n - 1 for s, n in zip(start, extent))
    volume = math.prod(extent)
    size = tuple(max(p) for p in phase_sizes)
    result = EmpiricalRF(size, tuple(int(j) if j.denominator == 1 else j for j in stride), start, end,
                         tuple((s + e) / 2 for s, e in zip(start, end)), taps, volume - taps, taps / volume,
                         axis_taps, tuple(n - t for n, t in zip(extent, axis_taps)), reaches_global, sizes,
                         out_size, unit, global_ops, box, tuple(periods), tuple(phase_sizes))
    return _Pass(result=result)


def _consistent(prev: _Pass, step: _Pass) -> bool:
    """Whether the jump agrees with how the output grew with the input between two measurements.

    An output ``L_out`` long for ``L`` inputs grows by about ``delta L / jump``; a jump read off too few units
    of an upsampled output (bilinear x2: units 2 and 3 read translated copies, units 3 and 4 the same inputs)
    disagrees with it.
    """
    a_res, b_res = prev.result, step.result
    assert a_res is not None and b_res is not None
    for n0, n1, o0, o1, j in zip(a_res.input_size, b_res.input_size, a_res.output_size, b_res.output_size,
                                 b_res.stride):
        if n1 > n0 and o1 > o0 and abs((o1 - o0) * Fraction(j) - (n1 - n0)) > 2 * Fraction(j) + 1:
            return False
    return True


def _probe(setup: _Setup, sizes: tuple[int, ...]) -> tuple[tuple[int, ...], Tensor]:
    """Spatial output size and input-gradient support of the centre unit, for one sample.

    Global paths are detached as in :func:`_measure`; an output without spatial axes (or one reached only
    through a global path) is summed instead, with nothing detached.
    """
    dims = len(sizes)
    leaf = setup.leaf(1, sizes)
    out, _ = _forward(setup, leaf, cut_global=True)
    grad = None
    if out.dim() == 2 + dims and out.shape[0] == 1 and out.requires_grad:
        seed = torch.zeros_like(out)
        centre: tuple[int | slice, ...] = (0, slice(None), *(int(n) // 2 for n in out.shape[2:]))
        seed[centre] = 1
        (grad,) = torch.autograd.grad(out, leaf, seed, allow_unused=True)
    if grad is None or not bool(grad.any()):
        out, _ = _forward(setup, leaf, cut_global=False)
        if out.requires_grad:
            (grad,) = torch.autograd.grad(out.sum(), leaf, allow_unused=True)
    mask = torch.zeros(sizes, dtype=torch.bool) if grad is None else (grad[0].abs().sum(0) != 0).cpu()
    return tuple(int(n) for n in out.shape[2:]), mask


class _CollapseRefused(UnsupportedOpError):
    """The one-channel twin does not compute what the full network computes."""


def _collapse_refused(why: str) -> UnsupportedOpError:
    return _CollapseRefused(f"{_WHERE}: collapse_channels=True {why}; the model depends on its channel "
                            "count (a reshape with a literal channel count, a channel split or shuffle): pass "
                            "collapse_channels=False")


def _check_collapse(full: _Setup, sizes: tuple[int, ...]) -> list[str]:
    """Raise when the collapsed network fails or reads other inputs than the full one at ``sizes``.

    Returns the ops of the collapsed pass that picked channel subsets. A failure of the full network
    (:class:`_ModelFailed`: the size may be too small) propagates.
    """
    want = _probe(full, sizes)
    collapsed = replace(full, channels=1, collapse=True, selections=[])
    try:
        got = _probe(collapsed, sizes)
    except Exception as e:  # whatever the user's code raises on one channel is the signal
        cause = e.__cause__ if isinstance(e, _ModelFailed) and e.__cause__ is not None else e
        first = (str(cause).strip().splitlines() or [""])[0]
        raise _collapse_refused(f"fails where the full model runs ({type(cause).__name__}: {first})") from e
    if got[0] != want[0]:
        raise _collapse_refused(f"changes the output size from {list(want[0])} to {list(got[0])}")
    if not torch.equal(got[1], want[1]):
        diff = int((got[1] != want[1]).sum())
        raise _collapse_refused(f"changes the input-gradient support at input size {list(sizes)} "
                                f"({diff} of {got[1].numel()} positions differ)")
    return list(collapsed.selections)


def _skip_channel_checks(work: nn.Module) -> None:
    """Let the working copy's instance norms take one channel.

    ``nn.InstanceNorm*`` compares the input's channels with ``num_features`` in Python before calling
    ``F.instance_norm``, so one channel fails there; the call itself (which the linearising mode rewrites as a
    statistic over positions) works on any number of channels.
    """
    for m in work.modules():
        if isinstance(m, nn.modules.instancenorm._InstanceNorm):
            m.forward = _plain_instance_norm  # type: ignore[method-assign,assignment]


def _plain_instance_norm(x: Tensor) -> Tensor:
    return F.instance_norm(x)


def _max_memory(value: object) -> int:
    """``max_memory`` checked (a positive int of bytes), or half of this machine's RAM (2 GB where unknown)."""
    if value is None:
        ram = physical_memory()
        return ram // 2 if ram else int(DEFAULT_MAX_MEMORY_GB * 1e9)
    return int_in_range(_WHERE, "max_memory", value, 1)


def _quiet(message: str) -> None:
    """The default progress callback: the library prints nothing."""


def _grow_until_it_runs(run: Callable[[tuple[int, ...]], _T], sizes: tuple[int, ...], max_size: int) -> _T:
    """Call ``run(sizes)``, doubling every axis while the model fails on the size (as the main loop does)."""
    failures = 0
    first: _ModelFailed | None = None
    while True:
        try:
            return run(sizes)
        except _ModelFailed as e:
            first = first or e  # the caller's size is the one to name
            failures += 1
            if _out_of_retries(failures, sizes) or all(n >= max_size for n in sizes):
                raise ShapeError(str(first)) from first.__cause__
            sizes = tuple(min(2 * n, max_size) for n in sizes)


#: the automatic collapse check runs the full-width network on about this many input positions
_CHECK_VOLUME = 4096

Progress = Callable[[str], None]


def _check_sizes(sizes: tuple[int, ...]) -> tuple[int, ...]:
    """A small input for the automatic collapse check: 4096 samples, 64 x 64 or 16 x 16 x 16 at most."""
    cap = max(8, round(_CHECK_VOLUME ** (1 / len(sizes))))
    return tuple(min(n, cap) for n in sizes)


def _shape_text(batch: int, channels: int, sizes: tuple[int, ...]) -> str:
    return "x".join(map(str, (batch, channels, *sizes)))


def _choose_width(setup: _Setup, given: tuple[int, ...], max_size: int, mode: bool | None,
                  say: Progress) -> _Setup:
    """The setup to measure with: the one-channel twin where ``mode`` asks for it (``None``: where it is safe)."""
    if mode is False:
        return setup
    _skip_channel_checks(setup.model)

    def check(at: tuple[int, ...]) -> list[str]:
        say(f"checking the one-channel twin against the full model at {_shape_text(1, setup.channels, at)}")
        return _check_collapse(setup, at)

    if mode:
        picked = _grow_until_it_runs(check, given, max_size)
        if picked:
            raise _collapse_refused(f"meets ops that pick channel subsets ({', '.join(picked)})")
        return replace(setup, channels=1, collapse=True)
    small = _check_sizes(given)
    try:
        selections: list[str] | None = None
        if small != given:
            try:
                selections = check(small)
            except _ModelFailed:
                pass  # too small for the model: check at the size the caller gave
        if selections is None:
            selections = _grow_until_it_runs(check, given, max_size)
    except _CollapseRefused as e:
        say(f"the one-channel twin differs ({str(e).split('True ', 1)[-1].split(';')[0]}); measuring at full "
            "width")
        return setup
    if selections:
        say(f"the model picks channel subsets ({', '.join(selections)}); measuring at full width")
        return setup
    return replace(setup, channels=1, collapse=True)


# ---------------------------------------------------------------------------------------------------------
# Public entry point


def _check_int(value: object, arg: str, minimum: int = 1) -> int:
    return int_in_range(_WHERE, arg, value, minimum)


def _resolve_node(model: nn.Module, node: str | None) -> tuple[str, nn.Module] | None:
    if node is None:
        return None
    modules = dict(model.named_modules())
    if not isinstance(node, str) or not node or node not in modules:
        names = [n for n in modules if n]
        near = difflib.get_close_matches(str(node), names, n=3) or names[:5]
        hint = f"e.g. {', '.join(map(repr, near))}" if near else "the model has no submodules"
        raise ConfigError(f"{_WHERE}: node must be a submodule name from model.named_modules(), got {node!r} "
                          f"({hint})")
    return node, modules[node]


def empirical_rf(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    node: str | None = None,
    min_size: int | None = None,
    max_size: int = 4096,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device = "cpu",
    collapse_channels: bool | None = None,
    progress: Progress | None = None,
    max_memory: int | None = None,
) -> EmpiricalRF:
    """Receptive field of the centre output unit of ``model`` (or of submodule ``node``), by autograd.

    See the module docstring for the linearisation, what is exact, and how the input size is chosen.

    Args:
        model: any ``nn.Module`` taking one ``B C *S`` tensor; it is deep-copied and never modified.
        input_shape: ``(B, C, L)``, ``(B, C, H, W)`` or ``(B, C, D, H, W)``: the channels, the number of
            spatial axes and the starting spatial size (the batch size is ignored).
        node: a name from ``model.named_modules()``; its (first) output is measured instead of the model's.
            The forward pass stops there.
        min_size: start every spatial axis at least at this size.
        max_size: largest size an axis may grow to; beyond it a :class:`~atrous.errors.ShapeError` is raised.
        dtype: floating dtype of the measurement (float64 keeps tiny path weights of deep nets above 0).
        device: where to run the copy.
        collapse_channels: measure with one channel per tensor (see "Collapsed channels" in the module
            docstring): the same support at a fraction of the cost, for models that read their channel
            counts from their tensors. ``None`` (default): wherever a check on a small input shows it safe,
            else at full width; ``True``: always, checked at ``input_shape``'s size, refused with an error;
            ``False``: never.
        max_memory: bytes one gradient pass may keep (default: half of this machine's RAM). The samples of a
            pass run in chunks that fit, planned from the bytes earlier passes saved for their backward pass;
            an input size at which one sample alone needs more is refused with a ConfigError.
        progress: called with one short line per stage (``"pass 3: measuring at 3x1x896x896 (one
            channel)"``), for a status line; the library itself prints nothing.

    Returns:
        An :class:`EmpiricalRF`; ``as_dict()`` gives the ``rf``/``support`` objects of the JSON contract (docs/cli.md).

    Raises:
        ConfigError: a malformed argument or an unknown node.
        ShapeError: the model fails on the input, or the support still touches a border at ``max_size``.
        UnsupportedOpError: the output does not depend on the input, or is not translation-equivariant, or
            ``collapse_channels=True`` changes what the model computes or picks channel subsets.

    >>> from torch import nn
    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3, dilation=2, padding=2), nn.ReLU(), nn.MaxPool2d(2))
    >>> r = empirical_rf(net, (1, 1, 16, 16))
    >>> r.size, r.stride, r.offset, r.taps, r.holes
    ((6, 6), (2, 2), (0.5, 0.5), 36, 0)
    >>> empirical_rf(net[0], (1, 1, 16, 16)).as_dict()["support"]
    {'taps': 9, 'coverage': 0.36, 'holes': 16, 'extent': [5, 5]}
    >>> wide = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.Conv2d(64, 64, 3, groups=64, dilation=2))
    >>> empirical_rf(wide, (1, 3, 16, 16), collapse_channels=True).size
    (7, 7)
    """
    if not isinstance(model, nn.Module):
        raise bad(_WHERE, "model", "a torch.nn.Module", type(model).__name__)
    checks.input_shape(_WHERE, input_shape)
    max_size = _check_int(max_size, "max_size")
    floor = 1 if min_size is None else _check_int(min_size, "min_size")
    checks.float_dtype(_WHERE, dtype)
    dev = checks.device(_WHERE, device)
    if collapse_channels is not None and not isinstance(collapse_channels, bool):
        raise bad(_WHERE, "collapse_channels", "None, True or False", collapse_channels)
    if progress is not None and not callable(progress):
        raise bad(_WHERE, "progress", "None or a callable taking one str", type(progress).__name__)
    say: Progress = progress if progress is not None else _quiet
    memory = PassMemory(_max_memory(max_memory), _WHERE)
    sizes = tuple(max(int(n), floor) for n in input_shape[2:])
    dims = len(sizes)

    say(f"copying the model ({str(dtype).replace('torch.', '')}, {dev})")
    work = copy.deepcopy(model).to(device=dev, dtype=dtype).eval()
    work.requires_grad_(False)  # only the input gradient is needed
    setup = _Setup(work, _resolve_node(work, node), int(input_shape[1]), False, dtype, dev)
    setup = _choose_width(setup, tuple(int(n) for n in input_shape[2:]), max_size, collapse_channels, say)
    width = "one channel" if setup.collapse else "full width"
    passes = 0
    confirmed: _Pass | None = None
    first_failure: _ModelFailed | None = None
    ran = False
    failures = suspect_runs = 0
    units, align = 1, (1,) * dims
    last: _Pass | None = None  # the last pass with a result, whose growth checks the next one's jump
    aligned_to: set[tuple[int, ...]] = set()
    while True:
        passes += 1
        say(f"pass {passes}: {'confirming' if confirmed is not None else 'measuring'} at "
            f"{_shape_text(1 + dims * units, setup.channels, sizes)} ({width})")
        try:
            step = _measure(setup, sizes, units, align, memory, say)
        except _ModelFailed as e:
            first_failure = first_failure or e
            failures += 1
            if ran or _out_of_retries(failures, sizes) or all(n >= max_size for n in sizes):
                raise ShapeError(str(first_failure)) from first_failure.__cause__
            sizes = tuple(min(2 * n, max_size) for n in sizes)
            continue
        ran = True
        if step.realign and step.realign not in aligned_to:
            aligned_to.add(step.realign)
            align = step.realign
            units = max(units, 2 * max(step.realign) - 1)
            confirmed = last = None
            continue
        if step.realign and units < MAX_UNITS:  # periods that contradict each other: compare more units
            units = min(2 * units, MAX_UNITS)
            confirmed = last = None
            continue
        if step.more_units and units < MAX_UNITS and min(sizes) >= _SMALL:
            units = min(2 * units, MAX_UNITS)
            confirmed = last = None
            continue
        suspect_runs = suspect_runs + 1 if step.suspect else 0
        if _out_of_retries(suspect_runs, sizes):
            if "stride" in step.reason:
                raise UnsupportedOpError(
                    f"{_WHERE}: {step.reason} at input {list(sizes)}: the output is not translation-equivariant "
                    f"(or upsampled with a period above {MAX_UNITS}); measure an earlier feature map with node=..."
                )
            raise _no_dependence()
        if step.final:
            assert step.result is not None
            return step.result
        step_last = last
        if step.result is not None:
            last = step
        if step.grow:
            grow, confirmed = step.grow, None
        elif step_last is not None and units < MAX_UNITS and not _consistent(step_last, step):
            units = min(2 * units, MAX_UNITS)  # the jump disagrees with the growth: too few units compared
            confirmed = last = None
            sizes = step_last.result.input_size if step_last.result is not None else sizes
            continue
        elif confirmed is not None and confirmed.key == step.key:
            assert step.result is not None
            return step.result
        else:
            confirmed = step
            grow = tuple(a for a in range(dims) if sizes[a] < max_size)
            if not grow:  # no room left to confirm: accept the clean measurement
                assert step.result is not None
                return step.result
        stuck = [a for a in grow if sizes[a] >= max_size]
        if stuck:
            raise ShapeError(f"{_WHERE}: {step.reason} at the largest size max_size={max_size} (input "
                             f"{list(sizes)}); raise max_size, or measure an earlier feature map with node=...")
        sizes = tuple(min(2 * n, max_size) if a in grow else n for a, n in enumerate(sizes))
