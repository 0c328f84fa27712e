"""The model registry: ``register_model``, ``create_model``, ``list_models``.

Every model records how it was built (``model.atrous_config``), so a checkpoint can rebuild it with
``create_model(**config)``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from torch import nn

from atrous.errors import ConfigError

__all__ = ["ModelInfo", "create_model", "list_models", "model_info", "parameter_count", "register_model"]

#: keyword arguments whose name ends like this are sizes: positive ints (or lists of them) in every family
SIZE_SUFFIXES = ("channels", "classes", "_size", "width", "depth", "blocks", "layers")

F = TypeVar("F", bound=Callable[..., nn.Module])


@dataclass(frozen=True)
class ModelInfo:
    """What the registry knows about a model family."""

    name: str
    builder: Callable[..., nn.Module]
    description: str
    causal: bool
    #: an input shape the defaults accept, for tests and ``atrous analyze atrous:NAME``
    input_shape: tuple[int, ...]
    tags: tuple[str, ...] = field(default_factory=tuple)
    #: the module whose output ``receptive_field()`` describes (None: the model's output)
    rf_node: str | None = None


_REGISTRY: dict[str, ModelInfo] = {}


def register_model(name: str | None = None, *, description: str = "", causal: bool = False,
                   input_shape: tuple[int, ...] = (2, 1, 256), tags: tuple[str, ...] = (),
                   rf_node: str | None = None) -> Callable[[F], F]:
    """Decorator: register a builder (a class or a function returning an ``nn.Module``) under ``name``.

    >>> from torch import nn
    >>> @register_model("doc_example_identity", description="nothing", input_shape=(1, 1, 8))
    ... def _identity() -> nn.Module:
    ...     return nn.Identity()
    >>> create_model("doc_example_identity").atrous_config
    {'name': 'doc_example_identity', 'kwargs': {}}
    >>> _ = _REGISTRY.pop("doc_example_identity")
    """

    def decorate(builder: F) -> F:
        key = name or builder.__name__.lower()
        if key in _REGISTRY:
            raise ConfigError(f"register_model: name must be unique, got {key!r}, which is already registered")
        doc = description or (inspect.getdoc(builder) or "").split("\n")[0]
        _REGISTRY[key] = ModelInfo(key, builder, doc, causal, tuple(input_shape), tuple(tags), rf_node)
        return builder

    return decorate


def _load_families() -> None:
    import atrous.models  # noqa: F401  (importing the package registers every family)


def list_models(causal: bool | None = None) -> list[str]:
    """Registered names, sorted; ``causal=True`` keeps the streaming-capable ones."""
    _load_families()
    return sorted(n for n, info in _REGISTRY.items() if causal is None or info.causal == causal)


def model_info(name: str) -> ModelInfo:
    _load_families()
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ConfigError(f"create_model: name must be one of {', '.join(sorted(_REGISTRY))}, got {name!r}")
    return _REGISTRY[name]


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered model with its defaults overridden by ``kwargs`` (torch-style argument names)."""
    info = model_info(name)
    params = inspect.signature(info.builder).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    unknown = [k for k in kwargs if k not in params and not takes_any]
    if unknown:
        allowed = ", ".join(p for p in params if p != "self")
        raise ConfigError(f"create_model: {unknown[0]!r} is not an argument of {name!r}; it takes {allowed}")
    _check_sizes(name, kwargs)
    _check_weights(name, info.builder, kwargs)
    try:
        model = info.builder(**kwargs)
    except TypeError as e:
        raise ConfigError(f"create_model: arguments of {name!r} must match its signature ({e})") from None
    model.atrous_config = {"name": name, "kwargs": dict(kwargs)}  # type: ignore[assignment]
    return model


def _check_sizes(name: str, kwargs: dict[str, Any]) -> None:
    """Sizes (``num_classes``, ``channels``, ``hidden_size``, ...) must be positive: a zero-width head or a
    negative channel count is refused here for every family, with the argument's name."""
    from atrous._validate import int_in_range

    for key, value in kwargs.items():
        if not key.endswith(SIZE_SUFFIXES) or isinstance(value, (bool, str)) or value is None:
            continue
        items = value if isinstance(value, (list, tuple)) else [value]
        for item in items:
            if isinstance(item, int) or isinstance(item, float):
                int_in_range(f"create_model({name!r})", key, item, 1)


#: an argument at least this large makes create_model count the model's weights on the meta device first
_LARGE = 10_000


def _check_weights(name: str, builder: Callable[..., nn.Module], kwargs: dict[str, Any]) -> None:
    """A model built from a large argument (``kernel_size=10**9``) is counted on the meta device first and refused
    when its weights cannot fit in this machine's memory, instead of failing in the middle of an allocation."""
    import torch

    from atrous._validate import fits_in_ram

    def numbers(v: Any) -> list[int]:
        if isinstance(v, (list, tuple)):
            return [n for item in v for n in numbers(item)]
        return [v] if isinstance(v, int) and not isinstance(v, bool) else []

    large = {k: v for k, v in kwargs.items() if any(abs(n) >= _LARGE for n in numbers(v))}
    if not large or torch.get_default_device().type == "meta":
        return
    try:
        with torch.device("meta"):
            model = builder(**kwargs)
    except Exception:  # the real build below says what is wrong with the arguments
        return
    nbytes = sum(p.numel() * p.element_size() for p in model.parameters())
    nbytes += sum(b.numel() * b.element_size() for b in model.buffers())
    arg = ", ".join(large)
    fits_in_ram(f"create_model({name!r})", arg, large if len(large) > 1 else next(iter(large.values())), nbytes,
                "its weights")


def parameter_count(name: str, **kwargs: Any) -> int | None:
    """Parameters of ``create_model(name, **kwargs)``, counted on the meta device (nothing is allocated);
    None when the builder cannot run there (it reads tensor values while building).

    >>> parameter_count("tcn", in_channels=1, out_channels=1, channels=[4], kernel_size=2)
    61
    """
    import torch

    try:
        with torch.device("meta"):
            model = create_model(name, **kwargs)
    except ConfigError:
        raise
    except Exception:
        return None
    return sum(p.numel() for p in model.parameters())
