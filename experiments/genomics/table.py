"""Print the results table of experiments/genomics/results/NAME.json as markdown (for docs/RESULTS.md).

Usage: python experiments/genomics/table.py [distance|distance_20k]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

if {"-h", "--help"} & set(sys.argv[1:]):
    print(__doc__)
    raise SystemExit(0)
name = sys.argv[1] if len(sys.argv) > 1 else "distance"
if name not in ("distance", "distance_20k"):
    raise SystemExit(f"table.py: the experiment must be distance or distance_20k, got {name!r}")
result = json.loads((Path(__file__).resolve().parent / "results" / f"{name}.json").read_text())
models = [m for m in result["models"] if any(r["model"] == m for r in result["table"])]
print("| distance (bp) | blind ceiling | " + " | ".join(f"`{m}`" for m in models) + " |")
print("|---|---|" + "---|" * len(models))
for d in result["distances"]:
    rows = {r["model"]: r for r in result["table"] if r["distance"] == d}
    ceiling = rows[models[0]]["blind_ceiling"]
    cells = [f"{rows[m]['accuracy']['mean']:.3f} ± {rows[m]['accuracy']['std']:.3f} "
             f"[{rows[m]['accuracy']['min']:.3f}, {rows[m]['accuracy']['max']:.3f}]" for m in models]
    print(f"| {d} | {ceiling['mean']:.3f} ± {ceiling['std']:.3f} | " + " | ".join(cells) + " |")
print()
for r in result["runs"]:
    if "stages" in r:
        walls = " + ".join(f"{s['wall_s']}" for s in r["stages"])
        accs = " / ".join(f"{s['test_accuracy']:.3f}" for s in r["stages"])
        print(f"{r['model']} seed {r['seed']}: train {walls} s (stages), eval {r['eval_wall_s']} s, "
              f"test accuracy after each stage {accs}")
    else:
        print(f"{r['model']} seed {r['seed']}: train {r['wall_s']} s, eval {r['eval_wall_s']} s, "
              f"mixed-distance test accuracy {r['test_accuracy']:.3f}")
if "script_wall_s" in result:
    print(f"script wall: {result['script_wall_s']} s")
