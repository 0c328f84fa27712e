"""Turn a causal model into a streaming plan: a tree of nodes, each of which runs one chunk given its layers'
buffers, and a flat list of buffer slots (one per convolution that reads the past).

The plan holds the model's own modules, so a later ``load_state_dict`` or ``.double()`` is seen by the next step;
only the structure (which layers exist, their kernels, dilations and padding) is fixed when the plan is built.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from atrous.errors import ConfigError, UnsupportedOpError
from atrous.models.sequence import TCN, WaveNet
from atrous.nn.blocks import GatedResidualBlock, TemporalBlock
from atrous.nn.conv import DilatedConv1d

__all__ = ["Plan", "Slot", "build_plan"]

# modules that act on each time step alone (given eval mode where it matters): streamed by calling them
_POINTWISE: tuple[type[nn.Module], ...] = (
    nn.Identity, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Tanh, nn.Sigmoid, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.Softplus, nn.Softsign, nn.Tanhshrink,
)


@dataclass(frozen=True)
class Slot:
    """One buffer of the streaming state: the last ``length`` input samples of the layer ``name``."""

    name: str
    channels: int
    length: int


class _Node:
    in_channels: int | None = None

    def run(self, x: Tensor, old: tuple[Tensor, ...], new: list[Tensor]) -> Tensor:
        raise NotImplementedError


def _label(name: str, module: nn.Module) -> str:
    return f"{name or '<model>'!r} ({type(module).__name__})"


class _Conv(_Node):
    """A causal convolution: prepend the buffer (the last ``pad`` inputs), convolve without padding."""

    def __init__(self, conv: nn.Module, slot: int | None, pad: int, dilation: int, groups: int,
                 in_channels: int) -> None:
        self.conv, self.slot, self.pad = conv, slot, pad
        self.dilation, self.groups, self.in_channels = dilation, groups, in_channels

    def weight_bias(self) -> tuple[Tensor, Tensor | None]:
        """The weight (a weight-norm parametrisation computes it here, once per step) and the bias."""
        weight, bias = self.conv.weight, self.conv.bias
        assert isinstance(weight, Tensor) and (bias is None or isinstance(bias, Tensor))
        return weight, bias

    def run(self, x: Tensor, old: tuple[Tensor, ...], new: list[Tensor]) -> Tensor:
        weight, bias = self.weight_bias()
        if self.slot is None:
            return F.conv1d(x, weight, bias, 1, 0, 1, self.groups)
        length = x.shape[2]
        x = torch.cat([old[self.slot], x], dim=2)
        new[self.slot] = x[:, :, x.shape[2] - self.pad:]
        if self.groups != 1:
            return F.conv1d(x, weight, bias, 1, 0, self.dilation, self.groups)
        # gather the k taps and contract: F.conv1d is slow for large dilations over a long buffer
        d = self.dilation
        taps = torch.stack([x[:, :, j * d:j * d + length] for j in range(weight.shape[2])], dim=2)
        y = torch.einsum("bckt,ock->bot", taps, weight)
        return y if bias is None else y + bias[:, None]


class _Pointwise(_Node):
    def __init__(self, module: nn.Module, name: str) -> None:
        self.module, self.name = module, name

    def check_eval(self) -> None:
        """Raise where the module's output would depend on the batch or on chance (training mode)."""
        m = self.module
        if m.training and (isinstance(m, nn.modules.batchnorm._BatchNorm) or
                           (isinstance(m, nn.Dropout) and m.p > 0)):
            raise ConfigError(f"stream: {_label(self.name, m)} must be in eval mode to stream (its output depends "
                              "on the whole batch or on chance in training mode); call model.eval()")

    def run(self, x: Tensor, old: tuple[Tensor, ...], new: list[Tensor]) -> Tensor:
        self.check_eval()
        out: Tensor = self.module(x)
        return out


class _Sequential(_Node):
    def __init__(self, children: list[_Node]) -> None:
        self.children = children
        self.in_channels = next((c.in_channels for c in children if c.in_channels is not None), None)

    def run(self, x: Tensor, old: tuple[Tensor, ...], new: list[Tensor]) -> Tensor:
        for child in self.children:
            x = child.run(x, old, new)
        return x


