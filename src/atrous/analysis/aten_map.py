"""How each ATen operation moves information between positions: the op mappings of the tracer.

Every op the forward pass reaches is one of four things, decided from its name and its arguments, with the
tensors' :class:`~atrous.analysis.axes.Layout` telling which dimensions hold which spatial axis:

* **spatial** (a new receptive-field node): convolution (transposed too), max/avg pooling, adaptive pooling,
  resizing, padding, slicing, rolling, max-unpooling. Their per-axis arguments go to the axis their dimension
  holds; rational resize ratios and unequal adaptive windows become exact periodic layers
  (:func:`atrous.analysis.map_spatial.rational_layer`).
* **layout** (the same node, a new layout): views, reshapes, permutes, squeezes, expands, copies, channel
  selections and splits.
* **pointwise** (a merge of the nodes it reads): everything tagged ``pointwise`` by PyTorch, with broadcasting.
* **mixing** (a reduction, a matrix product, a softmax, a cumulative sum, a normalisation with statistics):
  pointwise where the mixed dimensions hold no spatial axis; a *global* node (the local geometry kept, the op
  named in the notes) where they do; a pooling window where they hold the fine part of a split axis
  (space-to-depth read by a channel-mixing op).

Anything else that reads the input raises :class:`~atrous.errors.UnsupportedOpError` naming the op and module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from atrous.analysis._mapping import MAX_PERIOD, Context
from atrous.analysis.axes import Layout
from atrous.analysis.map_layout import (
    _along,
    _as_strided,
    _attention,
    _batch_norm,
    _cat,
    _constant,
    _copy,
    _expand,
    _glu,
    _group_norm,
    _identity,
    _index,
    _index_select,
    _layer_norm,
    _matmul,
    _permute,
    _pixel_shuffle,
    _reduce,
    _select,
    _slice,
    _split,
    _stack,
    _transpose,
    _view,
    pointwise,
)
from atrous.analysis.map_spatial import (
    _adaptive,
    _conv,
    _pad,
    _pool,
    _resize,
    _roll,
    _unpool,
)
from atrous.analysis.values import Const, Opaque, Val
from atrous.errors import ShapeError

__all__ = ["MAX_PERIOD", "Context", "check_fits", "map_op", "write_into_base"]


# ------------------------------------------------------------------------------------------------- entry


def map_op(ctx: Context, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> Any:
    """The abstract value of ``func(*args, **kwargs)`` (tensors replaced by Val/Const), given its output."""
    name = func.overloadpacket.__name__
    handler = HANDLERS.get(name) or HANDLERS.get(name.rstrip("_"))
    if handler is not None:
        return handler(ctx, list(args), kwargs, out)
    if torch.Tag.pointwise in func.tags or name.rstrip("_") in POINTWISE_UNTAGGED:
        return pointwise(ctx, list(args) + list(kwargs.values()), out)
    if name in CONSTANT_RESULTS:
        return Const()
    raise ctx.unsupported("atrous does not know how it moves information between positions")


def check_fits(ctx: Context, func: Any, args: Any, kwargs: Any) -> None:
    """Called when the op itself failed: a convolution or pooling too large for its input is the input's
    fault, said in one line naming the node."""
    name = func.overloadpacket.__name__
    if name not in SIZE_CHECKED:
        return
    x = args[0] if args else None
    if not isinstance(x, Val):
        return
    raise ShapeError(f"analyze: the input is too small for the model: at node {ctx.name!r} ({name}), the "
                     f"feature map {list(x.shape[2:])} is smaller than the window it needs")


def write_into_base(ctx: Context, base: Any, new: Any, base_t: torch.Tensor, view_t: torch.Tensor) -> Any:
    """An in-place op wrote ``new`` into a view of ``base`` (``buf[:, :c] = y``): the base now reads both."""
    if not isinstance(new, Val):
        return base
    if base_t.dim() != view_t.dim() or any(
            base_t.shape[d] != view_t.shape[d] for d in range(view_t.dim()) if new.layout.spatial_in(d)):
        return Opaque(ctx.unsupported("it writes into a slice of a tensor along a spatial axis"))
    layout = Layout(tuple(new.layout.dims[d] if new.layout.spatial_in(d) else ((None, int(n)),)
                          for d, n in enumerate(base_t.shape)))
    if isinstance(base, Val):
        return ctx.merge([base, new], "cat", layout)
    return Val(new.node, layout)


Handler = Callable[[Context, list[Any], dict[str, Any], Any], Any]

HANDLERS: dict[str, Handler] = {
    **dict.fromkeys(["view", "_unsafe_view", "reshape", "_reshape_alias", "view_copy", "squeeze", "unsqueeze",
                     "flatten", "unflatten", "view_as"], _view),
    **dict.fromkeys(["alias", "clone", "_to_copy", "detach", "lift_fresh", "contiguous", "to", "_copy_from",
                     "lift_fresh_copy", "dropout", "native_dropout", "feature_dropout", "alpha_dropout",
                     "_conj", "resolve_conj", "resolve_neg", "type_as", "_to_dense"], _identity),
    **dict.fromkeys(["zeros_like", "ones_like", "empty_like", "full_like", "rand_like", "randn_like",
                     "randint_like", "new_zeros", "new_ones", "new_empty", "new_full", "new_empty_strided",
                     "fill", "zero", "normal", "uniform", "bernoulli", "exponential", "random", "sym_size",
                     "sym_numel", "sym_stride", "empty_strided", "scalar_tensor"], _constant),
    "copy": _copy,
    "permute": _permute, "transpose": _transpose, "t": _transpose, "numpy_T": _transpose, "swapaxes": _transpose,
    "expand": _expand, "expand_as": _expand, "broadcast_to": _expand,
    "slice": _slice, "narrow": _slice, "select": _select,
    **dict.fromkeys(["split", "split_with_sizes", "unbind", "chunk", "tensor_split", "unsafe_split",
                     "unsafe_split_with_sizes"], _split),
    "cat": _cat, "concat": _cat, "stack": _stack, "glu": _glu, "as_strided": _as_strided,
    "index_select": _index_select, "gather": _index_select, "index": _index,
    "pixel_shuffle": _pixel_shuffle, "pixel_unshuffle": _pixel_shuffle,
    "convolution": _conv, "_convolution": _conv,
    **dict.fromkeys(["max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices",
                     "max_pool2d_with_indices", "max_pool3d_with_indices", "avg_pool1d", "avg_pool2d",
                     "avg_pool3d"], _pool),
    **dict.fromkeys(["_adaptive_avg_pool2d", "_adaptive_avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
                     "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d"],
                    _adaptive),
    **dict.fromkeys(["upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d", "_upsample_nearest_exact1d",
                     "_upsample_nearest_exact2d", "_upsample_nearest_exact3d", "upsample_linear1d",
                     "upsample_bilinear2d", "upsample_trilinear3d", "upsample_bicubic2d", "_upsample_bilinear2d_aa",
                     "_upsample_bicubic2d_aa"], _resize),
    **dict.fromkeys(["constant_pad_nd", "reflection_pad1d", "reflection_pad2d", "reflection_pad3d",
                     "replication_pad1d", "replication_pad2d", "replication_pad3d"], _pad),
    "roll": _roll, "max_unpool2d": _unpool, "max_unpool3d": _unpool,
    **dict.fromkeys(["mean", "sum", "amax", "amin", "max", "min", "var", "std", "var_mean", "std_mean", "prod",
                     "logsumexp", "linalg_vector_norm", "norm", "any", "all", "argmax", "argmin", "nansum",
                     "count_nonzero", "median", "nanmedian", "mode"], _reduce),
    **dict.fromkeys(["_softmax", "softmax", "_log_softmax", "log_softmax", "_safe_softmax", "cumsum", "cumprod",
                     "cummax", "cummin", "logcumsumexp", "sort", "argsort", "topk", "kthvalue"], _along),
    "native_layer_norm": _layer_norm, "native_group_norm": _group_norm,
    **dict.fromkeys(["native_batch_norm", "_native_batch_norm_legit", "_native_batch_norm_legit_no_training",
                     "_native_batch_norm_legit_functional", "batch_norm"], _batch_norm),
    **dict.fromkeys(["mm", "bmm", "addmm", "baddbmm", "addbmm", "matmul"], _matmul),
    **dict.fromkeys(["_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_attention_math",
                     "_scaled_dot_product_flash_attention", "_scaled_dot_product_efficient_attention",
                     "scaled_dot_product_attention"], _attention),
}

#: elementwise ops that PyTorch does not tag ``pointwise`` (a per-channel weight broadcasts, as in PReLU)
POINTWISE_UNTAGGED = {"hardswish", "log_sigmoid_forward", "_prelu_kernel", "prelu", "rrelu_with_noise"}

#: ops whose result never depends on the values of their tensor arguments
CONSTANT_RESULTS = {"empty", "zeros", "ones", "full", "arange", "eye", "rand", "randn", "randint", "linspace"}

#: ops whose failure on a meta tensor means the input is too small
SIZE_CHECKED = {"convolution", "_convolution", "max_pool1d", "max_pool2d", "max_pool3d", "max_pool2d_with_indices",
                "max_pool3d_with_indices", "avg_pool1d", "avg_pool2d", "avg_pool3d"}
