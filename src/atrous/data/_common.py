"""Shared helpers of the task datasets: optional imports, per-item random generators, the cache folder."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

import numpy as np

from atrous.errors import AtrousError, bad

__all__ = ["MissingDependencyError", "cache_dir", "item_rng", "require", "split_id"]

SPLITS = ("train", "test")


class MissingDependencyError(AtrousError, ImportError):
    """An optional dependency of a dataset is not installed; the message names the extra."""


def require(module: str, where: str, extra: str = "data") -> ModuleType:
    """Import an optional dependency, or raise one line naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(
            f"{where}: needs the optional dependency {module.split('.')[0]!r}; "
            f"install it with `pip install atrous[{extra}]`"
        ) from None


def split_id(where: str, split: str, allowed: tuple[str, ...] = SPLITS) -> int:
    if split not in allowed:
        raise bad(where, "split", f"one of {', '.join(map(repr, allowed))}", split)
    return allowed.index(split)


def item_rng(seed: int, split: int, index: int) -> np.random.Generator:
    """The generator of one sample: a function of (seed, split, index) only, so any item can be drawn alone,
    in any order, by any process, and the train and test streams never share a sample's randomness."""
    return np.random.default_rng([seed, split, index])


def cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """Where parsed corpora are cached: ``override``, else ``$ATROUS_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/atrous``, else ``~/.cache/atrous``."""
    if override is not None:
        return Path(override)
    if os.environ.get("ATROUS_CACHE_DIR"):
        return Path(os.environ["ATROUS_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "atrous"


def check_count(where: str, arg: str, value: object, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise bad(where, arg, f"an int >= {minimum}", value)
    return value
