"""DilatedGraphConv and DilatedKNNGraph: module == functional, the hop-edge cache, parameters, and the receptive
field of a stack on a path graph against the arithmetic of ±d steps."""

from __future__ import annotations

import io

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from atrous.errors import ConfigError, ShapeError
from atrous.functional import graph as G
from atrous.functional.graph import dilated_graph_conv, dilated_knn
from atrous.nn.graph import DilatedGraphConv, DilatedKNNGraph


def path_graph(n: int) -> torch.Tensor:
    src = list(range(n - 1)) + list(range(1, n))
    dst = list(range(1, n)) + list(range(n - 1))
    return torch.tensor([src, dst], dtype=torch.int64).reshape(2, -1)


def cycle_graph(n: int) -> torch.Tensor:
    src = list(range(n)) + [(i + 1) % n for i in range(n)]
    return torch.tensor([src, src[n:] + src[:n]], dtype=torch.int64)


@pytest.mark.parametrize("mode", G.MODES)
@pytest.mark.parametrize("aggr", G.REDUCES)
@pytest.mark.parametrize("bias", [True, False])
def test_module_equals_functional(mode: str, aggr: str, bias: bool) -> None:
    torch.manual_seed(0)
    conv = DilatedGraphConv(3, 5, dilation=2, mode=mode, aggr=aggr, bias=bias)
    x, e = torch.randn(9, 3), cycle_graph(9)
    expected = dilated_graph_conv(x, e, conv.weight_self, conv.weight_neigh, conv.bias, 2, mode, aggr)
    assert torch.equal(conv(x, e), expected)


@pytest.mark.parametrize("n", [0, 1, 2, 13])
@pytest.mark.parametrize("dilation", [1, 3])
def test_shapes_and_backward(n: int, dilation: int) -> None:
    conv = DilatedGraphConv(4, 6, dilation=dilation, mode="within")
    x = torch.randn(n, 4, requires_grad=True)
    out = conv(x, path_graph(n) if n > 1 else torch.zeros(2, 0, dtype=torch.int64))
    assert out.shape == (n, 6)
    if n:
        out.square().sum().backward()
        assert x.grad is not None
        grads = {name: p.grad for name, p in conv.named_parameters()}
        assert set(grads) == {"weight_self", "weight_neigh", "bias"}
        assert all(g is not None for g in grads.values())
        if n > dilation:  # somebody has a neighbour at that distance
            assert grads["weight_neigh"] is not None and grads["weight_neigh"].abs().sum() > 0


def test_parameters_dtype_device_and_init() -> None:
    conv = DilatedGraphConv(16, 8, dtype=torch.float64)
    assert conv.weight_self.dtype == conv.weight_neigh.dtype == torch.float64
    assert conv.weight_self.shape == conv.weight_neigh.shape == (8, 16)
    assert conv.bias is not None and conv.bias.shape == (8,)
    bound = 1 / 16 ** 0.5  # nn.Linear's bound for both weights and the bias
    assert conv.weight_self.abs().max() <= bound and conv.bias.abs().max() <= bound
    assert not torch.equal(conv.weight_self, conv.weight_neigh)
    assert DilatedGraphConv(2, 2, bias=False).bias is None
    assert repr(DilatedGraphConv(2, 3, dilation=4)) == (
        "DilatedGraphConv(2, 3, dilation=4, mode='exact', aggr='mean', bias=True, cache=False)")


def test_state_dict_round_trip() -> None:
    a, b = DilatedGraphConv(3, 4, dilation=2, cache=True), DilatedGraphConv(3, 4, dilation=2)
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    b.load_state_dict(torch.load(buf))
    x, e = torch.randn(10, 3), cycle_graph(10)
    a(x, e)  # the cache is not state
    assert set(a.state_dict()) == {"weight_self", "weight_neigh", "bias"}
    assert torch.equal(a(x, e), b(x, e))


