"""Layer specs: kernel size, stride, dilation and padding per spatial axis.

A :class:`Layer` is pure data. Build one with :func:`conv` or :func:`pool`, which accept the same
arguments as ``torch.nn.Conv*d`` / ``torch.nn.MaxPool*d`` (an int for every axis or one value per axis)
and resolve padding words to explicit ``(left, right)`` pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from atrous.errors import ShapeError, bad

__all__ = ["KINDS", "PAD_WORDS", "UPSAMPLE_MODES", "Layer", "conv", "conv_transpose", "crop", "downsample",
           "global_pool", "pool", "span", "upsample"]

#: Layer kinds. ``global`` (global pooling: the map shrinks to 1) and ``global_broadcast`` (a global context
#: broadcast back to every position: a squeeze-excitation gate, an upsampled image-pooling branch) make every
#: output depend on the whole input; the local quantities pass through them unchanged.
#: ``crop`` removes samples at the borders (negative padding; slicing such as a TCN's chomp).
#: ``conv_transpose`` and upsampling ``resize`` layers have a fractional stride: they first insert
#: ``upsample - 1`` zeros between input samples, then run their kernel over that finer grid (see
#: :func:`conv_transpose` and :func:`upsample`).
#: ``resize`` is an integer resize (``nn.Upsample``, ``F.interpolate``), up (with zero insertion) or down.
KINDS = ("conv", "maxpool", "avgpool", "global", "global_broadcast", "crop", "conv_transpose", "resize")
#: interpolation modes that :func:`upsample` maps exactly (``linear`` stands for linear, bilinear and trilinear
#: with ``align_corners=False``)
UPSAMPLE_MODES = ("nearest", "linear")
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
    for taps ``t = 0 .. kernel[a] - 1``. With ``upsample[a] = u > 1`` (a fractional stride ``stride / u``) the
    kernel runs over the input with ``u - 1`` zeros inserted between its samples: position ``z`` of that grid is
    input ``z / u`` when ``u`` divides ``z`` and nothing otherwise, so neighbouring outputs can read different
    patterns (the receptive field depends on the output's phase, its index modulo the period).

    Shape:
        ``L_out = floor((L + left + right - span) / stride) + 1`` per axis, with
        ``span = (kernel - 1) * dilation + 1`` (``ceil`` instead of ``floor`` for pooling with
        ``ceil_mode``, where the last window must start inside the input or its left padding); with
        ``upsample = u`` the zero-inserted length ``(L - 1) * u + 1`` replaces ``L``.
    """

    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]
    kind: str = "conv"
    name: str = ""
    ceil_mode: bool = False
    upsample: tuple[int, ...] = ()
    dims: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = f"Layer {self.name!r}" if self.name else "Layer"
        if self.kind not in KINDS:
            raise bad(where, "kind", f"one of {', '.join(KINDS)}", self.kind)
        n = len(self.kernel)
        if not 1 <= n <= 3:
            raise bad(where, "kernel", "given for 1, 2 or 3 spatial axes", self.kernel)
        if not self.upsample:
            object.__setattr__(self, "upsample", (1,) * n)
        for arg in ("stride", "dilation", "padding", "upsample"):
            if len(getattr(self, arg)) != n:
                raise bad(where, arg, f"given for {n} axes like kernel", getattr(self, arg))
        for arg in ("kernel", "stride", "dilation", "upsample"):
            for v in getattr(self, arg):
                if not _is_int(v) or v < 1:
                    raise bad(where, arg, "a positive int", v)
        if self.kind not in ("conv_transpose", "resize") and any(u != 1 for u in self.upsample):
            raise bad(where, "upsample", "1 on every axis except for a conv_transpose or resize layer",
                      self.upsample)
        lowest = -(10**18) if self.kind in ("crop", "conv_transpose", "resize") else 0
        for p in self.padding:
            if len(p) != 2 or not all(_is_int(v) and v >= lowest for v in p):
                raise bad(where, "padding", "a pair of non-negative ints per axis (negative only for a crop, a "
                          "resize or a transposed convolution)", p)
        object.__setattr__(self, "dims", n)

    @property
    def span(self) -> tuple[int, ...]:
        """Dilated extent per axis, ``(kernel - 1) * dilation + 1``."""
        return tuple(span(k, d) for k, d in zip(self.kernel, self.dilation))

    @property
    def is_global(self) -> bool:
        return self.kind in ("global", "global_broadcast")

    @property
    def upsamples(self) -> bool:
        """True when some axis has a fractional stride (zeros are inserted before the kernel runs)."""
        return any(u > 1 for u in self.upsample)

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
            n = (n - 1) * self.upsample[a] + 1
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
        if self.kind == "resize" and self.upsamples:
            return f"resize x{fmt(self.upsample)} k{fmt(self.kernel)}"
        if self.kind == "conv_transpose":
            return f"{self.kind} k{fmt(self.kernel)} d{fmt(self.dilation)} s{fmt(self.upsample)}"
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
    Layer(kernel=(3,), stride=(1,), dilation=(2,), padding=((2, 2),), kind='conv', name='', ceil_mode=False, \
upsample=(1,))
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


