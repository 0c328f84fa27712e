"""EnhancerPromoter: deterministic, labelled by the activity rule, and the label needs both motifs."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from atrous.data import dna
from atrous.data._common import MissingDependencyError
from atrous.data.dna import KINDS, MOTIF_IDS, THRESHOLD, EnhancerPromoter, activity, blind_ceiling, load_motif, scan
from atrous.errors import ConfigError

SMALL = {"length": 512, "max_distance": 300, "shift": 64}


def _letters(x: torch.Tensor) -> np.ndarray:
    return x.argmax(dim=0).numpy().copy()


def _erase(letters: np.ndarray, start: int, size: int, seed: int = 0) -> np.ndarray:
    """Overwrite ``size`` letters from ``start`` with random DNA, redrawn until no promoter or enhancer hit
    overlaps them."""
    rng = np.random.default_rng(seed)
    motifs = [load_motif(MOTIF_IDS[r][0]) for r in ("promoter", "enhancer")]
    while True:
        out = letters.copy()
        out[start:start + size] = rng.integers(4, size=size)
        # no hit of either motif may overlap the new letters
        if all((scan(m, out, start - m.length + 1, start + size) < THRESHOLD).all() for m in motifs):
            return out


def test_motifs_are_jaspars_and_samples_pass_the_threshold():
    names = {load_motif(m).name: load_motif(m).consensus for ids in MOTIF_IDS.values() for m in ids}
    assert names == {"TBP": "TATAAAA", "CTCF": "GCCACCAGGGGGCGC", "GATA1": "CTAATCT", "SP1": "GGGGCGGGG"}
    rng = np.random.default_rng(0)
    for ids in MOTIF_IDS.values():
        motif = load_motif(ids[0])
        samples = [motif.sample(rng) for _ in range(50)]
        assert all(scan(motif, s)[0] >= THRESHOLD for s in samples)
        assert len({tuple(s) for s in samples}) > 1  # sampled from the PWM, not the consensus every time


def test_samples_are_deterministic_labelled_by_the_rule_and_balanced():
    ds = EnhancerPromoter(count=64, **SMALL)
    again = EnhancerPromoter(count=64, **SMALL)
    other = EnhancerPromoter(count=64, split="test", **SMALL)
    assert torch.equal(ds[5][0], again[5][0]) and not torch.equal(ds[5][0], other[5][0])
    kinds = []
    for x, y, p, d, kind in (ds[i] for i in range(len(ds))):
        assert x.shape == (4, 512) and torch.equal(x.sum(0), torch.ones(512))
        assert int(y) == activity(x, int(p), 20, 300) == int(KINDS[int(kind)] == "active")
        assert 20 <= int(d) <= 300 and 300 <= int(p) < 512 - 64 - 7
        kinds.append(int(kind))
    counts = np.bincount(kinds, minlength=3)
    assert counts.min() >= 8 and 20 <= counts[0] <= 44  # half active, a quarter of each negative
    fixed = EnhancerPromoter(count=8, distance=123, **SMALL)
    assert {int(fixed[i][3]) for i in range(8)} == {123}


def test_the_label_needs_both_motifs_and_decoys_do_not_count():
    ds = EnhancerPromoter(count=40, **SMALL)
    promoter, enhancer = load_motif(MOTIF_IDS["promoter"][0]), load_motif(MOTIF_IDS["enhancer"][0])
    checked = 0
    for x, _, p, d, kind in (ds[i] for i in range(len(ds))):
        p, d, letters = int(p), int(d), _letters(x)
        if KINDS[int(kind)] != "active":
            continue
        assert activity(letters, p, 20, 300) == 1
        assert activity(_erase(letters, p - d, enhancer.length), p, 20, 300) == 0  # no enhancer
        assert activity(_erase(letters, p, promoter.length), p, 20, 300) == 0  # no promoter
        if d > 20:  # the same enhancer just beyond the range (a rule whose range ends 1 bp short of it)
            assert activity(letters, p, 20, d - 1) == 0 and activity(letters, p, 20, d) == 1
        decoy = _erase(letters, p - d, enhancer.length)  # a decoy (GATA1, SP1) where the enhancer was
        for m in MOTIF_IDS["decoy"]:
            motif = load_motif(m)
            decoy[p - d: p - d + motif.length] = motif.probs.argmax(axis=1)
            assert activity(decoy, p, 20, 300) == 0
        checked += 1
    assert checked >= 10


def test_blind_ceiling_is_the_promoter_only_rule():
    ds = EnhancerPromoter(count=64, **SMALL)
    items = [ds[i] for i in range(len(ds))]
    promoter = load_motif(MOTIF_IDS["promoter"][0])
    # a model that sees the promoter at p and nothing upstream: "active" iff the promoter is at p (more actives
    # than lone promoters), which is right on actives and lone enhancers only
    guess = [int(scan(promoter, _letters(x), int(p), int(p) + 1)[0] >= THRESHOLD) for x, _, p, _, _ in items]
    accuracy = np.mean([g == int(y) for g, (_, y, *_) in zip(guess, items)])
    kinds = torch.stack([item[4] for item in items])
    assert accuracy == pytest.approx(blind_ceiling(kinds))
    assert 0.6 < blind_ceiling(kinds) < 0.9


def test_bad_options_are_one_line():
    with pytest.raises(ConfigError, match=r"EnhancerPromoter: length must be an int > max_distance \+ shift"):
        EnhancerPromoter(length=300, max_distance=300)
    with pytest.raises(ConfigError, match=r"EnhancerPromoter: min_distance must be an int >= 16"):
        EnhancerPromoter(min_distance=5)
    with pytest.raises(ConfigError, match=r"EnhancerPromoter: distance must be an int in 20..300"):
        EnhancerPromoter(distance=400, **SMALL)
    with pytest.raises(ConfigError, match=r"EnhancerPromoter: shift must be 0 or an int >= 28"):
        EnhancerPromoter(shift=10)
    with pytest.raises(IndexError):
        EnhancerPromoter(count=2, **SMALL)[2]


def test_without_pyjaspar_jaspar_motifs_refuse_and_consensus_must_be_asked_for(monkeypatch):
    dna.load_motif.cache_clear()
    monkeypatch.setitem(sys.modules, "pyjaspar", None)  # import pyjaspar now raises ImportError
    try:
        with pytest.raises(MissingDependencyError, match=r"pip install atrous\[genomics\].*motifs=consensus"):
            load_motif("MA0139.2")
        with pytest.raises(MissingDependencyError):
            EnhancerPromoter(count=1, **SMALL)
        motif = load_motif("MA0139.2", "consensus")
        assert motif.consensus == "GCCACCAGGGGGCGC" and motif.probs.max(axis=1).min() > 0.9
        ds = EnhancerPromoter(count=1, motifs="consensus", **SMALL)
        _, y, p, _, kind = ds[0]
        assert ds.motifs == "consensus" and int(y) == int(KINDS[int(kind)] == "active")
        assert int(y) == activity(ds[0][0], int(p), ds.min_distance, ds.max_distance, "consensus")
        with pytest.raises(ConfigError, match=r"EnhancerPromoter: motifs must be one of jaspar, consensus"):
            EnhancerPromoter(count=1, motifs="pwm", **SMALL)
    finally:
        dna.load_motif.cache_clear()
        dna._CACHE.clear()
