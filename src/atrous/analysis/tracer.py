"""Trace any ``nn.Module`` at its concrete input shape and map it to a receptive-field graph.

The model runs once on a *meta* tensor of the input shape: no memory is allocated and no arithmetic is done,
but every Python branch, shape check and ``if h % 32`` in ``forward`` runs exactly as it would on real data,
so models that symbolic tracing (torch.fx) cannot follow are traced like any other. A ``TorchDispatchMode``
sees each ATen operation the forward pass reaches (the small, closed op set every model lowers to, after
PyTorch's own decompositions) and :mod:`atrous.analysis.aten_map` maps it: a new node of the receptive-field
graph (convolution, pooling, resize, padding, cropping, a merge, a global operation), the same node with a new
:class:`~atrous.analysis.axes.Layout` (pointwise work, views, permutes, channel selections), or an
:class:`~atrous.errors.UnsupportedOpError` naming the op and the module it ran in. Global module hooks keep
the stack of modules being run, so graph nodes are named by module path (``layer3.0.conv2``; functional ops
``layer3.0/add``) and ``node="layer3"`` finds a module's output.

Parameters and buffers stay where they are: an op that mixes a real tensor with a meta one sees a meta view of
it, an op on real tensors only (a weight-norm reparametrisation, a positional table) runs for real. The model
is put in eval mode for the trace and given back as it was; nothing of it is modified.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from atrous import rf
from atrous.analysis import aten_map
from atrous.analysis.axes import Layout
from atrous.analysis.traced import TracedModel
from atrous.analysis.values import Const, Opaque, Val
from atrous.errors import AtrousError, ConfigError, UnsupportedOpError

__all__ = ["TracedModel", "trace"]

_META = torch.device("meta")


def trace(model: nn.Module, input_shape: Sequence[int], max_period: int = aten_map.MAX_PERIOD) -> TracedModel:
    """Map ``model`` to a receptive-field graph for inputs of ``input_shape`` (batch, channels, *spatial).

    Args:
        model: any ``nn.Module`` whose forward pass takes one tensor (it is run on a meta tensor, not modified).
        input_shape: e.g. ``(1, 3, 224, 224)``; 1, 2 or 3 spatial axes.
        max_period: the longest period (in output units) of a resize mapped exactly; a longer one becomes an
            enclosing layer with a short period, labelled as a bound.

    Returns:
        A :class:`TracedModel`.
    """
    shape = _check_shape(input_shape)
    if not isinstance(model, nn.Module):
        raise ConfigError(f"analyze: model must be a torch.nn.Module, got {type(model).__name__}")
    result = TracedModel(rf.Graph(dims=len(shape) - 2), shape)
    mode = _Mode(result, {id(m): name for name, m in model.named_modules()})
    mode.ctx.max_period = max_period
    x = torch.empty(shape, device=_META)
    mode.bind(x, Val(0, Layout.standard(shape)))
    result.spatial_nodes.add(0)
    was_training = model.training
    model.eval()  # branches such as `if self.training` and batch norm follow eval mode
    try:
        with torch.no_grad(), _module_hooks(mode), mode:
            out = model(x)
    except AtrousError:
        raise
    except Exception as e:  # whatever the model's own code raises on a meta tensor
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        where = f" in {mode.stack[-1]!r}" if mode.stack and mode.stack[-1] else ""
        raise UnsupportedOpError(
            f"analyze: could not run {type(model).__name__} on a meta tensor of shape {list(shape)}{where} "
            f"({type(e).__name__}: {first[:200]}); its forward pass needs real values (data-dependent control "
            "flow); the gradient measurement (empirical) still works") from None
    finally:
        model.train(was_training)
    _outputs(result, mode, out)
    if not result.outputs and not result.opaque:
        raise UnsupportedOpError("analyze: the model's output does not depend on its input")
    return result


def _check_shape(input_shape: Sequence[int]) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in input_shape)
        ok = all(int(s) == s and not isinstance(s, bool) for s in input_shape)
    except (TypeError, ValueError):
        ok = False
    if not ok or not 3 <= len(shape) <= 5 or any(s < 1 for s in shape):
        raise ConfigError("analyze: input_shape must be (batch, channels, *spatial) with 1 to 3 spatial axes "
                          f"and positive sizes, got {input_shape!r}")
    return shape


class _Mode(TorchDispatchMode):  # type: ignore[no-untyped-call]
    """Runs each op (on meta tensors where the input flows) and records its abstract value."""

    def __init__(self, result: TracedModel, names: dict[int, str]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.result = result
        self.names = names
        self.stack: list[str] = []
        self.values: dict[int, tuple[torch.Tensor, Any]] = {}  # id(tensor) -> (tensor kept alive, value)
        self.metas: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.ctx = aten_map.Context(result, self)

    def bind(self, t: torch.Tensor, value: Any) -> None:
        self.values[id(t)] = (t, value)

    def value(self, t: torch.Tensor) -> Any:
        entry = self.values.get(id(t))
        return entry[1] if entry is not None and entry[0] is t else Const()

    def _to_meta(self, a: Any) -> Any:
        if isinstance(a, torch.Tensor) and a.device != _META:
            hit = self.metas.get(id(a))
            if hit is None or hit[0] is not a:
                hit = (a, a.to(_META))
                self.metas[id(a)] = hit
            return hit[1]
        return a

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        flat = _flat(args) + _flat(list(kwargs.values()))
        tensors = [a for a in flat if isinstance(a, torch.Tensor)]
        if any(t.device == _META for t in tensors):
            args = _map(args, self._to_meta)
            kwargs = _map(kwargs, self._to_meta)
        values = _map(args, lambda a: self.value(a) if isinstance(a, torch.Tensor) else a)
        kw_values = _map(kwargs, lambda a: self.value(a) if isinstance(a, torch.Tensor) else a)
        abstract = [v for v in _flat(values) + _flat(list(kw_values.values())) if isinstance(v, (Val, Opaque))]
        if not abstract:  # constant work: run it as it is (for real on real tensors)
            return func(*args, **kwargs)
        self.ctx.begin(func)
        self.ctx.raw = (args, kwargs)
        blocked = next((v for v in abstract if isinstance(v, Opaque)), None)
        result_value: Any
        try:
            out = _fast_meta(func, args) or func(*args, **kwargs)
        except Exception as e:
            # a shape error of the model's own layers: map the op to say which node, or re-raise
            if blocked is None:
                aten_map.check_fits(self.ctx, func, values, kw_values)
            raise e
        if blocked is not None:
            result_value = blocked
        else:
            try:
                result_value = aten_map.map_op(self.ctx, func, values, kw_values, out)
            except UnsupportedOpError as e:
                result_value = Opaque(e)
                self.result.opaque[self.ctx.name] = e
            except AtrousError:
                raise
            except Exception as e:  # a mapping that does not expect these arguments: say so, never guess
                err = self.ctx.unsupported(f"atrous failed to map its arguments ({type(e).__name__}: {e}); "
                                           "please report this model")
                result_value = Opaque(err)
                self.result.opaque[self.ctx.name] = err
        self._record(func, args, out, result_value)
        return out

    def _record(self, func: Any, args: Any, out: Any, value: Any) -> None:
        outs = _flat(out) if isinstance(out, (tuple, list)) else [out]
        vals = list(value) if isinstance(value, (tuple, list)) else [value] * len(outs)
        for t, v in zip(outs, vals):
            if isinstance(t, torch.Tensor):
                self.bind(t, v)
                if isinstance(v, Val) and _whole(v, self.result.input_size):
                    self.result.spatial_nodes.add(v.node)
                    if _standard(v, self.result.input_size):
                        self.result.standard_nodes.add(v.node)
        if _writes_first_argument(func) and args and isinstance(args[0], torch.Tensor):
            target = args[0]
            new = vals[0] if vals else Const()
            self.bind(target, new)
            base = target._base
            if base is not None:
                self.bind(base, aten_map.write_into_base(self.ctx, self.value(base), new, base, target))

    # module hooks
    def enter_module(self, module: nn.Module) -> None:
        self.stack.append(self.names.get(id(module), type(module).__name__))

    def exit_module(self, module: nn.Module, output: Any) -> None:
        if self.stack:
            path = self.stack.pop()
            if path:
                first = next((v for v in (self.value(t) for t in _flat(output) if isinstance(t, torch.Tensor))
                              if isinstance(v, (Val, Opaque))), None)
                if isinstance(first, Val):
                    self.result.modules[path] = first.node
                elif isinstance(first, Opaque):
                    self.result.opaque.setdefault(path, first.error)

    def is_leaf(self) -> bool:
        return bool(self.stack) and self.stack[-1] in self.result.leaf_paths


@contextlib.contextmanager
def _module_hooks(mode: _Mode) -> Iterator[None]:
    from torch.nn.modules import module as module_mod

    def pre(module: nn.Module, args: Any) -> None:
        mode.enter_module(module)
        mode.result.module_types.setdefault(mode.stack[-1], type(module).__name__)
        if not any(True for _ in module.children()):
            mode.result.leaf_paths.add(mode.stack[-1])

    def post(module: nn.Module, args: Any, output: Any) -> None:
        mode.exit_module(module, output)

    handles = [module_mod.register_module_forward_pre_hook(pre),
               module_mod.register_module_forward_hook(post, always_call=True)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


#: ops whose meta kernels run slow Python decompositions, though their output is shaped like their input
_SHAPE_KEEPING = {"_native_batch_norm_legit_no_training", "native_batch_norm"}


def _fast_meta(func: Any, args: Any) -> Any:
    """The meta output of a batch norm in eval mode, made directly (its meta kernel costs ~10 ms a call)."""
    name = func.overloadpacket.__name__
    if name not in _SHAPE_KEEPING or not args or not isinstance(args[0], torch.Tensor):
        return None
    if name == "native_batch_norm" and (len(args) < 6 or args[5]):
        return None
    x = args[0]
    stats = torch.empty((0,), device=_META, dtype=x.dtype)
    return (torch.empty_like(x), stats, torch.empty_like(stats))


def _writes_first_argument(func: Any) -> bool:
    schema = func._schema
    if not schema.arguments:
        return False
    info = schema.arguments[0].alias_info
    return bool(info is not None and info.is_write)


def _whole(v: Val, input_size: tuple[int, ...]) -> bool:
    """Whether ``v`` is a feature map: every input axis longer than 1 is still there, whole and longer than 1 (a
    1 x 1 map after global pooling is not one), in any layout (channels-last and token layouts too)."""
    sizes = {t: n for d in v.layout.dims for t, n in d if t is not None}
    return all(sizes.get(("s", a), 0) > 1 for a, n in enumerate(input_size) if n > 1) and \
        all(t[0] == "s" for t in sizes)


def _standard(v: Val, input_size: tuple[int, ...]) -> bool:
    """Whether ``v`` is laid out ``(batch, channels, *spatial)``, as a gradient measurement reads a map."""
    dims = v.layout.dims
    if len(dims) != 2 + len(input_size) or any(t is not None for d in dims[:2] for t, _ in d):
        return False
    return all(len(d) == 1 and d[0][0] == ("s", a) for a, d in enumerate(dims[2:]))


def _outputs(result: TracedModel, mode: _Mode, value: Any, prefix: str = "") -> None:
    if isinstance(value, torch.Tensor):
        v = mode.value(value)
        if isinstance(v, (Val, Opaque)):
            result.output_keys.append(prefix or "output")
        if isinstance(v, Val):
            result.outputs[prefix or "output"] = v.node
        elif isinstance(v, Opaque):
            result.opaque[prefix or "output"] = v.error
    elif isinstance(value, dict):
        for k, v in value.items():
            _outputs(result, mode, v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _outputs(result, mode, v, f"{prefix}.{i}" if prefix else str(i))


def _flat(a: Any) -> list[Any]:
    if isinstance(a, (list, tuple)):
        return [x for item in a for x in _flat(item)]
    if isinstance(a, dict):
        return [x for item in a.values() for x in _flat(item)]
    return [a]


def _map(a: Any, fn: Any) -> Any:
    if isinstance(a, tuple):
        return tuple(_map(x, fn) for x in a)
    if isinstance(a, list):
        return [_map(x, fn) for x in a]
    if isinstance(a, dict):
        return {k: _map(v, fn) for k, v in a.items()}
    return fn(a)
