"""The report in a real headless browser (Debian's chromium + chromedriver; `make test` installs them)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from atrous.cli.main import main

webdriver = pytest.importorskip("selenium.webdriver")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(CHROMIUM is None or DRIVER is None,
                                reason="chromium and chromedriver are not installed (make test installs them)")


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,6000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=DRIVER))
    yield driver
    driver.quit()


@pytest.mark.parametrize("source", ["atrous:deeplabv3", "atrous:wavenet"])
def test_report_loads_without_console_errors_and_every_image_renders(browser, source: str,  # type: ignore[no-untyped-def]
                                                                     tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    assert main(["report", source, "-o", str(page), "--samples", "2"]) == 0
    browser.get(page.as_uri())
    assert browser.title == f"atrous report: {source}"
    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    sizes = browser.execute_script(
        "return Array.from(document.images).map(i => {const r = i.getBoundingClientRect();"
        " return [i.complete, i.naturalWidth, r.width, r.height];});")
    assert len(sizes) == 4
    for complete, natural, width, height in sizes:
        assert complete and natural > 0 and width > 0 and height > 0
    shot = tmp_path / "report.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
