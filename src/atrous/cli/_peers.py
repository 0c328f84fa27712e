"""SOURCE registries of peer libraries: ``timm:NAME`` and ``smp:ARCH``, built without pretrained weights.

* ``timm:NAME[?key=value&...]`` calls ``timm.create_model(NAME, pretrained=False, ...)``; NAME is any name of
  ``timm.list_models()``. A name that is not a model but a function of the ``timm`` package
  (``timm:create_model?model_name=resnet18``) keeps its old meaning: the ``package.module:callable`` form.
* ``smp:ARCH[?key=value&...]`` calls ``segmentation_models_pytorch.create_model(ARCH, encoder_weights=None,
  ...)``; ARCH is one of its architectures, in any case (``Unet``, ``unet``, ``DeepLabV3Plus``).

Either default can be overridden (``?pretrained=True``), at which point the library may try to download.
"""

from __future__ import annotations

import difflib
from typing import Any

from atrous.errors import ConfigError

__all__ = ["PEERS", "is_timm_model", "smp_builder", "timm_builder"]

#: SOURCE prefix -> the pip package that provides it
PEERS = {"timm": "timm", "smp": "segmentation-models-pytorch"}


def _import(prefix: str, where: str) -> Any:
    try:
        if prefix == "timm":
            import timm

            return timm
        import segmentation_models_pytorch

        return segmentation_models_pytorch
    except ImportError:
        raise ConfigError(f"{where}: SOURCE {prefix}:NAME needs the {PEERS[prefix]} package, which is not "
                          f"installed; pip install {PEERS[prefix]}") from None


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=5, cutoff=0.6)
    return f"; did you mean {', '.join(close)}?" if close else ""


def is_timm_model(name: str, where: str) -> bool:
    """Whether ``timm:NAME`` names a timm model (True) or another attribute of the package (False)."""
    timm = _import("timm", where)
    return bool(timm.is_model(name)) or not hasattr(timm, name)


def timm_builder(name: str, kwargs: dict[str, Any], where: str) -> tuple[Any, str]:
    """A no-argument builder for ``timm:NAME`` and its label; unknown names are refused with suggestions."""
    timm = _import("timm", where)
    if not timm.is_model(name):
        raise ConfigError(f"{where}: SOURCE timm:NAME must be one of timm.list_models(), got {name!r}"
                          f"{_suggest(name, timm.list_models())}")
    merged = {"pretrained": False, **kwargs}
    return (lambda: timm.create_model(name, **merged)), f"timm:{name}"


def smp_builder(arch: str, kwargs: dict[str, Any], where: str) -> tuple[Any, str]:
    """A no-argument builder for ``smp:ARCH`` and its label; ARCH is matched without regard to case."""
    smp = _import("smp", where)
    archs = {cls.__name__.lower(): cls.__name__ for cls in smp.MODEL_ARCHITECTURES_MAPPING.values()}
    canonical = archs.get(arch.lower())
    if canonical is None:
        raise ConfigError(f"{where}: SOURCE smp:ARCH must be one of {', '.join(sorted(archs.values()))}, got "
                          f"{arch!r}{_suggest(arch, sorted(archs.values()))}")
    merged = {"encoder_weights": None, **kwargs}
    return (lambda: smp.create_model(canonical, **merged)), f"smp:{canonical}"
