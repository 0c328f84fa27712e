"""RhythmPatterns: each track's next frame is the frame one period (beat, bar, two bars) back, flipped with the
stated noise, and nothing else helps; the entropy and the tap-limited bounds are what an oracle scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from atrous.data.music import frame_nll
from atrous.data.rhythm import RhythmPatterns, beat_dilations, binary_entropy, frames_per_beat
from atrous.errors import ConfigError


def _rolls(ds: RhythmPatterns) -> np.ndarray:
    return np.stack([ds.roll(i) for i in range(len(ds))]).astype(np.int64)


def test_shapes_determinism_and_splits():
    ds = RhythmPatterns(length=40, count=6, seed=3, frames_per_beat=2, beats_per_bar=3)
    assert ds.period_frames == (2, 6, 6, 12) and ds.tracks == 4
    x, y = ds[5]
    assert x.shape == y.shape == (4, 39) and x.dtype == torch.float32
    assert torch.equal(x[:, 1:], y[:, :-1])  # y is x one frame later
    again = RhythmPatterns(length=40, count=6, seed=3, frames_per_beat=2, beats_per_bar=3)[5]
    assert torch.equal(again[0], x) and torch.equal(again[1], y)  # a function of (seed, split, index) only
    other = RhythmPatterns(length=40, count=6, split="test", seed=3, frames_per_beat=2, beats_per_bar=3)[5]
    assert not torch.equal(other[0], x)
    assert len(ds) == 6
    with pytest.raises(IndexError):
        ds[6]


@pytest.mark.parametrize("noise", [0.0, 0.1])
def test_each_frame_repeats_the_frame_one_period_back_up_to_the_noise(noise):
    ds = RhythmPatterns(length=96, count=400, noise=noise, density=0.3)
    rolls = _rolls(ds)
    for j, p in enumerate(ds.period_frames):
        track = rolls[:, j]
        first = track[:, :p]
        assert abs(first.mean() - 0.3) < 4 * np.sqrt(0.3 * 0.7 / first.size)  # initial onsets: the density
        changed = track[:, p:] != track[:, :-p]
        n = changed.size
        assert abs(changed.mean() - noise) <= 4 * np.sqrt(max(noise * (1 - noise), 1e-9) / n) + 1e-12
        # a lag that is not a multiple of the period tells (almost) nothing: far more disagreements than the noise
        off = track[:, p + 1:] != track[:, :-(p + 1)]
        assert off.mean() > noise + 0.2


def test_oracle_scores_the_entropy_and_the_tap_limited_bounds():
    ds = RhythmPatterns(length=64, count=600, split="test", seed=1)
    x, y = (torch.stack(t) for t in zip(*(ds[i] for i in range(len(ds)))))
    full = float(frame_nll(ds.oracle_logits(x), y).mean())
    assert full == pytest.approx(ds.entropy(), rel=0.03)
    # the steady-state entropy: H(noise) per track
    assert ds.frame_entropy()[-1] == pytest.approx(4 * binary_entropy(0.05))
    lags = [p - 1 for p in ds.period_frames]  # offsets 3, 15, 15, 31
    assert ds.bound(lags) == pytest.approx(ds.entropy())
    no_two_bars = range(29)  # the receptive field of tcn 1, 2, 4 at k = 3
    assert ds.bound(no_two_bars) > ds.entropy() + 0.1
    assert float(frame_nll(ds.oracle_logits(x, no_two_bars), y).mean()) == pytest.approx(ds.bound(no_two_bars),
                                                                                          rel=0.03)
    # two periods back is still informative, less so than one
    assert ds.entropy() < ds.bound([7, 15, 31]) < ds.bound([15, 31]) < ds.bound([])


def test_tempo_helpers_and_bad_input():
    assert frames_per_beat(120, 8) == 4 and frames_per_beat(90, 6) == 4 and frames_per_beat(60, 1) == 1
    assert beat_dilations(4, 4, 4) == [1, 4, 16, 64] and beat_dilations(2, 3, 3) == [1, 3]
    assert beat_dilations(3, 1, 4) == [1, 4, 16]
    with pytest.raises(ConfigError, match=r"frame_rate \* 60 / bpm must be a whole number"):
        frames_per_beat(100, 8)
    with pytest.raises(ConfigError, match="frames_per_beat: bpm must be a positive number, got 0"):
        frames_per_beat(0, 8)
    with pytest.raises(ConfigError, match=r"RhythmPatterns: noise must be a number in \[0, 0.5\], got 0.7"):
        RhythmPatterns(noise=0.7)
    with pytest.raises(ConfigError, match="RhythmPatterns: periods must be a non-empty list"):
        RhythmPatterns(periods=())
    with pytest.raises(ConfigError, match="RhythmPatterns: split must be one of"):
        RhythmPatterns(split="valid")