class _Temporal(_Node):
    def __init__(self, block: TemporalBlock, conv1: _Node, conv2: _Node, down: _Node | None,
                 dropout: _Pointwise) -> None:
        self.conv1, self.conv2, self.down, self.dropout = conv1, conv2, down, dropout
        self.in_channels = block.in_channels

    def run(self, x: Tensor, old: tuple[Tensor, ...], new: list[Tensor]) -> Tensor:
        out = self.dropout.run(F.relu(self.conv1.run(x, old, new)), old, new)
        out = self.dropout.run(F.relu(self.conv2.run(out, old, new)), old, new)
        res = x if self.down is None else self.down.run(x, old, new)
        return F.relu(out + res)


class _Gated(_Node):
    """A gated residual block; returns ``cat([residual_out, skip], 1)`` split by the caller."""

    def __init__(self, block: GatedResidualBlock, conv: _Node, res: _Node | None, skip: _Node) -> None:
        self.conv, self.res, self.skip = conv, res, skip
        self.gate = block.gate_channels
        self.in_channels = block.residual_channels

    def run2(self, x: Tensor, old: tuple[Tensor, ...], new: list[Tensor]) -> tuple[Tensor, Tensor]:
        h = self.conv.run(x, old, new)
        z = h[:, :self.gate].tanh() * h[:, self.gate:].sigmoid()
        res = x if self.res is None else x + self.res.run(z, old, new)
        return res, self.skip.run(z, old, new)

    def run(self, x: Tensor, old: tuple[Tensor, ...], new: list[Tensor]) -> Tensor:
        return self.run2(x, old, new)[0]


class _TCN(_Node):
    def __init__(self, levels: list[_Node], head: _Node | None) -> None:
        self.levels, self.head = levels, head
        self.in_channels = levels[0].in_channels

    def run(self, x: Tensor, old: tuple[Tensor, ...], new: list[Tensor]) -> Tensor:
        for level in self.levels:
            x = level.run(x, old, new)
        return x if self.head is None else self.head.run(x, old, new)


class _WaveNet(_Node):
    def __init__(self, stem: _Node, blocks: list[_Gated], head: _Node) -> None:
        self.stem, self.blocks, self.head = stem, blocks, head
        self.in_channels = stem.in_channels

    def run(self, x: Tensor, old: tuple[Tensor, ...], new: list[Tensor]) -> Tensor:
        h = self.stem.run(x, old, new)
        total: Tensor | None = None
        for block in self.blocks:
            h, skip = block.run2(h, old, new)
            total = skip if total is None else total + skip
        assert total is not None  # WaveNet has at least one block
        return self.head.run(total, old, new)


@dataclass
class Plan:
    """A model's streaming program and the layout of its state."""

    root: _Node
    slots: list[Slot]

    @property
    def in_channels(self) -> int | None:
        return self.root.in_channels


