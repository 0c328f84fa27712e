"""The command line as a careless or hostile user drives it: one line and exit 2 for every user error, exit 1 with
a bug line for anything else, bounded memory and time decided before the work, no file replaced without consent."""

from __future__ import annotations

from pathlib import Path

import pytest
from _cases import NUMBER_WORDS, RF_FLAGS, SOURCE_ALPHABET, SOURCES, USER_ERRORS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atrous.cli.main import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("argv", "match"), USER_ERRORS)
def test_user_errors_are_one_line_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str], match: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and match in err, err


def test_huge_but_exact_arithmetic_still_answers(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    code, out, _ = run(capsys, "schedule", "--rf", str(10**30), "--json")
    obj = json.loads(out)
    assert code == 0 and obj["rf"] >= 10**30 and obj["holes"] == 0 and obj["rates"][0] == 1
    code, out, _ = run(capsys, "rf", "-d", "1000000", "--json")  # 2e6 wide: under the default caps
    obj = json.loads(out)
    assert code == 0 and obj["rf"]["size"] == [2000001] and obj["support"]["taps"] == 3


def test_an_unexpected_error_is_a_bug_line_and_exit_1(capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import atrous.cli.schedule_cmd as cmd

    def broken(args: object) -> int:
        raise KeyError("oops")

    monkeypatch.setattr(cmd, "run", broken)
    code, out, err = run(capsys, "schedule", "--rf", "10")
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1
    assert "internal error: KeyError: 'oops'" in err and "this is a bug, please report it" in err
    assert "--debug" in err
    code, _, err = run(capsys, "--debug", "schedule", "--rf", "10")
    assert code == 1 and "Traceback (most recent call last)" in err and 'raise KeyError("oops")' in err


# ---- report -o: atomic, and never replacing a file that is not a report without --force -------------------------

REPORT = ["report", "atrous:tcn", "--input-shape", "1,1,64", "--samples", "1", "--no-erf"]


def test_report_refuses_to_replace_a_foreign_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "data.csv"
    target.write_text("a,b\n1,2\n")
    code, _, err = run(capsys, *REPORT, "-o", str(target))
    assert code == 2 and "--output must be a new file or an earlier atrous report" in err and "--force" in err
    assert target.read_text() == "a,b\n1,2\n"
    code, out, _ = run(capsys, *REPORT, "-o", str(target), "--force")
    assert code == 0 and target.read_text().startswith("<!DOCTYPE html>") and "replaced" in out


def test_report_replaces_an_earlier_report_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "r.html"
    assert run(capsys, *REPORT, "-o", str(target))[0] == 0
    code, out, _ = run(capsys, *REPORT, "-o", str(target))
    assert code == 0 and "(replaced the previous report)" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]  # no temporary left behind
    code, _, err = run(capsys, *REPORT, "-o", str(tmp_path))
    assert code == 2 and "--output must be a file name" in err


def test_a_failed_report_write_keeps_the_old_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import atrous._files as files

    target = tmp_path / "r.html"
    assert run(capsys, *REPORT, "-o", str(target))[0] == 0
    before = target.read_bytes()

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full_disk)
    code, _, err = run(capsys, *REPORT, "-o", str(target))
    assert code == 2 and "No space left on device" in err and "the previous file is unchanged" in err
    assert target.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]


# ---- fuzz ----------------------------------------------------------------------------------------------------

_numbers = st.one_of(st.integers(-3, 40).map(str), st.sampled_from(NUMBER_WORDS))
_flags = st.sampled_from(RF_FLAGS)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(_flags, _numbers), min_size=1, max_size=4), st.booleans())
def test_fuzz_rf_arguments(capsys: pytest.CaptureFixture[str], pairs: list[tuple[str, str]], causal: bool) -> None:
    argv = ["rf", *(x for pair in pairs for x in pair), *(["--causal"] if causal else []),
            "--max-memory", "0.2", "--max-time", "5"] if not any(f == "--max-memory" for f, _ in pairs) else \
        ["rf", *(x for pair in pairs for x in pair)]
    code, out, err = run(capsys, *argv)
    assert code in (0, 2), (argv, err)  # never a bug line (exit 1)
    if code == 2:
        assert out == "" and len(err.strip().splitlines()) == 1, (argv, err)


_sources = st.one_of(st.sampled_from(SOURCES), st.text(alphabet=SOURCE_ALPHABET, max_size=20))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_sources)
def test_fuzz_sources(capsys: pytest.CaptureFixture[str], source: str) -> None:
    import _hostile

    _hostile.CALLED.clear()
    code, out, err = run(capsys, "analyze", source, "--input-shape", "1,1,32", "--summary-only", "--json")
    assert code in (0, 2), (source, err)
    if code == 2:
        assert out == "" and len(err.strip().splitlines()) == 1, (source, err)
    assert "run" not in _hostile.CALLED and "ones" not in _hostile.CALLED