def conv_transpose(
    kernel_size: IntArg,
    stride: IntArg = 1,
    padding: IntArg = 0,
    output_padding: IntArg = 0,
    dilation: IntArg = 1,
    *,
    dims: int | None = None,
    name: str = "",
) -> Layer:
    """A transposed convolution spec with ``torch.nn.ConvTranspose*d`` arguments (stride ``s``: jump ``1/s``).

    It is exactly a zero insertion by ``stride`` followed by a stride-1 convolution of ``kernel_size`` taps
    at ``dilation`` with padding ``(k - 1) * d - padding`` on the left and that plus ``output_padding`` on
    the right. Output ``o`` then reads input ``i`` when ``o = i * stride + t * dilation - padding`` for a tap
    ``t``, as in PyTorch.

    Shape:
        ``L_out = (L - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1``.

    >>> layer = conv_transpose(4, stride=2, padding=1)
    >>> layer.upsample, layer.padding, layer.output_length(7)
    ((2,), ((2, 2),), (14,))
    """
    where = f"conv_transpose {name!r}" if name else "conv_transpose"
    dims = _infer_dims((kernel_size, stride, dilation, padding, output_padding), dims, where)
    k = _per_axis(kernel_size, dims, "kernel_size", where, minimum=1)
    s = _per_axis(stride, dims, "stride", where, minimum=1)
    d = _per_axis(dilation, dims, "dilation", where, minimum=1)
    p = _per_axis(padding, dims, "padding", where, minimum=0)
    op = _per_axis(output_padding, dims, "output_padding", where, minimum=0)
    for a in range(dims):
        if op[a] >= max(s[a], d[a]):
            raise bad(where, "output_padding", f"smaller than stride or dilation ({max(s[a], d[a])})", op[a])
    pads = tuple(((k[a] - 1) * d[a] - p[a], (k[a] - 1) * d[a] - p[a] + op[a]) for a in range(dims))
    return Layer(k, (1,) * dims, d, pads, kind="conv_transpose", name=name, upsample=s)


def upsample(scale_factor: IntArg, mode: str = "nearest", *, dims: int | None = None, name: str = "") -> Layer:
    """An integer upsampling (``nn.Upsample``, ``F.interpolate``) as zero insertion followed by a small kernel.

    ``mode="nearest"`` (also ``nearest-exact``, the same for integer factors): output ``o`` reads input
    ``floor(o / s)``, a box of ``s`` taps. ``mode="linear"`` (linear, bilinear, trilinear with
    ``align_corners=False``): output ``o`` sits at input coordinate ``x = (o + 0.5) / s - 0.5`` and reads the
    inputs strictly closer than 1 to ``x`` (``floor(x)`` and ``floor(x) + 1``; only ``x`` itself when it is an
    integer, which happens for odd ``s``, where the other weight is 0), a triangle of ``2 s`` taps (``2 s - 1``
    for odd ``s``) over the zero-inserted grid. Both clamp at the borders, which the receptive field ignores.

    Shape:
        ``L_out = L * scale_factor``.

    >>> upsample(2).kernel, upsample(2).padding, upsample(2, "linear").kernel, upsample(3, "linear").padding
    ((2,), ((1, 1),), (4,), ((3, 3),))
    """
    where = f"upsample {name!r}" if name else "upsample"
    if mode not in UPSAMPLE_MODES:
        raise bad(where, "mode", f"one of {', '.join(UPSAMPLE_MODES)}", mode)
    dims = _infer_dims((scale_factor,), dims, where)
    s = _per_axis(scale_factor, dims, "scale_factor", where, minimum=1)
    if mode == "nearest":
        k = s
        pads = tuple((u - 1, u - 1) for u in s)
    else:  # reads z in (o - (s - 1) / 2 - s, o - (s - 1) / 2 + s), open: see the docstring
        k = tuple(2 * u - u % 2 for u in s)
        pads = tuple((u // 2 + u - 1, u // 2 + u - 1) for u in s)
    return Layer(k, (1,) * dims, (1,) * dims, pads, kind="resize", name=name, upsample=s)


def downsample(factor: IntArg, mode: str = "nearest", *, dims: int | None = None, name: str = "") -> Layer:
    """An integer downsampling by ``F.interpolate`` (``L_out = L / factor``) with ``align_corners=False``.

    ``nearest`` reads input ``o * s``; ``linear`` sits at ``x = (o + 0.5) * s - 0.5`` and reads ``x`` itself
    for odd ``s``, ``floor(x)`` and ``floor(x) + 1`` for even ``s``.

    >>> layer = downsample(8, "linear")
    >>> layer.kernel, layer.padding, layer.output_length(224), downsample(3, "linear").padding
    ((2,), ((-3, -3),), (28,), ((-1, -1),))
    """
    where = f"downsample {name!r}" if name else "downsample"
    if mode not in UPSAMPLE_MODES:
        raise bad(where, "mode", f"one of {', '.join(UPSAMPLE_MODES)}", mode)
    dims = _infer_dims((factor,), dims, where)
    s = _per_axis(factor, dims, "factor", where, minimum=1)
    if mode == "nearest":
        k = (1,) * dims
        pads = tuple((0, 0) for _ in s)
    else:
        k = tuple(2 - v % 2 for v in s)
        pads = tuple((-((v - 1) // 2), -((v - 1) // 2)) for v in s)
    return Layer(k, s, (1,) * dims, pads, kind="resize", name=name)


def _infer_dims(values: tuple[object, ...], dims: int | None, where: str) -> int:
    if dims is None:
        dims = next((len(v) for v in values if isinstance(v, Sequence) and not isinstance(v, str)), 1)
    if not _is_int(dims) or not 1 <= dims <= 3:
        raise bad(where, "dims", "1, 2 or 3", dims)
    return dims


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

