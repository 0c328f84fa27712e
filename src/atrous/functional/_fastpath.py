"""Measured fast paths for dilated convolutions on CPU, chosen per shape like cuDNN's benchmark mode.

oneDNN, behind ``F.conv*d`` on CPU, is fast for most dilated convolutions, but not for all of them, and which
alternative wins changes from one CPU to the next (see docs/benchmarks_conv.md). So the first call with a new
configuration times the plain call against each alternative that applies, on the actual tensors, interleaved,
and caches the fastest; later calls with the same configuration take it without measuring again. An
alternative is only chosen when it was clearly faster than the plain call (its median time at most
``_MARGIN`` of the plain call's in the same round, and faster in every round but one in six), so that
noise on a shared machine rarely makes it choose a slower path. (Requiring a win in every round, as before, let
one noisy round out of six veto a path that was 15-20% faster in the median: measured at rates 12 and 24 on
this machine, docs/benchmarks_conv.md.)

The alternatives give the plain call's results up to float rounding (the 1-D fold is usually bit-identical):

* ``"fold2d"`` (1-D, stride 1, dilation >= 2): pad ``(B, C, L)`` to a multiple of the dilation ``d``, view it as
  ``(B, C, L / d, d)`` and run an undilated ``(k, 1)`` 2-D convolution: each column is one phase of the
  dilated signal. The output is the same memory read as ``(B, C_out, L_out)``.
* ``"channels_last"`` (2-D and 3-D, input not yet channels-last): convert the input to the channels-last layout
  (:func:`to_channels_last`) and run the convolution there, where oneDNN keeps its direct (brgemm) kernels
  while an NCHW input with a padding of 7 or more falls back to an im2col GEMM, about 1.8x slower. The output
  is left channels-last: same shape and values, channels-last strides, exactly what ``F.conv2d`` returns for a
  channels-last input. Converting it back would cost about as much as the layout saves; every torch op
  downstream accepts it, and the next layer (or the next branch of an ASPP) then runs channels-last for free.
  Code that calls ``.view`` on the output needs ``.reshape`` (or ``.contiguous()``) instead.

Two switches decide what is measured:

* :func:`set_auto_channels_last` (default on; ``ATROUS_CONV_AUTO_CHANNELS_LAST=0`` turns it off): only the
  ``"channels_last"`` alternative of 2-D float32 convolutions whose (symmetric) padding is at least
  ``_CLIFF_PAD`` on some axis, the configurations where the NCHW call may hit oneDNN's im2col fallback. Smaller
  paddings, 1-D and 3-D convolutions take the plain call, unmeasured.
* :func:`set_benchmark` (default off; ``ATROUS_CONV_BENCHMARK=1``): every alternative of every configuration.

Measuring is skipped, and the plain call taken, for small convolutions (fewer than ``_MIN_WORK``
multiply-adds, where the plain call is cheap and measuring would cost more than it saves), off the CPU, for
non-float dtypes and tensor subclasses, under a ``TorchFunctionMode`` (analysis rewrites the ops it sees),
autocast, ``torch.jit`` scripting and ``torch.compile``, with ``torch.use_deterministic_algorithms(True)`` (a
measured choice depends on timing, and paths differ in float rounding), and after ``_MAX_KEYS`` distinct
configurations (a model fed ever-changing sizes should not keep measuring).

>>> prev = set_benchmark(True)         # measure and take the fastest path for every configuration
>>> set_benchmark(prev)               # back to the default: only the 2-D channels-last layout is measured
True
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from atrous.errors import ConfigError, ShapeError

__all__ = ["PATHS", "Choice", "auto_channels_last_enabled", "benchmark_enabled", "candidates", "choose",
           "chosen_paths", "clear_chosen_paths", "conv", "force_path", "set_auto_channels_last", "set_benchmark",
           "to_channels_last"]

Pads = tuple[tuple[int, int], ...]
PathFn = Callable[[Tensor, Tensor, "Tensor | None", tuple[int, ...], tuple[int, ...], Pads, int], Tensor]

_ENV = "ATROUS_CONV_BENCHMARK"
_ENV_AUTO = "ATROUS_CONV_AUTO_CHANNELS_LAST"
_CLIFF_PAD = 7           # oneDNN's NCHW direct kernel takes paddings up to 6 here; from 7 it may fall back to im2col
_MIN_WORK = 1 << 25      # multiply-adds: below this (~0.2 ms of oneDNN time) the plain call is always taken
_MAX_KEYS = 256          # distinct configurations measured per process; later new ones take the plain call
_MARGIN = 0.9            # an alternative must take at most 90% of the plain call's time (median) to be chosen,
_LOSS_PER = 6            # and win every round but one per this many (3-5 rounds: all; 6-7 rounds: all but one);
_BUDGET_S = 0.5          # rounds fill about this many seconds, within these bounds:
_MIN_ROUNDS, _MAX_ROUNDS = 3, 7
_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_FORMATS = {2: torch.channels_last, 3: torch.channels_last_3d}


# ---------------------------------------------------------------------------------------------------------
# The paths. Each takes resolved arguments: stride and dilation per axis, (left, right) padding per axis.


def _plain(x: Tensor, w: Tensor, b: Tensor | None, stride: tuple[int, ...], dilation: tuple[int, ...],
           pads: Pads, groups: int) -> Tensor:
    conv = _CONV[x.dim() - 2]
    if all(left == right for left, right in pads):
        return conv(x, w, b, stride, tuple(p[0] for p in pads), dilation, groups)
    flat: list[int] = []
    for left, right in reversed(pads):  # F.pad starts from the last axis
        flat += [left, right]
    return conv(F.pad(x, flat), w, b, stride, 0, dilation, groups)


def _fold2d(x: Tensor, w: Tensor, b: Tensor | None, stride: tuple[int, ...], dilation: tuple[int, ...],
            pads: Pads, groups: int) -> Tensor:
    (d,), ((left, right),) = dilation, pads
    batch, channels, length = x.shape
    k = w.shape[-1]
    padded = length + left + right
    rows = -(-padded // d)
    extra = rows * d - padded  # zeros that make the length a multiple of d; their outputs are cut off below
    if not extra and left == right and left % d == 0:
        row_pad = left // d  # whole rows of zeros on both sides: the 2-D conv pads them without a copy
    else:
        row_pad = 0
        if left or right or extra:
            x = F.pad(x, (left, right + extra))
    y = F.conv2d(x.reshape(batch, channels, rows - 2 * row_pad, d), w.unsqueeze(-1), b, 1, (row_pad, 0), 1, groups)
    y = y.reshape(batch, w.shape[0], (rows - k + 1) * d)
    return y[..., :padded - (k - 1) * d].contiguous() if extra else y


def _channels_last(x: Tensor, w: Tensor, b: Tensor | None, stride: tuple[int, ...], dilation: tuple[int, ...],
                   pads: Pads, groups: int) -> Tensor:
    # the weight stays as it is: torch converts it to the input's layout inside the call (it is small)
    return _plain(to_channels_last(x), w, b, stride, dilation, pads, groups)  # the output stays channels-last


# ---------------------------------------------------------------------------------------------------------
# The layout conversion. ``x.contiguous(memory_format=torch.channels_last)`` runs a generic strided copy whose
# inner loop reads the channels H*W apart; one 2-D transpose per sample, ``(C, H*W) -> (H*W, C)``, which torch
# copies in 60x60 blocks, moves the same data about twice as fast. That copy runs on one thread, so the
# transposes of a large tensor are spread over ``torch.get_num_threads()`` Python threads (``copy_`` releases
# the GIL): one sample each, or column ranges of one sample when there are fewer samples than threads. Measured
# on a 2-core machine for 4x64x128x128 float32: 4.7 ms on one thread, 2.4 ms on two (docs/benchmarks_conv.md).

_PARALLEL_MIN = 1 << 20  # elements: smaller tensors are transposed on the calling thread
_pool: tuple[int, int, ThreadPoolExecutor] | None = None  # (pid, workers, pool): a forked child makes its own
_pool_lock = threading.Lock()


def _workers() -> ThreadPoolExecutor | None:
    global _pool
    n = torch.get_num_threads()
    if n < 2:
        return None
    with _pool_lock:
        if _pool is None or _pool[0] != os.getpid() or _pool[1] != n:
            if _pool is not None and _pool[0] == os.getpid():
                _pool[2].shutdown(wait=False)  # the thread count changed: let the old workers exit
            _pool = (os.getpid(), n, ThreadPoolExecutor(n, thread_name_prefix="atrous-transpose"))
        return _pool[2]


def _transpose_each(src: Tensor, dst: Tensor) -> None:
    """``dst[i] = src[i].t()`` for 3-D ``src`` ``(B, R, S)`` and ``dst`` ``(B, S, R)``, spread over threads."""
    batch, _, cols = src.shape
    pool = _workers() if src.numel() >= _PARALLEL_MIN else None
    if pool is None:
        for i in range(batch):
            dst[i].copy_(src[i].t())
        return
    threads = torch.get_num_threads()
    pieces = max(1, -(-threads // batch))  # column ranges per sample, so that every thread has work
    step = -(-cols // pieces)
    jobs = [(i, a, min(a + step, cols)) for i in range(batch) for a in range(0, cols, step)]
    inference = torch.is_inference_mode_enabled()

    def run(job: tuple[int, int, int]) -> None:
        i, a, b = job
        # grad and inference mode are per thread: a worker starts with grad on, which forbids writing a view made
        # under no_grad, and outside inference mode, which forbids writing an inference tensor. This is a plain
        # copy: autograd sees the conversion as a whole (_ToChannelsLast)
        with torch.inference_mode(inference), torch.no_grad():
            dst[i, a:b].copy_(src[i, :, a:b].t())

    for _ in pool.map(run, jobs):  # re-raises a worker's error here
        pass


def _nchw_to_nhwc(x: Tensor) -> Tensor:
    batch, channels, *space = x.shape
    out = torch.empty((batch, *space, channels), dtype=x.dtype, device=x.device)
    if x.is_contiguous():
        _transpose_each(x.reshape(batch, channels, -1), out.view(batch, -1, channels))
    else:
        out.copy_(x.movedim(1, -1))
    return out.movedim(-1, 1)


def _nhwc_to_nchw(y: Tensor) -> Tensor:
    batch, channels = y.shape[:2]
    out = torch.empty(y.shape, dtype=y.dtype, device=y.device)
    if y.is_contiguous(memory_format=_FORMATS[y.dim() - 2]):
        _transpose_each(y.movedim(1, -1).reshape(batch, -1, channels), out.view(batch, channels, -1))
    else:
        out.copy_(y)
    return out


class _ToChannelsLast(torch.autograd.Function):
    """Contiguous (or strided) to channels-last; the gradient goes back contiguous, the input's layout."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        return _nchw_to_nhwc(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return _ToContiguous.apply(grad) if not grad.is_contiguous() else grad


