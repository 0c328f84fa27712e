"""Polyphonic music: Bach chorales from music21's bundled corpus as 88-key piano rolls (JSB-Chorales style).

The JSB Chorales benchmark (Boulanger-Lewandowski et al. 2012; Bai et al. 2018, Table 1) is a set of piano
rolls that no package ships. This module derives equivalent rolls from the MusicXML chorales that ship inside
music21 (``bach/bwv*.mxl``), offline:

* **Pieces:** every ``bach/bwv*.mxl`` file of the corpus except ``bwv846`` (a prelude, not a chorale): 407
  files in music21 9-10. Some harmonisations appear under several BWV numbers, so a melody can occur in more than
  one split (as in the original benchmark, whose split is not reproduced here).
* **Time:** one frame per quarter note (``frame=1.0`` quarter lengths). A key is on in frame ``k`` when a
  note sounds at the frame's start, time ``k * frame``; shorter notes between frame starts are not seen
  (sampling, as in the original data). Repeats are not expanded; grace notes are skipped.
* **Keys:** MIDI pitches 21 (A0) to 108 (C8), all parts merged into one roll; no transposition.
* **Split:** the sorted file names, shuffled with ``seed`` (default 0), cut 60 / 20 / 20 % into
  ``train`` / ``valid`` / ``test`` (245 / 81 / 81 pieces); the original benchmark's 229 / 76 / 77 split is of
  a different file set.
* **Task:** predict frame ``t + 1`` from frames ``<= t``; the loss is the frame negative log-likelihood, the
  binary cross-entropy summed over the 88 keys and averaged over frames (per piece, then over pieces, as
  Bai et al.'s ``music_test.py`` does).

Parsing the corpus takes minutes, so the rolls are cached in one ``.npz`` file under
:func:`~atrous.data._common.cache_dir` (or the folder given).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from atrous.data._common import cache_dir, check_count, require, split_id

__all__ = ["KEYS", "LOWEST", "BachChorales", "chorale_paths", "collate_rolls", "frame_nll", "load_rolls",
           "piano_roll"]

#: number of piano keys, and the MIDI number of the lowest (A0)
KEYS, LOWEST = 88, 21
SPLITS = ("train", "valid", "test")
_FRACTIONS = (0.6, 0.2)
_NOT_CHORALES = frozenset({"bwv846"})
_FORMAT = 1


def chorale_paths() -> list[Path]:
    """The chorale files of music21's corpus, sorted by name."""
    corpus = require("music21.corpus", "BachChorales")
    paths = [Path(p) for p in corpus.getComposer("bach")]
    keep = [p for p in paths if p.suffix == ".mxl" and p.stem.startswith("bwv") and p.stem not in _NOT_CHORALES]
    return sorted(keep, key=lambda p: p.name)


def piano_roll(path: str | os.PathLike[str], frame: float = 1.0) -> np.ndarray:
    """Parse one score into a ``(frames, 88)`` uint8 roll sampled every ``frame`` quarter lengths."""
    music21 = require("music21", "piano_roll")
    score = music21.converter.parse(str(path))
    frames = max(1, math.ceil(float(score.highestTime) / frame - 1e-9))
    roll = np.zeros((frames, KEYS), dtype=np.uint8)
    for element in score.flatten().notes:
        start = float(element.offset)
        length = float(element.duration.quarterLength)
        if length <= 0:
            continue
        first = math.ceil(start / frame - 1e-9)
        stop = min(frames, math.ceil((start + length) / frame - 1e-9))
        for pitch in element.pitches:
            key = int(pitch.midi) - LOWEST
            if 0 <= key < KEYS and first < stop:
                roll[first:stop, key] = 1
    return roll


