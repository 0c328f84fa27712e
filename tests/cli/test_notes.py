"""Notes that differ only in the module they name print as one line (cli/_notes.py)."""

from __future__ import annotations

import json

import pytest

from atrous.cli._notes import grouped
from atrous.cli.main import main


def test_grouped_keeps_order_unique_notes_and_every_module() -> None:
    notes = ["a in module 'x.0' resizes: after it", "plain note", "a in module 'x.1' resizes: after it",
             "a in module 'y' uses align_corners=True: size", "b in module 'x.0' resizes: after it"]
    assert grouped(notes) == [
        "a in each of 2 modules ('x.0', 'x.1') resizes: after it",
        "plain note",
        "a in module 'y' uses align_corners=True: size",
        "b in module 'x.0' resizes: after it",
    ]
    assert grouped([]) == []


def test_analyze_prints_one_note_for_five_upsamplings(capsys: pytest.CaptureFixture[str]) -> None:
    """smp's Unet upsamples five times: the JSON keeps one note per module, the terminal one line naming all."""
    pytest.importorskip("segmentation_models_pytorch")
    source = "smp:Unet?encoder_name=resnet18"
    assert main(["analyze", source, "--input-shape", "1,3,64,64", "--summary-only", "--json"]) == 0
    raw = [n for n in json.loads(capsys.readouterr().out)["notes"] if "fractional ratio" in n]
    assert len(raw) == 5
    assert main(["analyze", source, "--input-shape", "1,3,64,64", "--summary-only"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "fractional ratio" in ln]
    assert len(lines) == 1 and "in each of 5 modules ('decoder.blocks.0'" in lines[0]
    assert all(f"'decoder.blocks.{i}'" in lines[0] for i in range(5))