class _ToContiguous(torch.autograd.Function):
    """The inverse of :class:`_ToChannelsLast` (its backward, so that double backward works too)."""

    @staticmethod
    def forward(ctx: Any, y: Tensor) -> Tensor:
        return _nhwc_to_nchw(y)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return to_channels_last(grad)


def to_channels_last(x: Tensor) -> Tensor:
    """``x`` in the channels-last layout (``torch.channels_last``, or ``channels_last_3d`` for 5-D): the same
    shape and values, stored channel-innermost. A channels-last ``x`` comes back as it is. Faster than
    ``x.contiguous(memory_format=...)`` for contiguous input; the gradient flows back in the contiguous layout.

    >>> x = torch.randn(2, 3, 4, 5)
    >>> y = to_channels_last(x)
    >>> y.is_contiguous(memory_format=torch.channels_last), torch.equal(x, y)
    (True, True)
    """
    if not isinstance(x, Tensor) or x.dim() not in (4, 5):
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ShapeError(f"to_channels_last: input must be a 4-D (B C H W) or 5-D (B C D H W) tensor, got {shape}")
    fmt = _FORMATS[x.dim() - 2]
    if x.is_contiguous(memory_format=fmt) or x.numel() == 0:
        return x.contiguous(memory_format=fmt)
    if x.is_floating_point() and torch.is_grad_enabled() and x.requires_grad:
        return _ToChannelsLast.apply(x)  # type: ignore[no-any-return]
    return _nchw_to_nhwc(x)


