"""The compiled one-sample step (``StreamingModule(..., engine="compiled")``): the instruction list of
:mod:`atrous.stream.ir` as a table of C structs, run by one call into ``_native.c`` per step.

The shared library is built by ``python -m atrous.stream._build`` (``make`` runs it; needs a C compiler) next to
this file. Where it is missing, :func:`available` is false and ``engine="auto"`` uses the numpy engine.

Why C and not numba: one call per step runs the whole instruction table, and the register-blocked kernel makes the
batch-16 step a small GEMM; a numba step written for one TCN ties at batch 1 and is 2.2x slower at batch 16
(``benchmarks/stream_numba.py``), and numba would be a runtime dependency. See docs/stream.md.
"""

from __future__ import annotations

import ctypes
import operator
import os
import subprocess
import sysconfig
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from atrous.stream import ir
from atrous.stream._follow import Follow

__all__ = ["Native", "available", "build", "supported"]

_SOURCE = Path(__file__).with_name("_native.c")
# not "_native.so": Python would take that for an extension module named _native and shadow this file
_LIBRARY = Path(__file__).with_name("libatrous_step" + (sysconfig.get_config_var("SHLIB_SUFFIX") or ".so"))
_ACTS = {"relu": 0, "tanh": 1, "sigmoid": 2, "leaky_relu": 3, "elu": 4, "selu": 5, "gelu": 6, "gelu_tanh": 7,
         "silu": 8, "identity": 9}
_INPUT, _CONV, _ACT, _AFFINE, _NORM, _GATE, _ADD, _OUTPUT = range(8)
_MAX_KERNEL = 64


_training = operator.attrgetter("training")
_training_item = operator.itemgetter("training")  # on a module's __dict__: a third faster than the attribute


class _Op(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int) for n in ("kind", "fn", "batch", "c_in", "cp_in", "c_out", "cp_out", "kernel",
                                            "dilation", "span", "index", "pad_")] + \
        [("alpha", ctypes.c_float), ("eps", ctypes.c_float)] + \
        [(n, ctypes.c_void_p) for n in ("src", "src2", "dst", "ring", "w", "b")]


class _Run(ctypes.Structure):
    _fields_ = [("ops", ctypes.c_void_p), ("n_ops", ctypes.c_long), ("t", ctypes.c_long), ("inputs", ctypes.c_void_p)]


def build(target: Path = _LIBRARY, compiler: str | None = None) -> Path:
    """Compile ``_native.c`` into ``target`` (``-O3 -march=native``); raises ``CalledProcessError`` on failure."""
    cc = compiler or os.environ.get("CC", "cc")
    tmp = target.with_name(target.name + f".{os.getpid()}.tmp")
    subprocess.run([cc, "-O3", "-march=native", "-shared", "-fPIC", "-o", str(tmp), str(_SOURCE), "-lm"],
                   check=True)
    tmp.replace(target)  # atomic: a process loading the old library keeps its mapping
    return target


_lib: Any = None
_tried = False


def _load() -> Any:
    global _lib, _tried
    if not _tried:
        _tried = True
        if _LIBRARY.exists() and _LIBRARY.stat().st_mtime >= _SOURCE.stat().st_mtime:
            try:
                lib = ctypes.CDLL(str(_LIBRARY))
            except OSError:
                return None
            try:
                sizes = lib.atrous_op_size(), lib.atrous_run_size()
            except AttributeError:  # a library built from an older source
                return None
            if sizes == (ctypes.sizeof(_Op), ctypes.sizeof(_Run)):
                lib.atrous_run.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
                lib.atrous_run.restype = None
                _lib = lib
    return _lib


def available() -> bool:
    """Whether the compiled step is built and loads (``python -m atrous.stream._build`` builds it)."""
    return _load() is not None


def supported(program: ir.Program, dtype: torch.dtype, device: torch.device, model_dtype: torch.dtype) -> bool:
    """Whether a state of this dtype and device can run compiled: float32 on the CPU, every instruction known."""
    if not (available() and device.type == "cpu" and dtype == torch.float32 and model_dtype == torch.float32):
        return False
    return unsupported(program) is None


def unsupported(program: ir.Program) -> str | None:
    """Why the C step cannot run ``program`` (None where it can)."""
    if any(c is None for c in program.channels.values()):
        return "a value's channel count is unknown"
    for op in program.ops:
        if isinstance(op, ir.Fn):
            return f"{op.name or 'a step'!r} is a torch function ({type(op.fn).__name__}) that only numpy/torch run"
        if isinstance(op, ir.Conv) and op.kernel > _MAX_KERNEL:
            return f"{op.name!r} has more than {_MAX_KERNEL} taps"
    return None


