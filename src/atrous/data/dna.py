"""A generated long-range regulatory task on one-hot DNA (docs/data.md, "DNA").

:class:`EnhancerPromoter`: random DNA with a **promoter** motif (TBP, ``TATAAAA``) and an **enhancer** motif
(CTCF) planted ``d`` bp upstream of it. A sequence is *active* at position ``p`` when a promoter instance starts
exactly at ``p`` **and** an enhancer instance starts between ``min_distance`` and ``max_distance`` bp upstream
of ``p`` (:func:`activity`, the oracle every label is checked against). Negatives are built to need both motifs:

* ``lone promoter``: the promoter at ``p``, a decoy motif (GATA1 or SP1) where the enhancer would be;
* ``lone enhancer``: the enhancer ``d`` bp upstream of ``p``, the promoter moved ``s`` bp downstream of ``p``
  (``shift`` bounds ``s``; ``shift=0``: no promoter at all).

Motif instances are sampled from the JASPAR position frequency matrices bundled with pyjaspar (``pip install
atrous[genomics]``) and kept when their log-odds score is at least :data:`THRESHOLD` of the consensus's. The
consensus sequences of the same matrices (:data:`CONSENSUS`) are used only when asked for (``motifs="consensus"``);
without pyjaspar the default ``motifs="jaspar"`` refuses with one line instead of switching silently.
Every sample comes from its own generator, a function of ``(seed, split, index)`` only.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from atrous.data._common import MissingDependencyError, check_count, item_rng, split_id
from atrous.errors import bad

__all__ = ["CONSENSUS", "KINDS", "MOTIF_IDS", "MOTIF_SOURCES", "THRESHOLD", "EnhancerPromoter", "Motif", "activity",
           "blind_ceiling", "load_motif", "one_hot", "scan"]

ALPHABET = "ACGT"
#: role -> JASPAR matrix ids: TBP (TATA box), CTCF (core motif), and the decoys GATA1 and SP1
MOTIF_IDS: Mapping[str, tuple[str, ...]] = {
    "promoter": ("MA0108.3",), "enhancer": ("MA0139.2",), "decoy": ("MA0035.5", "MA0079.5"),
}
#: JASPAR 2026 consensus of each matrix: the fallback motifs when pyjaspar is not installed
CONSENSUS: Mapping[str, tuple[str, str]] = {
    "MA0108.3": ("TBP", "TATAAAA"), "MA0139.2": ("CTCF", "GCCACCAGGGGGCGC"),
    "MA0035.5": ("GATA1", "CTAATCT"), "MA0079.5": ("SP1", "GGGGCGGGG"),
}
#: a motif instance counts when its log-odds score is at least this fraction of the consensus's score; random
#: DNA then holds a CTCF hit every ~400 kb and a TBP hit every ~3 kb (measured on 400 kb of uniform DNA)
THRESHOLD = 0.8
#: sample kinds; ``kind`` in a sample is an index into this
KINDS = ("active", "lone promoter", "lone enhancer")
_KIND_P = (0.5, 0.25, 0.25)
_PSEUDO = 0.5  # pseudocount per cell when turning JASPAR counts into probabilities
_RESAMPLE = 100


@dataclass(frozen=True)
class Motif:
    """A position probability matrix ``probs`` ``(K, 4)`` (columns A, C, G, T) and its log-odds PWM."""

    name: str
    matrix_id: str
    probs: np.ndarray

    @property
    def length(self) -> int:
        return int(self.probs.shape[0])

    @functools.cached_property
    def pwm(self) -> np.ndarray:
        """log2 odds against a uniform background, ``(K, 4)``."""
        return np.log2(self.probs / 0.25)

    @functools.cached_property
    def score_range(self) -> tuple[float, float]:
        return float(self.pwm.min(axis=1).sum()), float(self.pwm.max(axis=1).sum())

    @property
    def consensus(self) -> str:
        return "".join(ALPHABET[i] for i in self.probs.argmax(axis=1))

    def relative(self, score: np.ndarray) -> np.ndarray:
        """Log-odds score as a fraction of the consensus's (1: the consensus; random DNA is mostly < 0)."""
        return score / self.score_range[1]

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """An instance (letter indices) drawn column by column from ``probs`` until it scores >= THRESHOLD."""
        cum = self.probs.cumsum(axis=1)
        for _ in range(_RESAMPLE):
            letters = (rng.random((self.length, 1)) > cum).sum(axis=1).clip(0, 3)
            if self.relative(self.pwm[np.arange(self.length), letters].sum()) >= THRESHOLD:
                return np.asarray(letters, dtype=np.int64)
        return np.asarray(self.probs.argmax(axis=1), dtype=np.int64)  # not reached: the consensus scores 1