class _Builder:
    def __init__(self) -> None:
        self.slots: list[Slot] = []

    def conv(self, m: nn.Module, name: str) -> _Node:
        if isinstance(m, DilatedConv1d):
            (left, right), = m.padding
            k, d, s = m.kernel_size[0], m.dilation[0], m.stride[0]
            groups, in_channels = m.groups, m.in_channels
        else:
            assert isinstance(m, nn.Conv1d)
            k, d, s = m.kernel_size[0], m.dilation[0], m.stride[0]
            groups, in_channels = m.groups, m.in_channels
            if m.padding == "same":
                left = (k - 1) * d // 2
                right = (k - 1) * d - left
            elif m.padding == "valid":
                left = right = 0
            else:
                left = right = int(m.padding[0])
            if m.padding_mode != "zeros" and left + right > 0:
                raise UnsupportedOpError(f"stream: {_label(name, m)} pads with {m.padding_mode!r}; streaming needs "
                                         "zero padding")
        span = (k - 1) * d
        if right > 0:
            raise UnsupportedOpError(f"stream: {_label(name, m)} looks ahead: padding (left, right) = "
                                     f"({left}, {right}); streaming needs causal padding (left={span}, right=0)")
        if s != 1:
            raise UnsupportedOpError(f"stream: {_label(name, m)} has stride {s}; only stride 1 streams")
        if left != span:
            raise UnsupportedOpError(f"stream: {_label(name, m)} changes the length: padding (left, right) = "
                                     f"({left}, {right}); streaming needs causal padding (left={span}, right=0)")
        slot = None
        if span > 0:
            slot = len(self.slots)
            self.slots.append(Slot(name, in_channels, span))
        return _Conv(m, slot, span, d, groups, in_channels)

    def build(self, m: nn.Module, name: str) -> _Node:
        if isinstance(m, (DilatedConv1d, nn.Conv1d)):
            return self.conv(m, name)
        if isinstance(m, _POINTWISE) or isinstance(m, (nn.Dropout, nn.BatchNorm1d)):
            if isinstance(m, nn.BatchNorm1d) and not m.track_running_stats:
                raise UnsupportedOpError(f"stream: {_label(name, m)} has no running statistics "
                                         "(track_running_stats=False), so it mixes time steps")
            return _Pointwise(m, name)
        sub = f"{name}." if name else ""
        if isinstance(m, nn.Sequential):
            return _Sequential([self.build(c, f"{sub}{n}") for n, c in m.named_children()])
        if isinstance(m, TemporalBlock):
            conv1 = self.build(m.conv1, f"{sub}conv1")
            conv2 = self.build(m.conv2, f"{sub}conv2")
            down = None if m.downsample is None else self.build(m.downsample, f"{sub}downsample")
            return _Temporal(m, conv1, conv2, down, _Pointwise(m.dropout, f"{sub}dropout"))
        if isinstance(m, GatedResidualBlock):
            return self.gated(m, name)
        if isinstance(m, TCN):
            levels = [self.build(c, f"{sub}levels.{i}") for i, c in enumerate(m.levels)]
            return _TCN(levels, None if m.head is None else self.build(m.head, f"{sub}head"))
        if isinstance(m, WaveNet):
            stem = self.build(m.stem, f"{sub}stem")
            blocks = [self.gated(b, f"{sub}blocks.{i}") for i, b in enumerate(m.blocks)]
            return _WaveNet(stem, blocks, self.build(m.head, f"{sub}head"))
        raise UnsupportedOpError(f"stream: {_label(name, m)} is not supported; streaming supports causal "
                                 "DilatedConv1d/CausalConv1d, 1x1 Conv1d, pointwise activations, Dropout and "
                                 "BatchNorm1d (eval), TemporalBlock, GatedResidualBlock, TCN, WaveNet, nn.Sequential")

    def gated(self, m: nn.Module, name: str) -> _Gated:
        assert isinstance(m, GatedResidualBlock)
        if m.cond_conv is not None:
            raise UnsupportedOpError(f"stream: {_label(name, m)} is conditioned (cond_channels="
                                     f"{m.cond_channels}); streaming with conditioning is not supported yet")
        sub = f"{name}." if name else ""
        conv = self.build(m.conv, f"{sub}conv")
        res = None if m.residual_conv is None else self.build(m.residual_conv, f"{sub}residual_conv")
        return _Gated(m, conv, res, self.build(m.skip_conv, f"{sub}skip_conv"))


_CACHE: weakref.WeakKeyDictionary[nn.Module, Plan] = weakref.WeakKeyDictionary()


def build_plan(model: nn.Module) -> Plan:
    """The streaming plan of ``model`` (cached per model object); raises for layers that cannot stream."""
    if not isinstance(model, nn.Module):
        raise ConfigError(f"stream: model must be an nn.Module, got {type(model).__name__}")
    plan = _CACHE.get(model)
    if plan is None:
        builder = _Builder()
        root = builder.build(model, "")
        plan = Plan(root, builder.slots)
        _CACHE[model] = plan
    return plan
