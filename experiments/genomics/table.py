"""Print the results table of experiments/genomics/results/distance.json as markdown (for docs/results_genomics.md)."""

from __future__ import annotations

import json
from pathlib import Path

result = json.loads((Path(__file__).resolve().parent / "results" / "distance.json").read_text())
models = list(result["models"])
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
    print(f"{r['model']} seed {r['seed']}: train {r['wall_s']} s, eval {r['eval_wall_s']} s, "
          f"mixed-distance test accuracy {r['test_accuracy']:.3f}")
print(f"script wall: {result['script_wall_s']} s")