def test_cache_reuses_hops_for_the_same_unmodified_tensor(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = G.hop_edges

    def counting(*args: object, **kwargs: object) -> torch.Tensor:
        calls.append(args)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(G, "hop_edges", counting)
    conv = DilatedGraphConv(2, 2, dilation=2, cache=True)
    x, e = torch.randn(8, 2), cycle_graph(8)
    first = conv(x, e)
    assert torch.equal(conv(x, e), first) and len(calls) == 1
    assert torch.equal(conv(x, e.clone()), first) and len(calls) == 2  # equal values, new object: recomputed
    e2 = e.clone()
    conv(x, e2)
    conv(x, e2)
    assert len(calls) == 3
    path_with_loops = torch.cat([path_graph(8), torch.zeros(2, 2, dtype=torch.int64)], 1)  # same edge count
    e2.copy_(path_with_loops)  # in place: the version counter moves, the object stays
    out = conv(x, e2)
    assert len(calls) == 4
    fresh = DilatedGraphConv(2, 2, dilation=2)
    fresh.load_state_dict(conv.state_dict())
    assert torch.equal(out, fresh(x, path_graph(8))) and not torch.equal(out, first)
    conv(torch.randn(9, 2), e2)  # same tensor, another node count
    assert len(calls) == 6
    conv.clear_cache()
    conv(torch.randn(9, 2), e2)
    assert len(calls) == 7
    uncached = DilatedGraphConv(2, 2, dilation=2)
    uncached(x, e)
    uncached(x, e)
    assert len(calls) == 9 and uncached._cached is None


def test_cache_keys_on_the_node_count() -> None:
    conv = DilatedGraphConv(1, 1, dilation=1, aggr="sum", cache=True, bias=False)
    with torch.no_grad():
        conv.weight_self.zero_()
        conv.weight_neigh.fill_(1.0)
    e = torch.tensor([[0], [1]])
    assert conv(torch.ones(2, 1), e).view(-1).tolist() == [0.0, 1.0]
    assert conv(torch.ones(3, 1), e).view(-1).tolist() == [0.0, 1.0, 0.0]


def reachable(n: int, node: int, dilations: list[int], mode: str) -> set[int]:
    """Inputs an output node can see: walk back through the layers, each adding 0 or a step of ±d (±1..d for
    "within"), never leaving the path 0..n-1 (the intermediate node must exist)."""
    seen = {node}
    for d in reversed(dilations):
        steps = [-d, d] if mode == "exact" else [s for s in range(-d, d + 1) if s]
        seen |= {m + s for m in seen for s in steps if 0 <= m + s < n}
    return seen


def measured_support(n: int, node: int, dilations: list[int], mode: str, aggr: str = "mean") -> set[int]:
    """Inputs with a non-zero gradient at output ``node`` of a stack of DilatedGraphConv on a path graph."""
    torch.manual_seed(len(dilations) * 100 + n)
    layers = [DilatedGraphConv(2, 2, d, mode=mode, aggr=aggr, dtype=torch.float64) for d in dilations]
    for layer in layers:  # positive weights and inputs: no path can cancel another
        with torch.no_grad():
            for p in layer.parameters():
                p.uniform_(0.1, 1.0)
    x = torch.rand(n, 2, dtype=torch.float64).add_(0.1).requires_grad_()
    e = path_graph(n)
    h = x
    for layer in layers:
        h = layer(h, e)
    h[node].sum().backward()
    assert x.grad is not None
    return set((x.grad.abs().sum(1) > 0).nonzero().view(-1).tolist())


@settings(max_examples=40, deadline=None)
@given(dilations=st.lists(st.integers(1, 6), min_size=1, max_size=4), n=st.integers(1, 40), data=st.data(),
       mode=st.sampled_from(G.MODES), aggr=st.sampled_from(["mean", "sum"]))
def test_receptive_field_on_a_path_graph(dilations: list[int], n: int, data: st.DataObject, mode: str,
                                         aggr: str) -> None:
    """The graph analogue of a dilated 1-D stack's support: node i sees exactly i + sum of (0 or ±d_l)."""
    node = data.draw(st.integers(0, n - 1))
    assert measured_support(n, node, dilations, mode, aggr) == reachable(n, node, dilations, mode)


def test_receptive_field_known_stacks() -> None:
    """Dilations 1, 2, 4 with exact hops cover i-7..i+7 without holes, like a WaveNet stack of kernel 3; 2, 2
    grids (even offsets only); near an end, the path cannot be left and re-entered."""
    assert measured_support(41, 20, [1, 2, 4], "exact") == set(range(13, 28))
    assert measured_support(41, 20, [2, 2], "exact") == {16, 18, 20, 22, 24}
    assert measured_support(41, 20, [2, 2], "within") == set(range(16, 25))
    # at an end the order of the layers matters: with [1, 3] node 0 reads 3 through the last layer, and 3 reads 2;
    # with [3, 1] it reads 1, and reaching 2 would need the node 1 - 3 = -2, which is not on the path
    assert measured_support(10, 0, [3, 1], "exact") == {0, 1, 3, 4}
    assert measured_support(10, 0, [1, 3], "exact") == {0, 1, 2, 3, 4}


def test_knn_module_equals_functional_with_batch() -> None:
    torch.manual_seed(3)
    pos, batch = torch.randn(40, 3), torch.randint(0, 3, (40,))
    knn = DilatedKNNGraph(k=3, dilation=2)
    assert torch.equal(knn(pos, batch), dilated_knn(pos, 3, 2, batch))
    assert torch.equal(DilatedKNNGraph(4, loop=True)(pos), dilated_knn(pos, 4, 1, loop=True))
    assert repr(knn) == "DilatedKNNGraph(k=3, dilation=2, loop=False)"
    assert not list(knn.parameters())


def test_point_cloud_pipeline() -> None:
    """DeepGCN style: the dilation lives in the k-NN graph, the convolution reads one hop of it."""
    torch.manual_seed(5)
    pos, batch = torch.randn(64, 3), torch.arange(64) // 32
    e = DilatedKNNGraph(k=8, dilation=2)(pos, batch)
    net = torch.nn.ModuleList([DilatedGraphConv(3, 16, aggr="max"), DilatedGraphConv(16, 16, aggr="max")])
    h = pos
    for layer in net:
        h = torch.relu(layer(h, e))
    assert h.shape == (64, 16) and torch.isfinite(h).all()
    h.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"in_channels": 0}, "^DilatedGraphConv: in_channels must be a positive int, got 0$"),
    ({"out_channels": 2.0}, "out_channels must be a positive int, got 2.0"),
    ({"dilation": 0}, "dilation must be a positive int, got 0"),
    ({"mode": "all"}, "mode must be one of 'exact', 'within', got 'all'"),
    ({"aggr": "add"}, "aggr must be one of 'mean', 'sum', 'max', 'min', got 'add'"),
    ({"cache": "yes"}, "cache must be a bool, got 'yes'"),
])
def test_conv_bad_config(kwargs: dict[str, object], match: str) -> None:
    args: dict[str, object] = {"in_channels": 2, "out_channels": 2}
    with pytest.raises(ConfigError, match=match):
        DilatedGraphConv(**(args | kwargs))  # type: ignore[arg-type]


