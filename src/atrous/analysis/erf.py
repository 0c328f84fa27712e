"""The effective receptive field (Luo et al. 2016): how strongly each input sample moves one output unit.

Protocol: the model is put in ``eval()`` mode (a copy; the original is not touched); for each random input
(standard normal, or inputs you supply) the output unit at the centre of the measured feature map, summed
over its channels, is backpropagated to the input; the absolute input gradient is summed over channels and
averaged over all inputs (and, with ``inits > 1``, over fresh random initialisations of the weights, each
made by calling every submodule's ``reset_parameters()``). Samples are run in batches: in ``eval()`` mode the
samples of a batch do not interact, so this is the same as running them one at a time.

The measured feature map is the model's output when it keeps every spatial axis; for a classifier (an output
without spatial axes) it is the last module output, in call order, that still has every spatial axis with more
than one position (ResNet-50: ``layer4``'s last ReLU), as in RepLKNet's protocol; ``node=`` names any other
submodule. The forward pass stops at that module.

:func:`path_count_erf` is the data-free ERF: the exact path-count distribution of the traced network with
uniform weights and no nonlinearity (:mod:`atrous.rf.support`), on the same input grid. For a linear stack of
uniform kernels the two are equal.
"""

from __future__ import annotations

import copy
import difflib
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from atrous._validate import positive_int
from atrous.analysis import _checks as checks
from atrous.analysis.erf_metrics import (
    RADII,
    THRESHOLDS,
    AxisFit,
    LagStats,
    PowerLaw,
    area_ratios,
    degenerate_fit,
    gaussian_fit,
    lag_stats,
    mass_width,
    moments,
    power_law,
    radial_mass,
)
from atrous.errors import ConfigError, ShapeError, UnsupportedOpError, bad

__all__ = ["ERF", "DepthSweep", "depth_sweep", "effective_rf", "path_count_erf"]

_WHERE = "effective_rf"
#: progress callback: (samples done, samples in total)
Progress = Callable[[int, int], None]

if TYPE_CHECKING:
    from atrous.analysis.analyze import Analysis


@dataclass(frozen=True)
class ERF:
    """A measured effective receptive field.

    ``map`` has the input's spatial shape: the mean absolute input gradient of output ``unit`` of ``node``,
    summed over input channels. ``samples`` counts the gradients averaged (inputs × initialisations).
    """

    map: np.ndarray
    node: str
    unit: tuple[int, ...]
    samples: int
    input_shape: tuple[int, ...]
    output_size: tuple[int, ...]

    @cached_property
    def fits(self) -> tuple[AxisFit, ...]:
        """Gaussian fit of the marginal along each axis."""
        return gaussian_fit(self.map)

    @property
    def sigma(self) -> tuple[float, ...]:
        return tuple(f.sigma for f in self.fits)

    @property
    def center(self) -> tuple[float, ...]:
        return tuple(f.center for f in self.fits)

    @property
    def r2(self) -> tuple[float, ...]:
        return tuple(f.r2 for f in self.fits)

    @property
    def std(self) -> tuple[float, ...]:
        """Standard deviation of the marginal along each axis (moments, no fit)."""
        return tuple(sd for _, sd in moments(self.map))

    def degenerate(self, lengths: Sequence[float] | None = None) -> tuple[str | None, ...]:
        """Per axis, why the Gaussian fit cannot summarise the map (see :func:`degenerate_fit`), or ``None``.

        ``lengths``: the field's length per axis (the theoretical receptive field clipped to the input);
        default: the input's length.
        """
        sizes = self.map.shape if lengths is None else tuple(lengths)
        return tuple(degenerate_fit(f, n, sd) for f, n, sd in zip(self.fits, sizes, self.std))

    def lag_stats(self, newest: int) -> LagStats:
        """One-sided statistics of a 1-D ERF seen from input ``newest`` (see :func:`lag_stats`): the measure
        for a causal unit, whose ERF starts at its newest input and decays into the past."""
        return lag_stats(self.map, newest)

    def area_ratio(self, thresholds: Sequence[float] = THRESHOLDS) -> dict[str, float | None]:
        return area_ratios(self.map, thresholds)

    def radial_mass(self, radii: Sequence[float] = RADII) -> dict[str, float]:
        return radial_mass(self.map, radii)

    def width(self, mass: float = 0.95) -> tuple[int, ...]:
        """Per axis, the length of the central interval of the marginal that holds ``mass`` of it."""
        return tuple(mass_width(self.map, a, mass) for a in range(self.map.ndim))

    def as_dict(self, trf_size: Sequence[float] | None = None) -> dict[str, Any]:
        """The ``erf`` object of ``atrous report --json`` (docs/cli.md), plus details.

        With ``trf_size`` (the theoretical receptive field per axis), ``erf_trf`` gives the ratio of the
        95%-mass width to it, and ``sigma_trf`` that of sigma.
        """
        out: dict[str, Any] = {
            "sigma": [round(s, 6) for s in self.sigma],
            "center": [round(c, 6) for c in self.center],
            "r2": [round(r, 6) for r in self.r2],
            "std": [round(s, 6) for s in self.std],
            "samples": self.samples,
            "area_ratio": self.area_ratio(),
            "node": self.node,
            "unit": list(self.unit),
            "radial_mass": self.radial_mass(),
            "width95": list(self.width()),
        }
        if trf_size is not None:
            out["erf_trf"] = [round(w / t, 6) for w, t in zip(out["width95"], trf_size)]
            out["sigma_trf"] = [round(s / t, 6) for s, t in zip(self.sigma, trf_size)]
        return out


