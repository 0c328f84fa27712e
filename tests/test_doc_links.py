"""Every file the docs and the command-line help point to is in the repository: markdown links, and paths such as
`docs/train.md` or `experiments/bai2018/summarize.py` written in the text. A moved or deleted file, or a note that
only exists outside the repository, fails here."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "experiments").rglob("*.md")])
#: a repository path written in prose: a top-level folder of the project, then a file name with an extension
PATH = re.compile(r"(?<![\w/.-])((?:docs|experiments|benchmarks|src|tests|examples)/[\w./-]*\w\.\w+)")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
#: paths that name what a command writes, not a file kept in the repository
WRITTEN = re.compile(r"(^|/)(runs|out|results/figures)/|\bRUNS\b|<|\*|\{")
OUTSIDE = ("REFERENCES.md", "DESIGN.md", "shared/", "results_graphs.md", "results_rhythm.md")


def _missing(text: str, base: Path) -> list[str]:
    bad = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        if not (base / target).exists() and not (ROOT / target).exists():
            bad.append(target)
    for target in PATH.findall(text):
        target = target.rstrip(".")
        if WRITTEN.search(target) or (ROOT / target).exists():
            continue
        bad.append(target)
    return bad


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_path_a_page_names_exists(page: Path) -> None:
    text = page.read_text()
    assert _missing(text, page.parent) == []
    assert [word for word in OUTSIDE if word in text] == []


def test_every_path_the_help_names_exists() -> None:
    for args in ([], ["rf"], ["analyze"], ["report"], ["schedule"], ["train"]):
        out = subprocess.run([sys.executable, "-m", "atrous", *args, "--help"], capture_output=True, text=True,
                             check=False)
        assert out.returncode == 0, (args, out.stderr)
        assert _missing(out.stdout, ROOT) == [], args
        assert [word for word in OUTSIDE if word in out.stdout] == [], args
