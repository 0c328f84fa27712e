"""Dilated towers for DNA: a SpliceAI-style residual tower and a BPNet-style profile model.

Inputs are one-hot DNA ``(B, 4, L)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from atrous import rf
from atrous._validate import positive_int
from atrous.errors import ConfigError, ShapeError
from atrous.models._registry import register_model
from atrous.nn._rf import ReceptiveFieldMixin
from atrous.nn.conv import DilatedConv1d

__all__ = ["BPNet", "ResidualUnit", "SpliceAI"]


class ResidualUnit(nn.Module):
    """SpliceAI's residual unit: BN-ReLU-conv, BN-ReLU-conv (dilated, "same"), plus the input."""

    def __init__(self, channels: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm1d(channels)
        self.conv1 = DilatedConv1d(channels, channels, kernel_size, dilation=dilation, padding="same")
        self.bn2 = nn.BatchNorm1d(channels)
        self.conv2 = DilatedConv1d(channels, channels, kernel_size, dilation=dilation, padding="same")

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(F.relu(self.bn1(x)))
        out: Tensor = x + self.conv2(F.relu(self.bn2(h)))
        return out

    def rf_spec(self, graph: rf.Graph, src: int, name: str = "") -> int:
        h = self.conv1.rf_spec(graph, src, f"{name}.conv1")
        h = self.conv2.rf_spec(graph, h, f"{name}.conv2")
        return graph.merge([h, src], op="add", name=f"{name}.add")


def _positive(where: str, arg: str, value: object) -> int:
    return positive_int(where, arg, value)


class SpliceAI(ReceptiveFieldMixin, nn.Module):
    """Jaganathan et al. (2019): groups of residual units with growing kernels and dilations, a 1x1 skip from
    every group, and an automatic crop of the flanking context so that every output sees its whole window.

    Args:
        in_channels: 4 for one-hot DNA.
        channels: width of the tower (32 in the paper).
        kernel_sizes, dilations: one entry per group (odd kernels).
        units_per_group: residual units per group (4 in the paper).
        out_channels: 3 (neither / acceptor / donor).
        crop: drop ``(RF - 1) / 2`` positions at each end, so outputs are only produced where the full
            context is present (the paper's setting); False keeps every position ("same").

    Shape:
        ``(B, 4, L) -> (B, out_channels, L - (RF - 1))`` with ``crop``, else ``(B, out_channels, L)``.

    >>> m = SpliceAI()
    >>> m.receptive_field().size, m(torch.randn(2, 4, 100)).shape
    ((81,), torch.Size([2, 3, 20]))
    """

    def __init__(self, in_channels: int = 4, channels: int = 32, kernel_sizes: Sequence[int] = (11,),
                 dilations: Sequence[int] = (1,), units_per_group: int = 4, out_channels: int = 3,
                 crop: bool = True) -> None:
        super().__init__()
        where = "SpliceAI"
        for arg, v in (("in_channels", in_channels), ("channels", channels), ("out_channels", out_channels),
                       ("units_per_group", units_per_group)):
            _positive(where, arg, v)
        if len(kernel_sizes) != len(dilations) or not kernel_sizes:
            raise ConfigError(f"{where}: kernel_sizes and dilations must be non-empty and of equal length, got "
                              f"{list(kernel_sizes)} and {list(dilations)}")
        for k in kernel_sizes:
            if _positive(where, "kernel_sizes", k) % 2 == 0:
                raise ConfigError(f"{where}: kernel_sizes must be odd (centred windows), got {k}")
        self.stem = nn.Conv1d(in_channels, channels, 1)
        self.skip0 = nn.Conv1d(channels, channels, 1)
        self.groups = nn.ModuleList(
            nn.Sequential(*[ResidualUnit(channels, k, _positive(where, "dilations", d))
                            for _ in range(units_per_group)])
            for k, d in zip(kernel_sizes, dilations)
        )
        self.skips = nn.ModuleList(nn.Conv1d(channels, channels, 1) for _ in kernel_sizes)
        self.head = nn.Conv1d(channels, out_channels, 1)
        self.crop = crop
        self.context = sum(2 * (k - 1) * d * units_per_group for k, d in zip(kernel_sizes, dilations))

    def forward(self, x: Tensor) -> Tensor:
        if self.crop and not isinstance(x, torch.fx.Proxy) and x.shape[-1] <= self.context:
            raise ShapeError(f"SpliceAI: input length must exceed the context {self.context} (receptive field "
                             f"{self.context + 1}) when crop=True, got {x.shape[-1]}")
        h = self.stem(x)
        skip = self.skip0(h)
        for group, conv in zip(self.groups, self.skips):
            h = group(h)
            skip = skip + conv(h)
        out: Tensor = self.head(skip)
        if self.crop and self.context:
            half = self.context // 2
            out = out[:, :, half: out.shape[-1] - half]
        return out

    def rf_spec(self, graph: rf.Graph, src: int, name: str = "") -> int:
        h = graph.add(rf.conv(1), src, name="stem")
        skip = graph.add(rf.conv(1), h, name="skip0")
        for g, group in enumerate(self.groups):
            for u, unit in enumerate(group.children()):
                assert isinstance(unit, ResidualUnit)
                h = unit.rf_spec(graph, h, f"group{g}.unit{u}")
            skip = graph.merge([skip, graph.add(rf.conv(1), h, name=f"skip{g + 1}")], op="add",
                               name=f"skip_add{g + 1}")
        out = graph.add(rf.conv(1), skip, name="head")
        if self.crop and self.context:
            out = graph.add(rf.crop([(self.context // 2, self.context // 2)]), out, name="crop")
        return out


register_model("spliceai", description="SpliceAI-80nt: 4 residual units, k=11, d=1 (RF 81)",
               input_shape=(2, 4, 200), tags=("genomics",))(SpliceAI)


@register_model("spliceai_10k", description="SpliceAI-10k: k=11,11,21,41, d=1,4,10,25, 16 units (RF 10,001)",
                input_shape=(1, 4, 10_101), tags=("genomics",))
def spliceai_10k(in_channels: int = 4, channels: int = 32, kernel_sizes: Sequence[int] = (11, 11, 21, 41),
                 dilations: Sequence[int] = (1, 4, 10, 25), units_per_group: int = 4, out_channels: int = 3,
                 crop: bool = True) -> SpliceAI:
    """The SpliceAI-10k preset of :class:`SpliceAI`."""
    return SpliceAI(in_channels, channels, kernel_sizes, dilations, units_per_group, out_channels, crop)


class BPNet(ReceptiveFieldMixin, nn.Module):
    """A BPNet-style profile model (Avsec et al. 2021): a wide first conv, dilated residual convs with rates
    2, 4, ..., a per-position profile head and a global count head.

    Returns ``(profile, counts)``: ``(B, tasks * strands, L)`` logits and ``(B, tasks * strands)`` log counts.

    >>> m = BPNet(channels=8, n_dilated=3)
    >>> [t.shape for t in m(torch.randn(2, 4, 64))], m.receptive_field().size
    ([torch.Size([2, 2, 64]), torch.Size([2, 2])], (77,))
    """

    def __init__(self, in_channels: int = 4, channels: int = 64, first_kernel: int = 25, n_dilated: int = 9,
                 profile_kernel: int = 25, tasks: int = 1, strands: int = 2) -> None:
        super().__init__()
        where = "BPNet"
        for arg, v in (("in_channels", in_channels), ("channels", channels), ("first_kernel", first_kernel),
                       ("n_dilated", n_dilated), ("profile_kernel", profile_kernel), ("tasks", tasks),
                       ("strands", strands)):
            _positive(where, arg, v)
        self.first = DilatedConv1d(in_channels, channels, first_kernel, padding="same")
        self.dilated = nn.ModuleList(DilatedConv1d(channels, channels, 3, dilation=2 ** (i + 1), padding="same")
                                     for i in range(n_dilated))
        self.profile = DilatedConv1d(channels, tasks * strands, profile_kernel, padding="same")
        self.counts = nn.Linear(channels, tasks * strands)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        h = F.relu(self.first(x))
        for conv in self.dilated:
            h = h + F.relu(conv(h))
        return self.profile(h), self.counts(h.mean(dim=-1))

    def rf_spec(self, graph: rf.Graph, src: int, name: str = "") -> int:
        """The profile output's skeleton (the count head is global)."""
        h = self.first.rf_spec(graph, src, "first")
        for i, conv in enumerate(self.dilated.children()):
            assert isinstance(conv, DilatedConv1d)
            h = graph.merge([h, conv.rf_spec(graph, h, f"dilated{i}")], op="add", name=f"add{i}")
        return self.profile.rf_spec(graph, h, "profile")


register_model("bpnet", description="BPNet-style profile model: k=25, 9 dilated residual convs (RF 2093)",
               input_shape=(2, 4, 2200), tags=("genomics",))(BPNet)

