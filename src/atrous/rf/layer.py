"""Layer specs: kernel size, stride, dilation and padding per spatial axis.

A :class:`Layer` is pure data. Build one with :func:`conv` or :func:`pool`, which accept the same
arguments as ``torch.nn.Conv*d`` / ``torch.nn.MaxPool*d`` (an int for every axis or one value per axis)
and resolve padding words to explicit ``(left, right)`` pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from atrous.errors import ShapeError, bad

__all__ = ["KINDS", "PAD_WORDS", "Layer", "conv", "crop", "global_pool", "pool", "span"]

#: Layer kinds. ``global`` (global pooling: the map shrinks to 1) and ``global_broadcast`` (a global context
#: broadcast back to every position: a squeeze-excitation gate, an upsampled image-pooling branch) make every
#: output depend on the whole input; the local quantities pass through them unchanged.
#: ``crop`` removes samples at the borders (negative padding; slicing such as a TCN's chomp).
KINDS = ("conv", "maxpool", "avgpool", "global", "global_broadcast", "crop")
PAD_WORDS = ("same", "valid", "causal")

AxisPadding = int | tuple[int, int] | str
PaddingArg = AxisPadding | Sequence[AxisPadding]
IntArg = int | Sequence[int]


def span(kernel: int, dilation: int) -> int:
    """Number of input samples a kernel covers, holes included: ``(kernel - 1) * dilation + 1``.

    >>> span(3, 2), span(5, 3), span(2, 512)
    (5, 13, 513)
    """
    return (kernel - 1) * dilation + 1


@dataclass(frozen=True)
class Layer:
    """One layer along every spatial axis (all tuples have one entry per axis).

    Output index ``i`` of axis ``a`` reads input positions ``i * stride[a] + t * dilation[a] - padding[a][0]``
    for taps ``t = 0 .. kernel[a] - 1``.

    Shape:
        ``L_out = floor((L + left + right - span) / stride) + 1`` per axis, with
        ``span = (kernel - 1) * dilation + 1`` (``ceil`` instead of ``floor`` for pooling with
        ``ceil_mode``, where the last window must start inside the input or its left padding).
    """

    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]
    kind: str = "conv"
    name: str = ""
    ceil_mode: bool = False
    dims: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = f"Layer {self.name!r}" if self.name else "Layer"
        if self.kind not in KINDS:
            raise bad(where, "kind", f"one of {', '.join(KINDS)}", self.kind)
        n = len(self.kernel)
        if not 1 <= n <= 3:
            raise bad(where, "kernel", "given for 1, 2 or 3 spatial axes", self.kernel)
        for arg in ("stride", "dilation", "padding"):
            if len(getattr(self, arg)) != n:
                raise bad(where, arg, f"given for {n} axes like kernel", getattr(self, arg))
        for arg in ("kernel", "stride", "dilation"):
            for v in getattr(self, arg):
                if not _is_int(v) or v < 1:
                    raise bad(where, arg, "a positive int", v)
        lowest = -(10**18) if self.kind == "crop" else 0
        for p in self.padding:
            if len(p) != 2 or not all(_is_int(v) and v >= lowest for v in p):
                raise bad(where, "padding", "a pair of non-negative ints per axis (negative only for a crop)", p)
        object.__setattr__(self, "dims", n)

    @property
    def span(self) -> tuple[int, ...]:
        """Dilated extent per axis, ``(kernel - 1) * dilation + 1``."""
        return tuple(span(k, d) for k, d in zip(self.kernel, self.dilation))

    @property
    def is_global(self) -> bool:
        return self.kind in ("global", "global_broadcast")

    def output_length(self, length: IntArg) -> tuple[int, ...]:
        """Output length per axis for an input of ``length`` (one int, or one per axis).

        >>> conv(3, dilation=2, padding="same").output_length(10)
        (10,)
        >>> pool(3, stride=2, ceil_mode=True).output_length(10)
        (5,)
        """
        where = f"Layer {self.name!r}" if self.name else "Layer"
        lengths = _per_axis(length, self.dims, "input length", where, minimum=1)
        if self.kind == "global":
            return tuple(1 for _ in lengths)
        if self.kind == "global_broadcast":
            return lengths
        out = []
        for a, n in enumerate(lengths):
            left, right = self.padding[a]
            room = n + left + right - self.span[a]
            s = self.stride[a]
            slack = s - 1 if self.ceil_mode else 0  # ceil_mode lets the last window overhang by < stride
            m = (room + slack) // s + 1
            while self.ceil_mode and m > 1 and (m - 1) * s >= n + left:
                m -= 1  # the last window would start in the right padding
            if m < 1:
                raise ShapeError(
                    f"{where}: input length must be at least {self.span[a] - left - right - slack} on axis {a} "
                    f"(span {self.span[a]}, padding {left}+{right}), got {n}"
                )
            out.append(m)
        return tuple(out)

    def describe(self) -> str:
        """Short human description, e.g. ``conv k3 d2 s1``."""

        def fmt(v: tuple[int, ...]) -> str:
            return str(v[0]) if len(set(v)) == 1 else "x".join(map(str, v))

        if self.is_global:
            return self.kind
        return f"{self.kind} k{fmt(self.kernel)} d{fmt(self.dilation)} s{fmt(self.stride)}"


def conv(
    kernel_size: IntArg,
    stride: IntArg = 1,
    dilation: IntArg = 1,
    padding: PaddingArg = 0,
    *,
    dims: int | None = None,
    name: str = "",
) -> Layer:
    """A convolution spec with ``torch.nn.Conv*d`` arguments.

    Args:
        kernel_size: taps per axis (an int for every axis, or one per axis).
        stride: output step per axis.
        dilation: spacing between taps per axis.
        padding: an int, a ``(left, right)`` pair, ``"same"`` (total ``span - 1``, extra on the right as in
            PyTorch), ``"valid"`` (none) or ``"causal"`` (``span - 1`` on the left), or one of these per axis
            (for example ``("causal", "same")`` for a 2-D conv causal along its first axis).
        dims: number of spatial axes; inferred from the first tuple argument, 1 when all are ints.
        name: a label used in tables and messages.

    Returns:
        A :class:`Layer` with ``kind="conv"``.

    >>> conv(3, dilation=2, padding="same")
    Layer(kernel=(3,), stride=(1,), dilation=(2,), padding=((2, 2),), kind='conv', name='', ceil_mode=False)
    >>> conv(2, dilation=4, padding="causal").padding
    ((4, 0),)
    """
    return _make("conv", kernel_size, stride, dilation, padding, dims, name, False)


def pool(
    kernel_size: IntArg,
    stride: IntArg | None = None,
    dilation: IntArg = 1,
    padding: PaddingArg = 0,
    *,
    kind: str = "maxpool",
    ceil_mode: bool = False,
    dims: int | None = None,
    name: str = "",
) -> Layer:
    """A pooling spec (``torch.nn.MaxPool*d`` / ``AvgPool*d``); ``stride`` defaults to ``kernel_size``.

    >>> pool(2).stride, pool(3, stride=2, padding=1, kind="avgpool").padding
    ((2,), ((1, 1),))
    """
    if kind not in ("maxpool", "avgpool"):
        raise bad("pool", "kind", "'maxpool' or 'avgpool'", kind)
    return _make(kind, kernel_size, kernel_size if stride is None else stride, dilation, padding, dims, name,
                 ceil_mode)


def global_pool(dims: int = 1, name: str = "global", broadcast: bool = False) -> Layer:
    """A global operation: every output depends on the whole input (``rf.global`` becomes true).

    With ``broadcast=True`` the global context is spread back over the whole map (a squeeze-excitation gate,
    an image-pooling branch followed by upsampling), so the feature-map size is unchanged.
    """
    one = (1,) * dims
    return Layer(one, one, one, ((0, 0),) * dims, kind="global_broadcast" if broadcast else "global", name=name)


def crop(amounts: Sequence[tuple[int, int]], step: IntArg = 1, name: str = "") -> Layer:
    """Remove ``left``/``right`` samples per axis (then keep every ``step``-th): slicing such as ``x[..., 2:-3]``.

    >>> crop([(0, 4)]).padding, crop([(1, 1), (2, 0)]).output_length((10, 10))
    (((0, -4),), (8, 8))
    """
    dims = len(amounts)
    if not 1 <= dims <= 3 or not all(len(a) == 2 and all(_is_int(v) and v >= 0 for v in a) for a in amounts):
        raise bad("crop", "amounts", "one (left, right) pair of non-negative ints per axis", amounts)
    one = (1,) * dims
    steps = _per_axis(step, dims, "step", "crop", 1)
    return Layer(one, steps, one, tuple((-a, -b) for a, b in amounts), kind="crop", name=name)


def _make(
    kind: str,
    kernel_size: IntArg,
    stride: IntArg,
    dilation: IntArg,
    padding: PaddingArg,
    dims: int | None,
    name: str,
    ceil_mode: bool,
) -> Layer:
    where = f"{kind} {name!r}" if name else kind
    if dims is None:
        dims = 1
        for v in (kernel_size, stride, dilation):
            if isinstance(v, Sequence) and not isinstance(v, str):
                dims = len(v)
                break
        else:
            if isinstance(padding, Sequence) and not isinstance(padding, str) and len(padding) > 0 and \
                    not all(_is_int(p) for p in padding):
                dims = len(padding)
    if not _is_int(dims) or not 1 <= dims <= 3:
        raise bad(where, "dims", "1, 2 or 3", dims)
    k = _per_axis(kernel_size, dims, "kernel_size", where, minimum=1)
    s = _per_axis(stride, dims, "stride", where, minimum=1)
    d = _per_axis(dilation, dims, "dilation", where, minimum=1)
    pads = _resolve_padding(padding, k, s, d, where)
    return Layer(k, s, d, pads, kind=kind, name=name, ceil_mode=ceil_mode)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _per_axis(value: object, dims: int, arg: str, where: str, minimum: int) -> tuple[int, ...]:
    if _is_int(value):
        values: tuple[object, ...] = (value,) * dims
    elif isinstance(value, Sequence) and not isinstance(value, str):
        values = tuple(value)
        if len(values) != dims:
            raise bad(where, arg, f"an int or {dims} values (one per axis)", value)
    else:
        raise bad(where, arg, f"a positive int or {dims} positive ints (one per axis)", value)
    for v in values:
        if not _is_int(v) or v < minimum:  # type: ignore[operator]
            rule = "a positive int" if minimum == 1 else f"an int >= {minimum}"
            raise bad(where, arg, rule, v)
    return values  # type: ignore[return-value]


def _resolve_axis(p: object, k: int, s: int, d: int, where: str) -> tuple[int, int]:
    sp = span(k, d)
    if isinstance(p, str):
        word = p.lower()
        if word == "valid":
            return (0, 0)
        if word == "causal":
            return (sp - 1, 0)
        if word == "same":
            total = sp - 1
            return (total // 2, total - total // 2)
        raise bad(where, "padding", f"an int, a (left, right) pair or one of {', '.join(PAD_WORDS)}", p)
    if _is_int(p):
        if p < 0:  # type: ignore[operator]
            raise bad(where, "padding", "a non-negative int", p)
        return (p, p)  # type: ignore[return-value]
    if isinstance(p, Sequence) and len(p) == 2 and all(_is_int(v) and v >= 0 for v in p):
        return (p[0], p[1])
    raise bad(where, "padding", f"an int, a (left, right) pair or one of {', '.join(PAD_WORDS)}", p)


def _resolve_padding(
    padding: PaddingArg, k: tuple[int, ...], s: tuple[int, ...], d: tuple[int, ...], where: str
) -> tuple[tuple[int, int], ...]:
    dims = len(k)
    per_axis: Sequence[object]
    if isinstance(padding, str) or _is_int(padding):
        per_axis = [padding] * dims
    elif isinstance(padding, Sequence) and len(padding) == 2 and all(_is_int(v) for v in padding) and dims == 1:
        per_axis = [tuple(padding)] * dims  # one (left, right) pair for every axis
    elif isinstance(padding, Sequence) and len(padding) == dims:
        per_axis = list(padding)
    else:
        raise bad(where, "padding", f"one value for every axis or {dims} values (one per axis)", padding)
    return tuple(_resolve_axis(p, k[a], s[a], d[a], where) for a, p in enumerate(per_axis))

