"""Lowerings of pytorch-tcn's classes (``pip install pytorch-tcn``), registered by name so that pytorch-tcn is never
imported here: ``StreamingModule(pytorch_tcn.TCN(...).eval())`` streams the peer's model as it is.

Covered: causal ``TCN`` with any kernel, dilations (``dilations``, ``dilation_reset``), ``use_norm`` weight norm,
batch norm (eval) or layer norm (over the channels of each time step), any activation with a lowering (relu, tanh,
leaky_relu, sigmoid, elu, gelu, selu, softmax over the channels), ``use_gate`` (GLU), the residual 1x1
downsample, ``use_skip_connections``, ``output_projection`` and ``output_activation``, and ``embedding_shapes``
(``add`` or ``concat``): the embeddings, concatenated along the channels, are the stream's ``cond`` (always
``(B, C, T)`` or ``(B, C, 1)``), and ``input_shape='NLC'`` (chunks and outputs ``(B, T, C)``) for a whole model.
Refused with a reason: ``causal=False`` (it looks ahead).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from atrous.errors import UnsupportedOpError
from atrous.stream.ir import Builder, Value, register_lowering


def _sub(name: str, attr: str) -> str:
    return f"{name}.{attr}" if name else attr


@register_lowering("pytorch_tcn.conv.TemporalConv1d")
def _lower_temporal_conv(m: Any, b: Builder, x: Value, name: str) -> Value:
    pad = m.padder.pad
    if not (isinstance(pad, nn.ConstantPad1d) and pad.value == 0):
        raise UnsupportedOpError(f"stream: {name!r} (TemporalConv1d) pads with {type(pad).__name__}; streaming "
                                 "needs zero padding")
    return b.conv(x, name, m, in_channels=m.in_channels, out_channels=m.out_channels, kernel=m.kernel_size[0],
                  dilation=m.dilation[0], groups=m.groups, left=m.padder.left_padding,
                  right=m.padder.right_padding, stride=m.stride[0])


def _norm(m: Any, norm: nn.Module | None, x: Value, b: Builder, name: str) -> Value:
    if m.use_norm == "batch_norm":
        return b.lower1(norm, x, name)  # type: ignore[arg-type]
    if m.use_norm == "layer_norm":  # applied to (B, L, C): over the channels of each time step
        assert isinstance(norm, nn.LayerNorm)
        return b.norm(x, lambda: (norm.weight, norm.bias, norm.eps))
    return x


def _embeddings(m: Any, b: Builder, out: Value, name: str) -> Value:
    proj1, proj2 = m.embedding_projection_1, m.embedding_projection_2
    e = b.lower1(proj1, b.input("cond", proj1.in_channels), _sub(name, "embedding_projection_1"))
    if m.embedding_mode == "add":
        return b.add(out, e)
    # concat: proj2(cat([out, e])) = proj2's first columns on out + its last columns on e
    c = out.channels
    assert c is not None
    left = b.conv(out, _sub(name, "embedding_projection_2"), proj2, in_channels=c, out_channels=proj2.out_channels,
                  kernel=1, params=lambda: (proj2.weight[:, :c], proj2.bias))
    right = b.conv(e, _sub(name, "embedding_projection_2"), proj2, in_channels=proj2.in_channels - c,
                   out_channels=proj2.out_channels, kernel=1, params=lambda: (proj2.weight[:, c:], None))
    return b.add(left, right)


@register_lowering("pytorch_tcn.tcn.TemporalBlock")
def _lower_block(m: Any, b: Builder, x: Value, name: str) -> tuple[Value, Value]:
    out = b.lower1(m.conv1, x, _sub(name, "conv1"))
    out = _norm(m, m.norm1, out, b, _sub(name, "norm1"))
    if m.embedding_shapes is not None:
        out = _embeddings(m, b, out, name)
    out = b.lower1(m.activation1, out, _sub(name, "activation1"))
    out = b.lower1(m.dropout1, out, _sub(name, "dropout1"))
    out = b.lower1(m.conv2, out, _sub(name, "conv2"))
    out = _norm(m, m.norm2, out, b, _sub(name, "norm2"))
    out = b.lower1(m.activation2, out, _sub(name, "activation2"))
    out = b.lower1(m.dropout2, out, _sub(name, "dropout2"))
    res = x if m.downsample is None else b.lower1(m.downsample, x, _sub(name, "downsample"))
    return b.lower1(m.activation_final, b.add(out, res), _sub(name, "activation_final")), out


@register_lowering("pytorch_tcn.tcn.TCN")
def _lower_tcn(m: Any, b: Builder, x: Value, name: str) -> Value:
    if not m.causal:
        raise UnsupportedOpError(f"stream: {name or '<model>'!r} (pytorch_tcn TCN) was built with causal=False: "
                                 "its convolutions look ahead, so it cannot stream")
    if m.input_shape == "NLC":
        if name:
            raise UnsupportedOpError(f"stream: {name!r} (pytorch_tcn TCN) was built with input_shape='NLC' inside "
                                     "another model; only a whole model may read (B, T, C) chunks")
        b.layout = "NLC"  # the chunks and outputs are (B, T, C); the executors transpose at the boundary
    skips: list[Value] = []
    n = len(m.network)
    for i, layer in enumerate(m.network):
        out = b.lower(layer, x, _sub(name, f"network.{i}"))
        assert isinstance(out, tuple)
        x, skip = out
        if m.use_skip_connections:
            down = m.downsample_skip_connection[i]
            if down is not None:
                skip = b.lower1(down, skip, _sub(name, f"downsample_skip_connection.{i}"))
            if i < n - 1:
                skips.append(skip)
    if m.use_skip_connections:
        x = b.lower1(m.activation_skip_out, b.add(*skips, x) if skips else x, _sub(name, "activation_skip_out"))
    if m.projection_out is not None:
        x = b.lower1(m.projection_out, x, _sub(name, "projection_out"))
    if m.activation_out is not None:
        x = b.lower1(m.activation_out, x, _sub(name, "activation_out"))
    return x

