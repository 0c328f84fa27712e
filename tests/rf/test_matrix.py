"""The convolution matrix of a dilated 1-D conv, checked against torch's conv1d, a double loop, and the exact
path-count support of a stack."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from atrous.errors import ConfigError, ShapeError
from atrous.rf.layer import conv
from atrous.rf.matrix import ConvMatrix, conv_matrix
from atrous.rf.support import support


@dataclass
class Case:
    length: int
    weight: int | list[float]
    dilation: int
    stride: int
    padding: int | tuple[int, int] | str
    left: int
    right: int

    @property
    def taps(self) -> list[float]:
        return [1.0] * self.weight if isinstance(self.weight, int) else self.weight


def resolve(padding: int | tuple[int, int] | str, span: int) -> tuple[int, int]:
    """The padding rules written out again, independently of atrous.rf.layer."""
    if isinstance(padding, tuple):
        return padding
    if isinstance(padding, int):
        return padding, padding
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return span - 1, 0
    return (span - 1) // 2, span - 1 - (span - 1) // 2  # "same": the extra sample on the right, as torch


paddings = st.one_of(
    st.integers(0, 6),
    st.tuples(st.integers(0, 6), st.integers(0, 6)),
    st.sampled_from(["same", "valid", "causal"]),
)


@st.composite
def cases(draw: st.DrawFn, ints: bool = False) -> Case:
    k = draw(st.integers(1, 6))
    weight: int | list[float] = k if ints or draw(st.booleans()) else \
        draw(st.lists(st.floats(-2, 2), min_size=k, max_size=k))
    d, s = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    padding = draw(paddings)
    span = (k - 1) * d + 1
    left, right = resolve(padding, span)
    length = draw(st.integers(max(1, span - left - right), 40))
    return Case(length, weight, d, s, padding, left, right)


def build(c: Case) -> ConvMatrix:
    return conv_matrix(c.length, c.weight, dilation=c.dilation, stride=c.stride, padding=c.padding)


def dense_loop(c: Case, rows: int) -> np.ndarray:
    """A[i, j] = sum of the taps t with i * stride + t * dilation - left == j, by plain loops."""
    out = np.zeros((rows, c.length))
    for i in range(rows):
        for j in range(c.length):
            for t, w in enumerate(c.taps):
                if i * c.stride + t * c.dilation - c.left == j:
                    out[i, j] += w
    return out


@settings(max_examples=80, deadline=None)
@given(c=cases(), seed=st.integers(0, 2**32 - 1))
def test_matvec_equals_torch_conv1d(c: Case, seed: int) -> None:
    x = np.random.default_rng(seed).standard_normal(c.length)
    a = build(c)
    xt = F.pad(torch.from_numpy(x).view(1, 1, -1), (c.left, c.right))
    w = torch.tensor(c.taps, dtype=torch.float64).view(1, 1, -1)
    expected = F.conv1d(xt, w, stride=c.stride, dilation=c.dilation).view(-1).numpy()
    y = a @ x
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(c=cases())
def test_shape_and_dense_form_match_a_double_loop(c: Case) -> None:
    a = build(c)
    layer = conv(len(c.taps), stride=c.stride, dilation=c.dilation, padding=c.padding)
    assert a.shape == (layer.output_length(c.length)[0], c.length)
    dense = dense_loop(c, a.shape[0])
    np.testing.assert_array_equal(a.toarray(), dense)
    assert a.nnz == np.count_nonzero(dense)
    assert np.all(a.values != 0)
    order = np.lexsort((a.cols, a.rows))
    np.testing.assert_array_equal(order, np.arange(a.nnz))  # sorted by row, then column
    assert len(set(zip(a.rows.tolist(), a.cols.tolist(), strict=True))) == a.nnz


@settings(max_examples=20, deadline=None)
@given(c=cases(), k=st.integers(0, 3), seed=st.integers(0, 2**32 - 1))
def test_matmul_of_a_matrix_is_column_by_column(c: Case, k: int, seed: int) -> None:
    x = np.random.default_rng(seed).standard_normal((c.length, k))
    a = build(c)
    y = a @ x
    assert y.shape == (a.shape[0], k)
    np.testing.assert_allclose(y, a.toarray() @ x, rtol=0, atol=1e-12)


def middle_row_is_interior(layers: list[Case], lengths: list[int], row: int) -> bool:
    """True when every intermediate index that ``row`` of the product reaches lies inside its feature map."""
    lo = hi = row
    for c, n_in in zip(reversed(layers), reversed(lengths[:-1]), strict=True):
        span = (len(c.taps) - 1) * c.dilation + 1
        lo, hi = lo * c.stride - c.left, hi * c.stride - c.left + span - 1
        if lo < 0 or hi >= n_in:
            return False
    return True


@st.composite
def stacks(draw: st.DrawFn) -> list[Case]:
    out = []
    for _ in range(draw(st.integers(2, 3))):
        k, d, s = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
        padding = draw(paddings)
        left, right = resolve(padding, (k - 1) * d + 1)
        out.append(Case(0, k, d, s, padding, left, right))
    return out


@settings(max_examples=60, deadline=None)
@given(layers=stacks())
def test_product_of_matrices_has_the_exact_support_of_the_stack(layers: list[Case]) -> None:
    specs = [conv(len(c.taps), stride=c.stride, dilation=c.dilation, padding=c.padding) for c in layers]
    s = support(specs)
    assert s.counts is not None
    jump = int(np.prod([c.stride for c in layers]))
    pad = sum(c.left + c.right for c in layers) * jump
    length = 4 * (s.extent[0] + pad + jump) + 8
    lengths = [length]
    product: ConvMatrix | None = None
    for c in layers:
        a = conv_matrix(lengths[-1], c.weight, dilation=c.dilation, stride=c.stride, padding=c.padding)
        lengths.append(a.shape[0])
        dense_before = None if product is None else product.toarray()
        product = a if product is None else a @ product
        if dense_before is not None:
            np.testing.assert_allclose(product.toarray(), a.toarray() @ dense_before, rtol=0, atol=0)
    assert product is not None
    row = product.shape[0] // 2
    assert middle_row_is_interior(layers, lengths, row)
    mask = product.rows == row
    offsets = product.cols[mask] - row * jump
    np.testing.assert_array_equal(offsets, s.offsets()[:, 0])
    # with all-ones weights the entries are the path counts
    np.testing.assert_array_equal(product.values[mask], s.counts[s.counts != 0])


def test_zero_taps_are_not_stored_and_entries_count_paths() -> None:
    a = conv_matrix(6, [1.0, 0.0, 2.0])
    assert a.nnz == 2 * a.shape[0]
    two = conv_matrix(5, 2) @ conv_matrix(6, 2)  # [1, 2, 1] paths on every row
    assert two.toarray().tolist()[0] == [1.0, 2.0, 1.0, 0.0, 0.0, 0.0]


def test_composition_can_cancel_to_zero_and_drops_it() -> None:
    diff = conv_matrix(6, [1.0, -1.0])
    ones = conv_matrix(7, [1.0, 1.0])
    prod = diff @ ones  # (1 - z)(1 + z) = 1 - z^2: the middle tap cancels
    assert prod.toarray()[0].tolist() == [1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0]
    assert prod.nnz == 2 * prod.shape[0]


def test_to_scipy_without_scipy_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "scipy", None)
    monkeypatch.setitem(sys.modules, "scipy.sparse", None)
    with pytest.raises(ImportError, match=r"^ConvMatrix.to_scipy needs scipy.*pip install scipy$"):
        conv_matrix(5, 3).to_scipy()


def test_to_scipy_matches_dense() -> None:
    pytest.importorskip("scipy.sparse")
    a = conv_matrix(11, [0.5, -1.0, 2.0], dilation=3, stride=2, padding="same")
    np.testing.assert_array_equal(a.to_scipy().toarray(), a.toarray())


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((0, 3), {}, ConfigError, "conv_matrix: length must be a positive int, got 0"),
        ((5, 0), {}, ConfigError, "conv_matrix: kernel_size must be a positive int, got 0"),
        ((5, []), {}, ConfigError, "conv_matrix: weights must be"),
        ((5, 3), {"dilation": 0}, ConfigError, "conv_matrix: dilation must be a positive int, got 0"),
        ((5, 3), {"stride": True}, ConfigError, "conv_matrix: stride must be a positive int, got True"),
        ((5, 3), {"padding": "full"}, ConfigError, "conv_matrix: padding must be an int, a .left, right."),
        ((5, 3), {"padding": -1}, ConfigError, "conv_matrix: padding must be a non-negative int, got -1"),
        ((4, 3), {"dilation": 2}, ShapeError, "conv_matrix: input length must be at least 5"),
    ],
)
def test_bad_input(
    args: tuple[object, ...], kwargs: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        conv_matrix(*args, **kwargs)  # type: ignore[arg-type]


def test_matmul_shape_errors() -> None:
    a = conv_matrix(5, 3)
    with pytest.raises(ShapeError, match=r"ConvMatrix: x must have shape \(5,\)"):
        a @ np.ones(4)
    with pytest.raises(ShapeError, match="ConvMatrix: the right operand must have 5 rows"):
        a @ conv_matrix(9, 2)
    with pytest.raises(TypeError):
        a @ "abc"


def test_a_matrix_past_max_entries_is_refused_before_it_allocates() -> None:
    from atrous.rf.matrix import MAX_ENTRIES

    with pytest.raises(ConfigError, match=r"^conv_matrix: length must be small enough for at most 33554432 entries "
                                          r".*here 999999998 outputs x 3 taps, got 1000000000$"):
        conv_matrix(10**9, 3)
    assert conv_matrix(MAX_ENTRIES // 3 + 2, 3).nnz == MAX_ENTRIES // 3 * 3  # the bound itself is built
