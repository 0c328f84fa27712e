"""Dilation schedules and design(): against brute-force supports built from Python sets."""

from __future__ import annotations

import itertools
import math
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from atrous.errors import ConfigError
from atrous.rf.schedule import MAX_DEPTH, Schedule, cyclic, design, exponential, sawtooth
from atrous.rf.stack import receptive_field
from atrous.rf.support import support

FAST = settings(max_examples=60, deadline=None)


# ---------------------------------------------------------------- oracles (slow and obvious)

def oracle_offsets(rates: tuple[int, ...], kernel: int) -> set[int]:
    """Offsets read by output 0 of a chain of stride-1 convs, one layer at a time, with Python sets."""
    offsets = {0}
    for r in rates:
        offsets = {o + t * r for o in offsets for t in range(kernel)}
    return offsets


def oracle_hole_free(rates: tuple[int, ...], kernel: int) -> bool:
    offsets = oracle_offsets(rates, kernel)
    return all(x in offsets for x in range(min(offsets), max(offsets) + 1))


def oracle_rf(rates: tuple[int, ...], kernel: int) -> int:
    offsets = oracle_offsets(rates, kernel)
    return max(offsets) - min(offsets) + 1


def oracle_m_values(rates: tuple[int, ...]) -> list[int]:
    """The recursion of Wang et al. 2018 written exactly as printed in the paper."""
    m = [0] * len(rates)
    m[-1] = rates[-1]
    for i in range(len(rates) - 2, -1, -1):
        m[i] = max(m[i + 1] - 2 * rates[i], m[i + 1] - 2 * (m[i + 1] - rates[i]), rates[i])
    return m


MAX_RATE = 10  # brute force: every ordered tuple of rates 1..MAX_RATE, depth 1..MAX_BRUTE_DEPTH
MAX_BRUTE_DEPTH = 4


@cache
def hole_free_tuples(kernel: int) -> tuple[tuple[tuple[int, ...], int], ...]:
    """Every ordered hole-free tuple (rates, rf) with rates <= MAX_RATE and depth <= MAX_BRUTE_DEPTH."""
    found = []
    for depth in range(1, MAX_BRUTE_DEPTH + 1):
        for rates in itertools.product(range(1, MAX_RATE + 1), repeat=depth):
            offsets = oracle_offsets(rates, kernel)
            if len(offsets) == max(offsets) + 1:  # offsets start at 0
                found.append((rates, max(offsets) + 1))
    return tuple(found)


# ---------------------------------------------------------------- simple schedules

def test_exponential_cyclic_sawtooth_worked_numbers() -> None:
    assert exponential(5) == [1, 2, 4, 8, 16]
    assert exponential(3, base=3) == [1, 3, 9]
    wavenet = cyclic(10, 3)
    assert len(wavenet) == 30
    assert wavenet[:10] == wavenet[10:20] == wavenet[20:] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]
    assert sawtooth((1, 2, 5), 3) == [1, 2, 5, 1, 2, 5, 1, 2, 5]
    assert sawtooth([1, 2, 3], 1) == [1, 2, 3]


@FAST
@given(st.integers(1, 12), st.integers(1, 4), st.integers(1, 5))
def test_cyclic_against_loops(n: int, repeats: int, base: int) -> None:
    expected = []
    for _ in range(repeats):
        rate = 1
        for _ in range(n):
            expected.append(rate)
            rate *= base
    assert cyclic(n, repeats, base) == expected
    assert exponential(n, base) == expected[:n]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: exponential(0), r"^exponential: n_layers must be a positive int, got 0$"),
        (lambda: exponential(3, base=0), r"^exponential: base must be a positive int, got 0$"),
        (lambda: exponential(2.0), r"n_layers must be a positive int, got 2.0"),  # type: ignore[arg-type]
        (lambda: cyclic(3, 0), r"^cyclic: repeats must be a positive int, got 0$"),
        (lambda: cyclic(True, 2), r"cycle_length must be a positive int, got True"),
        (lambda: sawtooth([], 2), r"^sawtooth: group must be a non-empty list of positive ints, got \[\]$"),
        (lambda: sawtooth((1, 0), 2), r"group must be a non-empty list of positive ints, got \(1, 0\)"),
        (lambda: sawtooth("12", 2), r"group must be a non-empty list"),  # type: ignore[arg-type]
        (lambda: sawtooth((1, 2), -1), r"repeats must be a positive int, got -1"),
    ],
)
def test_simple_schedules_reject_bad_input(call, match) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=match):
        call()