#: Every path by name; each returns the plain call's result (up to float rounding) where it applies.
PATHS: dict[str, PathFn] = {"plain": _plain, "fold2d": _fold2d, "channels_last": _channels_last}


def _layout(x: Tensor) -> str:
    if x.is_contiguous():
        return "contiguous"
    fmt = _FORMATS.get(x.dim() - 2)
    return "channels_last" if fmt is not None and x.is_contiguous(memory_format=fmt) else "strided"


def candidates(x: Tensor, w: Tensor, stride: tuple[int, ...], dilation: tuple[int, ...], pads: Pads) -> list[str]:
    """The alternatives to the plain call that apply to this configuration."""
    dims = x.dim() - 2
    if dims == 1:
        span = (w.shape[-1] - 1) * dilation[0] + 1
        fits = x.shape[-1] + pads[0][0] + pads[0][1] >= span
        return ["fold2d"] if stride[0] == 1 and dilation[0] >= 2 and fits else []
    return ["channels_last"] if _layout(x) != "channels_last" else []


def _may_hit_cliff(x: Tensor, pads: Pads) -> bool:
    """Whether the automatic channels-last choice measures this configuration: a 2-D float32 convolution that
    torch pads itself (symmetric padding) by at least ``_CLIFF_PAD`` on some axis. oneDNN's direct NCHW kernel
    rejects such paddings for many shapes (oneDNN verbose logs show ``x64:gemm:jit`` from padding 7 for 64 channels,
    3×3, at any dilation); which shapes exactly depends on its register blocking, hence the measurement."""
    return (x.dim() == 4 and x.dtype == torch.float32 and all(left == right for left, right in pads)
            and max(left for left, _ in pads) >= _CLIFF_PAD)