def _from_counts(name: str, matrix_id: str, counts: Mapping[str, Sequence[float]]) -> Motif:
    table = np.array([list(counts[a]) for a in ALPHABET], dtype=np.float64).T + _PSEUDO
    return Motif(name, matrix_id, table / table.sum(axis=1, keepdims=True))


def _from_consensus(matrix_id: str) -> Motif:
    name, letters = CONSENSUS[matrix_id]
    counts = {a: [97.0 if c == a else 1.0 for c in letters] for a in ALPHABET}
    return _from_counts(name, matrix_id, counts)


#: where motifs come from: pyjaspar's JASPAR matrices, or the consensus sequences of :data:`CONSENSUS`
MOTIF_SOURCES = ("jaspar", "consensus")


@functools.cache
def load_motif(matrix_id: str, source: str = "jaspar") -> Motif:
    """The JASPAR matrix ``matrix_id`` from pyjaspar's bundled database (``source="jaspar"``), or its consensus
    (``source="consensus"``: a near one-hot matrix, 97 counts for the consensus letter, 1 for the others).

    Raises:
        MissingDependencyError: ``source="jaspar"`` and pyjaspar is not installed (the message names the extra
            and the consensus option; nothing falls back silently).

    >>> m = load_motif("MA0108.3")
    >>> m.name, m.length, m.consensus
    ('TBP', 7, 'TATAAAA')
    """
    if source not in MOTIF_SOURCES:
        raise bad("load_motif", "source", f"one of {', '.join(MOTIF_SOURCES)}", source)
    if source == "consensus":
        if matrix_id not in CONSENSUS:
            raise bad("load_motif", "matrix_id", f"one of {', '.join(CONSENSUS)} for consensus motifs", matrix_id)
        return _from_consensus(matrix_id)
    try:
        from pyjaspar import jaspardb
    except ImportError:
        raise MissingDependencyError(
            "load_motif: JASPAR motifs need the optional dependency 'pyjaspar'; install it with `pip install "
            "atrous[genomics]`, or ask for the consensus motifs (motifs='consensus', on the command line "
            "--data-arg motifs=consensus)") from None
    found = jaspardb().fetch_motif_by_id(matrix_id)
    if found is None:
        raise bad("load_motif", "matrix_id", "a JASPAR matrix id such as 'MA0139.2'", matrix_id)
    return _from_counts(str(found.name), matrix_id, found.counts)


def one_hot(letters: np.ndarray) -> Tensor:
    """Letter indices ``(L,)`` (0..3 = A, C, G, T) -> float32 one-hot ``(4, L)``."""
    out = torch.zeros(4, len(letters))
    out[torch.from_numpy(np.asarray(letters, dtype=np.int64)), torch.arange(len(letters))] = 1.0
    return out


def _letters(x: Tensor | np.ndarray) -> np.ndarray:
    if isinstance(x, Tensor):
        if x.dim() != 2 or x.shape[0] != 4:
            raise bad("activity", "x", "one-hot DNA shaped (4, L) or letter indices (L,)", tuple(x.shape))
        return x.argmax(dim=0).numpy()
    return np.asarray(x, dtype=np.int64)