# ---------------------------------------------------------------- Schedule

@FAST
@given(st.lists(st.integers(1, 12), min_size=1, max_size=5), st.integers(1, 5))
def test_schedule_rf_and_holes_against_sets(rates: list[int], kernel: int) -> None:
    s = Schedule(tuple(rates), kernel)
    offsets = oracle_offsets(tuple(rates), kernel)
    assert s.depth == len(rates)
    assert s.rf == oracle_rf(tuple(rates), kernel)
    assert s.holes == oracle_rf(tuple(rates), kernel) - len(offsets)
    assert receptive_field(s.layers()).size == (s.rf,)


def test_schedule_layers() -> None:
    s = Schedule((1, 2, 4), kernel=2)
    causal = s.layers(padding="causal")
    assert [ly.dilation for ly in causal] == [(1,), (2,), (4,)]
    assert [ly.kernel for ly in causal] == [(2,)] * 3
    assert receptive_field(causal).lookahead == (0,)
    assert receptive_field(causal).lookback == (7,)
    flat = s.layers(dims=2)
    assert all(ly.dims == 2 and ly.dilation[0] == ly.dilation[1] for ly in flat)
    assert receptive_field(flat).size == (8, 8)
    assert receptive_field(Schedule((1, 2), kernel=3).layers(padding="same")).offset == (0.0,)