# ---------------------------------------------------------------------------------------------------------
# The switch and the cache


def _env_default(name: str = _ENV, default: bool = False) -> bool:
    value = os.environ.get(name, "").strip().lower()
    return default if not value else value in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Choice:
    """The path measured fastest for one configuration, and the median time of every candidate."""

    op: str
    input_shape: tuple[int, ...]
    weight_shape: tuple[int, ...]
    dtype: str
    layout: str
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: Pads
    groups: int
    backward: bool
    threads: int
    path: str
    times_ms: dict[str, float] = field(default_factory=dict)
    shared_input: bool = False  # measured for a caller that converts the input once for several convolutions

    @property
    def speedup(self) -> float:
        """Plain time over the chosen path's time (1.0 when the plain call was kept)."""
        return self.times_ms["plain"] / self.times_ms[self.path] if self.times_ms.get(self.path) else 1.0

    def as_dict(self) -> dict[str, Any]:
        return {"op": self.op, "input_shape": list(self.input_shape), "weight_shape": list(self.weight_shape),
                "dtype": self.dtype, "layout": self.layout, "stride": list(self.stride),
                "dilation": list(self.dilation), "padding": [list(p) for p in self.padding], "groups": self.groups,
                "backward": self.backward, "threads": self.threads, "path": self.path,
                "times_ms": {k: round(v, 4) for k, v in self.times_ms.items()}, "speedup": round(self.speedup, 4),
                "shared_input": self.shared_input}


class _State:
    def __init__(self) -> None:
        self.enabled = _env_default()
        self.auto = _env_default(_ENV_AUTO, True)
        self.forced: str | None = None
        self.cache: dict[tuple[Any, ...], Choice] = {}
        self.lock = threading.Lock()


_STATE = _State()


def set_benchmark(enabled: bool) -> bool:
    """Turn measuring (and taking) the fastest path on or off for every dilated conv; returns the old setting.

    Off, only the automatic channels-last choice is measured (:func:`set_auto_channels_last`); every other
    call is the plain ``F.conv*d`` call. The default is off unless the environment variable
    ``ATROUS_CONV_BENCHMARK`` is ``1``: on the shared 2-vCPU machine this was built on, the 1-D fold's gains
    (~10-20%, fwd+bwd) were within the noise of a few measured calls (docs/benchmarks_conv.md).
    """
    if not isinstance(enabled, bool):
        raise ConfigError(f"set_benchmark: enabled must be True or False, got {enabled!r}")
    old, _STATE.enabled = _STATE.enabled, enabled
    return old


def benchmark_enabled() -> bool:
    """Whether dilated convs measure and take the fastest path (see :func:`set_benchmark`)."""
    return _STATE.enabled