def load_rolls(folder: str | os.PathLike[str] | None = None, frame: float = 1.0, limit: int | None = None,
               progress: Callable[[int, int], None] | None = None) -> tuple[list[str], list[np.ndarray]]:
    """Names and rolls of the chorales, parsed once and then read from the cache file.

    Args:
        folder: the cache folder (default :func:`~atrous.data._common.cache_dir`).
        frame: frame length in quarter notes.
        limit: keep only the first ``limit`` files by name (small runs and tests).
        progress: called with ``(done, total)`` while parsing.
    """
    paths = chorale_paths()
    if limit is not None:
        paths = paths[: check_count("load_rolls", "limit", limit)]
    names = [p.stem for p in paths]
    tag = "" if limit is None else f"_first{limit}"
    file = cache_dir(folder) / f"bach_chorales_frame{frame:g}{tag}_v{_FORMAT}.npz"
    if file.exists():
        with np.load(file) as cached:
            if [str(n) for n in cached["names"]] == names:
                bounds = np.cumsum(cached["lengths"])[:-1]
                return names, list(np.split(cached["rolls"], bounds))
    rolls = []
    for i, path in enumerate(paths):
        rolls.append(piano_roll(path, frame))
        if progress is not None:
            progress(i + 1, len(paths))
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_name(f"{file.stem}.{os.getpid()}.tmp.npz")
    np.savez_compressed(partial, names=np.array(names), lengths=np.array([len(r) for r in rolls]),
                        rolls=np.concatenate(rolls))
    os.replace(partial, file)  # atomic: concurrent processes never read a half-written cache
    return names, rolls


def _stderr_progress(done: int, total: int) -> None:
    if sys.stderr.isatty():
        end = "\n" if done == total else ""
        print(f"\rparsing Bach chorales (cached afterwards): {done}/{total}", end=end, file=sys.stderr, flush=True)


class BachChorales(Dataset[tuple[Tensor, Tensor]]):
    """Next-frame prediction on Bach chorale piano rolls (see the module docstring for pieces, frames, split).

    Args:
        split: ``"train"``, ``"valid"`` or ``"test"``.
        seed: the data seed of the split.
        folder: the cache folder of the parsed rolls.
        frame: frame length in quarter notes.
        limit: use only the first ``limit`` pieces by name (before the split), for quick runs.

    Shape:
        ``x``: ``(88, L - 1)`` float32, frames ``0..L-2``; ``y``: ``(88, L - 1)`` float32, frames ``1..L-1``.
        Batch them with :func:`collate_rolls`.
    """

    keys = KEYS

    def __init__(self, split: str = "train", seed: int = 0, folder: str | os.PathLike[str] | None = None,
                 frame: float = 1.0, limit: int | None = None) -> None:
        where = type(self).__name__
        self.split = split
        index = split_id(where, split, SPLITS)
        self.seed = check_count(where, "seed", seed, minimum=0)
        names, rolls = load_rolls(folder, frame, limit, progress=_stderr_progress)
        order = np.random.default_rng([self.seed, 11]).permutation(len(names))
        n_train = round(_FRACTIONS[0] * len(names))
        n_valid = round(_FRACTIONS[1] * len(names))
        cuts = (order[:n_train], order[n_train:n_train + n_valid], order[n_train + n_valid:])
        chosen = [int(i) for i in cuts[index] if len(rolls[int(i)]) >= 2]
        #: the pieces of this split (music21 corpus names such as ``bwv66.6``)
        self.names = [names[i] for i in chosen]
        self._rolls = [torch.from_numpy(rolls[i].T.astype(np.float32)) for i in chosen]

    def __len__(self) -> int:
        return len(self._rolls)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        roll = self._rolls[index]
        return roll[:, :-1], roll[:, 1:]


def collate_rolls(batch: Sequence[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor, Tensor]:
    """Pad rolls of different lengths with silence: ``x, y: (B, 88, L_max)`` and ``mask: (B, L_max)`` bool
    (True at real frames). Causal models never see the padding at real frames, which all come first."""
    longest = max(int(x.shape[-1]) for x, _ in batch)
    xs = torch.zeros(len(batch), KEYS, longest)
    ys = torch.zeros(len(batch), KEYS, longest)
    mask = torch.zeros(len(batch), longest, dtype=torch.bool)
    for i, (x, y) in enumerate(batch):
        n = int(x.shape[-1])
        xs[i, :, :n], ys[i, :, :n], mask[i, :n] = x, y, True
    return xs, ys, mask


def frame_nll(logits: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Frame negative log-likelihood of each sequence: BCE summed over keys, averaged over its real frames.

    Args:
        logits: ``(B, 88, L)`` pre-sigmoid key probabilities.
        target: ``(B, 88, L)`` 0/1 rolls.
        mask: ``(B, L)`` True at real frames (None: all).

    Returns:
        ``(B,)`` NLL per sequence (nats per frame).

    >>> round(float(frame_nll(torch.zeros(1, 88, 5), torch.zeros(1, 88, 5))), 4)  # 88 ln 2: every key a coin flip
    60.997
    """
    per_frame = F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(dim=1)
    if mask is None:
        return per_frame.mean(dim=1)
    weights = mask.to(per_frame.dtype)
    return (per_frame * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)
