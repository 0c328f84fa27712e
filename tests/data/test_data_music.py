"""Bach chorale piano rolls: quantisation on a hand-made score, the corpus split, the cache, the frame NLL."""

from __future__ import annotations

import math
import sys

import pytest
import torch

from atrous.data import BachChorales, MissingDependencyError, collate_rolls, frame_nll
from atrous.data import music as music_module


@pytest.fixture(scope="module")
def rolls_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("rolls")


def test_piano_roll_samples_notes_at_quarter_starts(tmp_path):
    music21 = pytest.importorskip("music21")
    s = music21.stream.Stream()
    s.insert(0.0, music21.note.Note("C4", quarterLength=1.0))
    s.insert(1.0, music21.note.Note("E4", quarterLength=2.0))
    s.insert(3.0, music21.chord.Chord(["G4", "B4"], quarterLength=1.0))
    s.insert(4.5, music21.note.Note("D5", quarterLength=0.5))  # between frame starts: not sampled
    s.insert(5.0, music21.note.Note("A0", quarterLength=1.0))
    path = tmp_path / "tiny.musicxml"
    s.write("musicxml", fp=str(path))
    roll = music_module.piano_roll(path)
    on = [sorted(int(k) + 21 for k in row.nonzero()[0]) for row in roll]
    assert on == [[60], [64], [64], [67, 71], [], [21]]


def test_chorales_split_cache_and_shift(rolls_dir, monkeypatch):
    pytest.importorskip("music21")
    splits = {s: BachChorales(s, folder=rolls_dir, limit=5) for s in ("train", "valid", "test")}
    assert [len(d) for d in splits.values()] == [3, 1, 1]
    names = [n for d in splits.values() for n in d.names]
    assert sorted(names) == sorted(p.stem for p in music_module.chorale_paths()[:5])
    assert list(rolls_dir.glob("bach_chorales_frame1_first5_v1.npz"))
    x, y = splits["train"][0]
    assert x.shape[0] == 88 and torch.equal(x[:, 1:], y[:, :-1])
    assert 3 <= float(x.sum(0).mean()) <= 6  # four voices, sometimes an instrument or a rest
    # the second time everything comes from the cache: parsing would fail
    monkeypatch.setattr(music_module, "piano_roll", lambda *a: pytest.fail("parsed again"))
    again = BachChorales("train", folder=rolls_dir, limit=5)
    assert again.names == splits["train"].names and torch.equal(again[0][0], x)


def test_collate_and_frame_nll_against_a_loop():
    torch.manual_seed(0)
    batch = [(torch.rand(88, n).round(), torch.rand(88, n).round()) for n in (3, 5)]
    xs, ys, mask = collate_rolls(batch)
    assert xs.shape == (2, 88, 5) and mask.tolist() == [[True] * 3 + [False] * 2, [True] * 5]
    logits = torch.randn(2, 88, 5, dtype=torch.float64)
    got = frame_nll(logits, ys.double(), mask)
    for b, (_, y) in enumerate(batch):
        total = 0.0
        for t in range(y.shape[1]):
            for k in range(88):
                p = 1 / (1 + math.exp(-float(logits[b, k, t])))
                total -= math.log(p) if y[k, t] else math.log(1 - p)
        assert float(got[b]) == pytest.approx(total / y.shape[1], rel=1e-9)


def test_missing_music21_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "music21", None)
    monkeypatch.setitem(sys.modules, "music21.corpus", None)
    with pytest.raises(MissingDependencyError, match=r"'music21'.*pip install atrous\[data\]"):
        music_module.chorale_paths()
