"""atrous: dilated (à trous) convolutions for PyTorch.

``import atrous`` is cheap: subpackages are loaded on first use (``atrous.rf`` never imports torch).
"""

from __future__ import annotations

import importlib
from typing import Any

from atrous._version import __version__
from atrous.errors import AtrousError, ConfigError, ShapeError, UnsupportedOpError

__all__ = ["AtrousError", "ConfigError", "ShapeError", "UnsupportedOpError", "__version__", "rf"]

_SUBPACKAGES = {"rf", "cli", "functional", "nn", "analysis", "models", "stream", "data", "train", "report"}


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"atrous.{name}")
    raise AttributeError(f"module 'atrous' has no attribute {name!r}")
