"""A one-sample step compiled to straight-line numpy code, for :class:`atrous.stream.StreamingModule` on the CPU.

Why numpy: one step of a deep causal stack is ~100 small ops (a 64x128 mat-vec is ~16k flops); torch spends
3-5 us dispatching each, numpy ~1 us. ``torch.compile`` (inductor, also with ``cpp_wrapper`` and max-autotune)
was measured slower still, because every small kernel and extern mat-mul is called from a Python wrapper.

Layout: a convolution with ``k`` taps and dilation ``d`` keeps a buffer ``(d, k C + 1, B)``. Sample ``t`` lives in
phase ``t mod d``, slot ``(t // d) mod k``; the ``k`` taps of step ``t`` are then the ``k`` slots of one phase, one
contiguous block, and its last row is a constant 1 so that the bias is one more column of the weight. Values are
``(C, B)`` (``(C,)`` at batch 1), so every slot and every intermediate is contiguous. The slots hold
the taps in a rotated order, so each layer keeps ``k`` copies of its weight ``(k C + 1, C_out)``, one per rotation:
one convolution is one ``dot``. Values are written straight into the slot of the convolution that reads them next,
so a TemporalBlock is six numpy calls (dot, relu, dot, relu, add, relu) and no copies.

The weights are copied when the program is built and again when they may have changed (see
:mod:`atrous.stream._follow`: after ``load_state_dict`` or an optimizer step; any in-place change with
``versions=True``); other edits need :meth:`Program.refresh`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from atrous.stream import ir
from atrous.stream._follow import Follow

__all__ = ["Program", "supported"]

_NUMPY_DTYPES = {torch.float32: np.float32, torch.float64: np.float64}


def supported(program: ir.Program, dtype: torch.dtype, device: torch.device, model_dtype: torch.dtype) -> bool:
    """Whether a state of this dtype and device can run as a numpy program."""
    return device.type == "cpu" and dtype in _NUMPY_DTYPES and dtype == model_dtype and \
        all(c is not None for c in program.channels.values())


def _torch_fn(op: ir.Op) -> Any:
    """The torch function of an instruction without a numpy form, on ``(B, C, 1)``."""
    if isinstance(op, ir.Act):
        return lambda v: ir.act(v, op.fn, op.alpha)
    if isinstance(op, ir.Norm):
        def norm(v: Tensor) -> Tensor:
            w, b, eps = op.params()
            return F.layer_norm(v.transpose(1, 2), (v.shape[1],), w, b, eps).transpose(1, 2)
        return norm
    assert isinstance(op, ir.Fn)
    return op.fn


@dataclass(eq=False)
class _Val:
    """One SSA value ``(B, C)`` of the step; ``where`` is assigned after the whole step is known."""

    channels: int
    uses: list[_Ins] = field(default_factory=list)
    where: str = ""        # expression of its array in the generated code
    slot_of: int = -1      # index of the convolution whose slot holds it, or -1 (a scratch array)


@dataclass(eq=False)
class _Ins:
    op: str                # conv, linear, relu, tanh, sigmoid, add, mul, affine, module, slice, input
    args: list[_Val]
    out: _Val
    ref: int = -1          # conv index, constant index or module index
    lo: int = 0
    hi: int = 0


@dataclass(eq=False)
class _ConvInfo:
    op: ir.Conv
    k: int
    d: int
    c_in: int
    c_out: int
    buf: np.ndarray = field(default_factory=lambda: np.zeros(0))


class Program:
    """The one-sample step of ``program`` for ``batch`` streams, as generated numpy code over preallocated
    buffers."""

    def __init__(self, program: ir.Program, model: nn.Module, batch: int, dtype: torch.dtype,
                 versions: bool = False) -> None:
        self.batch, self.dtype, self.np_dtype = batch, dtype, _NUMPY_DTYPES[dtype]
        self.model = model
        self.t = 0
        self._convs: list[_ConvInfo] = []
        self._modules: list[Any] = []
        self._affines: list[ir.Affine] = []
        self._program = program
        self._inputs = list(program.inputs)  # "x" first, then side inputs, in the order they are read
        self._ins: list[_Ins] = []
        self._output = self._emit(program)
        self._build_buffers()
        self._follow = Follow(model, versions)
        self.refresh()
        self.source = self._render()
        namespace: dict[str, Any] = {"_np": np, "_torch": torch}
        namespace.update(self._names)
        exec(compile(self.source, f"<atrous.stream step {id(self):x}>", "exec"), namespace)
        self._fn = namespace["_step"]

    # ---- phase 1: the program's instructions as numpy-level SSA instructions ------------------------------
    def _new(self, op: str, args: list[_Val], channels: int, ref: int = -1, lo: int = 0, hi: int = 0) -> _Val:
        out = _Val(channels or args[0].channels)
        ins = _Ins(op, args, out, ref, lo, hi)
        for a in args:
            a.uses.append(ins)
        self._ins.append(ins)
        return out

    def _emit(self, program: ir.Program) -> _Val:
        vals: dict[int, _Val] = {}
        for op in program.ops:
            width = program.channels[op.out] or 0
            if isinstance(op, ir.Input):
                v = _Val(width)
                self._ins.append(_Ins("input", [], v, lo=self._inputs.index(op.name)))
            elif isinstance(op, ir.Conv):
                self._convs.append(_ConvInfo(op, op.kernel, op.dilation, op.c_in, op.c_out))
                v = self._new("conv" if op.slot is not None else "linear", [vals[op.src]], op.c_out,
                              len(self._convs) - 1)
            elif isinstance(op, ir.Act) and op.fn in ("relu", "tanh", "sigmoid"):
                v = self._new(op.fn, [vals[op.src]], 0)
            elif isinstance(op, ir.Gate):
                h, g = vals[op.src], width
                a = self._new("slice", [h], g, lo=0, hi=g)
                if op.first == "tanh":
                    a = self._new("tanh", [a], 0)
                b = self._new("sigmoid", [self._new("slice", [h], g, lo=g, hi=2 * g)], 0)
                v = self._new("mul", [a, b], 0)
            elif isinstance(op, ir.Add):
                v = vals[op.args[0]]
                for other in op.args[1:]:
                    v = self._new("add", [v, vals[other]], 0)
            elif isinstance(op, ir.Affine):
                self._affines.append(op)
                v = self._new("affine", [vals[op.src]], 0, ref=len(self._affines) - 1)
            else:  # any other function of one time step: the torch function on a view of the same memory
                assert isinstance(op, (ir.Act, ir.Norm, ir.Fn))
                self._modules.append(_torch_fn(op))
                v = self._new("module", [vals[op.src]], width, ref=len(self._modules) - 1)
            vals[op.out] = v
        return vals[program.outputs[0]]

    # ---- phase 2: storage ------------------------------------------------------------------------------
    def _build_buffers(self) -> None:
        B = self.batch
        for c in self._convs:
            if c.op.slot is not None:
                c.buf = np.zeros((c.d, c.k * c.c_in + 1, B), self.np_dtype)
                c.buf[:, -1] = 1
        self._names: dict[str, Any] = {}
        scratch = 0
        for ins in self._ins:
            v = ins.out
            first = next((u for u in v.uses if u.op == "conv"), None)
            if first is not None and not any(u.op == "slice" for u in v.uses):
                v.slot_of = first.ref
                v.where = f"S{first.ref}[p{first.ref}, r{first.ref}]"
                continue
            src = ins.args[0] if ins.args else None
            elementwise = ins.op in ("relu", "tanh", "sigmoid", "add", "mul", "affine")
            if ins.op == "slice" and src is not None:
                name = f"v{scratch}"
                scratch += 1
                self._names[name] = self._array(src)[ins.lo:ins.hi]
                self._names[f"T{name}"] = torch.from_numpy(self._names[name])
                v.where = name
            elif elementwise and src is not None and src.slot_of < 0 and len(src.uses) == 1 and src.where:
                v.where = src.where
            else:
                name = f"v{scratch}"
                scratch += 1
                self._names[name] = np.zeros(self._shape(v.channels), self.np_dtype)
                self._names[f"T{name}"] = torch.from_numpy(self._names[name])
                v.where = name
        for i, c in enumerate(self._convs):
            # batch 1: x @ W with W (K, C_out); batch B: W @ X with W (C_out, K), X (K, B)
            rows = c.k * c.c_in + 1 if c.op.slot is not None else c.c_in
            shape = (rows, c.c_out) if B == 1 else (c.c_out, rows)
            self._names[f"W{i}"] = [np.zeros(shape, self.np_dtype) for _ in range(c.k)] \
                if c.op.slot is not None else np.zeros(shape, self.np_dtype)
            self._names[f"b{i}"] = np.zeros(self._shape(c.c_out, 1), self.np_dtype)
            if c.op.slot is not None:
                slots = self._slots(c)
                self._names[f"S{i}"] = slots[..., 0] if B == 1 else slots
                self._names[f"U{i}"] = c.buf[..., 0] if B == 1 else c.buf
        for j, m in enumerate(self._modules):
            self._names[f"M{j}"] = m
        for ins in self._ins:
            if ins.op == "affine":
                self._names[f"scale{ins.ref}"] = np.zeros(self._shape(ins.out.channels, 1), self.np_dtype)
                self._names[f"shift{ins.ref}"] = np.zeros(self._shape(ins.out.channels, 1), self.np_dtype)
        widths = {v.channels for v in (i.out for i in self._ins)}
        for w in widths:
            self._names[f"zero{w}"] = np.zeros(self._shape(w), self.np_dtype)
        self._names["half"] = self.np_dtype(0.5)

    def _shape(self, channels: int, batch: int | None = None) -> tuple[int, ...]:
        return (channels,) if self.batch == 1 else (channels, self.batch if batch is None else batch)

    def _slots(self, c: _ConvInfo) -> np.ndarray:
        """The buffer without its row of ones, as ``(d, k, C, B)``: phase, slot, channel, stream."""
        return c.buf[:, :c.k * c.c_in].reshape(c.d, c.k, c.c_in, self.batch)

    def _array(self, v: _Val) -> np.ndarray:
        arr = self._names.get(v.where)
        assert isinstance(arr, np.ndarray), "a slice reads a scratch value"
        return arr

    # ---- phase 3: code -----------------------------------------------------------------------------------
    def _render(self) -> str:
        B = self.batch
        lines = [f"def _step({', '.join(self._inputs)}, t):"]
        for i, c in enumerate(self._convs):
            if c.op.slot is not None:
                lines.append(f"    p{i} = t % {c.d}; r{i} = t // {c.d} % {c.k}")
        for ins in self._ins:
            o, a = ins.out.where, [v.where for v in ins.args]
            if ins.op == "input":
                name = self._inputs[ins.lo]
                lines.append(f"    _np.copyto({o}, {name}[0, :, 0])" if B == 1 else
                             f"    _np.copyto({o}, {name}[:, :, 0].T)")
            elif ins.op == "conv":
                src = ins.args[0]
                if src.slot_of != ins.ref:
                    lines.append(f"    _np.copyto(S{ins.ref}[p{ins.ref}, r{ins.ref}], {a[0]})")
                x_, w_ = f"U{ins.ref}[p{ins.ref}]", f"W{ins.ref}[r{ins.ref}]"
                lines.append(f"    _np.dot({x_}, {w_}, out={o})" if B == 1 else f"    _np.dot({w_}, {x_}, out={o})")
            elif ins.op == "linear":
                prod = f"{a[0]}, W{ins.ref}" if B == 1 else f"W{ins.ref}, {a[0]}"
                lines.append(f"    _np.dot({prod}, out={o}); _np.add({o}, b{ins.ref}, out={o})")
            elif ins.op == "relu":
                lines.append(f"    _np.maximum({a[0]}, zero{ins.out.channels}, out={o})")
            elif ins.op == "tanh":
                lines.append(f"    _np.tanh({a[0]}, out={o})")
            elif ins.op == "sigmoid":  # 1 / (1 + e^-x) = (1 + tanh(x / 2)) / 2, without overflow warnings
                lines.append(f"    _np.multiply({a[0]}, half, out={o}); _np.tanh({o}, out={o}); "
                             f"_np.multiply({o}, half, out={o}); _np.add({o}, half, out={o})")
            elif ins.op in ("add", "mul"):
                fn = "_np.add" if ins.op == "add" else "_np.multiply"
                lines.append(f"    {fn}({a[0]}, {a[1]}, out={o})")
            elif ins.op == "affine":
                lines.append(f"    _np.multiply({a[0]}, scale{ins.ref}, out={o}); "
                             f"_np.add({o}, shift{ins.ref}, out={o})")
            elif ins.op == "module":
                # the function sees (B, C, 1) as in the torch paths; a slot is a view, wrapped afresh each step
                src_t = f"T{a[0]}" if ins.args[0].slot_of < 0 else f"_torch.from_numpy({a[0]})"
                dst = f"T{o}" if ins.out.slot_of < 0 else f"_torch.from_numpy({o})"
                c_in, c_out = ins.args[0].channels, ins.out.channels
                lines.append(f"    {dst}.view({c_out}, {B}).t().copy_(M{ins.ref}({src_t}.view({c_in}, {B}).t()"
                             "[:, :, None])[:, :, 0])")
            else:
                assert ins.op == "slice"
        lines.append(f"    return {self._output.where}")
        return "\n".join(lines) + "\n"

    # ---- running --------------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Copy the model's current weights (and batch-norm statistics) into the program."""
        with torch.no_grad():
            for i, c in enumerate(self._convs):
                weight, bias = c.op.params()
                w = ir.dense_weight(weight.detach(), c.op.groups).cpu().numpy().astype(self.np_dtype)   # (O, I, k)
                b = np.zeros(c.c_out, self.np_dtype) if bias is None else bias.detach().cpu().numpy()
                self._names[f"b{i}"][...] = b.reshape(self._shape(c.c_out, 1))
                if c.op.slot is None:
                    self._names[f"W{i}"][...] = w[:, :, 0].T if self.batch == 1 else w[:, :, 0]
                    continue
                for r, target in enumerate(self._names[f"W{i}"]):
                    rot = np.empty((c.k * c.c_in + 1, c.c_out), self.np_dtype)
                    for s in range(c.k):  # slot s holds the sample m = (r - s) mod k dilations back
                        rot[s * c.c_in:(s + 1) * c.c_in] = w[:, :, c.k - 1 - (r - s) % c.k].T
                    rot[-1] = b
                    target[...] = rot if self.batch == 1 else rot.T
            for j, op in enumerate(self._affines):
                scale, shift = op.params()
                shape = self._shape(scale.shape[0], 1)
                self._names[f"scale{j}"][...] = scale.detach().cpu().numpy().reshape(shape)
                self._names[f"shift{j}"][...] = shift.detach().cpu().numpy().reshape(shape)
        self._follow.seen()

    def step(self, x: Tensor, *side: Tensor) -> Tensor:
        """One sample ``(B, C_in, 1)`` of every stream (side inputs ``(B, C', 1)`` after it, in the order of
        the program's inputs); returns ``(B, C_out, 1)`` (a new tensor)."""
        if (self._follow.dirty or self._follow.versions) and self._follow.changed():
            self.refresh()
        self._program.check_eval()
        if side:
            y = self._fn(x.detach().numpy(), *(v.detach().numpy() for v in side), self.t)
        else:
            y = self._fn(x.detach().numpy(), self.t)
        self.t += 1
        if self.batch == 1:
            return torch.from_numpy(y.reshape(1, -1, 1).copy())
        return torch.from_numpy(y.T.copy()[:, :, None])  # a copy always (ascontiguousarray may return a view)

    def state(self) -> tuple[Tensor, ...]:
        """The state in :func:`atrous.stream.step`'s layout ``(B, C, (k - 1) d)``, oldest first (copies)."""
        out = []
        for c in self._slotted():
            phase, slot = self._positions(c, self.t)
            out.append(torch.from_numpy(np.ascontiguousarray(self._slots(c)[phase, slot].transpose(2, 1, 0))))
        return tuple(out)

    def load(self, state: tuple[Tensor, ...]) -> None:
        """Start again from a state in :func:`atrous.stream.step`'s layout."""
        self.t = 0
        for c, s in zip(self._slotted(), state):
            c.buf[:, :-1] = 0
            phase, slot = self._positions(c, 0)
            self._slots(c)[phase, slot] = s.detach().cpu().numpy().transpose(2, 1, 0)

    def reset(self, mask: Tensor | None) -> None:
        """Zero every stream's history, or those where ``mask`` (bool ``(B,)``) is true."""
        rows = slice(None) if mask is None else mask.cpu().numpy()
        for c in self._slotted():
            c.buf[:, :-1, rows] = 0

    def _slotted(self) -> list[_ConvInfo]:
        return sorted((c for c in self._convs if c.op.slot is not None), key=lambda c: c.op.slot or 0)

    @staticmethod
    def _positions(c: _ConvInfo, t: int) -> tuple[np.ndarray, np.ndarray]:
        span = (c.k - 1) * c.d
        times = t - span + np.arange(span)
        return times % c.d, (times // c.d) % c.k

