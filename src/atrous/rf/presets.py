"""Layer-spec graphs of well-known dilated architectures, for ``atrous rf --preset`` and for checking.

Each builder returns a :class:`~atrous.rf.graph.Graph` of the receptive-field skeleton: convolutions and
pooling with their kernel, stride, dilation and padding, and the merges; channel counts do not matter here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from atrous.errors import bad
from atrous.rf.graph import Graph
from atrous.rf.layer import conv, global_pool

__all__ = ["PRESETS", "aspp", "context_module", "preset", "spliceai", "tcn", "wavenet"]


def wavenet(cycles: int = 1, layers_per_cycle: int = 10) -> Graph:
    """WaveNet (van den Oord et al. 2016): causal k=2 convs with dilations 1, 2, ..., 2**(n-1), repeated.

    Residual adds do not change the receptive field of the deepest path, so the skeleton is a chain.

    >>> from atrous.rf import receptive_field
    >>> receptive_field(wavenet()).size
    (1024,)
    """
    g = Graph(dims=1)
    for c in range(cycles):
        for i in range(layers_per_cycle):
            g.add(conv(2, dilation=2**i, padding="causal"), name=f"c{c + 1}.d{2**i}")
    return g


def tcn(kernel: int = 7, levels: int = 8) -> Graph:
    """TCN of Bai et al. (2018): per level two causal convs with dilation 2**i and a residual add.

    >>> from atrous.rf import receptive_field
    >>> receptive_field(tcn(7, 8)).size
    (3061,)
    """
    g = Graph(dims=1)
    x = g.input
    for i in range(levels):
        h = g.add(conv(kernel, dilation=2**i, padding="causal"), x, name=f"level{i}.conv1")
        h = g.add(conv(kernel, dilation=2**i, padding="causal"), h, name=f"level{i}.conv2")
        x = g.merge([h, x], op="add", name=f"level{i}.add")
    return g


def context_module() -> Graph:
    """The context module of Yu & Koltun (2016): 3x3 convs with dilations 1,1,2,4,8,16,1, then a 1x1.

    >>> from atrous.rf import receptive_field
    >>> receptive_field(context_module()).size
    (67, 67)
    """
    g = Graph(dims=2)
    for i, d in enumerate((1, 1, 2, 4, 8, 16, 1)):
        g.add(conv((3, 3), dilation=d, padding="same"), name=f"layer{i + 1}.d{d}")
    g.add(conv((1, 1)), name="layer8.1x1")
    return g


def spliceai(kernels: Sequence[int] = (11, 11, 21, 41), rates: Sequence[int] = (1, 4, 10, 25),
             blocks: int = 4) -> Graph:
    """A SpliceAI-10k style tower (Jaganathan et al. 2019): groups of residual blocks of two dilated convs.

    With the defaults the tower has 32 convolutions and a receptive field of 10,001.

    >>> from atrous.rf import receptive_field
    >>> receptive_field(spliceai()).size
    (10001,)
    """
    g = Graph(dims=1)
    x = g.add(conv(1), name="stem")
    for k, r in zip(kernels, rates):
        for b in range(blocks):
            h = g.add(conv(k, dilation=r, padding="same"), x, name=f"k{k}d{r}.b{b}.conv1")
            h = g.add(conv(k, dilation=r, padding="same"), h, name=f"k{k}d{r}.b{b}.conv2")
            x = g.merge([h, x], op="add", name=f"k{k}d{r}.b{b}.add")
    return g


def aspp(rates: Sequence[int] = (6, 12, 18), image_pool: bool = True) -> Graph:
    """DeepLab's atrous spatial pyramid pooling on a feature map: a 1x1 branch, 3x3 branches at ``rates``,
    an optional image-pooling branch (global), concatenated and fused by a 1x1.

    >>> from atrous.rf import receptive_field
    >>> r = receptive_field(aspp())
    >>> r.size, r.is_global
    ((37, 37), True)
    """
    g = Graph(dims=2)
    branches = [g.add(conv(1, dims=2), 0, name="aspp.1x1")]
    branches += [g.add(conv((3, 3), dilation=r, padding="same"), 0, name=f"aspp.rate{r}") for r in rates]
    if image_pool:
        branches.append(g.add(global_pool(2, broadcast=True), 0, name="aspp.image_pool"))
    g.merge(branches, op="cat", name="aspp.cat")
    g.add(conv(1, dims=2), name="aspp.project")
    return g


#: name -> (builder, description, default input size or None)
PRESETS: dict[str, tuple[Callable[[], Graph], str, int | None]] = {
    "wavenet": (wavenet, "WaveNet cycle: causal k=2, dilations 1..512", None),
    "wavenet-3": (lambda: wavenet(cycles=3), "three WaveNet cycles (30 causal k=2 layers)", None),
    "tcn": (tcn, "Bai et al. TCN: k=7, 8 levels of two causal convs + residual", None),
    "context-module": (context_module, "Yu & Koltun context module, 3x3, dilations 1,1,2,4,8,16,1 + 1x1", None),
    "spliceai-10k": (spliceai, "SpliceAI-10k tower: 32 dilated convs in residual blocks", None),
    "aspp": (aspp, "DeepLab ASPP, rates 6,12,18 + image pooling, on a 33x33 map (513 px at OS 16)", 33),
}


def preset(name: str) -> Graph:
    """The graph of a named preset (see :data:`PRESETS`)."""
    if name not in PRESETS:
        raise bad("preset", "name", f"one of {', '.join(PRESETS)}", name)
    return PRESETS[name][0]()