def set_auto_channels_last(enabled: bool) -> bool:
    """Turn the automatic channels-last layout for 2-D convolutions with large padding on or off; returns the
    old setting. On (the default, unless ``ATROUS_CONV_AUTO_CHANNELS_LAST=0``), such a convolution on an NCHW
    input measures once whether converting to channels-last is clearly faster, and if so returns a
    channels-last output from then on. Off, those calls are the plain ``F.conv2d`` call, NCHW in and out."""
    if not isinstance(enabled, bool):
        raise ConfigError(f"set_auto_channels_last: enabled must be True or False, got {enabled!r}")
    old, _STATE.auto = _STATE.auto, enabled
    return old


def auto_channels_last_enabled() -> bool:
    """Whether 2-D convolutions with large padding may choose the channels-last layout (see
    :func:`set_auto_channels_last`)."""
    return _STATE.auto


def chosen_paths() -> list[dict[str, Any]]:
    """What was measured and chosen so far, one JSON-ready dict per configuration, in the order seen.

    >>> isinstance(chosen_paths(), list)
    True
    """
    with _STATE.lock:
        return [c.as_dict() for c in _STATE.cache.values()]


def clear_chosen_paths() -> None:
    """Forget every choice: the next call of each configuration measures again."""
    with _STATE.lock:
        _STATE.cache.clear()


@contextmanager
def force_path(name: str | None) -> Iterator[None]:
    """Take path ``name`` wherever it applies (the plain call elsewhere), without measuring and whatever
    :func:`set_benchmark` says: for tests and benchmarks that compare paths. ``None`` restores the default."""
    if name is not None and name not in PATHS:
        raise ConfigError(f"force_path: name must be one of {', '.join(PATHS)}, got {name!r}")
    old, _STATE.forced = _STATE.forced, name
    try:
        yield
    finally:
        _STATE.forced = old


# ---------------------------------------------------------------------------------------------------------
# Choosing


def _autocast() -> bool:
    try:
        return bool(torch.is_autocast_enabled("cpu"))
    except TypeError:  # torch < 2.4
        return bool(torch.is_autocast_cpu_enabled())


def _eligible(x: Tensor, w: Tensor, b: Tensor | None) -> bool:
    if torch.jit.is_scripting():  # type: ignore[attr-defined]
        return False
    if torch.compiler.is_compiling() or torch._C._is_torch_function_mode_enabled():
        return False
    plain_types = (Tensor, torch.nn.Parameter)
    if type(x) is not Tensor or type(w) not in plain_types or (b is not None and type(b) not in plain_types):
        return False
    return (x.device.type == "cpu" and x.layout == torch.strided and x.is_floating_point() and x.numel() > 0
            and not _autocast())


