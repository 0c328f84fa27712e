"""Trace any ``nn.Module`` with torch.fx and map it to a receptive-field graph (:class:`atrous.rf.Graph`).

The model is traced symbolically (no forward pass, so a ResNet-50 traces in milliseconds); shapes are
followed abstractly by the same arithmetic that gives receptive fields. Every fx node becomes either a new
node of the receptive-field graph (convolution, pooling, a merge, a global operation) or an alias of the
node it reads (activations, normalisations, dropout, channel slicing, ...). An operation that cannot be
mapped exactly raises :class:`~atrous.errors.UnsupportedOpError` naming the operation and the node.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import fx, nn
from torch.nn.utils import parametrize

from atrous import rf
from atrous.analysis import functions, ops
from atrous.analysis.traced import TracedModel
from atrous.analysis.values import Const, Opaque, Val
from atrous.errors import ConfigError, UnsupportedOpError

__all__ = ["TracedModel", "trace"]


class _Tracer(fx.Tracer):
    def __init__(self, leaves: tuple[type[nn.Module], ...]) -> None:
        super().__init__()
        self.leaves = leaves

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        if isinstance(m, self.leaves):
            return True
        if parametrize.is_parametrized(m):  # weight norm & co: trace through to the module's own forward
            return False
        return bool(super().is_leaf_module(m, module_qualified_name))


def _symbolic(model: nn.Module, leaves: tuple[type[nn.Module], ...]) -> fx.GraphModule:
    if isinstance(model, fx.GraphModule):
        return model
    tracer = _Tracer(leaves)
    try:
        graph = tracer.trace(model)
    except Exception as e:  # torch.fx raises many types (TraceError, TypeError, RuntimeError, ...)
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UnsupportedOpError(
            f"analyze: torch.fx could not trace {type(model).__name__} ({type(e).__name__}: {first}); "
            "data-dependent control flow cannot be traced: use --empirical, or pass the offending submodule "
            "as a leaf module"
        ) from None
    return fx.GraphModule(tracer.root, graph)


def trace(model: nn.Module, input_shape: Sequence[int],
          leaf_modules: Sequence[type[nn.Module]] = ()) -> TracedModel:
    """Map ``model`` to a receptive-field graph for inputs of ``input_shape`` (batch, channels, *spatial).

    Args:
        model: any ``nn.Module`` that torch.fx can trace (it is not run and not modified).
        input_shape: e.g. ``(1, 3, 224, 224)``; 1, 2 or 3 spatial axes.
        leaf_modules: module types that tracing must not enter; they must be types atrous knows
            (convolutions, pooling, pointwise layers) or they raise ``UnsupportedOpError``.

    Returns:
        A :class:`TracedModel`.
    """
    shape = _check_shape(input_shape)
    was_training = model.training
    model.eval()  # symbolic tracing of branches such as `if self.training` follows eval mode
    try:
        gm = _symbolic(model, tuple(leaf_modules))
    finally:
        model.train(was_training)
    dims = len(shape) - 2
    result = TracedModel(rf.Graph(dims=dims), shape)
    env: dict[str, Any] = {}
    ctx = ops.Context(result, gm)
    placeholders = 0
    for node in gm.graph.nodes:
        ctx.fx_node = node
        if node.op == "placeholder":
            placeholders += 1
            if placeholders == 1:
                env[node.name] = Val(0, shape, tuple(range(2, 2 + dims)))
                result.spatial_nodes.add(0)
            else:  # extra inputs with defaults (e.g. optional conditioning) are constants here
                env[node.name] = node.args[0] if node.args else None
        elif node.op == "get_attr":
            value = _fetch_attr(gm, str(node.target))
            env[node.name] = value  # parameters and buffers: real tensors, so constant work can run for real
        elif node.op == "output":
            _outputs(result, _load(node.args[0], env))
        else:
            args = _load(node.args, env)
            kwargs = _load(node.kwargs, env)
            blocked = next((a for a in _flat(args) + _flat(list(kwargs.values())) if isinstance(a, Opaque)), None)
            try:
                value = blocked if blocked is not None else _run(ctx, node, args, kwargs)
            except UnsupportedOpError as e:
                value = Opaque(e)
            env[node.name] = value
            if isinstance(value, Opaque):
                result.opaque[node.name] = value.error
                if node.op == "call_module":
                    result.opaque.setdefault(str(node.target), value.error)
            if isinstance(value, Val):
                result.aliases[node.name] = value.node
                _record_modules(result, node, value.node)
                if all(a is not None for a in value.axes):
                    result.spatial_nodes.add(value.node)
    if not result.outputs and not result.opaque:
        raise UnsupportedOpError("analyze: the model's output does not depend on its input")
    return result


def _check_shape(input_shape: Sequence[int]) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in input_shape)
    except (TypeError, ValueError):
        raise ConfigError(f"analyze: input_shape must be a sequence of ints, got {input_shape!r}") from None
    if not 3 <= len(shape) <= 5 or any(s < 1 for s in shape):
        raise ConfigError("analyze: input_shape must be (batch, channels, *spatial) with 1 to 3 spatial axes "
                          f"and positive sizes, got {list(input_shape)!r}")
    return shape


def _fetch_attr(gm: fx.GraphModule, target: str) -> Any:
    obj: Any = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _load(a: Any, env: dict[str, Any]) -> Any:
    return fx.node.map_arg(a, lambda n: env[n.name])


def _record_modules(result: TracedModel, fx_node: fx.Node, node: int) -> None:
    """Every module this fx node runs inside now ends (so far) at ``node``: the last one is its output."""
    stack = fx_node.meta.get("nn_module_stack") or {}
    paths = [str(v[0]) if isinstance(v, tuple) else str(k) for k, v in stack.items()]
    if fx_node.op == "call_module":
        target = str(fx_node.target)
        parts = target.split(".")
        paths += [".".join(parts[:i]) for i in range(1, len(parts) + 1)]
    for path in paths:
        result.modules[path] = node


def _outputs(result: TracedModel, value: Any, prefix: str = "") -> None:
    if isinstance(value, Val):
        result.outputs[prefix or "output"] = value.node
    elif isinstance(value, Opaque):
        result.opaque[prefix or "output"] = value.error
    elif isinstance(value, dict):
        for k, v in value.items():
            _outputs(result, v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _outputs(result, v, f"{prefix}.{i}" if prefix else str(i))


def _run(ctx: ops.Context, node: fx.Node, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    vals = [a for a in _flat(args) + _flat(list(kwargs.values())) if isinstance(a, Val)]
    if node.op == "call_module":
        module = ctx.gm.get_submodule(str(node.target))
        if not vals:
            return _constant(module, args, kwargs)
        return ops.call_module(ctx, module, args, kwargs)
    target = node.target
    if node.op == "call_method":
        if not vals:
            return _constant(lambda obj, *a, **k: getattr(obj, str(target))(*a, **k), args, kwargs)
        return functions.call_method(ctx, str(target), args, kwargs)
    if not vals:
        return _constant(target, args, kwargs)
    return functions.call_function(ctx, target, args, kwargs)


def _constant(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Work that does not depend on the input (a weight-norm reparametrisation, a shape computation) is run
    for real on the model's own tensors; if it cannot run, its result is an opaque constant."""
    if any(isinstance(a, Const) for a in _flat(args) + _flat(list(kwargs.values()))):
        return Const()
    try:
        with torch.no_grad():
            return fn(*args, **kwargs)
    except Exception:
        return Const()


def _flat(a: Any) -> list[Any]:
    if isinstance(a, (list, tuple)):
        return [x for item in a for x in _flat(item)]
    if isinstance(a, dict):
        return [x for item in a.values() for x in _flat(item)]
    return [a]