def test_conv_bad_forward_names_the_module() -> None:
    conv = DilatedGraphConv(2, 2, dilation=2)
    with pytest.raises(ShapeError, match=r"^DilatedGraphConv: x must be a 2-D tensor \(N, C_in\)"):
        conv(torch.zeros(2, 3, 4), path_graph(2))
    with pytest.raises(ConfigError, match=r"^DilatedGraphConv: edge_index node ids must lie in 0\.\.2"):
        conv(torch.zeros(3, 2), path_graph(4))
    with pytest.raises(ShapeError, match=r"^DilatedGraphConv: edge_index must be a \(2, E\) tensor"):
        conv(torch.zeros(3, 2), path_graph(3).t())
    with pytest.raises(ShapeError, match=r"^graph_conv: weight_self must be \(C_out, C_in\) with C_in = x.shape"):
        conv(torch.zeros(3, 5), path_graph(3))


@pytest.mark.parametrize(("args", "match"), [
    ((0,), "^DilatedKNNGraph: k must be a positive int, got 0$"),
    ((2, -1), "dilation must be a positive int, got -1"),
    ((2, 1, 0), "loop must be a bool, got 0"),
])
def test_knn_bad_config(args: tuple[object, ...], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        DilatedKNNGraph(*args)  # type: ignore[arg-type]
