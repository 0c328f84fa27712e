"""atrous: dilated (à trous) convolutions for PyTorch.

The notebook front door:

>>> import atrous, torch.nn as nn
>>> net = nn.Sequential(nn.Conv1d(1, 4, 3, padding=1), nn.Conv1d(4, 1, 3, dilation=2, padding=2))
>>> atrous.analyze(net, (1, 1, 64))
Analysis(node='output', rf=7, stride=1, taps=7, holes=0, nodes=2)

``atrous.report(model, input_shape)`` adds the effective receptive field and shows the interactive page inline in
Jupyter. ``import atrous`` is cheap: subpackages are loaded on first use (``atrous.rf`` never imports torch).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from atrous._version import __version__
from atrous.errors import AtrousError, ConfigError, ShapeError, UnsupportedOpError

if TYPE_CHECKING:
    from torch import nn

    from atrous.analysis import Analysis, EmpiricalRF

__all__ = ["AtrousError", "ConfigError", "ShapeError", "UnsupportedOpError", "__version__", "analyze",
           "create_model", "empirical_rf", "list_models"]

_SUBPACKAGES = ("analysis", "cli", "data", "functional", "models", "nn", "report", "rf", "stream", "train")


def analyze(model: nn.Module | str, input_shape: Sequence[int] | None = None, *, node: str | None = None,
            output: str | int | None = None) -> Analysis:
    """Receptive field, holes, alignment and gridding of every node of ``model`` at ``input_shape``.

    ``model`` is an ``nn.Module`` or a SOURCE string (``"torchvision:resnet50"``, ``"atrous:tcn"``; a registry model
    has a default input shape). Returns an :class:`~atrous.analysis.Analysis`: a short repr, an inline table in
    Jupyter, ``.to_dict()`` (the ``atrous analyze --json`` object) and ``.save(path)``. See
    :func:`atrous.analysis.analyze` for ``node`` and ``output``. ``atrous.report(model, input_shape)`` (the
    ``atrous.report`` package is callable) adds the effective receptive field and the interactive page.
    """
    from atrous._front import analyze as run

    return run(model, input_shape, node=node, output=output)


def empirical_rf(model: nn.Module | str, input_shape: Sequence[int] | None = None, *, node: str | None = None,
                 max_size: int = 4096, progress: bool | None = None,
                 max_memory: int | None = None) -> EmpiricalRF:
    """The receptive field of ``model``'s centre output unit measured by autograd (no tracing: works on any model
    that runs), with a progress bar over its passes on a terminal or in a notebook. See
    :func:`atrous.analysis.empirical_rf`; ``atrous analyze --empirical`` on the command line."""
    from atrous._front import empirical_rf as run

    return run(model, input_shape, node=node, max_size=max_size, progress=progress, max_memory=max_memory)


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """A model of the registry by name (``atrous.list_models()``), as ``atrous.models.create_model``."""
    from atrous.models import create_model as create

    return create(name, **kwargs)


def list_models(causal: bool | None = None) -> list[str]:
    """The names of the registry's models (``causal=True``: those that can be streamed)."""
    from atrous.models import list_models as names

    return names(causal)


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        import importlib

        return importlib.import_module(f"atrous.{name}")
    raise AttributeError(f"module 'atrous' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*__all__, *_SUBPACKAGES})
