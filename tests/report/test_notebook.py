"""The notebook front door under IPython's own display machinery (in a subprocess: a fresh shell each time)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("IPython")

CELL = r'''
import json, sys
import matplotlib
matplotlib.use("module://matplotlib_inline.backend_inline")
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shown = []
shell.displayhook.write_format_data = lambda data, metadata=None: shown.append(data)
before = matplotlib.get_backend()
for cell in ("import atrous, torch.nn as nn",
             "net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=2, dilation=2),"
             "                    nn.Conv2d(2, 1, 3, padding=4, dilation=4))",
             "atrous.analyze(net, (1, 1, 32, 32))",
             "atrous.report(net, (1, 1, 32, 32), samples=2)",
             "atrous.report('atrous:tcn', samples=2)"):
    result = shell.run_cell(cell)
    assert result.success, result.error_in_exec
bundles = [{k: v for k, v in d.items() if k in ("text/plain", "text/html")} for d in shown]
out = {"backend_before": before, "backend_after": matplotlib.get_backend(),
       "pyplot": "matplotlib.pyplot" in sys.modules, "bundles": bundles}
print("RESULT" + json.dumps(out))
'''


@pytest.fixture(scope="module")
def session() -> dict:
    run = subprocess.run([sys.executable, "-c", CELL], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    line = run.stdout[run.stdout.index("RESULT") + len("RESULT"):].splitlines()[0]
    return json.loads(line)


def test_analysis_and_reports_display_inline_with_short_reprs(session: dict) -> None:
    bundles = session["bundles"]
    assert len(bundles) == 3
    for b in bundles:
        assert "text/html" in b and len(b["text/plain"]) < 1000
    analysis, page, causal = bundles
    assert analysis["text/plain"].startswith("Analysis(") and "rf=13x13" in analysis["text/plain"]
    assert "<table" in analysis["text/html"] and "0.0" not in analysis["text/plain"][:9]
    assert page["text/plain"].startswith("Report(") and "atrous-explore" in page["text/html"]
    assert "atrousPage(" in page["text/html"] and "<html" not in page["text/html"]
    assert "lookback / lookahead" in causal["text/html"]


def test_the_users_matplotlib_backend_is_unchanged(session: dict) -> None:
    assert "inline" in session["backend_before"]
    assert session["backend_after"] == session["backend_before"]
