"""The report in a real headless browser (Debian's chromium + chromedriver; `make test` installs them).

The explorer is checked against an independent oracle: the input gradient of one output unit of a one-channel
network whose weights are all 1 and whose biases are 0 is exactly the number of paths from each input to that
unit, which is what the page must show for the unit the test clicks.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from atrous.cli.main import main
from atrous.report import collect

webdriver = pytest.importorskip("selenium.webdriver")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(CHROMIUM is None or DRIVER is None,
                                reason="chromium and chromedriver are not installed (make test installs them)")
#: ATROUS_UPDATE_FIGURES=1 copies the screenshots into docs/figures (how docs/report.md's pictures are made)
FIGURES = Path(__file__).resolve().parents[2] / "docs" / "figures"
UPDATE = os.environ.get("ATROUS_UPDATE_FIGURES") == "1"


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,2000", "--hide-scrollbars"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=DRIVER))
    yield driver
    driver.quit()


class Dilated2d(nn.Module):
    """One channel, a stride, dilations and a shortcut: counts differ from cell to cell and there are holes."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 1, 3, stride=2, padding=1)
        self.a = nn.Conv2d(1, 1, 3, dilation=2, padding=2)
        self.b = nn.Conv2d(1, 1, 3, dilation=3, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.stem(x)
        return self.b(self.a(y)) + y


class Causal1d(nn.Module):
    """A one-channel causal stack (left padding only) with dilations 1, 2, 4 and a residual."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(1, 1, 2, dilation=d) for d in (1, 2, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = conv(F.pad(x, (conv.dilation[0], 0))) + x
        return x


def _ones(model: nn.Module) -> nn.Module:
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(1.0) if p.dim() > 1 else p.zero_()
    return model


def _paths(model: nn.Module, shape: tuple[int, ...], unit: tuple[int, ...]) -> np.ndarray:
    """The oracle: d y[unit] / d x of the all-ones network, on the input grid."""
    x = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
    y = model.double()(x)
    y[(0, 0, *unit)].backward()
    assert x.grad is not None
    return x.grad[0, 0].numpy()


def _page(model: nn.Module, shape: tuple[int, ...], path: Path) -> Path:
    collect(model, shape, source=type(model).__name__, samples=2).save(path)
    return path


def _open(browser, page: Path) -> str:  # type: ignore[no-untyped-def]
    browser.get(page.as_uri())
    browser.get_log("browser")  # start each page with an empty log
    browser.get(page.as_uri())
    root = browser.execute_script("return document.querySelector('.atrous-report').id")
    browser.execute_script("return new Promise(r => setTimeout(r, 300))")
    return str(root)


def _errors(browser) -> list[dict]:  # type: ignore[no-untyped-def]
    return [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def _click_unit(browser, unit: tuple[int, ...], out: tuple[int, ...]) -> None:  # type: ignore[no-untyped-def]
    """Click the centre of ``unit`` on the output canvas, as a user would."""
    from selenium.webdriver.common.action_chains import ActionChains

    canvas = browser.find_element("css selector", "canvas.atrous-output")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)
    w, h = canvas.size["width"], canvas.size["height"]
    x = (unit[-1] + 0.5) / out[-1] * w - w / 2
    y = ((unit[-2] + 0.5) / out[-2] * h - h / 2) if len(unit) > 1 else 0
    ActionChains(browser).move_to_element_with_offset(canvas, round(x), round(y)).click().perform()
    browser.execute_script("return new Promise(r => setTimeout(r, 200))")


def _shown(browser, root: str) -> tuple[dict, np.ndarray]:  # type: ignore[no-untyped-def]
    """The unit the page shows and its pattern, placed on the input grid (cells outside the input dropped)."""
    got = browser.execute_script(f"return window.atrousPages[{root!r}].counts()")
    state = browser.execute_script(f"return window.atrousPages[{root!r}].state()")
    assert got is not None and got["enc"] == "u16"
    return state, np.array(got["values"], dtype=float).reshape(got["shape"])


def _on_grid(origin: list[int], pattern: np.ndarray, size: tuple[int, ...]) -> np.ndarray:
    grid = np.zeros(size)
    for index in np.ndindex(pattern.shape):
        at = tuple(o + i for o, i in zip(origin, index))
        if all(0 <= a < n for a, n in zip(at, size)):
            grid[at] = pattern[index]
    return grid


@pytest.mark.parametrize(("model", "shape", "unit"), [
    (Dilated2d(), (1, 1, 40, 48), (9, 14)),
    (Causal1d(), (1, 1, 64), (50,)),
], ids=["2d", "causal"])
def test_clicking_a_unit_shows_exactly_the_inputs_it_reads(browser, tmp_path: Path, model: nn.Module,  # type: ignore[no-untyped-def]
                                                           shape: tuple[int, ...], unit: tuple[int, ...]) -> None:
    model = _ones(model)
    root = _open(browser, _page(model, shape, tmp_path / "page.html"))
    with torch.no_grad():
        out = tuple(model(torch.zeros(shape)).shape[2:])
    before = browser.find_element("css selector", ".atrous-info").text
    _click_unit(browser, unit, out)
    state, pattern = _shown(browser, root)
    assert tuple(state["unit"]) == unit
    assert browser.find_element("css selector", ".atrous-info").text != before
    oracle = _paths(model, shape, unit)
    shown = _on_grid(state["origin"], pattern, shape[2:])
    np.testing.assert_array_equal(shown, oracle)
    assert state["taps"] == int((pattern > 0).sum()) and state["holes"] == int((pattern == 0).sum())
    assert _errors(browser) == []


def test_the_layer_slider_walks_the_field_down_to_the_first_layer(browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.keys import Keys

    root = _open(browser, _page(_ones(Dilated2d()), (1, 1, 40, 48), tmp_path / "page.html"))
    first = browser.execute_script(f"return window.atrousPages[{root!r}].state()")
    slider = browser.find_element("css selector", "input.atrous-slider")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", slider)
    slider.click()
    slider.send_keys(Keys.HOME)
    browser.execute_script("return new Promise(r => setTimeout(r, 200))")
    last = browser.execute_script(f"return window.atrousPages[{root!r}].state()")
    names = browser.execute_script(f"return window.atrousPages[{root!r}].nodes()")
    assert last["node"] == 0 and first["node"] != 0
    assert names[0] == "stem" and last["shape"] == [3, 3]
    assert np.prod(last["shape"]) < np.prod(first["shape"])
    # the same place of the input: the first layer's unit is centred where the deeper field was
    centre = [o + (s - 1) / 2 for o, s in zip(first["origin"], first["shape"])]
    new = [o + (s - 1) / 2 for o, s in zip(last["origin"], last["shape"])]
    assert max(abs(a - b) for a, b in zip(centre, new)) <= 1
    assert _errors(browser) == []


_OVERLAPS = """
const boxes = [];
const clip = (el, r) => {
  for (let p = el.parentElement; p; p = p.parentElement) {
    const s = getComputedStyle(p);
    if (s.overflow !== 'visible' || s.overflowY !== 'visible') {
      const q = p.getBoundingClientRect();
      r = {left: Math.max(r.left, q.left), top: Math.max(r.top, q.top),
           right: Math.min(r.right, q.right), bottom: Math.min(r.bottom, q.bottom)};
    }
  }
  return r;
};
document.querySelectorAll('.atrous-report *').forEach(el => {
  const own = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim());
  if (!own && !['CANVAS', 'IMG', 'SELECT', 'INPUT'].includes(el.tagName)) return;
  if (el.closest('script, style, noscript, option') || el.hidden) return;
  for (const r of el.getClientRects()) {
    const c = clip(el, r);
    if (c.right - c.left > 1 && c.bottom - c.top > 1) boxes.push([el, c]);
  }
});
const hits = [];
for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
  const [a, p] = boxes[i], [b, q] = boxes[j];
  if (a === b || a.contains(b) || b.contains(a)) continue;
  const w = Math.min(p.right, q.right) - Math.max(p.left, q.left);
  const h = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
  const say = (el) => el.tagName + ':' + el.textContent.slice(0, 40);
  if (w > 1 && h > 1) hits.push([say(a), say(b)]);
}
return [boxes.length, hits.slice(0, 10)];
"""


@pytest.mark.parametrize("source", ["atrous:deeplabv3", "atrous:tcn"])
def test_real_page_renders_without_errors_or_overlapping_text(browser, tmp_path: Path, source: str) -> None:  # type: ignore[no-untyped-def]
    page = tmp_path / "report.html"
    assert main(["report", source, "-o", str(page), "--samples", "2"]) == 0
    assert page.stat().st_size < 5_000_000
    root = _open(browser, page)
    assert browser.title == f"atrous report: {source}"
    state = browser.execute_script(f"return window.atrousPages[{root!r}].state()")
    assert state is not None and state["taps"] > 0
    sizes = browser.execute_script(
        "return Array.from(document.images).map(i => {const r = i.getBoundingClientRect();"
        " return [i.complete, i.naturalWidth, r.width, r.height];});")
    assert len(sizes) >= 3
    assert all(complete and natural > 0 and w > 0 and h > 0 for complete, natural, w, h in sizes)
    name = source.split(":")[1]
    for width in (1400, 800):
        browser.set_window_size(width, 2000)
        browser.execute_script("return new Promise(r => setTimeout(r, 200))")
        count, hits = browser.execute_script(_OVERLAPS)
        assert count > 50 and hits == [], (width, hits)
        explore = browser.find_element("css selector", ".atrous-explore")
        browser.execute_script("arguments[0].scrollIntoView()", explore)
        shot = tmp_path / f"{name}-{width}.png"
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
        if width == 1400 and UPDATE:
            shutil.copyfile(shot, FIGURES / f"report-{name}.png")
    browser.set_window_size(1400, 2000)
    assert _errors(browser) == []