class _Stop(Exception):
    def __init__(self, value: Tensor) -> None:
        super().__init__("stop")
        self.value = value


def _first_tensor(obj: object) -> Tensor | None:
    if isinstance(obj, Tensor):
        return obj
    if isinstance(obj, (tuple, list)):
        for item in obj:
            found = _first_tensor(item)
            if found is not None:
                return found
    if isinstance(obj, dict):
        for item in obj.values():
            found = _first_tensor(item)
            if found is not None:
                return found
    return None


def _is_spatial(t: Tensor, ndim: int) -> bool:
    return t.ndim == ndim and t.is_floating_point() and math.prod(t.shape[2:]) > 1


def _run(model: nn.Module, x: Tensor, node: str | None) -> Tensor:
    """The measured feature map: the output of submodule ``node``, or of the model."""
    if node is None:
        out = _first_tensor(model(x))
        if out is None:
            raise ShapeError(f"{_WHERE}: the model returned no tensor")
        return out
    module = dict(model.named_modules())[node]

    def hook(_m: nn.Module, _i: object, output: object) -> None:
        found = _first_tensor(output)
        if found is not None:
            raise _Stop(found)

    handle = module.register_forward_hook(hook)
    try:
        model(x)
    except _Stop as stop:
        return stop.value
    finally:
        handle.remove()
    raise ConfigError(f"{_WHERE}: node {node!r} is never called in the model's forward pass (unreachable); "
                      "pick a submodule the forward pass runs")


def _last_spatial_module(model: nn.Module, x: Tensor) -> str | None:
    """Name of the last module call whose output keeps every spatial axis (with more than one position).

    Hooks fire children first, so a container that just returns its last child's tensor comes after that
    child; the child's (more specific) name is kept then.
    """
    calls: list[tuple[str, Tensor]] = []
    handles = []
    for name, module in model.named_modules():
        if not name:
            continue

        def hook(_m: nn.Module, _i: object, output: object, name: str = name) -> None:
            found = _first_tensor(output)
            if found is not None and _is_spatial(found, x.ndim):
                calls.append((name, found))

        handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    if not calls:
        return None
    i = len(calls) - 1
    while i > 0 and calls[i - 1][1] is calls[i][1] and calls[i - 1][0].startswith(calls[i][0] + "."):
        i -= 1
    return calls[i][0]


def _check_node(model: nn.Module, node: object) -> str | None:
    if node is None:
        return None
    names = [n for n, _ in model.named_modules() if n]
    if not isinstance(node, str) or node not in names:
        near = difflib.get_close_matches(str(node), names, n=3) or names[:4]
        raise ConfigError(f"{_WHERE}: node must be a submodule name from model.named_modules(), got {node!r}"
                          + (f" (e.g. {', '.join(map(repr, near))})" if near else ""))
    return node


