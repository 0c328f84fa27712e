"""`import atrous` is cheap, and atrous.rf never imports torch (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "torchvision", "matplotlib", "onnx", "scipy")

PROBE = """
import json, sys
import atrous
after_import = sorted(m for m in {heavy} if m in sys.modules)
from atrous import rf
from atrous.rf import presets, summary
summary.summarize(presets.aspp(), 33)
rf.support(presets.wavenet())
print(json.dumps({{"after_import": after_import,
                   "after_rf": sorted(m for m in {heavy} if m in sys.modules)}}))
"""


def test_import_and_rf_stay_light():
    out = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY)], capture_output=True, text=True,
                         check=True).stdout
    loaded = json.loads(out)
    assert loaded == {"after_import": [], "after_rf": []}
