"""Residual blocks of causal dilated sequence models: the TCN block of Bai et al. 2018 and WaveNet's gated block.

Both blocks are causal (output ``t`` reads inputs ``<= t`` only) and keep the length ``L``. Their receptive
fields compose through :meth:`rf_spec`, like every atrous module.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from torch import Tensor, fx, nn
from torch.nn.utils import parametrizations, parametrize

from atrous import rf
from atrous._validate import positive_int
from atrous.errors import ShapeError, bad
from atrous.nn._rf import ReceptiveFieldMixin
from atrous.nn.conv import CausalConv1d
from atrous.stream.ir import Builder, Value, register_lowering

__all__ = ["GatedResidualBlock", "TemporalBlock"]


def _probability(where: str, arg: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise bad(where, arg, "a float in [0, 1)", value)
    return float(value)


def _child(name: str, attr: str) -> str:
    """Graph node name of a submodule: its qualified name below ``name``."""
    return f"{name}.{attr}" if name else attr


class TemporalBlock(ReceptiveFieldMixin, nn.Module):
    """The residual block of a temporal convolutional network (Bai, Kolter & Koltun 2018).

    Two causal dilated convolutions, each followed by ReLU and dropout; the block's input is added back (through
    a 1×1 convolution when the channel count changes) and the sum goes through a final ReLU::

        out = relu(dropout(relu(conv2(dropout(relu(conv1(x)))))) + downsample(x))

    Args:
        in_channels, out_channels: channels of the input and of the output.
        kernel_size: taps of both convolutions.
        dilation: dilation of both convolutions.
        dropout: elementwise dropout probability after each convolution's ReLU, in ``[0, 1)``.
        weight_norm: reparametrise both convolutions' weights with
            ``torch.nn.utils.parametrizations.weight_norm`` (as the paper does); :meth:`remove_weight_norm`
            bakes it into plain weights for export.

    The weights keep torch's default initialisation (locuslab/TCN's ``N(0, 0.01)`` is not reproduced).

    Shape:
        ``(B, C_in, L) -> (B, C_out, L)``; the receptive field is ``1 + 2 (kernel_size - 1) dilation``.

    >>> import torch
    >>> block = TemporalBlock(3, 8, kernel_size=3, dilation=4, dropout=0.1)
    >>> block(torch.randn(2, 3, 50)).shape, block.receptive_field().size, block.receptive_field().lookahead
    (torch.Size([2, 8, 50]), (17,), (0,))
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1,
                 dropout: float = 0.0, weight_norm: bool = False, device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        where = type(self).__name__
        for arg, value in (("in_channels", in_channels), ("out_channels", out_channels),
                           ("kernel_size", kernel_size), ("dilation", dilation)):
            positive_int(where, arg, value)
        self.dropout_p = _probability(where, "dropout", dropout)
        if not isinstance(weight_norm, bool):
            raise bad(where, "weight_norm", "a bool", weight_norm)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.dilation = kernel_size, dilation
        factory = {"device": device, "dtype": dtype}
        self.conv1 = CausalConv1d(in_channels, out_channels, kernel_size, dilation, **factory)
        self.conv2 = CausalConv1d(out_channels, out_channels, kernel_size, dilation, **factory)
        self.dropout = nn.Dropout(self.dropout_p)
        self.downsample = CausalConv1d(in_channels, out_channels, 1, **factory) if in_channels != out_channels \
            else None
        self.weight_norm = False
        if weight_norm:
            for conv in (self.conv1, self.conv2):
                parametrizations.weight_norm(conv, "weight")
            self.weight_norm = True

    def remove_weight_norm(self) -> TemporalBlock:
        """Bake the weight-norm parametrisation into plain weights (same outputs); returns ``self``.

        Plain weights script, deep-copy and export without the parametrisation machinery.
        """
        for conv in (self.conv1, self.conv2):
            if parametrize.is_parametrized(conv, "weight"):
                parametrize.remove_parametrizations(conv, "weight", leave_parametrized=True)
        self.weight_norm = False
        return self

    def forward(self, x: Tensor) -> Tensor:
        out = self.dropout(F.relu(self.conv1(x)))
        out = self.dropout(F.relu(self.conv2(out)))
        res = x if self.downsample is None else self.downsample(x)
        return F.relu(out + res)

    def rf_spec(self, graph: rf.Graph, src: int, name: str = "") -> int:
        """Add the block's receptive-field skeleton (two convs, a residual add) after node ``src``."""
        out = self.conv1.rf_spec(graph, src, _child(name, "conv1"))
        out = self.conv2.rf_spec(graph, out, _child(name, "conv2"))
        res = src if self.downsample is None else self.downsample.rf_spec(graph, src, _child(name, "downsample"))
        return graph.merge([out, res], op="add", name=_child(name, "add"))


    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"dropout={self.dropout_p}, weight_norm={self.weight_norm}")