def _work(x: Tensor, w: Tensor, stride: tuple[int, ...], dilation: tuple[int, ...], pads: Pads) -> int:
    out = 1
    for n, k, s, d, (left, right) in zip(x.shape[2:], w.shape[2:], stride, dilation, pads):
        out *= max(0, (n + left + right - (k - 1) * d - 1) // s + 1)
    return x.shape[0] * out * w.numel()


def _measure(names: list[str], x: Tensor, w: Tensor, b: Tensor | None, args: tuple[Any, ...],
             grads: tuple[bool, bool, bool] | None, shared_input: bool = False) -> dict[str, list[float]]:
    """Seconds per call of each path on these tensors, one per round (forward, or forward + backward when
    ``grads``); the rounds interleave the paths, so that drift on a shared machine hits all of them alike.
    With ``shared_input``, ``"channels_last"`` is timed on an input converted beforehand: the caller converts
    once for several convolutions."""
    paths = dict(PATHS)
    if shared_input:
        ready: list[Tensor] = []

        def converted(x: Tensor, w: Tensor, b: Tensor | None, *args: Any) -> Tensor:
            if not ready:
                ready.append(to_channels_last(x.detach()).requires_grad_(x.requires_grad))
            ready[0].grad = None
            return _plain(ready[0], w, b, *args)

        paths["channels_last"] = converted
    if grads is None:
        def run(fn: PathFn) -> None:
            with torch.no_grad():
                fn(x, w, b, *args)
    else:
        xs, ws = x.detach().requires_grad_(grads[0]), w.detach().requires_grad_(grads[1])
        bs = None if b is None else b.detach().requires_grad_(grads[2])
        leaves = [t for t in (xs, ws, bs) if t is not None and t.requires_grad]
        seed: list[Tensor] = []

        def run(fn: PathFn) -> None:
            with torch.enable_grad():
                y = fn(xs, ws, bs, *args)
                if not seed:
                    seed.append(torch.ones_like(y))
                torch.autograd.backward([y], [seed[0]])
            for t in leaves:
                t.grad = None

    first = 0.0
    for name in names:  # warm up: oneDNN builds its primitives on the first call
        t0 = time.perf_counter()
        run(paths[name])
        first += time.perf_counter() - t0
    rounds = max(_MIN_ROUNDS, min(_MAX_ROUNDS, int(_BUDGET_S / (first or 1e-9))))
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            t0 = time.perf_counter()
            run(paths[name])
            times[name].append(time.perf_counter() - t0)
    return times


def _decide(times: dict[str, list[float]]) -> str:
    """The alternative whose time relative to the plain call of the same round has the lowest median, if that
    median is at most ``_MARGIN`` and it lost at most one round in ``_LOSS_PER``; otherwise the plain call."""
    plain = times["plain"]
    ratios = {n: [t / p for t, p in zip(v, plain)] for n, v in times.items() if n != "plain"}
    best = min(ratios, key=lambda n: statistics.median(ratios[n]))
    lost = sum(r >= 1.0 for r in ratios[best])
    return best if statistics.median(ratios[best]) <= _MARGIN and lost <= len(ratios[best]) // _LOSS_PER else "plain"


def choose(x: Tensor, w: Tensor, b: Tensor | None, stride: tuple[int, ...], dilation: tuple[int, ...], pads: Pads,
           groups: int, shared_input: bool = False) -> str:
    """The name of the path that :func:`conv` takes for these arguments, measuring it first if this
    configuration is new (see the module docstring). ``shared_input``: the caller converts ``x`` once for
    several convolutions (ASPP's branches), so channels-last is measured without the conversion."""
    args = (stride, dilation, pads, groups)
    forced = _STATE.forced
    if not (_STATE.enabled or _STATE.auto or forced) or not _eligible(x, w, b):
        return "plain"
    names = candidates(x, w, stride, dilation, pads)
    if forced is not None:
        return forced if forced in names else "plain"
    if not _STATE.enabled:
        names = [n for n in names if n == "channels_last" and _STATE.auto and _may_hit_cliff(x, pads)]
    if not names or _work(x, w, stride, dilation, pads) < _MIN_WORK or torch.are_deterministic_algorithms_enabled():
        return "plain"
    grads = None
    if torch.is_grad_enabled() and (x.requires_grad or w.requires_grad or (b is not None and b.requires_grad)):
        grads = (x.requires_grad, w.requires_grad, b is not None and b.requires_grad)
    key = (tuple(x.shape), tuple(w.shape), b is not None, x.dtype, _layout(x), stride, dilation, pads, groups,
           grads, torch.get_num_threads(), tuple(names), shared_input)
    choice = _STATE.cache.get(key)
    if choice is None:
        if len(_STATE.cache) >= _MAX_KEYS:
            return "plain"
        times = _measure(["plain", *names], x, w, b, args, grads, shared_input)
        path = _decide(times)
        med = {n: statistics.median(v) for n, v in times.items()}
        choice = Choice(f"conv{x.dim() - 2}d", tuple(x.shape), tuple(w.shape), str(x.dtype).replace("torch.", ""),
                        _layout(x), stride, dilation, pads, groups, grads is not None, torch.get_num_threads(),
                        path, {n: t * 1e3 for n, t in med.items()}, shared_input)
        with _STATE.lock:
            choice = _STATE.cache.setdefault(key, choice)
    return choice.path


def conv(x: Tensor, w: Tensor, b: Tensor | None, stride: tuple[int, ...], dilation: tuple[int, ...], pads: Pads,
         groups: int) -> Tensor:
    """The convolution by the path :func:`choose` picks for this configuration (see the module docstring)."""
    return PATHS[choose(x, w, b, stride, dilation, pads, groups)](x, w, b, stride, dilation, pads, groups)
