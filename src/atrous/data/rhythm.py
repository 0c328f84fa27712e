"""Generated rhythm: drum-pattern rolls whose next frame depends on the frame exactly one beat or one bar back.

A :class:`RhythmPatterns` sample is a binary roll of ``tracks`` onset tracks (hi-hat, kick, snare, crash, ...)
at ``frames_per_beat`` frames per beat (:func:`frames_per_beat`: the frame rate and the tempo). Track ``j`` has
a period of ``periods[j]`` beats, ``p_j = periods[j] * frames_per_beat`` frames. Its first ``p_j`` frames are
independent onsets, each on with probability ``density``; after that every frame repeats the frame one period
back, flipped with probability ``noise``:

    x[j, t] = x[j, t - p_j] XOR flip,   flip ~ Bernoulli(noise),   t >= p_j

so the pattern repeats with variations that persist (a flipped onset is repeated in the next period until flipped
back). Tracks, flips and initial onsets are all independent, so the process is exactly known and its entropy is
exact: given the whole past, a frame ``t >= p_j`` of track ``j`` has entropy ``H(noise)`` and every other
frame ``H(density)`` (``H`` the binary entropy in nats). :meth:`RhythmPatterns.entropy` is the best frame NLL any
model can reach (the ceiling of the task, in expectation), and :meth:`RhythmPatterns.bound` the best a model can
reach when it reads only some input offsets (its receptive field's taps): a model that cannot read the frame one
period back does worse, by an exactly known amount.

Alignment with next-frame prediction: the model's output at position ``t`` predicts frame ``t + 1`` from frames
``<= t``, so the frame one period back is **input offset** ``p_j - 1`` (offset 0 is the current frame).

Every sample comes from its own generator, a function of ``(seed, split, index)`` only
(:func:`~atrous.data._common.item_rng`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from atrous.data._common import check_count, item_rng, split_id
from atrous.errors import bad

__all__ = ["RhythmPatterns", "beat_dilations", "binary_entropy", "frames_per_beat"]


def frames_per_beat(bpm: float, frame_rate: float) -> int:
    """Frames per beat at ``bpm`` beats per minute and ``frame_rate`` frames per second; it must be a whole
    number (choose the frame rate from the tempo).

    >>> frames_per_beat(bpm=120, frame_rate=8)     # 120 BPM = 2 beats per second: sixteenth notes
    4
    """
    for arg, value in (("bpm", bpm), ("frame_rate", frame_rate)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise bad("frames_per_beat", arg, "a positive number", value)
    exact = frame_rate * 60.0 / bpm
    frames = round(exact)
    if frames < 1 or abs(exact - frames) > 1e-9:
        raise bad("frames_per_beat", "frame_rate * 60 / bpm", "a whole number of frames >= 1 (change the frame rate)",
                  exact)
    return int(frames)


def beat_dilations(levels: int, frames_per_beat: int, beats_per_bar: int = 4) -> list[int]:
    """Beat-matched TCN dilations: ``1`` (the frames within a beat), then the beat (left out when it is one
    frame), the bar, and further levels ``beats_per_bar`` times the previous one.

    With kernel 3 (each TCN level then reads offsets ``0, d, ..., 4d``) the first level spans 4 frames, so
    for ``frames_per_beat <= 5`` the stack has no holes and reaches ``4 (1 + P + P B + ...)`` frames back.

    >>> beat_dilations(3, frames_per_beat=4)
    [1, 4, 16]
    >>> beat_dilations(3, frames_per_beat=1)     # Bach chorale rolls: one frame per quarter-note beat
    [1, 4, 16]
    """
    check_count("beat_dilations", "levels", levels)
    check_count("beat_dilations", "frames_per_beat", frames_per_beat)
    check_count("beat_dilations", "beats_per_bar", beats_per_bar)
    rates = [1]
    step = frames_per_beat if frames_per_beat > 1 else beats_per_bar
    while len(rates) < levels:
        rates.append(step)
        step *= beats_per_bar
    return rates


def binary_entropy(p: float) -> float:
    """``-p ln p - (1 - p) ln (1 - p)`` in nats (0 at p = 0 or 1)."""
    return -sum(q * math.log(q) for q in (p, 1.0 - p) if q > 0.0)


def _flip_after(steps: int, noise: float) -> float:
    """Probability that ``steps`` independent flips of probability ``noise`` change a bit (odd count)."""
    return (1.0 - (1.0 - 2.0 * noise) ** steps) / 2.0


def _probability(where: str, arg: str, value: object, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= high:
        raise bad(where, arg, f"a number in [0, {high:g}]", value)
    return float(value)


class RhythmPatterns(Dataset[tuple[Tensor, Tensor]]):
    """Next-frame prediction of drum-pattern rolls that repeat every beat or bar, with persistent variations.

    Args:
        length: frames per sequence ``L`` (at least 2).
        count: number of sequences.
        split: ``"train"`` or ``"test"``; the two draw from disjoint streams.
        seed: the data seed.
        frames_per_beat: ``P``, frames per beat (:func:`frames_per_beat` from a tempo and a frame rate).
        beats_per_bar: ``B``, beats per bar (used by the default ``periods``).
        periods: the period of each track in beats (one entry per track); default ``(1, B, B, 2B)``: a beat
            track (hi-hat), two bar tracks (kick, snare), a two-bar track (crash / fill).
        noise: probability that a frame differs from the frame one period back (in ``[0, 0.5]``).
        density: probability that an onset of the first period is on (in ``[0, 1]``).

    Shape:
        ``x``: ``(tracks, L - 1)`` float32, frames ``0..L-2``; ``y``: ``(tracks, L - 1)`` float32, frames
        ``1..L-1``. Score with :func:`atrous.data.music.frame_nll` (BCE summed over tracks, mean over frames).

    >>> ds = RhythmPatterns(length=64, count=8, noise=0.0)
    >>> x, y = ds[0]
    >>> x.shape, ds.period_frames                  # 4 tracks: a beat, two bars and two bars of 4 beats of 4 frames
    (torch.Size([4, 63]), (4, 16, 16, 32))
    >>> roll = torch.cat([x, y[:, -1:]], dim=1)    # noise 0: every track repeats exactly
    >>> all(torch.equal(roll[j, p:], roll[j, :-p]) for j, p in enumerate(ds.period_frames))
    True
    >>> round(ds.entropy(), 3) > 0, round(RhythmPatterns(length=64, noise=0.0, density=0.0).entropy(), 3)
    (True, 0.0)
    """

    def __init__(self, length: int = 128, count: int = 2_000, split: str = "train", seed: int = 0,
                 frames_per_beat: int = 4, beats_per_bar: int = 4, periods: Sequence[int] | None = None,
                 noise: float = 0.05, density: float = 0.3) -> None:
        where = type(self).__name__
        self.length = check_count(where, "length", length, minimum=2)
        self.count = check_count(where, "count", count)
        self.split, self._split = split, split_id(where, split)
        self.seed = check_count(where, "seed", seed, minimum=0)
        self.frames_per_beat = check_count(where, "frames_per_beat", frames_per_beat)
        self.beats_per_bar = check_count(where, "beats_per_bar", beats_per_bar)
        if periods is None:
            periods = (1, beats_per_bar, beats_per_bar, 2 * beats_per_bar)
        if isinstance(periods, (int, str)) or not periods:
            raise bad(where, "periods", "a non-empty list of positive ints (the period of each track, in beats)",
                      periods)
        #: period of each track in beats
        self.periods = tuple(check_count(where, "periods", p) for p in periods)
        self.noise = _probability(where, "noise", noise, 0.5)
        self.density = _probability(where, "density", density, 1.0)

    @property
    def tracks(self) -> int:
        return len(self.periods)

    @property
    def period_frames(self) -> tuple[int, ...]:
        """The period of each track in frames, ``periods[j] * frames_per_beat``."""
        return tuple(p * self.frames_per_beat for p in self.periods)

    def __len__(self) -> int:
        return self.count

    def roll(self, index: int) -> np.ndarray:
        """The whole roll of sequence ``index``: ``(tracks, L)`` uint8."""
        if not 0 <= index < self.count:
            raise IndexError(f"{type(self).__name__}: index {index} out of range for size {self.count}")
        rng = item_rng(self.seed, self._split, index)
        onsets = rng.random((self.tracks, self.length)) < self.density
        flips = rng.random((self.tracks, self.length)) < self.noise
        roll = np.zeros((self.tracks, self.length), dtype=np.uint8)
        for j, p in enumerate(self.period_frames):
            # x[t] = x[t - p] ^ flip[t] unrolls to onset[t mod p] ^ flip[t mod p + p] ^ ... ^ flip[t]: a running
            # parity down the columns of the roll folded into rows of one period
            steps = np.concatenate([onsets[j, :p], flips[j, p:]]).astype(np.int64)
            rows = -(-self.length // p)
            folded = np.zeros(rows * p, dtype=np.int64)
            folded[:self.length] = steps[:self.length]
            roll[j] = (np.cumsum(folded.reshape(rows, p), axis=0) % 2).reshape(-1)[:self.length]
        return roll

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        roll = torch.from_numpy(self.roll(index).astype(np.float32))
        return roll[:, :-1], roll[:, 1:]

    # ---- what a model can reach --------------------------------------------------------------------------------

    def _probabilities(self, track: int, target: int, offsets: frozenset[int] | None) -> tuple[int | None, float]:
        """For frame ``target`` of ``track``, given the input offsets a model reads (None: all), the lag in frames
        of the frame the best predictor copies (None: none) and the probability that the target differs from it
        (or, with no lag, that the target is on)."""
        p = self.period_frames[track]
        if target < p:
            return None, self.density
        repeats = target // p  # periods since the first one
        for m in range(1, repeats + 1):  # the nearest visible repetition screens off the farther ones (Markov)
            if offsets is None or m * p - 1 in offsets:
                return m * p, _flip_after(m, self.noise)
        flip = _flip_after(repeats, self.noise)
        return None, self.density * (1.0 - flip) + (1.0 - self.density) * flip

    def frame_entropy(self, offsets: Iterable[int] | None = None) -> np.ndarray:
        """``(L - 1,)``: the expected NLL (nats, summed over tracks) of each target frame ``1..L-1`` under the best
        predictor that reads input offsets ``offsets`` only (0 = the current frame, ``k`` = ``k`` frames back;
        None: the whole past)."""
        seen = None if offsets is None else frozenset(int(o) for o in offsets)
        out = np.zeros(self.length - 1)
        for target in range(1, self.length):
            out[target - 1] = sum(binary_entropy(self._probabilities(j, target, seen)[1])
                                  for j in range(self.tracks))
        return out

    def entropy(self) -> float:
        """The expected frame NLL (nats per frame, :func:`~atrous.data.music.frame_nll`) of the best possible
        predictor, which reads the whole past: the ceiling of the task."""
        return float(self.frame_entropy(None).mean())

    def bound(self, offsets: Iterable[int]) -> float:
        """The expected frame NLL of the best predictor that reads only input ``offsets`` (e.g. a model's
        receptive-field taps, :func:`atrous.rf.support`): ``entropy()`` when the offsets include ``p_j - 1`` for
        every track, more when a period lag is missing."""
        return float(self.frame_entropy(offsets).mean())

    def oracle_logits(self, x: Tensor, offsets: Iterable[int] | None = None) -> Tensor:
        """The logits of the best predictor that reads ``offsets`` only (None: the whole past) on inputs ``x``
        ``(B, tracks, L - 1)``: its :func:`~atrous.data.music.frame_nll` against ``y`` averages to
        :meth:`frame_entropy` (the generator's claim, checked by the tests)."""
        seen = None if offsets is None else frozenset(int(o) for o in offsets)
        eps = 1e-12
        probs = torch.empty(x.shape, dtype=torch.float64)
        for j in range(self.tracks):
            for t in range(x.shape[-1]):
                lag, q = self._probabilities(j, t + 1, seen)
                if lag is None:
                    probs[:, j, t] = q
                else:
                    before = x[:, j, t + 1 - lag].to(torch.float64)
                    probs[:, j, t] = before * (1.0 - q) + (1.0 - before) * q
        probs = probs.clamp(eps, 1.0 - eps)
        return torch.log(probs) - torch.log1p(-probs)
