"""The report page's size and first paint in headless Chromium, against the size budget and a static baseline.

    python benchmarks/report.py [--json] [--samples N]

For each model (ResNet-50 at 224², DeepLabV3-ResNet-50 at 513², atrous's deeplabv3 at 513² and tcn) it writes
the page, opens it in headless Chromium and reads the browser's own paint timings (first-contentful-paint) and the
time until the explorer has drawn its first unit. The baseline in the same run is the same page with the explorer's
data and script removed, so the figure shows what the interactivity costs. Budget: under 5 MB and first paint
under 2 s per page.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _machine import cpu_model, git_commit

BUDGET_BYTES, BUDGET_PAINT_MS = 5_000_000, 2000


def _models() -> list[tuple[str, torch.nn.Module, tuple[int, ...]]]:
    import torchvision

    import atrous

    return [
        ("torchvision resnet50", torchvision.models.resnet50(weights=None), (1, 3, 224, 224)),
        ("torchvision deeplabv3_resnet50",
         torchvision.models.segmentation.deeplabv3_resnet50(weights=None, weights_backbone=None), (1, 3, 513, 513)),
        ("atrous deeplabv3", atrous.create_model("deeplabv3"), (1, 3, 513, 513)),
        ("atrous tcn", atrous.create_model("tcn"), (1, 1, 128)),
    ]


def _browser():  # type: ignore[no-untyped-def]
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser") or ""
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(executable_path=shutil.which("chromedriver") or ""))


_TIMING = """
const done = arguments[arguments.length - 1];
const t0 = performance.timeOrigin;
const wait = () => {
  const paint = performance.getEntriesByName('first-contentful-paint')[0];
  const pages = window.atrousPages || {};
  const key = Object.keys(pages)[0];
  const ready = key === undefined || pages[key].ready();
  if (paint && ready) done([paint.startTime, performance.now()]);
  else setTimeout(wait, 10);
};
wait();
"""


def _static(page: str) -> str:
    """The baseline: the same page without the explorer's data and script."""
    page = re.sub(r'<script type="application/json" class="atrous-data">.*?</script>', "", page, flags=re.S)
    return re.sub(r"<script>.*?</script>", "", page, flags=re.S)


def _open(driver, path: Path) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    driver.get("about:blank")
    driver.get(path.as_uri())
    driver.set_script_timeout(60)
    try:
        paint, ready = driver.execute_async_script(_TIMING)
    except Exception as e:
        state = driver.execute_script("return [performance.getEntriesByType('paint').length, "
                                      "Object.keys(window.atrousPages || {}), document.readyState]")
        raise RuntimeError(f"{path.name}: the page did not paint and draw within 60 s ({state})") from e
    return float(paint), float(ready)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--samples", type=int, default=2, help="ERF samples per page (default 2: the page, not "
                        "the ERF, is measured)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from atrous.report import collect

    driver = _browser()
    rows = []
    tmp = Path(tempfile.mkdtemp())
    try:
        for name, model, shape in _models():
            print(f"{name}: collecting ...", file=sys.stderr, flush=True)
            start = time.perf_counter()
            data = collect(model, shape, source=name, samples=args.samples)
            built = time.perf_counter() - start
            page = tmp / "page.html"
            data.save(page)
            static = tmp / "static.html"
            static.write_text(_static(page.read_text()))
            times: dict[str, list[float]] = {"paint": [], "ready": [], "static_paint": []}
            for _ in range(args.repeats):  # interleaved: the machine is shared and noisy
                paint, ready = _open(driver, page)
                times["paint"].append(paint)
                times["ready"].append(ready)
                times["static_paint"].append(_open(driver, static)[0])
            med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
            row = {"model": name, "input": list(shape), "bytes": page.stat().st_size,
                   "static_bytes": static.stat().st_size, "explorer_nodes": len(data.explorer.nodes)
                   if data.explorer else 0, "first_paint_ms": round(med["paint"], 1),
                   "explorer_ready_ms": round(med["ready"], 1), "static_first_paint_ms": round(med["static_paint"], 1),
                   "collect_s": round(built, 2), "within_budget": page.stat().st_size < BUDGET_BYTES
                   and med["paint"] < BUDGET_PAINT_MS}
            rows.append(row)
            print(f"{name}: {row['bytes'] / 1e6:.2f} MB, first paint {row['first_paint_ms']} ms "
                  f"(static page {row['static_first_paint_ms']} ms), explorer ready {row['explorer_ready_ms']} ms",
                  file=sys.stderr, flush=True)
    finally:
        driver.quit()
        shutil.rmtree(tmp, ignore_errors=True)
    meta = {"commit": git_commit(), "cpu": cpu_model(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "load": os.getloadavg()[0], "repeats": args.repeats, "budget_bytes": BUDGET_BYTES,
            "budget_first_paint_ms": BUDGET_PAINT_MS}
    if args.json:
        print(json.dumps({**meta, "rows": rows}, indent=1))
    else:
        print(f"commit {meta['commit']}, load {meta['load']:.1f}")
        print(f"{'model':<34}{'MB':>6}{'paint ms':>10}{'static ms':>11}{'ready ms':>10}{'nodes':>7}  budget")
        for r in rows:
            print(f"{r['model']:<34}{r['bytes'] / 1e6:>6.2f}{r['first_paint_ms']:>10}{r['static_first_paint_ms']:>11}"
                  f"{r['explorer_ready_ms']:>10}{r['explorer_nodes']:>7}  {'ok' if r['within_budget'] else 'MISSED'}")
    return 0 if all(r["within_budget"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
