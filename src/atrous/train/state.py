"""Checkpoints and random state: what a run saves so that resuming it gives the same numbers.

A checkpoint is a ``torch.save`` file that loads with ``weights_only=True`` (tensors, numbers, strings, lists
and dicts only; the numpy and Python RNG states are stored as lists). It holds the model's ``atrous_config``
(``{"name", "kwargs"}``), so :func:`load_model` rebuilds the network without the code that trained it.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from atrous._files import atomic_write_with
from atrous.errors import ConfigError

__all__ = ["FORMAT", "load_checkpoint", "load_model", "rng_state", "save_checkpoint", "seed_everything",
           "set_rng_state"]

FORMAT = "atrous-train/1"


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators (every device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (the global generator is what user code draws from)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """The global random state of this process, as plain lists and tensors."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)  # noqa: NPY002
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized()  # type: ignore[no-untyped-call]
        else [],
        "numpy": [kind, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss), float(gauss)],
        "python": [version, list(internal), gauss_next],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))  # noqa: NPY002
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))


def save_checkpoint(path: str | os.PathLike[str], payload: dict[str, Any]) -> None:
    """Write atomically (a temporary file, fsync'ed, then renamed): an interrupted or failed save (a kill, a full
    disk) leaves the previous file whole and removes its temporary; a failure raises
    :class:`~atrous.errors.ConfigError` naming the file."""
    path = Path(path)
    kept = "the previous one is unchanged" if path.exists() else "nothing was written"
    try:
        atomic_write_with(path, lambda f: torch.save({"format": FORMAT, **payload}, f))
    except OSError as e:
        raise ConfigError(f"fit: checkpoint {str(path)!r} could not be written ({e.strerror or e}); {kept}") from None
    except RuntimeError as e:  # torch's zip writer reports a failed write as a RuntimeError
        raise ConfigError(f"fit: checkpoint {str(path)!r} could not be written ({' '.join(str(e).split())}); "
                          f"{kept}") from None


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu", *,
                    where: str = "load_checkpoint") -> dict[str, Any]:
    """Read a checkpoint written by ``atrous train`` (``weights_only=True``: no code is unpickled).

    An empty, truncated or foreign file, or one that is not a checkpoint of this format, raises
    :class:`~atrous.errors.ConfigError` naming the file (``where`` is the command that reads it).
    """
    path = Path(path)
    if path.is_dir():
        path = path / "last.pt"
    if not path.is_file():
        raise ConfigError(f"{where}: checkpoint must exist, got {str(path)!r}; pass the out folder of a run")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as e:  # pickle, zip and torch errors alike: the file is not a readable checkpoint
        text = " ".join(str(e).split())[:200]
        why = f"{type(e).__name__}: {text}" if text and text != type(e).__name__ else type(e).__name__
        raise ConfigError(f"{where}: checkpoint must be a file written by atrous train, got {str(path)!r} "
                          f"({why})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        found = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ConfigError(f"{where}: checkpoint format must be {FORMAT!r}, got {found!r} in {str(path)!r}")
    return ckpt


def load_model(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the trained network of a checkpoint (``best.pt``, ``last.pt`` or a run folder), in eval mode.

    Registered models are rebuilt with :func:`atrous.models.create_model`, the recurrent baselines with
    :func:`atrous.models.recurrent.create_recurrent`, from the ``atrous_config`` stored in the file.
    """
    from atrous.models.recurrent import build

    ckpt = load_checkpoint(path, map_location, where="load_model")
    model = build(ckpt["model"]["name"], **ckpt["model"]["kwargs"])
    model.load_state_dict(ckpt["state_dict"])
    return model.to(map_location).eval()
