"""Build a model from a SOURCE string: ``torchvision:NAME?key=value``, ``atrous:NAME``, ``package.module:callable``,
or the path of a checkpoint written by ``atrous train`` (``runs/x/best.pt``, or a run folder: its ``best.pt``).

Keyword values are Python literals (``replace_stride_with_dilation=[False,True,True]``); a ``#attribute.path``
suffix selects a submodule (``torchvision:deeplabv3_resnet50#backbone``). torchvision models are built with
``weights=None`` (and ``weights_backbone=None`` where the builder takes it): nothing is downloaded.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path
from typing import Any

from torch import nn

from atrous.errors import ConfigError

__all__ = ["checkpoint_config", "load_model", "parse_input_shape", "parse_source"]


def _checkpoint_path(source: str) -> Path | None:
    """The checkpoint file a SOURCE names, or None when SOURCE is not a path."""
    path = Path(source)
    if path.is_dir():
        best = path / "best.pt"
        return best if best.exists() else path / "last.pt"
    return path if path.suffix == ".pt" or (path.exists() and path.is_file()) else None


def checkpoint_config(source: str) -> dict[str, Any] | None:
    """``{"name": ..., "kwargs": {...}}`` of the model in a checkpoint SOURCE (None when SOURCE is not a path)."""
    path = _checkpoint_path(source)
    if path is None:
        return None
    state = importlib.import_module("atrous.train.state")
    model = state.load_checkpoint(path)["model"]
    return {"name": str(model["name"]), "kwargs": dict(model.get("kwargs", {}))}

HELP = "SOURCE must be torchvision:NAME, atrous:NAME or package.module:callable (optionally ?key=value&...)"


def parse_source(source: str) -> tuple[str, str, dict[str, Any], str]:
    """``"torchvision:resnet50?x=1#backbone"`` -> ``("torchvision", "resnet50", {"x": 1}, "backbone")``."""
    if not isinstance(source, str) or ":" not in source:
        raise ConfigError(f"analyze: {HELP}, got {source!r}")
    head, _, attr = source.partition("#")
    head, _, query = head.partition("?")
    kind, _, name = head.partition(":")
    if not kind or not name:
        raise ConfigError(f"analyze: {HELP}, got {source!r}")
    kwargs: dict[str, Any] = {}
    for item in filter(None, query.split("&")):
        key, eq, text = item.partition("=")
        if not eq or not key.isidentifier():
            raise ConfigError(f"analyze: SOURCE keyword arguments must be key=value, got {item!r}")
        try:
            kwargs[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            kwargs[key] = text  # a bare word such as mode=nearest
    return kind, name, kwargs, attr


def load_model(source: str) -> nn.Module:
    """The ``nn.Module`` a SOURCE string names (in eval mode)."""
    path = _checkpoint_path(source) if isinstance(source, str) else None
    if path is not None:
        state = importlib.import_module("atrous.train.state")
        trained: nn.Module = state.load_model(path)
        return trained.eval()
    kind, name, kwargs, attr = parse_source(source)
    if kind == "torchvision":
        model = _torchvision(name, kwargs)
    elif kind == "atrous":
        try:
            registry = importlib.import_module("atrous.models")
        except ImportError:
            raise ConfigError("analyze: atrous:NAME needs the model registry (atrous.models), which this "
                              "version does not have yet") from None
        model = registry.create_model(name, **kwargs)
    else:
        model = _callable(kind, name, kwargs)
    for part in filter(None, attr.split(".")):
        if not hasattr(model, part):
            raise ConfigError(f"analyze: SOURCE attribute must name a submodule of the model, got {attr!r} "
                              f"({type(model).__name__} has no {part!r})")
        model = getattr(model, part)
    if not isinstance(model, nn.Module):
        raise ConfigError(f"analyze: SOURCE must build an nn.Module, got {type(model).__name__}")
    return model.eval()


def _torchvision(name: str, kwargs: dict[str, Any]) -> nn.Module:
    try:
        import torchvision.models as tvm
    except ImportError:
        raise ConfigError("analyze: torchvision is not installed; pip install 'atrous[vision]'") from None
    try:
        builder = tvm.get_model_builder(name)
    except ValueError:
        known = ", ".join(sorted(tvm.list_models())[:8])
        raise ConfigError(f"analyze: torchvision model must be one of torchvision.models.list_models(), got "
                          f"{name!r} (e.g. {known}, ...)") from None
    params = inspect.signature(builder).parameters
    kwargs = {"weights": None, **kwargs}
    if "weights_backbone" in params:
        kwargs.setdefault("weights_backbone", None)
    if name in ("googlenet", "inception_v3"):
        kwargs.setdefault("init_weights", False)  # the default initialisation is slow and irrelevant here
    try:
        model: nn.Module = builder(**kwargs)
    except TypeError as e:
        raise ConfigError(f"analyze: torchvision:{name} does not accept these arguments: {e}") from None
    return model


def _callable(module_name: str, attr: str, kwargs: dict[str, Any]) -> nn.Module:
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ConfigError(f"analyze: SOURCE module must be importable, got {module_name!r} ({e})") from None
    target = getattr(module, attr, None)
    if target is None:
        raise ConfigError(f"analyze: SOURCE callable must exist in {module_name}, got {attr!r}")
    obj = target(**kwargs) if callable(target) and not isinstance(target, nn.Module) else target
    if not isinstance(obj, nn.Module):
        raise ConfigError(f"analyze: {module_name}:{attr} must return an nn.Module, got {type(obj).__name__}")
    return obj


def parse_input_shape(text: str) -> tuple[int, ...]:
    """``"1,3,224,224"`` -> ``(1, 3, 224, 224)``: batch, channels and 1 to 3 spatial sizes, all positive."""
    try:
        shape = tuple(int(t) for t in text.replace("x", ",").split(","))
    except ValueError:
        shape = ()
    if not 3 <= len(shape) <= 5 or any(s < 1 for s in shape):
        raise ConfigError("analyze: --input-shape must be batch,channels,*spatial with 1 to 3 spatial sizes, "
                          f"all positive ints, got {text!r}")
    return shape
