"""The one description of a causal stack that every streaming executor runs: a short list of instructions.

A model is *lowered* once: each module type has a lowering, registered next to its own class with
:func:`register_lowering`, that appends instructions to a :class:`Builder` and returns the values its ``forward``
would return. The instruction set is small:

* :class:`Input` - the chunk ``x``, or a side input such as WaveNet's conditioning ``cond``;
* :class:`Conv` - a causal convolution: ``kernel`` taps ``dilation`` apart, the last ``(kernel - 1) dilation``
  inputs kept in a state slot (none when the kernel is 1);
* :class:`Act` - a named pointwise nonlinearity (``relu``, ``tanh``, ``sigmoid``, ``leaky_relu``, ``elu``,
  ``selu``, ``gelu``, ``gelu_tanh``, ``silu``);
* :class:`Fn` - any other function of one time step (a torch callable on ``(B, C, T)``);
* :class:`Affine` - a per-channel scale and shift (batch norm in eval mode);
* :class:`Norm` - layer norm over the channels of each time step;
* :class:`Gate` - ``first(a) * sigmoid(b)`` over the two halves of the channels (WaveNet's tanh gate, GLU);
* :class:`Add` - the sum of several values (a residual, a sum of skips).

The torch chunk executor (:func:`atrous.stream.step`), the one-sample ring executor and the generated numpy and
compiled steps of :class:`atrous.stream.StreamingModule` all consume this list and nothing else. Instructions hold
getters of the model's own tensors, so ``load_state_dict`` or weight norm is seen by the next step.

>>> import torch
>>> from torch import nn
>>> from atrous.stream.ir import lower
>>> program = lower(nn.Sequential(nn.Conv1d(2, 4, 1), nn.ReLU()))
>>> [type(op).__name__ for op in program.ops]
['Input', 'Conv', 'Act']
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from atrous.errors import ConfigError, UnsupportedOpError

__all__ = [
    "Act", "Add", "Affine", "Builder", "Conv", "Fn", "Gate", "Input", "Norm", "Op", "Program", "Slot", "Value",
    "lower", "register_lowering",
]

#: activations every executor knows by name (the compiled step included)
ACTS = ("relu", "tanh", "sigmoid", "leaky_relu", "elu", "selu", "gelu", "gelu_tanh", "silu")


@dataclass(frozen=True)
class Slot:
    """One buffer of the streaming state: the last ``length`` input samples of the layer ``name``."""

    name: str
    channels: int
    length: int


class _Width:
    """Channel count shared by a value and the pointwise values computed from it (None until a conv reads it)."""

    __slots__ = ("n",)

    def __init__(self, n: int | None) -> None:
        self.n = n


class Value:
    """One intermediate ``(B, C, T)`` of the stream, by number."""

    __slots__ = ("id", "width")

    def __init__(self, id: int, width: _Width) -> None:
        self.id, self.width = id, width

    @property
    def channels(self) -> int | None:
        return self.width.n

    def __repr__(self) -> str:
        return f"Value({self.id}, channels={self.channels})"


@dataclass(eq=False)
class Op:
    """An instruction; ``out`` is the number of the value it defines."""

    kind: ClassVar[str] = ""
    out: int

    @property
    def srcs(self) -> tuple[int, ...]:
        return ()


@dataclass(eq=False)
class Input(Op):
    kind: ClassVar[str] = "input"
    name: str = "x"
    width: _Width = field(default_factory=lambda: _Width(None))

    @property
    def channels(self) -> int | None:
        return self.width.n


@dataclass(eq=False)
class Conv(Op):
    """A causal convolution ``c_in -> c_out`` reading ``kernel`` taps ``dilation`` apart (the last tap is now)."""

    kind: ClassVar[str] = "conv"
    src: int = 0
    name: str = ""
    c_in: int = 0
    c_out: int = 0
    kernel: int = 1
    dilation: int = 1
    groups: int = 1
    slot: int | None = None
    #: the weight ``(c_out, c_in / groups, kernel)`` and bias (or None), computed now (weight norm included)
    params: Callable[[], tuple[Tensor, Tensor | None]] = field(default=lambda: (torch.empty(0), None))

    @property
    def span(self) -> int:
        return (self.kernel - 1) * self.dilation

    @property
    def srcs(self) -> tuple[int, ...]:
        return (self.src,)


@dataclass(eq=False)
class Act(Op):
    kind: ClassVar[str] = "act"
    src: int = 0
    fn: str = "relu"
    alpha: float = 0.0    # leaky_relu's negative slope, elu's alpha

    @property
    def srcs(self) -> tuple[int, ...]:
        return (self.src,)


@dataclass(eq=False)
class Fn(Op):
    """Any function of one time step: ``fn`` maps ``(B, c_in, T)`` to ``(B, channels, T)`` column by column."""

    kind: ClassVar[str] = "fn"
    src: int = 0
    fn: Callable[[Tensor], Tensor] = field(default=lambda x: x)
    name: str = ""

    @property
    def srcs(self) -> tuple[int, ...]:
        return (self.src,)


@dataclass(eq=False)
class Affine(Op):
    """``x * scale + shift`` per channel; ``params`` gives ``(scale, shift)`` now."""

    kind: ClassVar[str] = "affine"
    src: int = 0
    params: Callable[[], tuple[Tensor, Tensor]] = field(default=lambda: (torch.empty(0), torch.empty(0)))

    @property
    def srcs(self) -> tuple[int, ...]:
        return (self.src,)


@dataclass(eq=False)
class Norm(Op):
    """Layer norm over the channels of each time step; ``params`` gives ``(weight, bias, eps)`` now."""

    kind: ClassVar[str] = "norm"
    src: int = 0
    params: Callable[[], tuple[Tensor | None, Tensor | None, float]] = field(default=lambda: (None, None, 1e-5))

    @property
    def srcs(self) -> tuple[int, ...]:
        return (self.src,)


@dataclass(eq=False)
class Gate(Op):
    """``first(x[:, :C]) * sigmoid(x[:, C:])`` for ``C`` = half the channels; ``first`` is tanh or identity."""

    kind: ClassVar[str] = "gate"
    src: int = 0
    first: str = "tanh"

    @property
    def srcs(self) -> tuple[int, ...]:
        return (self.src,)


@dataclass(eq=False)
class Add(Op):
    kind: ClassVar[str] = "add"
    args: tuple[int, ...] = ()

    @property
    def srcs(self) -> tuple[int, ...]:
        return self.args


@dataclass
class Program:
    """A lowered model: its instructions, the layout of its state, its inputs and outputs."""

    ops: list[Op]
    slots: list[Slot]
    inputs: dict[str, Input]
    outputs: list[int]
    #: modules that must be in eval mode while streaming (dropout, batch norm), with their names
    guards: list[tuple[str, nn.Module]]
    channels: dict[int, int | None]
    #: ``"NCL"``: chunks are ``(B, C, T)``; ``"NLC"``: the model reads and returns ``(B, T, C)`` (executors
    #: run ``(B, C, T)`` and transpose at the boundary)
    layout: str = "NCL"

    @property
    def in_channels(self) -> int | None:
        return self.inputs["x"].channels

    @property
    def out_channels(self) -> int | None:
        return self.channels[self.outputs[0]]

    def check_eval(self) -> None:
        """Raise where a guarded module is in training mode (its output would depend on the batch or chance)."""
        for name, m in self.guards:
            if m.training:
                raise ConfigError(f"stream: {_label(name, m)} must be in eval mode to stream (its output depends "
                                  "on the whole batch or on chance in training mode); call model.eval()")


Lowering = Callable[..., Value | tuple[Value, ...]]
_LOWERINGS: dict[Any, Lowering] = {}
L = TypeVar("L", bound=Lowering)


def register_lowering(*types: type | str) -> Callable[[L], L]:
    """Decorator: ``fn(module, builder, x, name)`` lowers modules of these types (classes, or ``"module.Qualname"``
    strings for classes of packages that need not be imported). It appends instructions with the
    :class:`Builder`'s methods and returns the value(s) the module's ``forward`` returns; the first is streamed.

    A subclass uses its parent's lowering only while it keeps the parent's ``forward``.

    >>> class Twice(nn.Module):
    ...     def forward(self, x):
    ...         return x + x
    >>> @register_lowering(Twice)
    ... def _twice(module, b, x, name):
    ...     return b.add(x, x)
    >>> [type(op).__name__ for op in lower(Twice()).ops]
    ['Input', 'Add']
    >>> del _LOWERINGS[Twice]
    """
    def decorate(fn: L) -> L:
        for t in types:
            _LOWERINGS[t] = fn
        return fn
    return decorate


def _label(name: str, module: nn.Module) -> str:
    return f"{name or '<model>'!r} ({type(module).__name__})"


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _find(module: nn.Module) -> Lowering | None:
    forward = type(module).forward
    for cls in type(module).__mro__:
        fn = _LOWERINGS.get(cls) or _LOWERINGS.get(_qualname(cls))
        if fn is not None:
            return fn if getattr(cls, "forward", None) is forward else None
    return None


class Builder:
    """What a lowering appends instructions with; values are :class:`Value` objects."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self.slots: list[Slot] = []
        self.inputs: dict[str, Input] = {}
        self.guards: list[tuple[str, nn.Module]] = []
        self.layout = "NCL"
        self._widths: list[_Width] = []

    def _new(self, width: _Width | int | None) -> Value:
        w = width if isinstance(width, _Width) else _Width(width)
        self._widths.append(w)
        return Value(len(self._widths) - 1, w)

    def input(self, name: str = "x", channels: int | None = None) -> Value:
        """The stream's input ``name`` (``"x"``, the chunk; ``"cond"``, conditioning), shared by every reader."""
        op = self.inputs.get(name)
        if op is None:
            v = self._new(channels)
            op = Input(v.id, name, v.width)
            self.inputs[name] = op
            self.ops.append(op)
        elif channels is not None and op.width.n is not None and op.width.n != channels:
            raise UnsupportedOpError(f"stream: input {name!r} is read with {op.width.n} and {channels} channels")
        elif channels is not None:
            op.width.n = channels
        return Value(op.out, op.width)

    def lower(self, module: nn.Module, x: Value, name: str) -> Value | tuple[Value, ...]:
        """Lower a submodule (``name`` is its qualified name, used in errors and state slots)."""
        fn = _find(module)
        if fn is None:
            cls = type(module)
            if cls.__name__.startswith("Parametrized") and cls.__bases__:
                cls = cls.__bases__[0]
            overrides = any(t in _LOWERINGS or _qualname(t) in _LOWERINGS for t in cls.__mro__[1:])
            why = "it overrides the forward of a class that streams" if overrides else \
                "no streaming lowering is registered for this class"
            raise UnsupportedOpError(
                f"stream: {name or '<model>'!r} ({_qualname(cls)}) is not supported: {why}; see the supported "
                "layers in atrous.stream's documentation, or add one with atrous.stream.register_lowering")
        return fn(module, self, x, name)

    def lower1(self, module: nn.Module, x: Value, name: str) -> Value:
        """:meth:`lower` for a module that returns one value (the first where it returns several)."""
        out = self.lower(module, x, name)
        return out[0] if isinstance(out, tuple) else out

    def conv(self, x: Value, name: str, module: nn.Module, *, in_channels: int, out_channels: int, kernel: int,
             dilation: int = 1, groups: int = 1, left: int | None = None, right: int = 0, stride: int = 1,
             params: Callable[[], tuple[Tensor, Tensor | None]] | None = None) -> Value:
        """A convolution padded ``(left, right)``; it streams only when it is causal and keeps the length
        (``left = (kernel - 1) dilation``, ``right = 0``, stride 1). ``params`` default: the module's weight and
        bias (a weight-norm parametrisation computes the weight there)."""
        span = (kernel - 1) * dilation
        left = span if left is None else left
        if right > 0:
            raise UnsupportedOpError(f"stream: {_label(name, module)} looks ahead: padding (left, right) = "
                                     f"({left}, {right}); streaming needs causal padding (left={span}, right=0)")
        if stride != 1:
            raise UnsupportedOpError(f"stream: {_label(name, module)} has stride {stride}; only stride 1 streams")
        if left != span:
            raise UnsupportedOpError(f"stream: {_label(name, module)} changes the length: padding (left, right) = "
                                     f"({left}, {right}); streaming needs causal padding (left={span}, right=0)")
        self._meet(x, in_channels, name)
        slot = None
        if span > 0:
            slot = len(self.slots)
            self.slots.append(Slot(name, in_channels, span))
        out = self._new(out_channels)
        self.ops.append(Conv(out.id, x.id, name, in_channels, out_channels, kernel, dilation, groups, slot,
                             params or _module_params(module, name)))
        return out

    def _meet(self, x: Value, channels: int, name: str) -> None:
        if x.width.n is None:
            x.width.n = channels
        elif x.width.n != channels:
            raise UnsupportedOpError(f"stream: {name!r} reads {channels} channels from a value of {x.width.n}")

    def act(self, x: Value, fn: str, alpha: float = 0.0) -> Value:
        if fn not in ACTS:
            raise ConfigError(f"Builder.act: fn must be one of {', '.join(ACTS)}, got {fn!r}")
        out = self._new(x.width)
        self.ops.append(Act(out.id, x.id, fn, float(alpha)))
        return out

    def fn(self, x: Value, fn: Callable[[Tensor], Tensor], name: str = "", channels: int | None = None) -> Value:
        """Any per-time-step function (``channels``: its output's, default the input's)."""
        out = self._new(x.width if channels is None else channels)
        self.ops.append(Fn(out.id, x.id, fn, name))
        return out

    def affine(self, x: Value, params: Callable[[], tuple[Tensor, Tensor]]) -> Value:
        out = self._new(x.width)
        self.ops.append(Affine(out.id, x.id, params))
        return out

    def norm(self, x: Value, params: Callable[[], tuple[Tensor | None, Tensor | None, float]]) -> Value:
        out = self._new(x.width)
        self.ops.append(Norm(out.id, x.id, params))
        return out

    def gate(self, x: Value, first: str = "tanh") -> Value:
        if first not in ("tanh", "identity"):
            raise ConfigError(f"Builder.gate: first must be 'tanh' or 'identity', got {first!r}")
        if x.channels is None or x.channels % 2:
            raise UnsupportedOpError(f"stream: a gate needs an even, known channel count, got {x.channels}")
        out = self._new(x.channels // 2)
        self.ops.append(Gate(out.id, x.id, first))
        return out

    def add(self, *xs: Value) -> Value:
        widths = {x.channels for x in xs if x.channels is not None}
        if len(widths) > 1:
            raise UnsupportedOpError(f"stream: adding values of {sorted(widths)} channels")
        out = self._new(xs[0].width if not widths else widths.pop())
        self.ops.append(Add(out.id, tuple(x.id for x in xs)))
        return out

    def require_eval(self, module: nn.Module, name: str) -> None:
        """``module`` must be in eval mode whenever a step runs (checked every step)."""
        self.guards.append((name, module))

    def pointwise(self, module: nn.Module, x: Value, name: str) -> Value:
        """A torch activation module as an :class:`Act` where it has a name, else as an :class:`Fn`."""
        act = _act_of(module)
        if act is not None:
            return self.act(x, *act)
        return self.fn(x, module, name)


def _module_params(module: nn.Module, name: str) -> Callable[[], tuple[Tensor, Tensor | None]]:
    hooks = list(module._forward_pre_hooks.values())
    if hooks and all(type(h).__name__ == "WeightNorm" for h in hooks):  # torch.nn.utils.weight_norm (legacy)
        def legacy() -> tuple[Tensor, Tensor | None]:
            w = module.weight
            for h in hooks:
                w = h.compute_weight(module)  # type: ignore[attr-defined]
            return w, module.bias  # type: ignore[return-value]
        return legacy
    if hooks:
        raise UnsupportedOpError(f"stream: {_label(name, module)} has forward pre-hooks that streaming cannot see")
    return lambda: (module.weight, module.bias)  # type: ignore[return-value]


def _act_of(m: nn.Module) -> tuple[str, float] | None:
    if type(m) is nn.ReLU:
        return ("relu", 0.0)
    if type(m) is nn.Tanh:
        return ("tanh", 0.0)
    if type(m) is nn.Sigmoid:
        return ("sigmoid", 0.0)
    if type(m) is nn.LeakyReLU:
        return ("leaky_relu", float(m.negative_slope))
    if type(m) is nn.ELU:
        return ("elu", float(m.alpha))
    if type(m) is nn.SELU:
        return ("selu", 0.0)
    if type(m) is nn.GELU:
        return ("gelu" if m.approximate == "none" else "gelu_tanh", 0.0)
    if type(m) is nn.SiLU:
        return ("silu", 0.0)
    return None


_SELU = (1.6732632423543772848170429916717, 1.0507009873554804934193349852946)


def act(x: Tensor, fn: str, alpha: float = 0.0) -> Tensor:
    """The named activation on a torch tensor (the reference the numpy and compiled steps follow)."""
    if fn == "relu":
        return F.relu(x)
    if fn == "tanh":
        return torch.tanh(x)
    if fn == "sigmoid":
        return torch.sigmoid(x)
    if fn == "leaky_relu":
        return F.leaky_relu(x, alpha)
    if fn == "elu":
        return F.elu(x, alpha)
    if fn == "selu":
        return F.selu(x)
    if fn == "gelu":
        return F.gelu(x)
    if fn == "gelu_tanh":
        return F.gelu(x, approximate="tanh")
    assert fn == "silu"
    return F.silu(x)


def gate(h: Tensor, first: str, dim: int = 1) -> Tensor:
    a, b = h.chunk(2, dim)
    return (a.tanh() if first == "tanh" else a) * b.sigmoid()


def pointwise(op: Op, env: list[Tensor | None], timed: bool) -> Tensor:
    """Any op but :class:`Input` and :class:`Conv` (the ones each executor does its own way) on the values in
    ``env``: ``(B, C, T)`` tensors when ``timed``, ``(B, C)`` for a single time step."""
    if isinstance(op, Add):
        y = env[op.args[0]]
        for a in op.args[1:]:
            y = y + env[a]  # type: ignore[operator]
        assert y is not None
        return y
    x = env[op.src]  # type: ignore[attr-defined]
    assert x is not None
    if isinstance(op, Act):
        return act(x, op.fn, op.alpha)
    if isinstance(op, Gate):
        return gate(x, op.first)
    if isinstance(op, Affine):
        scale, shift = op.params()
        return x * scale[:, None] + shift[:, None] if timed else x * scale + shift
    if isinstance(op, Norm):
        w, b, eps = op.params()
        if timed:
            return F.layer_norm(x.transpose(1, 2), (x.shape[1],), w, b, eps).transpose(1, 2)
        return F.layer_norm(x, (x.shape[1],), w, b, eps)
    assert isinstance(op, Fn)
    return op.fn(x) if timed else op.fn(x[:, :, None])[:, :, 0]


_CACHE: weakref.WeakKeyDictionary[nn.Module, Program] = weakref.WeakKeyDictionary()


def lower(model: nn.Module) -> Program:
    """The :class:`Program` of ``model`` (cached per model object); raises for layers that cannot stream."""
    if not isinstance(model, nn.Module):
        raise ConfigError(f"stream: model must be an nn.Module, got {type(model).__name__}")
    program = _CACHE.get(model)
    if program is None:
        b = Builder()
        out = b.lower(model, b.input("x"), "")
        outs = list(out) if isinstance(out, tuple) else [out]
        program = Program(b.ops, b.slots, b.inputs, [v.id for v in outs], b.guards,
                          {i: w.n for i, w in enumerate(b._widths)}, b.layout)
        _CACHE[model] = program
    return program


def dense_weight(weight: Tensor, groups: int) -> Tensor:
    """A grouped weight ``(O, I / g, k)`` as the equivalent dense ``(O, I, k)`` (zeros outside the groups)."""
    if groups == 1:
        return weight
    o, i, k = weight.shape
    dense = weight.new_zeros(o, i * groups, k)
    per = o // groups
    for g in range(groups):
        dense[g * per:(g + 1) * per, g * i:(g + 1) * i] = weight[g * per:(g + 1) * per]
    return dense
