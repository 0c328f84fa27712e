"""SOURCE: the model that ``atrous analyze`` and ``atrous report`` read, resolved once per command.

Forms:

* ``torchvision:NAME[?key=value&...][#submodule]``: a torchvision builder, with ``weights=None`` (and
  ``weights_backbone=None`` where the builder takes it): nothing is downloaded.
* ``atrous:NAME[?key=value&...]``: a model of atrous's registry.
* ``timm:NAME[?key=value&...]`` and ``smp:ARCH[?key=value&...]``: ``timm.create_model(NAME, pretrained=False)``
  and ``segmentation_models_pytorch.create_model(ARCH, encoder_weights=None)`` (cli/_peers.py).
* a checkpoint written by ``atrous train`` (a ``.pt`` file, or a run folder: its ``best.pt``, else ``last.pt``):
  read with ``torch.load(weights_only=True)``, so no code in it runs; the network is rebuilt from the registry.
* ``package.module:callable[?key=value&...][#submodule]``: **code**. The module is imported (its top level runs)
  and the callable is called with the keyword values. Like ``torch.hub.load``, it trusts the module it names.

The rule for ``package.module:callable`` (what is refused before anything runs, then before the call):

1. the module must not be part of Python's standard library (``os:system``, ``subprocess:run``,
   ``builtins:exec``, ``importlib:import_module``, ...): none of them builds a network;
2. the module must be findable (``importlib.util.find_spec``) before it is imported;
3. after the import, the attribute must be an ``nn.Module`` instance (used as is), an ``nn.Module`` subclass,
   or a plain Python function defined in the package that SOURCE names (not a function re-exported from
   another package, such as ``subprocess.run`` imported into ``mypkg``), and not in ``torch`` itself (its
   functions are tensor operations and loaders such as ``torch.hub:load``; its layers are classes), whose return
   annotation, when it has one, is an ``nn.Module`` type. Builtins (``torch:ones``) and other classes are
   refused without being called.

Keyword values are Python literals read with :func:`ast.literal_eval` (``replace_stride_with_dilation=
[False,True,True]``); a bare word stays a string (``mode=nearest``). A ``#attribute.path`` suffix selects a
submodule (``torchvision:deeplabv3_resnet50#backbone``).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect
import sys
import typing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from torch import nn

from atrous.cli._peers import is_timm_model, smp_builder, timm_builder
from atrous.errors import AtrousError, ConfigError

__all__ = ["Source", "build_model", "load_model", "parse_input_shape", "parse_source"]

HELP = ("SOURCE must be torchvision:NAME, atrous:NAME, timm:NAME, smp:ARCH, package.module:callable (optionally "
        "?key=value&...) or a checkpoint of atrous train")
#: SOURCE prefixes that name a registry rather than a module
REGISTRIES = ("torchvision", "atrous", "timm", "smp")


@dataclass(frozen=True)
class Source:
    """A parsed SOURCE string; nothing has been imported or built yet (a checkpoint has been read).

    ``kind`` is ``"torchvision"``, ``"atrous"``, ``"timm"``, ``"smp"``, ``"callable"`` or ``"checkpoint"``;
    ``name`` the model (the registry name of a checkpoint's network, the callable's name for a module);
    ``module`` the module of a ``"callable"``; ``checkpoint`` the loaded checkpoint (tensors included).
    """

    text: str
    kind: str
    name: str
    module: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)
    attr: str = ""
    checkpoint: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def registry_name(self) -> str | None:
        """The atrous registry name of the network (``atrous:NAME`` and checkpoints), else None."""
        if self.kind == "atrous" and not self.attr:
            return self.name
        return self.name if self.kind == "checkpoint" else None

    @property
    def model_kwargs(self) -> dict[str, Any]:
        """The keyword arguments the network is built with (a checkpoint's stored ones)."""
        if self.checkpoint is not None:
            return dict(self.checkpoint["model"].get("kwargs", {}))
        return dict(self.kwargs)


def _checkpoint_path(text: str) -> Path | None:
    """The checkpoint file a SOURCE names, or None when SOURCE is not a path."""
    path = Path(text)
    try:
        if path.is_dir():
            best = path / "best.pt"
            return best if best.exists() else path / "last.pt"
        return path if path.suffix == ".pt" or path.is_file() else None
    except OSError:  # a name too long for the filesystem, a permission error on a parent: not a path
        return None


def parse_source(text: str, where: str = "analyze") -> Source:
    """Parse SOURCE (reading the checkpoint a path names); imports and builds nothing.

    >>> s = parse_source("torchvision:resnet50?replace_stride_with_dilation=[False,True,True]#layer4")
    >>> s.kind, s.name, s.kwargs, s.attr
    ('torchvision', 'resnet50', {'replace_stride_with_dilation': [False, True, True]}, 'layer4')
    >>> parse_source("os:system?command='id'").kind
    Traceback (most recent call last):
    ...
    atrous.errors.ConfigError: analyze: SOURCE module must not be part of the standard library (it builds no \
model), got 'os'
    """
    if not isinstance(text, str) or not text or "\x00" in text:
        raise ConfigError(f"{where}: {HELP}, got {text!r}")
    path = _checkpoint_path(text)
    if path is not None:
        return _checkpoint_source(text, path, where)
    if ":" not in text:
        raise ConfigError(f"{where}: {HELP}, got {text!r}")
    head, _, attr = text.partition("#")
    head, _, query = head.partition("?")
    kind, _, name = head.partition(":")
    if not kind or not name:
        raise ConfigError(f"{where}: {HELP}, got {text!r}")
    if attr and not all(part.isidentifier() for part in attr.split(".")):
        raise ConfigError(f"{where}: SOURCE #attribute must be a dotted path of names, got {attr!r}")
    kwargs = _keywords(query, where)
    if kind in REGISTRIES:
        return Source(text, kind, name, "", kwargs, attr)
    _check_module_name(kind, name, where)
    return Source(text, "callable", name, kind, kwargs, attr)


def _keywords(query: str, where: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    for item in filter(None, query.split("&")):
        key, eq, text = item.partition("=")
        if not eq or not key.isidentifier():
            raise ConfigError(f"{where}: SOURCE keyword arguments must be key=value, got {item!r}")
        try:
            kwargs[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
            kwargs[key] = text  # a bare word such as mode=nearest
    return kwargs


def _stdlib(module: str) -> bool:
    return module.partition(".")[0] in sys.stdlib_module_names


def _check_module_name(module: str, name: str, where: str) -> None:
    """Rules 1 and 2: a non-standard-library module that can be found, and a callable name."""
    if not all(part.isidentifier() for part in module.split(".")):
        raise ConfigError(f"{where}: SOURCE module must be a dotted Python module name, got {module!r}")
    if not name.isidentifier():
        raise ConfigError(f"{where}: SOURCE callable must be a Python name, got {name!r}")
    if _stdlib(module):
        raise ConfigError(f"{where}: SOURCE module must not be part of the standard library (it builds no "
                          f"model), got {module!r}")


def _checkpoint_source(text: str, path: Path, where: str) -> Source:
    from atrous.train.state import load_checkpoint

    ckpt = load_checkpoint(path, where=where)
    model = ckpt.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("name"), str) \
            or not isinstance(model.get("kwargs", {}), dict):
        raise ConfigError(f"{where}: checkpoint must name its model ({{'name', 'kwargs'}}), got {str(path)!r}")
    return Source(text, "checkpoint", model["name"], checkpoint=ckpt)


def load_model(source: Source | str, where: str = "analyze", max_bytes: int | None = None) -> nn.Module:
    """The ``nn.Module`` a SOURCE names, in eval mode (a string is parsed first)."""
    src = source if isinstance(source, Source) else parse_source(source, where)
    return build_model(src, where, max_bytes)


def build_model(src: Source, where: str = "analyze", max_bytes: int | None = None) -> nn.Module:
    """Build (or rebuild) the network of a parsed SOURCE, then select its ``#attribute``; eval mode.

    With ``max_bytes``, a registry, torchvision or checkpoint network is first built on the meta device (no
    memory) and refused when its parameters and buffers alone would need more.
    """
    model: Any
    if src.kind == "checkpoint":
        model = _from_checkpoint(src, where, max_bytes)
    elif src.kind == "torchvision":
        model = _torchvision(src.name, src.kwargs, where, max_bytes)
    elif src.kind == "atrous":
        from atrous.models import create_model

        label = f"atrous:{src.name}"
        _check_size(lambda: create_model(src.name, **src.kwargs), label, where, max_bytes)
        model = _call(lambda: create_model(src.name, **src.kwargs), label, where)
    elif src.kind == "smp" or (src.kind == "timm" and is_timm_model(src.name, where)):
        build, label = (smp_builder if src.kind == "smp" else timm_builder)(src.name, src.kwargs, where)
        _check_size(build, label, where, max_bytes)
        model = _call(build, label, where)
    elif src.kind == "timm":  # a function of the timm package, such as timm:create_model?model_name=...
        model = _callable(replace(src, kind="callable", module="timm"), where)
    else:
        model = _callable(src, where)
    for part in filter(None, src.attr.split(".")):
        if not hasattr(model, part):
            raise ConfigError(f"{where}: SOURCE attribute must name a submodule of the model, got {src.attr!r} "
                              f"({type(model).__name__} has no {part!r})")
        model = getattr(model, part)
    if not isinstance(model, nn.Module):
        raise ConfigError(f"{where}: SOURCE must build an nn.Module, got {type(model).__name__}")
    return model.eval()


def _call(build: Any, what: str, where: str) -> Any:
    """Run a builder; whatever it raises (a wrong keyword, a value it rejects) becomes one line."""
    try:
        return build()
    except AtrousError:
        raise
    except (KeyboardInterrupt, GeneratorExit):
        raise
    except MemoryError:
        raise ConfigError(f"{where}: {what} ran out of memory while building the model; check its sizes") from None
    except BaseException as e:  # SystemExit included: a builder must not end the command without a word
        raise ConfigError(f"{where}: {what} failed while building the model: {_describe(e)}"
                          f"{_download_hint(e)}") from None


#: exception class names that mean a download was tried and failed (urllib, requests, huggingface_hub, socket)
_NETWORK_ERRORS = frozenset({"URLError", "HTTPError", "ConnectionError", "gaierror", "timeout", "TimeoutError",
                             "LocalEntryNotFoundError", "OfflineModeIsEnabled", "ConnectTimeout", "ReadTimeout"})


def _download_hint(e: BaseException) -> str:
    """A hint when a builder failed because it tried to download pretrained weights."""
    seen: set[int] = set()
    cause: BaseException | None = e
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if type(cause).__name__ in _NETWORK_ERRORS:
            return ("; it tried to download weights, which the analysis does not need: pass pretrained=False, "
                    "weights=None or encoder_weights=None as ?key=value, or use timm:NAME / smp:ARCH, which "
                    "build without them")
        cause = cause.__cause__ or cause.__context__
    return ""


def _describe(e: BaseException) -> str:
    text = " ".join(str(e).split())
    if len(text) > 300:
        text = text[:300] + " ..."
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _check_size(build: Any, label: str, where: str, max_bytes: int | None) -> None:
    """Build on the meta device and refuse a network whose parameters and buffers exceed ``max_bytes``."""
    if max_bytes is None:
        return
    import torch

    from atrous._validate import check_cap

    try:
        with torch.device("meta"):
            meta = build()
        tensors = [*meta.parameters(), *meta.buffers()]
    except AtrousError:
        raise
    except Exception:  # a builder that reads tensor values cannot run on meta; the real build decides
        return
    size = sum(t.numel() * t.element_size() for t in tensors)
    check_cap(where, "SOURCE", label, size, max_bytes, "memory",
              "that is the size of the model's parameters and buffers; raise --max-memory (GB)")


def _from_checkpoint(src: Source, where: str, max_bytes: int | None = None) -> nn.Module:
    from atrous.models.recurrent import build

    assert src.checkpoint is not None
    _check_size(lambda: build(src.name, **src.model_kwargs), f"checkpoint model {src.name!r}", where, max_bytes)
    model: nn.Module = _call(lambda: build(src.name, **src.model_kwargs), f"checkpoint model {src.name!r}", where)
    state = src.checkpoint.get("state_dict")
    if not isinstance(state, dict):
        raise ConfigError(f"{where}: checkpoint must hold a state_dict, got {type(state).__name__} in "
                          f"{src.text!r}")
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, ValueError, KeyError) as e:
        first = " ".join(str(e).split())[:300]
        raise ConfigError(f"{where}: checkpoint weights must fit its model {src.name!r}, got {src.text!r} "
                          f"({first})") from None
    return model


def _torchvision(name: str, kwargs: dict[str, Any], where: str, max_bytes: int | None = None) -> nn.Module:
    try:
        import torchvision.models as tvm
    except ImportError:
        raise ConfigError(f"{where}: torchvision is not installed; pip install 'atrous[vision]'") from None
    try:
        builder = tvm.get_model_builder(name)
    except ValueError:
        known = ", ".join(sorted(tvm.list_models())[:8])
        raise ConfigError(f"{where}: torchvision model must be one of torchvision.models.list_models(), got "
                          f"{name!r} (e.g. {known}, ...)") from None
    params = inspect.signature(builder).parameters
    kwargs = {"weights": None, **kwargs}
    if "weights_backbone" in params:
        kwargs.setdefault("weights_backbone", None)
    if name in ("googlenet", "inception_v3"):
        kwargs.setdefault("init_weights", False)  # the default initialisation is slow and irrelevant here
    _check_size(lambda: builder(**kwargs), f"torchvision:{name}", where, max_bytes)
    model: nn.Module = _call(lambda: builder(**kwargs), f"torchvision:{name}", where)
    return model


def _callable(src: Source, where: str) -> Any:
    """Rules 2 and 3: find the module, import it, check the attribute, and only then call it."""
    label = f"{src.module}:{src.name}"
    try:
        spec = importlib.util.find_spec(src.module)
    except (ImportError, ValueError) as e:
        raise ConfigError(f"{where}: SOURCE module must be importable, got {src.module!r} ({_describe(e)})") from None
    except BaseException as e:  # a parent package that fails on import
        if isinstance(e, (KeyboardInterrupt, GeneratorExit)):
            raise
        raise ConfigError(f"{where}: SOURCE module {src.module!r} failed on import: {_describe(e)}") from None
    if spec is None:
        raise ConfigError(f"{where}: SOURCE module must be importable, got {src.module!r} (no module of that name "
                          "on sys.path)")
    try:
        module = importlib.import_module(src.module)
    except (KeyboardInterrupt, GeneratorExit):
        raise
    except BaseException as e:  # SystemExit in the module's top level included
        raise ConfigError(f"{where}: SOURCE module {src.module!r} failed on import: {_describe(e)}") from None
    target = getattr(module, src.name, None)
    if target is None:
        raise ConfigError(f"{where}: SOURCE callable must exist in {src.module}, got {src.name!r}")
    if isinstance(target, nn.Module):
        if src.kwargs:
            raise ConfigError(f"{where}: {label} is a module instance, so it takes no ?key=value arguments, got "
                              f"{sorted(src.kwargs)}")
        return target
    _check_builder(target, label, where)
    return _call(lambda: target(**src.kwargs), label, where)


def _check_builder(target: Any, label: str, where: str) -> None:
    """Rule 3: an ``nn.Module`` subclass, or a plain function from outside the standard library that does not
    promise to return something other than a module."""
    if inspect.isclass(target):
        if not issubclass(target, nn.Module):
            raise ConfigError(f"{where}: SOURCE callable must be an nn.Module subclass or a function that builds "
                              f"one, got class {label} ({target.__module__}.{target.__qualname__})")
        return
    if not inspect.isfunction(target):
        raise ConfigError(f"{where}: SOURCE callable must be an nn.Module subclass or a Python function that "
                          f"builds one, got {type(target).__name__} {label}")
    home = getattr(target, "__module__", None) or ""
    package = home.partition(".")[0]
    if _stdlib(home) or package != src_package(label) or package == "torch":
        raise ConfigError(f"{where}: SOURCE callable must be a function defined in the package SOURCE names "
                          f"(and not in torch or the standard library), got {label} (defined in {home or '?'})")
    try:
        returns = typing.get_type_hints(target).get("return")
    except Exception:  # an annotation that does not resolve says nothing either way
        returns = None
    if inspect.isclass(returns) and not issubclass(returns, nn.Module):
        raise ConfigError(f"{where}: SOURCE callable must build an nn.Module, got {label} annotated to return "
                          f"{returns.__name__}")


def src_package(label: str) -> str:
    """The top-level package of a ``package.module:callable`` label."""
    return label.partition(":")[0].partition(".")[0]


def parse_input_shape(text: str, where: str = "analyze") -> tuple[int, ...]:
    """``"1,3,224,224"`` -> ``(1, 3, 224, 224)``: batch, channels and 1 to 3 spatial sizes, all positive."""
    try:
        items = text.replace("x", ",").split(",")
        shape = tuple(int(t) for t in items if len(t.strip()) <= 30)
        if len(shape) != len(items):
            shape = ()
    except ValueError:
        shape = ()
    if not 3 <= len(shape) <= 5 or any(s < 1 for s in shape):
        raise ConfigError(f"{where}: --input-shape must be batch,channels,*spatial with 1 to 3 spatial sizes, "
                          f"all positive ints, got {text!r}")
    return shape
