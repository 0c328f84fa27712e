"""A library error names the Python argument (``node=``); the same error on the command line names the flag."""

from __future__ import annotations

from pathlib import Path

import pytest
from torch import nn

from atrous.analysis import analyze
from atrous.cli.main import main
from atrous.errors import UnsupportedOpError


class Patches(nn.Module):
    """An im2col at the output: atrous cannot map it exactly, so the advice is to analyse an earlier node."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        self.unfold = nn.Unfold(2, stride=2)

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.unfold(self.conv(x))


def build() -> nn.Module:
    return Patches()


def test_the_api_names_the_argument(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedOpError, match="analyse an earlier node with node=") as err:
        analyze(Patches(), (1, 1, 8, 8))
    assert "--node" not in str(err.value)


def test_the_command_line_names_the_flag(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    assert main(["report", "test_messages:build", "--input-shape", "1,1,8,8", "--no-erf", "--json"]) == 2
    err = capsys.readouterr().err
    assert "analyse an earlier node with --node" in err and "node=" not in err and len(err.splitlines()) == 1
