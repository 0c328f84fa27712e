"""Baselines for the dilated DNA tower (the ``enhancer`` task, docs/train.md "DNA"): the same residual units
without dilation, and with max-pooling instead of dilation.

* ``undilated_tower``: :class:`~atrous.models.genomics.SpliceAI` with one residual unit per group and every
  dilation 1: the dilated tower's depth, width and parameters, receptive field ``1 + 2 (k - 1) depth``.
* ``pooled_tower``: :class:`PooledTower`, the same residual units with a max-pool of 2 after each of the first
  ``pools`` units (a Basenji-style trunk): the receptive field grows like the dilated tower's, but the output
  has one value per ``2 ** pools`` bp.
"""

from __future__ import annotations

from torch import Tensor, nn

from atrous import rf
from atrous.errors import bad
from atrous.models._registry import register_model
from atrous.models.genomics import ResidualUnit, SpliceAI, _positive
from atrous.nn._rf import ReceptiveFieldMixin

__all__ = ["PooledTower", "undilated_tower"]


@register_model("undilated_tower", description="SpliceAI-style residual tower, every dilation 1 (RF 45 at depth 11)",
                input_shape=(2, 4, 200), tags=("genomics",))
def undilated_tower(in_channels: int = 4, out_channels: int = 1, channels: int = 16, depth: int = 11,
                    kernel_size: int = 3, first_kernel: int | None = None) -> SpliceAI:
    """``depth`` residual units of two ``kernel_size`` convolutions at dilation 1, ``"same"`` padding, a 1×1
    skip from every unit (:class:`~atrous.models.genomics.SpliceAI`, ``crop=False``); ``first_kernel`` (default
    ``kernel_size``) is the kernel of the first unit (a motif-sized one: 15 on the ``enhancer`` task).

    Shape:
        ``(B, in_channels, L) -> (B, out_channels, L)``; receptive field
        ``1 + 2 (first_kernel - 1) + 2 (kernel_size - 1) (depth - 1)``.

    >>> import torch
    >>> m = undilated_tower()
    >>> m(torch.randn(2, 4, 100)).shape, m.receptive_field().size
    (torch.Size([2, 1, 100]), (45,))
    """
    _positive("undilated_tower", "depth", depth)
    first = kernel_size if first_kernel is None else first_kernel
    return SpliceAI(in_channels, channels, (first,) + (kernel_size,) * (depth - 1), (1,) * depth, units_per_group=1,
                    out_channels=out_channels, crop=False)


@register_model("pooled_tower", description="residual units with a max-pool of 2 after each of the first `pools`",
                input_shape=(2, 4, 256), tags=("genomics",))
class PooledTower(ReceptiveFieldMixin, nn.Module):
    """A stem 1×1 convolution, ``depth`` :class:`~atrous.models.genomics.ResidualUnit` s (two ``kernel_size``
    convolutions at dilation 1 each), a ``MaxPool1d(2)`` after each of the first ``pools`` units, and a 1×1
    head. Output ``i`` describes the input bins ``i * 2 ** pools .. (i + 1) * 2 ** pools - 1``: read a position
    ``p`` at index ``p // 2 ** pools``.

    Args:
        in_channels: 4 for one-hot DNA.
        out_channels: output channels.
        channels: width of every unit.
        depth: residual units (two convolutions each).
        pools: units followed by a max-pool of 2 (``0 <= pools <= depth``).
        kernel_size: odd kernel of every convolution.
        first_kernel: odd kernel of the first unit (default ``kernel_size``).

    Shape:
        ``(B, in_channels, L) -> (B, out_channels, L // 2 ** pools)``.

    >>> import torch
    >>> m = PooledTower(depth=4, pools=2)
    >>> m(torch.randn(2, 4, 64)).shape, m.receptive_field().size, m.receptive_field().jump
    (torch.Size([2, 1, 16]), (48,), (4,))
    """

    def __init__(self, in_channels: int = 4, out_channels: int = 1, channels: int = 16, depth: int = 6,
                 pools: int = 4, kernel_size: int = 3, first_kernel: int | None = None) -> None:
        super().__init__()
        where = type(self).__name__
        for arg, v in (("in_channels", in_channels), ("out_channels", out_channels), ("channels", channels),
                       ("depth", depth), ("kernel_size", kernel_size)):
            _positive(where, arg, v)
        first = kernel_size if first_kernel is None else _positive(where, "first_kernel", first_kernel)
        for arg, k in (("kernel_size", kernel_size), ("first_kernel", first)):
            if k % 2 == 0:
                raise bad(where, arg, "an odd int (centred windows)", k)
        if not isinstance(pools, int) or isinstance(pools, bool) or not 0 <= pools <= depth:
            raise bad(where, "pools", f"an int in 0..depth ({depth})", pools)
        self.pools = pools
        self.stem = nn.Conv1d(in_channels, channels, 1)
        self.units = nn.ModuleList(ResidualUnit(channels, first if i == 0 else kernel_size, 1) for i in range(depth))
        self.pool = nn.MaxPool1d(2)
        self.head = nn.Conv1d(channels, out_channels, 1)

    @property
    def step(self) -> int:
        """Input bp per output position."""
        return int(2 ** self.pools)

    def forward(self, x: Tensor) -> Tensor:
        h = self.stem(x)
        for i, unit in enumerate(self.units):
            h = unit(h)
            if i < self.pools:
                h = self.pool(h)
        out: Tensor = self.head(h)
        return out

    def rf_spec(self, graph: rf.Graph, src: int, name: str = "") -> int:
        h = graph.add(rf.conv(1), src, name="stem")
        for i, unit in enumerate(self.units.children()):
            assert isinstance(unit, ResidualUnit)
            h = unit.rf_spec(graph, h, f"units.{i}")
            if i < self.pools:
                h = graph.add(rf.pool(2), h, name=f"pool{i}")
        return graph.add(rf.conv(1), h, name="head")

    def extra_repr(self) -> str:
        return f"pools={self.pools}, step={self.step}"