def test_schedule_accepts_lists_and_numpy_and_is_frozen() -> None:
    s = Schedule([1, 2, 5])  # type: ignore[arg-type]
    assert s.rates == (1, 2, 5) and isinstance(s.rates, tuple)
    assert Schedule(np.array([1, 2]), kernel=np.int64(3)).rates == (1, 2)  # type: ignore[arg-type]
    assert all(type(r) is int for r in Schedule(np.array([1, 2])).rates)  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        s.kernel = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("rates", "kernel", "match"),
    [
        ((), 3, r"^Schedule: rates must be a non-empty list of positive ints, got \(\)$"),
        ((1, 0), 3, r"^Schedule: rates must be a non-empty list of positive ints, got \(1, 0\)$"),
        ((1, 2.5), 3, r"rates must be a non-empty list of positive ints"),
        ((1, 2), 0, r"^Schedule: kernel must be a positive int, got 0$"),
    ],
)
def test_schedule_rejects_bad_input(rates: tuple[int, ...], kernel: int, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Schedule(rates, kernel)


# ---------------------------------------------------------------- design

def test_design_wavenet() -> None:
    s = design(1024, kernel=2)
    assert s.rates == tuple(cyclic(10, 1))
    assert s.rf == 1024 and s.holes == 0
    assert receptive_field(s.layers(padding="causal")).lookback == (1023,)


@pytest.mark.parametrize("kernel", [2, 3, 4])
@pytest.mark.parametrize("max_dilation", [None, 1, 2, 3])
def test_design_is_shallowest_and_tightest_by_brute_force(kernel: int, max_dilation: int | None) -> None:
    table = hole_free_tuples(kernel)
    for target in range(2, MAX_RATE + 1):
        cap = target if max_dilation is None else min(target, max_dilation)
        ok = [(len(rates), rf) for rates, rf in table if rf >= target and max(rates) <= cap]
        s = design(target, kernel, max_dilation)
        assert s.holes == 0 and oracle_hole_free(s.rates, kernel)
        assert s.rf >= target
        if max_dilation is not None:
            assert max(s.rates) <= max_dilation
        if not ok:
            assert s.depth > MAX_BRUTE_DEPTH, (target, s)
            continue
        best_depth = min(d for d, _ in ok)
        assert s.depth == best_depth, (target, s)
        assert s.rf == min(rf for d, rf in ok if d == best_depth), (target, s)


@pytest.mark.parametrize("kernel", [2, 3, 4])
def test_design_with_depth_by_brute_force(kernel: int) -> None:
    table = hole_free_tuples(kernel)
    for target in range(2, MAX_RATE + 1):
        for depth in range(1, MAX_BRUTE_DEPTH + 1):
            rfs = [rf for rates, rf in table if len(rates) == depth and rf >= target]
            if not rfs:
                with pytest.raises(ConfigError, match=r"^design: target_rf must be at most \d+ for a hole-free"):
                    design(target, kernel, depth=depth)
                continue
            s = design(target, kernel, depth=depth)
            assert s.depth == depth and oracle_hole_free(s.rates, kernel)
            assert s.rf == min(rfs), (target, depth, s)


@settings(max_examples=80, deadline=None)
@given(st.integers(2, 5_000), st.integers(2, 6), st.one_of(st.none(), st.integers(16, 300)))
def test_design_random_targets(target: int, kernel: int, max_dilation: int | None) -> None:
    s = design(target, kernel, max_dilation)
    assert support(s.layers()).holes == 0
    assert s.rf >= target
    assert s.rf - target < kernel - 1  # nothing tighter: every kernel-k chain has rf = 1 mod (k - 1)
    assert s.rf == receptive_field(s.layers()).size[0]
    assert list(s.rates) == sorted(s.rates)
    assert s.rates[0] == 1 and math.gcd(*s.rates) == 1  # HDC's common-factor rule always holds
    if max_dilation is not None:
        assert max(s.rates) <= max_dilation


def test_design_m_rule_holds_for_kernels_2_and_3_and_not_beyond() -> None:
    for kernel in (2, 3):
        for target in range(2, 400):
            for cap in (None, 1, 2, 3, 5, 8, 16):
                rates = design(target, kernel, cap).rates
                if len(rates) > 1:
                    assert oracle_m_values(rates)[1] <= kernel, (target, kernel, cap, rates)
    s = design(64, kernel=4)
    assert s.rates == (1, 4, 16) and s.holes == 0
    assert oracle_m_values(s.rates)[1] == 8  # > 4: the rule fails although nothing is skipped


def test_design_worked_numbers() -> None:
    assert design(13).rates == (1, 2, 3)
    assert design(27).rates == (1, 3, 9)
    assert design(28).rates == (1, 1, 3, 9)  # 1 + 2 * 14 = 29 is the smallest reachable rf >= 28
    assert design(17, max_dilation=2).rates == (1, 1, 2, 2, 2)
    assert design(2, kernel=5).rates == (1,)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"target_rf": 1}, r"^design: target_rf must be an int >= 2, got 1$"),
        ({"target_rf": 10.0}, r"^design: target_rf must be an int >= 2, got 10.0$"),
        ({"target_rf": 10, "kernel": 1}, r"^design: kernel must be an int >= 2 \(a 1-tap kernel never grows"),
        ({"target_rf": 10, "kernel": 0}, r"^design: kernel must be a positive int, got 0$"),
        ({"target_rf": 10, "max_dilation": 0}, r"^design: max_dilation must be a positive int, got 0$"),
        ({"target_rf": 10, "depth": 0}, r"^design: depth must be a positive int, got 0$"),
        ({"target_rf": 10**6, "max_dilation": 1}, r"reachable within 10000 layers.*raise max_dilation$"),
        ({"target_rf": 28, "depth": 2}, r"^design: target_rf must be at most 9 for a hole-free schedule of 2 "
                                        r"layers with kernel 3, got 28; use at least 4 layers$"),
        ({"target_rf": 10, "depth": MAX_DEPTH + 1}, r"depth must be at most 10000"),
    ],
)
def test_design_rejects_bad_input(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        design(**kwargs)  # type: ignore[arg-type]