def _aligned(*shape: int) -> np.ndarray:
    """Zeros, 64-byte aligned, with one vector of slack at the end (a gate may read past its last lane)."""
    n = int(np.prod(shape))
    raw = np.zeros(n + 32, np.float32)
    start = (-raw.ctypes.data % 64) // 4
    return raw[start:start + n].reshape(shape)


class _Arena:
    """One aligned block carved in order: the weights of consecutive convolutions lie back to back, so the
    hardware prefetcher streams from one layer into the next."""

    def __init__(self, sizes: list[int]) -> None:
        self._data = _aligned(sum(-(-n // 16) * 16 for n in sizes))
        self._at = 0

    def take(self, *shape: int) -> np.ndarray:
        n = int(np.prod(shape))
        out = self._data[self._at:self._at + n].reshape(shape)
        self._at += -(-n // 16) * 16
        return out


class Native:
    """The one-sample step of ``program`` for ``batch`` streams, compiled (float32, CPU)."""

    def __init__(self, program: ir.Program, model: nn.Module, batch: int, versions: bool = False) -> None:
        lib = _load()
        assert lib is not None
        self._lib, self.program, self.batch = lib, program, batch
        vl = int(lib.atrous_vector_width())

        def pad(c: int) -> int:
            return -(-c // vl) * vl
        self._pad = pad
        B = batch
        width = program.channels
        self._vals = {i: _aligned(B, pad(c or 1)) for i, c in width.items()}
        self._rings: dict[int, np.ndarray] = {}    # slot -> (span, B, CP_in)
        self._convs: list[tuple[ir.Conv, np.ndarray, np.ndarray]] = []
        self._affines: list[tuple[ir.Affine, np.ndarray, np.ndarray]] = []
        self._norms: list[tuple[ir.Norm, int]] = []    # (instruction, index in the table)
        self._norm_params: list[np.ndarray] = []
        ops: list[_Op] = []
        inputs = list(program.inputs)

        def new(kind: int, src: int | None, dst: int, channels: int) -> _Op:
            op = _Op(kind=kind, batch=B, c_out=channels, cp_out=pad(channels),
                     dst=self._vals[dst].ctypes.data, src=None if src is None else self._vals[src].ctypes.data)
            ops.append(op)
            return op

        convs = [op for op in program.ops if isinstance(op, ir.Conv)]
        arena = _Arena([n for op in convs for n in (op.kernel * op.c_in * pad(op.c_out), pad(op.c_out))])
        for op in program.ops:
            c = width[op.out] or 0
            if isinstance(op, ir.Input):
                new(_INPUT, None, op.out, c).index = inputs.index(op.name)
            elif isinstance(op, ir.Conv):
                w, b = arena.take(op.kernel, op.c_in, pad(op.c_out)), arena.take(pad(op.c_out))
                self._convs.append((op, w, b))
                o = new(_CONV, op.src, op.out, op.c_out)
                o.c_in, o.cp_in, o.kernel, o.dilation, o.span = op.c_in, pad(op.c_in), op.kernel, op.dilation, \
                    op.span
                o.w, o.b = w.ctypes.data, b.ctypes.data
                if op.slot is not None:
                    ring = _aligned(op.span, B, pad(op.c_in))
                    self._rings[op.slot] = ring
                    o.ring = ring.ctypes.data
            elif isinstance(op, ir.Act):
                o = new(_ACT, op.src, op.out, c)
                o.fn, o.alpha = _ACTS[op.fn], op.alpha
            elif isinstance(op, ir.Affine):
                scale, shift = _aligned(pad(c)), _aligned(pad(c))
                self._affines.append((op, scale, shift))
                o = new(_AFFINE, op.src, op.out, c)
                o.w, o.b = scale.ctypes.data, shift.ctypes.data
            elif isinstance(op, ir.Norm):
                new(_NORM, op.src, op.out, c)
                self._norms.append((op, len(ops) - 1))
            elif isinstance(op, ir.Gate):
                o = new(_GATE, op.src, op.out, c)
                o.fn, o.cp_in = _ACTS[op.first], pad(2 * c)
            else:
                assert isinstance(op, ir.Add)
                if len(op.args) == 1:  # a sum of one value: a copy
                    new(_ACT, op.args[0], op.out, c).fn = _ACTS["identity"]
                first = op.args[0]
                for other in op.args[1:]:
                    o = new(_ADD, first, op.out, c)
                    o.src2 = self._vals[other].ctypes.data
                    first = op.out
        out = program.outputs[0]
        self.out_channels = width[out] or 0
        new(_OUTPUT, out, out, self.out_channels)
        self._ops = (_Op * len(ops))(*ops)
        self._inputs = (ctypes.c_void_p * len(inputs))()
        self._run = _Run(ops=ctypes.addressof(self._ops), n_ops=len(ops), t=0, inputs=ctypes.addressof(self._inputs))
        self._follow = Follow(model, versions)
        self.refresh()
        self.step1 = self._step1()

    @property
    def t(self) -> int:
        """Samples streamed since the start or the last :meth:`load` (the C step advances it)."""
        return int(self._run.t)

    @t.setter
    def t(self, value: int) -> None:
        self._run.t = value

    def _step1(self) -> Callable[[Tensor], Tensor]:
        """``step`` for a model with one input, as a closure over everything it reads: the per-sample path of
        :class:`~atrous.stream.StreamingModule`, where each attribute lookup and argument conversion is a
        measurable part of a ~20 us step."""
        run, at, follow, versions = self._lib.atrous_run, ctypes.addressof(self._run), self._follow, \
            self._follow.versions
        # refresh is bound to self: the closure keeps the buffers it passes to C by address alive
        check_eval, refresh = self.program.check_eval, self.refresh
        guards: tuple[Any, ...] = tuple(m for _, m in self.program.guards)
        training: Callable[[Any], Any] = _training
        if all("training" in vars(m) for m in guards):  # nn.Module keeps the flag in the instance dict
            guards, training = tuple(vars(m) for m in guards), _training_item
        empty, b, c = torch.empty, self.batch, self.out_channels

        def step1(x: Tensor) -> Tensor:
            if versions or follow.dirty:
                if follow.changed():
                    refresh()
            if guards and True in map(training, guards):
                check_eval()
            if not x.is_contiguous():
                x = x.contiguous()
            y = empty(b, c, 1)  # a new tensor every step: callers keep outputs (torch.cat of a list of steps)
            run(at, x.data_ptr(), y.data_ptr())
            return y
        return step1

    def refresh(self) -> None:
        """Copy the model's current weights (weight norm computed, batch-norm statistics folded) into the step."""
        pad = self._pad
        with torch.no_grad():
            for op, w, b in self._convs:
                weight, bias = op.params()
                dense = ir.dense_weight(weight.detach().float(), op.groups).cpu()     # (O, I, k)
                w[:, :, :op.c_out] = dense.permute(2, 1, 0).numpy()
                b[:op.c_out] = 0 if bias is None else bias.detach().float().cpu().numpy()
            for aff, scale, shift in self._affines:
                s, h = aff.params()
                c = s.shape[0]
                scale[:c], shift[:c] = s.detach().float().cpu().numpy(), h.detach().float().cpu().numpy()
            params = []
            for norm, index in self._norms:
                w_, b_, eps = norm.params()
                o = self._ops[index]
                o.eps = eps
                if w_ is None:
                    o.w = o.b = None
                    continue
                wp, bp = _aligned(pad(w_.shape[0])), _aligned(pad(w_.shape[0]))
                wp[:w_.shape[0]] = w_.detach().float().cpu().numpy()
                bp[:w_.shape[0]] = 0 if b_ is None else b_.detach().float().cpu().numpy()
                params += [wp, bp]
                o.w, o.b = wp.ctypes.data, bp.ctypes.data
            self._norm_params = params
        self._follow.seen()

    def step(self, x: Tensor, *side: Tensor) -> Tensor:
        """One sample ``(B, C_in, 1)`` of every stream (side inputs ``(B, C', 1)`` after it); returns
        ``(B, C_out, 1)`` (a new tensor)."""
        if not side:
            return self.step1(x)
        keep = [v.contiguous() for v in side]  # alive until the call returns
        for i, v in enumerate(keep, 1):
            self._inputs[i] = v.data_ptr()
        return self.step1(x)

    def state(self) -> tuple[Tensor, ...]:
        """The state in :func:`atrous.stream.step`'s layout ``(B, C, (k - 1) d)``, oldest first (copies)."""
        out = []
        for i, s in enumerate(self.program.slots):
            ring = self._rings[i]
            rows = (self.t - s.length + np.arange(s.length)) % s.length
            out.append(torch.from_numpy(np.ascontiguousarray(ring[rows][:, :, :s.channels].transpose(1, 2, 0))))
        return tuple(out)

    def load(self, state: tuple[Tensor, ...]) -> None:
        """Start again from a state in :func:`atrous.stream.step`'s layout."""
        self.t = 0
        for i, s in enumerate(state):
            self._rings[i][:, :, :s.shape[1]] = s.detach().float().cpu().numpy().transpose(2, 0, 1)

    def reset(self, mask: Tensor | None) -> None:
        """Zero every stream's history, or those where ``mask`` (bool ``(B,)``) is true."""
        rows = slice(None) if mask is None else mask.cpu().numpy()
        for ring in self._rings.values():
            ring[:, rows] = 0