def _batches(inputs: Tensor | Iterable[Any]) -> Iterable[Tensor]:
    if isinstance(inputs, Tensor):
        yield inputs
        return
    for item in inputs:
        x = _first_tensor(item)
        if x is None:
            raise bad(_WHERE, "inputs", "a tensor or an iterable of tensors / (x, y) tuples", type(item).__name__)
        yield x


def _reinit(model: nn.Module) -> None:
    for m in model.modules():
        reset = getattr(m, "reset_parameters", None)
        if callable(reset):
            reset()


def _positive(value: object, arg: str) -> int:
    return positive_int(_WHERE, arg, value)


def effective_rf(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    node: str | None = None,
    unit: Sequence[int] | None = None,
    samples: int = 16,
    inits: int = 1,
    inputs: Tensor | Iterable[Any] | None = None,
    batch_size: int = 16,
    seed: int = 0,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    progress: Progress | None = None,
) -> ERF:
    """Measure the gradient ERF of one output unit of ``model`` (see the module docstring).

    Args:
        model: any differentiable ``nn.Module`` taking one ``B C *S`` tensor; it is copied, never modified.
        input_shape: ``(B, C, *spatial)``; the batch entry is ignored (``batch_size`` is used).
        node: a submodule name whose output is measured (default: the output, or for a classifier the last
            feature map that keeps the spatial axes).
        unit: the output position measured, one index per spatial axis (default: the centre, ``n // 2``).
        samples: random standard-normal inputs per initialisation (ignored when ``inputs`` is given).
        inits: random initialisations of the weights to average over; 1 keeps the model's own weights.
        inputs: a ``B C *S`` tensor, or an iterable (a DataLoader) of tensors or ``(x, y)`` tuples.
        batch_size: inputs per forward/backward pass.
        seed: seeds the random inputs and initialisations.
        device: where to run (``"cuda"`` when available).
        dtype: the floating dtype of the copy.
        progress: called as ``progress(done, total)`` after every batch.

    Returns:
        An :class:`ERF`.

    Raises:
        ConfigError: a bad argument, an unknown or unreachable node, a unit outside the feature map.
        ShapeError: the model fails on an input of this shape (too small?), or its output has no spatial axes.
        UnsupportedOpError: the unit does not depend on the input through differentiable operations.

    >>> net = nn.Sequential(nn.Conv1d(1, 1, 3, bias=False), nn.Conv1d(1, 1, 3, bias=False))
    >>> with torch.no_grad():
    ...     for conv in net: _ = conv.weight.fill_(1.0)
    >>> e = effective_rf(net, (1, 1, 9), samples=2)
    >>> e.map.tolist(), e.unit
    ([0.0, 0.0, 1.0, 2.0, 3.0, 2.0, 1.0, 0.0, 0.0], (2,))
    """
    if not isinstance(model, nn.Module):
        raise bad(_WHERE, "model", "a torch.nn.Module", type(model).__name__)
    shape = checks.input_shape(_WHERE, input_shape)
    samples, inits, batch_size = (_positive(samples, "samples"), _positive(inits, "inits"),
                                  _positive(batch_size, "batch_size"))
    checks.float_dtype(_WHERE, dtype)
    dev = checks.device(_WHERE, device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise bad(_WHERE, "device", "an available device (no CUDA GPU is visible)", str(device))
    name = _check_node(model, node)
    work = copy.deepcopy(model).to(device=dev, dtype=dtype).eval()
    work.requires_grad_(False)

    gen = torch.Generator().manual_seed(int(seed))
    probe = torch.randn((1, *shape[1:]), generator=gen, dtype=dtype).to(dev)
    try:
        if name is None:
            out = _run(work, probe, None)
            if not _is_spatial(out, probe.ndim):
                name = _last_spatial_module(work, probe)
                if name is None:
                    raise ShapeError(f"{_WHERE}: the output has shape {list(out.shape)} and no module output "
                                     "keeps the spatial axes; pass node=... to measure a feature map")
                out = _run(work, probe, name)
        else:
            out = _run(work, probe, name)
    except (ConfigError, ShapeError):
        raise
    except Exception as e:  # the model's own failure on this input
        raise ShapeError(f"{_WHERE}: the model fails on an input of shape {[1, *shape[1:]]} ({type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else ''}); is the input too small?") from e
    if out.ndim != probe.ndim:
        raise ShapeError(f"{_WHERE}: node {name or 'output'} has shape {list(out.shape)}, which does not keep "
                         f"the input's {probe.ndim - 2} spatial axes")
    out_size = tuple(int(n) for n in out.shape[2:])
    if unit is None:
        where = tuple(n // 2 for n in out_size)
    else:
        where = tuple(unit)
        if len(where) != len(out_size) or not all(isinstance(u, int) and 0 <= u < n
                                                   for u, n in zip(where, out_size)):
            raise bad(_WHERE, "unit", f"one index per axis inside the output size {list(out_size)}", unit)
    index: tuple[int | slice, ...] = (slice(None), slice(None), *(int(u) for u in where))

    total_grad = torch.zeros(shape[2:], dtype=torch.float64)
    count = 0
    planned = inits * samples if inputs is None else None
    for init in range(inits):
        net = work
        if inits > 1:
            net = copy.deepcopy(work)
            torch.manual_seed(int(seed) * 7919 + init)
            _reinit(net)
            net.requires_grad_(False)
        if inputs is None:
            done = 0
            def source() -> Iterable[Tensor]:
                nonlocal done
                while done < samples:
                    n = min(batch_size, samples - done)
                    done += n
                    yield torch.randn((n, *shape[1:]), generator=gen, dtype=dtype)
            stream: Iterable[Tensor] = source()
        else:
            stream = _batches(inputs)
        for x in stream:
            if x.ndim != len(shape) or tuple(x.shape[1:]) != shape[1:]:
                raise bad(_WHERE, "inputs", f"batches of shape (B, {', '.join(map(str, shape[1:]))})",
                          list(x.shape))
            x = x.to(device=dev, dtype=dtype).requires_grad_(True)
            y = _run(net, x, name)
            if y.grad_fn is None:
                raise UnsupportedOpError(f"{_WHERE}: the output does not depend on the input through "
                                         "differentiable operations (it has no autograd history)")
            torch.autograd.backward(y[index].sum())
            if x.grad is None:
                raise UnsupportedOpError(f"{_WHERE}: the output does not depend on the input through "
                                         "differentiable operations (no input gradient)")
            total_grad += x.grad.detach().abs().sum(dim=(0, 1)).to("cpu", torch.float64)
            count += int(x.shape[0])
            if progress is not None:
                progress(count, planned or count)
    if count == 0:
        raise bad(_WHERE, "inputs", "at least one input", "an empty iterable")
    erf_map = (total_grad / count).numpy()
    if not np.any(erf_map > 0):
        raise UnsupportedOpError(f"{_WHERE}: the input gradient of unit {list(where)} is zero everywhere: the "
                                 "output does not depend on the input through differentiable operations")
    return ERF(map=erf_map, node=name or "output", unit=where, samples=count, input_shape=shape,
               output_size=out_size)


def path_count_erf(model: nn.Module, input_shape: Sequence[int], *, node: str | None = None,
                   unit: Sequence[int] | None = None, analysis: Analysis | None = None) -> np.ndarray:
    """The data-free ERF: path counts of the traced, linearised uniform-weight network on the input grid.

    Every conv and pooling is replaced by a box of its kernel (uniform weights, no nonlinearity); the result
    is the normalised number of paths from each input sample to the output ``unit`` of ``node`` (default:
    the centre of the output, or of the last spatial map for classifiers), as an array of the input's spatial
    shape that sums to 1 (paths that leave the input are dropped before normalising).

    >>> net = nn.Sequential(nn.Conv1d(1, 1, 3), nn.Conv1d(1, 1, 3))
    >>> (path_count_erf(net, (1, 1, 9)) * 9).tolist()
    [0.0, 0.0, 1.0, 2.0, 3.0, 2.0, 1.0, 0.0, 0.0]
    """
    from atrous import rf
    from atrous.analysis.analyze import analyze

    shape = checks.input_shape(_WHERE, input_shape)
    if analysis is not None and tuple(analysis.traced.input_shape) == tuple(shape):
        result = analysis
        chosen = result.summary.get("output")
        target = result.traced.resolve(node) if node is not None else \
            result.traced.outputs[chosen] if chosen in result.traced.outputs else result.node
    else:
        result = analyze(model, shape, node=node)
        target = result.node
    graph = result.traced.graph
    keep = graph.output
    if rf.receptive_field(graph, node=target).output.is_global:
        spatial = result.traced.last_spatial(target)
        if spatial is None:
            raise ShapeError(f"{_WHERE}: no feature map keeps the spatial axes; pass node=...")
        target = spatial
    graph.set_output(target)
    try:
        sizes = rf.receptive_field(graph, result.traced.input_size).nodes[target].length or ()
        sup = rf.support(graph)
    finally:
        graph.set_output(keep)
    if sup.counts is None:
        raise UnsupportedOpError(f"{_WHERE}: the receptive-field box {list(sup.extent)} is too large for the "
                                 "exact path counts")
    node_rf = rf.receptive_field(graph).nodes[target]
    if node_rf.phase_dependent:
        raise UnsupportedOpError(f"{_WHERE}: after the upsampling the receptive field varies with the output unit's "
                                 "phase; the data-free ERF is computed for maps without fractional strides only")
    jump = node_rf.jump
    where = tuple(n // 2 for n in sizes) if unit is None else tuple(unit)
    out = np.zeros(shape[2:], dtype=np.float64)
    src = []
    dst = []
    for axis, n in enumerate(shape[2:]):
        start = where[axis] * jump[axis] + sup.origin[axis]
        lo, hi = max(start, 0), min(start + sup.extent[axis], n)
        if lo >= hi:
            raise ShapeError(f"{_WHERE}: the receptive field of unit {list(where)} lies outside the input")
        dst.append(slice(lo, hi))
        src.append(slice(lo - start, hi - start))
    out[tuple(dst)] = sup.counts[tuple(src)]
    return np.asarray(out / out.sum())


@dataclass(frozen=True)
class DepthSweep:
    """ERF width against depth, per axis, and the fitted power law ``width ∝ depth ** exponent``.

    ``measure`` says which width: ``"std"`` (the marginal's standard deviation) or ``"sigma"`` (the fitted
    Gaussian's).
    """

    depths: tuple[int, ...]
    measure: str
    width: tuple[tuple[float, ...], ...]
    fit: tuple[PowerLaw, ...]

    @property
    def exponent(self) -> tuple[float, ...]:
        return tuple(f.exponent for f in self.fit)


def depth_sweep(build: Callable[[int], nn.Module], depths: Sequence[int], input_shape: Sequence[int],
                measure: str = "std", **kwargs: Any) -> DepthSweep:
    """Measure the ERF of ``build(depth)`` for each depth and fit ``width ∝ depth ** a`` per axis.

    ``measure`` is ``"std"`` (default; the standard deviation of the ERF's marginal) or ``"sigma"`` (the
    fitted Gaussian's sigma, which approaches the std as the ERF becomes Gaussian). ``kwargs`` go to
    :func:`effective_rf`. For uniform linear stacks ``a = 0.5`` exactly with ``"std"`` (variances add);
    Luo et al. report ``a ≈ 0.5`` for randomly initialised stacks too.

    >>> def stack(n):
    ...     net = nn.Sequential(*[nn.Conv1d(1, 1, 3, padding=1, bias=False) for _ in range(n)])
    ...     for conv in net: nn.init.ones_(conv.weight)
    ...     return net
    >>> sweep = depth_sweep(stack, [4, 16, 64], (1, 1, 301), samples=1)
    >>> [round(a, 6) for a in sweep.exponent]
    [0.5]
    """
    if not callable(build):
        raise bad("depth_sweep", "build", "a callable depth -> nn.Module", type(build).__name__)
    ds = tuple(depths)
    if len(ds) < 2 or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in ds):
        raise bad("depth_sweep", "depths", "at least two positive ints", list(ds))
    if measure not in ("std", "sigma"):
        raise bad("depth_sweep", "measure", "'std' or 'sigma'", measure)
    widths = []
    for d in ds:
        e = effective_rf(build(d), input_shape, **kwargs)
        widths.append(e.std if measure == "std" else e.sigma)
    dims = len(widths[0])
    fits = tuple(power_law([float(d) for d in ds], [w[a] for w in widths]) for a in range(dims))
    return DepthSweep(depths=ds, measure=measure, width=tuple(widths), fit=fits)
