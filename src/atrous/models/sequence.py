"""Causal sequence models: Bai et al.'s TCN and WaveNet. Both stream (``atrous.stream``) and never look ahead."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from atrous import rf
from atrous.errors import ConfigError
from atrous.models._registry import register_model
from atrous.nn._rf import ReceptiveFieldMixin
from atrous.nn.blocks import GatedResidualBlock, TemporalBlock
from atrous.nn.conv import CausalConv1d
from atrous.stream.ir import Builder, Value, register_lowering

__all__ = ["TCN", "WaveNet"]


def _positive(where: str, arg: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{where}: {arg} must be a positive int, got {value!r}")
    return value


#: the initialisations :class:`TCN` offers
INITS = ("default", "bai")


@register_model("tcn", description="Bai et al. (2018) TCN: levels of two causal dilated convs + residual",
                causal=True, input_shape=(2, 1, 128), tags=("sequence",))
class TCN(ReceptiveFieldMixin, nn.Module):
    """Temporal convolutional network: level ``i`` is a :class:`~atrous.nn.TemporalBlock` with dilation ``2**i``
    (or ``dilations[i]``).

    Args:
        in_channels: input features per time step.
        channels: output channels of each level (one entry per level).
        kernel_size: taps of every causal conv.
        dropout: dropout inside the blocks.
        out_channels: optional 1x1 head (per time step, so still causal).
        weight_norm: weight normalisation on the convs, as in the paper.
        dilations: the dilation of each level (one positive int per level); ``None`` is Bai et al.'s ``2**i``.
            Dilations do not change the parameter count, only where the taps land (e.g. ``1, 4, 16`` for a
            beat of 4 frames and a bar of 4 beats).
        init: ``"default"`` (PyTorch's) or ``"bai"``, what locuslab/TCN's code ends up with: the 1x1
            residual projections and the head drawn from N(0, 0.01), and the causal convs too unless
            ``weight_norm`` (their N(0, 0.01) is overwritten by the weight-norm reparametrisation there,
            locuslab/TCN issue #1, so they keep PyTorch's init).

    Shape:
        ``(B, in_channels, L) -> (B, out_channels or channels[-1], L)``; receptive field
        ``1 + 2 (k - 1) sum(dilations)``, which is ``1 + 2 (k - 1) (2^levels - 1)`` by default.

    >>> TCN(channels=(8, 8, 8), kernel_size=3).receptive_field().size
    (29,)
    >>> TCN(channels=(8, 8, 8), kernel_size=3, dilations=(1, 4, 16)).receptive_field().size
    (85,)
    """

    def __init__(self, in_channels: int = 1, channels: Sequence[int] = (32, 32, 32, 32), kernel_size: int = 3,
                 dropout: float = 0.0, out_channels: int | None = None, weight_norm: bool = False,
                 dilations: Sequence[int] | None = None, init: str = "default") -> None:
        super().__init__()
        _positive("TCN", "in_channels", in_channels)
        if init not in INITS:
            raise ConfigError(f"TCN: init must be one of {', '.join(INITS)}, got {init!r}")
        if isinstance(channels, int) or not channels:
            raise ConfigError(f"TCN: channels must be a non-empty list (one entry per level), got {channels!r}")
        widths = [_positive("TCN", "channels", c) for c in channels]
        if dilations is None:
            rates = [2**i for i in range(len(widths))]
        elif isinstance(dilations, int) or len(dilations) != len(widths):
            raise ConfigError(f"TCN: dilations must be a list of {len(widths)} positive ints (one per level, like "
                              f"channels), got {dilations!r}")
        else:
            rates = [_positive("TCN", "dilations", d) for d in dilations]
        self.levels = nn.ModuleList(
            TemporalBlock(c_in, c_out, kernel_size, dilation=d, dropout=dropout, weight_norm=weight_norm)
            for c_in, c_out, d in zip([in_channels, *widths[:-1]], widths, rates)
        )
        self.head = None if out_channels is None else nn.Conv1d(widths[-1], _positive("TCN", "out_channels",
                                                                                      out_channels), 1)
        if init == "bai":
            with torch.no_grad():
                for level in self.levels:
                    assert isinstance(level, TemporalBlock)
                    small = [level.downsample] + ([] if weight_norm else [level.conv1, level.conv2])
                    for conv in small:
                        if conv is not None:
                            conv.weight.normal_(0.0, 0.01)
                if self.head is not None:
                    self.head.weight.normal_(0.0, 0.01)

    def load_pytorch_tcn_state_dict(self, state_dict: Mapping[str, Tensor], strict: bool = True) -> TCN:
        """Load a pytorch-tcn ``TCN`` checkpoint (``peer.state_dict()``) into this model; returns ``self``.

        Renames ``network.`` to ``levels.`` and ``projection_out.`` to ``head.`` and drops pytorch-tcn's streaming
        buffers (``*.padder.buffer``). The model must have the peer's architecture: see "Moving from pytorch-tcn"
        in ``docs/stream.md`` for the arguments that give it (``kernel_size=4, dropout=0.1, weight_norm=True``
        for the peer's defaults). Parameters that have no counterpart raise, as ``load_state_dict`` does.

        >>> import pytorch_tcn  # doctest: +SKIP
        >>> peer = pytorch_tcn.TCN(1, [32] * 4)  # doctest: +SKIP
        >>> ours = TCN(1, [32] * 4, kernel_size=4, dropout=0.1, weight_norm=True)  # doctest: +SKIP
        >>> ours.load_pytorch_tcn_state_dict(peer.state_dict())  # doctest: +SKIP
        """
        renamed = {}
        for key, value in state_dict.items():
            if key.endswith("padder.buffer"):
                continue
            for old, new in (("network.", "levels."), ("projection_out.", "head.")):
                if key.startswith(old):
                    key = new + key[len(old):]
            renamed[key] = value
        self.load_state_dict(renamed, strict=strict)
        return self

    def forward(self, x: Tensor) -> Tensor:
        for level in self.levels:
            x = level(x)
        return x if self.head is None else self.head(x)

    def rf_spec(self, graph: rf.Graph, src: int, name: str = "") -> int:
        for i, level in enumerate(self.levels.children()):
            assert isinstance(level, TemporalBlock)
            src = level.rf_spec(graph, src, f"level{i}")
        return src if self.head is None else graph.add(rf.conv(1), src, name="head")


@register_lowering(TCN)
def _lower_tcn(m: TCN, b: Builder, x: Value, name: str) -> Value:
    sub = f"{name}." if name else ""
    for i, level in enumerate(m.levels):
        x = b.lower1(level, x, f"{sub}levels.{i}")
    return x if m.head is None else b.lower1(m.head, x, f"{sub}head")


@register_model("wavenet", description="WaveNet: cycles of gated residual blocks, dilations 1..2^(n-1), skips",
                causal=True, input_shape=(2, 1, 600), tags=("sequence",))
class WaveNet(ReceptiveFieldMixin, nn.Module):
    """van den Oord et al. (2016): a causal input conv, then ``cycles`` x ``layers_per_cycle`` gated residual
    blocks with dilations ``1, 2, ..., 2**(layers_per_cycle-1)``, skip connections summed into a 1x1 head.

    Shape:
        ``(B, in_channels, L) -> (B, out_channels, L)``; receptive field
        ``kernel_size + (kernel_size - 1) * cycles * (2**layers_per_cycle - 1)`` (the input conv adds
        ``kernel_size - 1``: WaveNet's 1024 becomes 1025, as in tensorflow-wavenet).

    >>> WaveNet(cycles=1, layers_per_cycle=10).receptive_field().size
    (1025,)
    """

    def __init__(self, in_channels: int = 1, residual_channels: int = 32, gate_channels: int = 32,
                 skip_channels: int = 32, out_channels: int = 1, cycles: int = 2, layers_per_cycle: int = 8,
                 kernel_size: int = 2, cond_channels: int | None = None) -> None:
        super().__init__()
        for arg, v in (("in_channels", in_channels), ("out_channels", out_channels), ("cycles", cycles),
                       ("layers_per_cycle", layers_per_cycle)):
            _positive("WaveNet", arg, v)
        self.stem = CausalConv1d(in_channels, residual_channels, kernel_size)
        n = cycles * layers_per_cycle
        self.blocks = nn.ModuleList(
            GatedResidualBlock(residual_channels, gate_channels, skip_channels, kernel_size,
                               dilation=2 ** (j % layers_per_cycle), cond_channels=cond_channels,
                               residual=j < n - 1)
            for j in range(n)
        )
        self.head = nn.Sequential(nn.ReLU(), nn.Conv1d(skip_channels, skip_channels, 1), nn.ReLU(),
                                  nn.Conv1d(skip_channels, out_channels, 1))

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        h = self.stem(x)
        total: Tensor | None = None
        for block in self.blocks:
            h, skip = block(h, cond)
            total = skip if total is None else total + skip
        assert total is not None
        out: Tensor = self.head(total)
        return out

    def rf_spec(self, graph: rf.Graph, src: int, name: str = "") -> int:
        h = self.stem.rf_spec(graph, src, "stem")
        skips = []
        for i, block in enumerate(self.blocks.children()):
            assert isinstance(block, GatedResidualBlock)
            h, skip = block.rf_spec_outputs(graph, h, f"block{i}")
            skips.append(skip)
        total = skips[0] if len(skips) == 1 else graph.merge(skips, op="add", name="skips")
        return graph.add(rf.conv(1), total, name="head")


@register_lowering(WaveNet)
def _lower_wavenet(m: WaveNet, b: Builder, x: Value, name: str) -> Value:
    sub = f"{name}." if name else ""
    h = b.lower1(m.stem, x, f"{sub}stem")
    skips = []
    for i, block in enumerate(m.blocks):
        out = b.lower(block, h, f"{sub}blocks.{i}")
        assert isinstance(out, tuple)
        h = out[0]
        skips.append(out[1])
    return b.lower1(m.head, b.add(*skips) if len(skips) > 1 else skips[0], f"{sub}head")