def scan(motif: Motif, letters: np.ndarray, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Relative PWM scores of ``motif`` starting at every position ``start .. stop - 1`` that fits."""
    stop = len(letters) - motif.length + 1 if stop is None else min(stop, len(letters) - motif.length + 1)
    if stop <= start:
        return np.zeros(0)
    idx = np.arange(max(start, 0), stop)[:, None] + np.arange(motif.length)[None, :]
    return motif.relative(motif.pwm[np.arange(motif.length)[None, :], letters[idx]].sum(axis=1))


def activity(x: Tensor | np.ndarray, position: int, min_distance: int, max_distance: int,
             motifs: str = "jaspar") -> int:
    """The label rule: 1 iff the promoter scores >= THRESHOLD at ``position`` and the enhancer (forward strand)
    scores >= THRESHOLD at some start ``position - max_distance .. position - min_distance``.

    ``x`` is one-hot ``(4, L)`` or letter indices ``(L,)``; ``motifs`` is the source of :func:`load_motif`.
    """
    letters = _letters(x)
    promoter = load_motif(MOTIF_IDS["promoter"][0], motifs)
    enhancer = load_motif(MOTIF_IDS["enhancer"][0], motifs)
    at = scan(promoter, letters, position, position + 1)
    if len(at) == 0 or at[0] < THRESHOLD:
        return 0
    window = scan(enhancer, letters, position - max_distance, position - min_distance + 1)
    return int(bool((window >= THRESHOLD).any()))


class EnhancerPromoter(Dataset[tuple[Tensor, Tensor, Tensor, Tensor, Tensor]]):
    """Long-range regulation: is the promoter at ``p`` active? Only if an enhancer lies upstream within range.

    Each sample is uniform random DNA of ``length`` bp with motif instances planted in it (module docstring):
    half are ``active`` (promoter at ``p``, enhancer starting ``d`` bp upstream), a quarter ``lone promoter``
    (a decoy motif instead of the enhancer), a quarter ``lone enhancer`` (the promoter ``s`` bp downstream of
    ``p``, ``s`` uniform in ``shift // 4 .. shift``; none if ``shift == 0``). The distance ``d`` is
    log-uniform in ``min_distance .. max_distance`` or fixed by ``distance``; ``p`` is uniform over the
    positions where every distance and shift fits, so it does not depend on the kind or on ``d``. A sample
    whose label (:func:`activity`) disagrees with its kind, because the random background happens to hold a
    motif, is drawn again from the same generator.

    Why the label needs both motifs, and the ceiling of a model that sees only one: removing the enhancer
    (or replacing it by a decoy) turns ``active`` into ``lone promoter``, moving the promoter turns it into
    ``lone enhancer``; both are labelled 0. A model whose receptive field at ``p`` does not reach ``p - d``
    cannot tell ``active`` from ``lone promoter``, so it scores at most ``0.25 + 0.5 = 0.75``
    (:func:`blind_ceiling` gives the exact value of a dataset).

    Args:
        length: sequence length in bp.
        count: number of samples.
        split: ``"train"`` or ``"test"``.
        seed: the data seed.
        min_distance, max_distance: the enhancer's distance range (start to start), which is also the range
            the label rule accepts; ``min_distance`` must exceed the enhancer's length.
        distance: a fixed distance for every sample (for accuracy-against-distance curves), or None.
        shift: the largest distance of the moved promoter in ``lone enhancer`` samples (0: no promoter).
        motifs: ``"jaspar"`` (pyjaspar's matrices; refuses without pyjaspar) or ``"consensus"``; kept in
            :attr:`motifs` so a run can record which it used.

    Shape:
        ``x``: ``(4, length)`` float32 one-hot; ``y``, ``position`` (``p``), ``distance`` (``d``), ``kind``
        (index into :data:`KINDS`): ``()`` int64.

    >>> ds = EnhancerPromoter(length=512, count=8, max_distance=300, shift=64)
    >>> x, y, p, d, kind = ds[0]
    >>> x.shape, int(y) == activity(x, int(p), 20, 300), int(y) == (KINDS[int(kind)] == "active")
    (torch.Size([4, 512]), True, True)
    """

    def __init__(self, length: int = 4096, count: int = 2_000, split: str = "train", seed: int = 0,
                 min_distance: int = 20, max_distance: int = 3000, distance: int | None = None,
                 shift: int = 256, motifs: str = "jaspar") -> None:
        where = type(self).__name__
        self.length = check_count(where, "length", length)
        self.count = check_count(where, "count", count)
        self.split, self._split = split, split_id(where, split)
        self.seed = check_count(where, "seed", seed, minimum=0)
        if motifs not in MOTIF_SOURCES:
            raise bad(where, "motifs", f"one of {', '.join(MOTIF_SOURCES)}", motifs)
        self.motifs = motifs
        self.promoter = load_motif(MOTIF_IDS["promoter"][0], motifs)
        self.enhancer = load_motif(MOTIF_IDS["enhancer"][0], motifs)
        self.decoys = tuple(load_motif(m, motifs) for m in MOTIF_IDS["decoy"])
        self.min_distance = check_count(where, "min_distance", min_distance, minimum=self.enhancer.length + 1)
        self.max_distance = check_count(where, "max_distance", max_distance, minimum=min_distance)
        if distance is not None:
            check_count(where, "distance", distance, minimum=min_distance)
            if distance > max_distance:
                raise bad(where, "distance", f"an int in {min_distance}..{max_distance} (max_distance)", distance)
        self.distance = distance
        self.shift = check_count(where, "shift", shift, minimum=0)
        if 0 < shift < 4 * self.promoter.length:
            raise bad(where, "shift", f"0 or an int >= {4 * self.promoter.length} (4 promoter lengths)", shift)
        self.lo, self.hi = max_distance, length - shift - self.promoter.length
        if self.hi <= self.lo:
            raise bad(where, "length", f"an int > max_distance + shift + {self.promoter.length} = "
                      f"{max_distance + shift + self.promoter.length}", length)

    def __len__(self) -> int:
        return self.count

    def _draw(self, rng: np.random.Generator) -> tuple[np.ndarray, int, int, int]:
        kind = int(rng.choice(len(KINDS), p=_KIND_P))
        if self.distance is not None:
            d = self.distance
        else:
            d = round(math.exp(rng.uniform(math.log(self.min_distance), math.log(self.max_distance))))
        p = int(rng.integers(self.lo, self.hi))
        letters = rng.integers(4, size=self.length)

        def put(motif: Motif, at: int) -> None:
            letters[at: at + motif.length] = motif.sample(rng)

        if KINDS[kind] == "lone promoter":
            put(self.decoys[int(rng.integers(len(self.decoys)))], p - d)
        else:
            put(self.enhancer, p - d)
        if KINDS[kind] != "lone enhancer":
            put(self.promoter, p)
        elif self.shift:
            put(self.promoter, p + int(rng.integers(self.shift // 4, self.shift + 1)))
        return letters, kind, p, d

    def _key(self) -> tuple[int, ...]:
        return (self.length, self.seed, self._split, self.min_distance, self.max_distance, self.distance or 0,
                self.shift, MOTIF_SOURCES.index(self.motifs))

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        if not 0 <= index < self.count:
            raise IndexError(f"{type(self).__name__}: index {index} out of range for size {self.count}")
        letters, label, p, d, kind = _generate(self, self._key(), index)
        return one_hot(letters), *(torch.tensor(v, dtype=torch.int64) for v in (label, p, d, kind))  # type: ignore[return-value]


_Sample = tuple[np.ndarray, int, int, int, int]
#: (dataset settings, index) -> sample; a few ms each, and every epoch and every run of a sweep reads them again
_CACHE: dict[tuple[tuple[int, ...], int], _Sample] = {}
_CACHE_MAX = 50_000  # ~8 kb each at length 8,192: at most ~400 MB


def _generate(ds: EnhancerPromoter, key: tuple[int, ...], index: int) -> _Sample:
    """One sample's letters (uint8), label, position, distance and kind, cached by ``key`` and ``index``."""
    found = _CACHE.get((key, index))
    if found is not None:
        return found
    rng = item_rng(ds.seed, ds._split, index)
    for _ in range(_RESAMPLE):
        letters, kind, p, d = ds._draw(rng)
        label = activity(letters, p, ds.min_distance, ds.max_distance, ds.motifs)
        if label == int(KINDS[kind] == "active"):
            break
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.clear()
    _CACHE[(key, index)] = sample = (letters.astype(np.uint8), label, p, d, kind)
    return sample


def blind_ceiling(kinds: Sequence[int] | Tensor) -> float:
    """The best accuracy of a model that sees the promoter position but not the enhancer's: it cannot tell
    ``active`` from ``lone promoter``, so it answers the larger of the two for both and is right on every
    ``lone enhancer``."""
    k = torch.as_tensor(kinds).flatten()
    n = [int((k == i).sum()) for i in range(len(KINDS))]
    return (max(n[0], n[1]) + n[2]) / max(len(k), 1)
