"""The convolution (Toeplitz) matrix of a dilated 1-D convolution, as a small sparse COO matrix.

Row ``i`` of the matrix holds the taps output ``i`` reads: ``y = A @ x`` is the cross-correlation that
``torch.nn.functional.conv1d`` computes (one channel, zero padding). With an int kernel size all weights
are 1, so a product of matrices counts paths, like :func:`atrous.rf.support.support`.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from atrous.errors import ConfigError, ShapeError, bad
from atrous.rf.frequency import _weights
from atrous.rf.layer import PaddingArg, _is_int, conv

__all__ = ["ConvMatrix", "conv_matrix"]

KernelArg = int | Sequence[float] | np.ndarray


@dataclass(frozen=True)
class ConvMatrix:
    """A sparse matrix in coordinate (COO) form: ``A[rows[j], cols[j]] = values[j]``.

    Entries are unique ``(row, col)`` pairs sorted by row then column, and no stored value is zero, so
    ``nnz`` is the number of nonzero entries.

    >>> A = conv_matrix(5, 2, dilation=2)
    >>> A.shape, A.nnz
    ((3, 5), 6)
    >>> A.toarray().astype(int).tolist()
    [[1, 0, 1, 0, 0], [0, 1, 0, 1, 0], [0, 0, 1, 0, 1]]
    >>> (A @ np.arange(5.0)).tolist()
    [2.0, 4.0, 6.0]
    """

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    shape: tuple[int, int]

    @property
    def nnz(self) -> int:
        """Number of stored (nonzero) entries."""
        return int(self.values.shape[0])

    def toarray(self) -> np.ndarray:
        """The dense ``(rows, cols)`` float64 array."""
        out = np.zeros(self.shape)
        out[self.rows, self.cols] = self.values
        return out

    def __matmul__(self, other: object) -> Any:
        """``A @ x`` for a vector of shape ``(cols,)`` or a matrix ``(cols, K)``; ``A @ B`` composes two
        :class:`ConvMatrix` into a :class:`ConvMatrix`."""
        if isinstance(other, ConvMatrix):
            return self._compose(other)
        if not isinstance(other, (np.ndarray, Sequence)) or isinstance(other, (str, bytes)):
            return NotImplemented
        x = np.asarray(other)
        if x.ndim not in (1, 2) or x.shape[0] != self.shape[1]:
            raise ShapeError(f"ConvMatrix: x must have shape ({self.shape[1]},) or ({self.shape[1]}, K) to "
                             f"match a {self.shape[0]}x{self.shape[1]} matrix, got {x.shape}")
        out = np.zeros((self.shape[0], *x.shape[1:]), dtype=np.result_type(self.values, x))
        contrib = self.values.reshape((-1,) + (1,) * (x.ndim - 1)) * x[self.cols]
        np.add.at(out, self.rows, contrib)
        return out

    def _compose(self, other: ConvMatrix) -> ConvMatrix:
        if other.shape[0] != self.shape[1]:
            raise ShapeError(f"ConvMatrix: the right operand must have {self.shape[1]} rows to compose with "
                             f"a {self.shape[0]}x{self.shape[1]} matrix, got {other.shape}")
        acc: dict[tuple[int, int], float] = {}
        by_row: dict[int, list[tuple[int, float]]] = {}
        for r, c, v in zip(other.rows.tolist(), other.cols.tolist(), other.values.tolist(), strict=True):
            by_row.setdefault(r, []).append((c, v))
        for r, m, v in zip(self.rows.tolist(), self.cols.tolist(), self.values.tolist(), strict=True):
            for c, u in by_row.get(m, ()):
                acc[(r, c)] = acc.get((r, c), 0.0) + v * u
        return _from_entries(acc, (self.shape[0], other.shape[1]))

    def to_scipy(self) -> Any:
        """The same matrix as a ``scipy.sparse.coo_array`` (needs scipy: ``pip install scipy``)."""
        try:
            sparse = importlib.import_module("scipy.sparse")
        except ImportError:
            raise ImportError("ConvMatrix.to_scipy needs scipy, which is not installed; pip install scipy") \
                from None
        return sparse.coo_array((self.values, (self.rows, self.cols)), shape=self.shape)


#: the most entries (output length x taps) conv_matrix builds: three 8-byte arrays of this size, plus temporaries
MAX_ENTRIES = 2**25


def conv_matrix(
    length: int,
    weight_or_kernel_size: KernelArg,
    dilation: int = 1,
    stride: int = 1,
    padding: PaddingArg = 0,
) -> ConvMatrix:
    """The ``(L_out, length)`` matrix ``A`` of a dilated 1-D cross-correlation with zero padding.

    ``(A @ x)[i] = sum_t w[t] * x[i * stride + t * dilation - left]``, where taps that land in the padding
    read zero (so they are not stored): the same as
    ``torch.nn.functional.conv1d(F.pad(x, (left, right)), w, stride=stride, dilation=dilation)``.

    Args:
        length: input length ``L``, a positive int.
        weight_or_kernel_size: the taps ``w[0..k-1]``, or an int ``k`` for all-ones taps (the entries of
            a product of such matrices are then path counts).
        dilation: spacing between taps.
        stride: step between outputs.
        padding: anything :func:`atrous.rf.layer.conv` accepts for one axis: an int, a ``(left, right)``
            pair, ``"same"``, ``"valid"`` or ``"causal"``.

    Returns:
        A :class:`ConvMatrix`; exact zero weights are not stored.

    Shape:
        ``L_out = floor((L + left + right - span) / stride) + 1`` with ``span = (k - 1) * dilation + 1``,
        as ``Layer.output_length``; a :class:`~atrous.errors.ShapeError` when ``L_out`` would be below 1.

    >>> conv_matrix(4, [1.0, -1.0], padding="causal").toarray().tolist()
    [[-1.0, 0.0, 0.0, 0.0], [1.0, -1.0, 0.0, 0.0], [0.0, 1.0, -1.0, 0.0], [0.0, 0.0, 1.0, -1.0]]
    >>> A = conv_matrix(9, 3, dilation=2, stride=2, padding="same")
    >>> A.shape, A.nnz
    ((5, 9), 13)
    """
    where = "conv_matrix"
    if not _is_int(length) or length < 1:
        raise bad(where, "length", "a positive int", length)
    w = _weights(weight_or_kernel_size, where)
    if _is_int(weight_or_kernel_size):
        w = np.ones_like(w)
    for arg, value in (("dilation", dilation), ("stride", stride)):
        if not _is_int(value) or value < 1:
            raise bad(where, arg, "a positive int", value)
    try:
        layer = conv(len(w), stride=stride, dilation=dilation, padding=padding, dims=1)
    except ConfigError as e:
        raise ConfigError(where + str(e)[len("conv"):]) from None
    try:
        (n_out,) = layer.output_length(length)
    except ShapeError as e:
        raise ShapeError(where + str(e)[str(e).index(":"):]) from None
    if n_out * len(w) > MAX_ENTRIES:
        raise bad(where, "length", f"small enough for at most {MAX_ENTRIES} entries (output length x taps; about "
                  f"{MAX_ENTRIES * 24 // 2**20} MB as COO), here {n_out} outputs x {len(w)} taps", length)
    left = layer.padding[0][0]
    i = np.arange(n_out)[:, None]
    t = np.arange(len(w))[None, :]
    cols = i * stride + t * dilation - left
    rows = np.broadcast_to(i, cols.shape)
    vals = np.broadcast_to(w[None, :], cols.shape)
    keep = (cols >= 0) & (cols < length) & (vals != 0)
    # rows ascend, and within a row the columns ascend with t, so row-major order is already sorted
    return ConvMatrix(rows[keep].astype(np.int64), cols[keep].astype(np.int64), vals[keep].astype(np.float64),
                      (int(n_out), int(length)))


def _from_entries(acc: dict[tuple[int, int], float], shape: tuple[int, int]) -> ConvMatrix:
    keys = sorted(k for k, v in acc.items() if v != 0)
    rows = np.array([k[0] for k in keys], dtype=np.int64)
    cols = np.array([k[1] for k in keys], dtype=np.int64)
    values = np.array([acc[k] for k in keys], dtype=np.float64)
    return ConvMatrix(rows, cols, values, shape)