@register_lowering(TemporalBlock)
def _lower_temporal_block(m: TemporalBlock, b: Builder, x: Value, name: str) -> Value:
    dropout = b.lower1(m.dropout, x, _child(name, "dropout"))  # registers the eval-mode check; dropout is identity
    del dropout
    out = b.act(b.lower1(m.conv1, x, _child(name, "conv1")), "relu")
    out = b.act(b.lower1(m.conv2, out, _child(name, "conv2")), "relu")
    res = x if m.downsample is None else b.lower1(m.downsample, x, _child(name, "downsample"))
    return b.act(b.add(out, res), "relu")


class GatedResidualBlock(nn.Module):
    """WaveNet's residual block (van den Oord et al. 2016): a gated causal dilated convolution with residual
    and skip outputs and optional conditioning.

    ::

        f, g = split(conv(x) + cond_conv(c))          # one causal dilated conv to 2 * gate_channels
        z = tanh(f) * sigmoid(g)
        residual_out = x + residual_conv(z)           # 1×1
        skip = skip_conv(z)                           # 1×1

    Args:
        residual_channels: channels of ``x`` and of ``residual_out``.
        gate_channels: channels of the gated activation ``z``.
        skip_channels: channels of ``skip``.
        kernel_size: taps of the dilated convolution (WaveNet uses 2).
        dilation: its dilation.
        cond_channels: channels of the conditioning input ``c``; None for an unconditioned block. ``c`` is
            ``(B, cond_channels, L)`` (local conditioning, already at the input's rate) or
            ``(B, cond_channels, 1)`` (global conditioning, broadcast over time). It enters through a 1×1
            convolution and is not part of the receptive field over ``x``.

    Returns:
        ``(residual_out, skip)``.

    Shape:
        ``(B, C_res, L) -> ((B, C_res, L), (B, C_skip, L))``; receptive field ``1 + (kernel_size - 1) dilation``.

    >>> import torch
    >>> block = GatedResidualBlock(16, 32, 8, dilation=4, cond_channels=5)
    >>> res, skip = block(torch.randn(2, 16, 30), torch.randn(2, 5, 1))
    >>> res.shape, skip.shape, block.receptive_field().size
    (torch.Size([2, 16, 30]), torch.Size([2, 8, 30]), (5,))
    """

    def __init__(self, residual_channels: int, gate_channels: int, skip_channels: int, kernel_size: int = 2,
                 dilation: int = 1, cond_channels: int | None = None, residual: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        where = type(self).__name__
        for arg, value in (("residual_channels", residual_channels), ("gate_channels", gate_channels),
                           ("skip_channels", skip_channels), ("kernel_size", kernel_size), ("dilation", dilation)):
            positive_int(where, arg, value)
        if cond_channels is not None:
            positive_int(where, "cond_channels", cond_channels)
        self.residual_channels, self.gate_channels, self.skip_channels = residual_channels, gate_channels, \
            skip_channels
        self.kernel_size, self.dilation, self.cond_channels = kernel_size, dilation, cond_channels
        factory = {"device": device, "dtype": dtype}
        self.conv = CausalConv1d(residual_channels, 2 * gate_channels, kernel_size, dilation, **factory)
        self.cond_conv = None if cond_channels is None else \
            CausalConv1d(cond_channels, 2 * gate_channels, 1, bias=False, **factory)
        # the last block of a WaveNet feeds only the skips: residual=False drops its unused 1x1 conv
        self.residual_conv = CausalConv1d(gate_channels, residual_channels, 1, **factory) if residual else None
        self.skip_conv = CausalConv1d(gate_channels, skip_channels, 1, **factory)

    def forward(self, x: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        h = self.conv(x)
        if isinstance(cond, fx.Proxy):  # torch.fx gives the optional argument a placeholder: trace without it
            cond = None
        if self.cond_conv is not None or cond is not None:
            h = h + self._conditioning(x, cond)
        c = self.gate_channels
        z = h[:, :c].tanh() * h[:, c:].sigmoid()
        res = x if self.residual_conv is None else x + self.residual_conv(z)
        return res, self.skip_conv(z)

    def _conditioning(self, x: Tensor, cond: Tensor | None) -> Tensor:
        where = type(self).__name__
        if self.cond_conv is None:
            shape = tuple(cond.shape) if isinstance(cond, Tensor) else cond
            raise ShapeError(f"{where}: cond must be None for a block built without cond_channels, got {shape!r}; "
                             "pass cond_channels=... to condition")
        ok = isinstance(cond, Tensor) and cond.dim() == 3 and cond.shape[0] == x.shape[0] and \
            cond.shape[1] == self.cond_channels and cond.shape[2] in (1, x.shape[2])
        if not ok:
            shape = tuple(cond.shape) if isinstance(cond, Tensor) else cond
            raise ShapeError(f"{where}: cond must be a (B, {self.cond_channels}, L) or (B, {self.cond_channels}, 1) "
                             f"tensor for an input of shape {tuple(x.shape)}, got {shape!r}")
        return self.cond_conv(cond)  # type: ignore[no-any-return]

    def rf_spec_outputs(self, graph: rf.Graph, src: int, name: str = "") -> tuple[int, int]:
        """Add the block's skeleton after ``src``; returns the nodes of ``(residual_out, skip)``."""
        gated = self.conv.rf_spec(graph, src, _child(name, "conv"))
        skip = self.skip_conv.rf_spec(graph, gated, _child(name, "skip_conv"))
        if self.residual_conv is None:
            return src, skip
        res = self.residual_conv.rf_spec(graph, gated, _child(name, "residual_conv"))
        out = graph.merge([res, src], op="add", name=_child(name, "add"))
        return out, skip

    def rf_spec(self, graph: rf.Graph, src: int, name: str = "") -> int:
        """Add the block's skeleton after ``src``; returns the ``residual_out`` node (see
        :meth:`rf_spec_outputs` for the skip node too)."""
        return self.rf_spec_outputs(graph, src, name)[0]

    def receptive_field(self, input_size: int | None = None, output: str = "residual") -> rf.RFResult:
        """:func:`atrous.rf.receptive_field` of this block alone, for ``output`` ``"residual"`` or ``"skip"``."""
        if output not in ("residual", "skip"):
            raise bad(f"{type(self).__name__}.receptive_field", "output", "'residual' or 'skip'", output)
        graph = rf.Graph(dims=1)
        res, skip = self.rf_spec_outputs(graph, graph.input)
        graph.set_output(res if output == "residual" else skip)
        return rf.receptive_field(graph, input_size)

    def extra_repr(self) -> str:
        return (f"residual_channels={self.residual_channels}, gate_channels={self.gate_channels}, "
                f"skip_channels={self.skip_channels}, kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"cond_channels={self.cond_channels}")


@register_lowering(GatedResidualBlock)
def _lower_gated_block(m: GatedResidualBlock, b: Builder, x: Value, name: str) -> tuple[Value, Value]:
    h = b.lower1(m.conv, x, _child(name, "conv"))
    if m.cond_conv is not None:  # the conditioning is a side input of the stream, shared by every block
        c = b.input("cond", m.cond_channels)
        h = b.add(h, b.lower1(m.cond_conv, c, _child(name, "cond_conv")))
    z = b.gate(h, "tanh")
    res = x if m.residual_conv is None else b.add(x, b.lower1(m.residual_conv, z, _child(name, "residual_conv")))
    return res, b.lower1(m.skip_conv, z, _child(name, "skip_conv"))
