"""The web UI in real headless Chromium (Debian's chromium + chromium-driver, driven by Selenium; nothing is
downloaded): a job run from the Run page through the Browse dialogs, progress advancing on Jobs, QC scrubbed,
a failed job's fix shown. Screenshots go to $VMHQ_SCREENSHOTS (docs/ refreshes the README's pictures)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import ENV
from web_helpers import make_root

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if os.environ.get("VMHQ_SKIP_BROWSER_TESTS") == "1":
        pytest.skip("VMHQ_SKIP_BROWSER_TESTS=1")
    if not (CHROMIUM and DRIVER):
        pytest.fail("the browser tests need Debian's chromium and chromium-driver: apt-get install -y chromium "
                    "chromium-driver (or set VMHQ_SKIP_BROWSER_TESTS=1)")
    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1360,1100",
                "--disable-gpu"):
        options.add_argument(arg)
    # Chromium's profile and its singleton socket's folder in pytest's tmp, not left in /tmp after each run.
    tmp = tmp_path_factory.mktemp("chromium")
    options.add_argument(f"--user-data-dir={tmp / 'profile'}")
    driver = webdriver.Chrome(service=Service(DRIVER, env={**os.environ, "TMPDIR": str(tmp)}), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """`videomatte-hq-web` itself, as an artist starts it; yields (url with token, root)."""
    tmp = tmp_path_factory.mktemp("web")
    # Frames large enough that the run outlasts several of the jobs page's 1 s refreshes (at 192x128 the faster
    # weight-free run could end between two, and the live-progress check below then saw no count between 0 and 24).
    root = make_root(tmp, frames=24, width=640, height=384)
    (root / "renders").mkdir()
    cv2.imwrite(str(root / "shot" / "white.png"), np.full((384, 640), 255, np.uint8))
    proc = subprocess.Popen([sys.executable, "-m", "videomatte_hq_web", "--root", str(root), "--port", "0",
                             "--data-dir", str(tmp / "data")], stdout=subprocess.PIPE, text=True, env=ENV,
                            start_new_session=True)
    url = proc.stdout.readline().split()[-1]
    assert "/?token=" in url
    yield url, root
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(30)


def _shots(tmp_path: Path) -> Path:
    return Path(os.environ.get("VMHQ_SCREENSHOTS") or tmp_path)


def _wait(driver, condition, timeout=90.0, what="condition"):
    return WebDriverWait(driver, timeout, poll_frequency=0.05, ignored_exceptions=(StaleElementReferenceException,)
                         ).until(lambda d: condition(d), what)


def _browse(driver, button: str, *names: str, use_folder: bool = False) -> None:
    """Click Browse, walk the folders by name (from where the dialog opens: the roots, or the field's
    folder), then pick the last name or the folder."""
    driver.find_element(By.ID, button).click()
    _wait(driver, lambda d: d.find_element(By.ID, "browser").is_displayed(), what="browse dialog")
    for name in names:
        entry = _wait(driver, lambda d: next((li for li in d.find_elements(By.CSS_SELECTOR, "#browser-list li")
                                              if li.get_attribute("data-path").endswith(name)), None), what=name)
        path, kind = entry.get_attribute("data-path"), entry.get_attribute("data-kind")
        entry.click()
        if kind == "dir":  # the folder's listing is shown before the next name is looked for
            _wait(driver, lambda d: d.find_element(By.ID, "browser-path").text == path, what=path)
    if use_folder:
        driver.find_element(By.ID, "browser-choose").click()
    _wait(driver, lambda d: not d.find_element(By.ID, "browser").is_displayed(), what="dialog closed")


def _job_cell(driver, job: str, cell: str) -> str:
    cells = driver.find_elements(By.CSS_SELECTOR, f'tr[data-job="{job}"] td.{cell}')
    return cells[0].text if cells else ""


def test_run_watch_qc_and_a_failed_jobs_fix(browser, server, tmp_path):
    url, root = server
    shots = _shots(tmp_path)
    browser.get(url)
    _wait(browser, lambda d: d.find_element(By.ID, "version").text.startswith("v"), what="app loaded")
    assert "token=" not in browser.current_url  # taken out of the address bar (kept for this tab only)

    # Run page: everything chosen with Browse, nothing typed.
    _browse(browser, "browse-input", str(root), "shot", "plate", "plate.####.exr")
    assert browser.find_element(By.ID, "input").get_attribute("value") == str(root / "shot/plate/plate.####.exr")
    _browse(browser, "browse-anchor", str(root), "shot", "anchor.png")
    _browse(browser, "browse-output", str(root), "renders", use_folder=True)
    assert browser.find_element(By.ID, "output-dir").get_attribute("value") == str(root / "renders")
    Select(browser.find_element(By.ID, "segment-backend")).select_by_value("flow")
    Select(browser.find_element(By.ID, "refine-backend")).select_by_value("closed_form")
    band = browser.find_element(By.ID, "band")
    band.send_keys(Keys.ARROW_RIGHT)  # default -> wider: the exact thresholds follow the preset
    assert browser.find_element(By.ID, "band-name").text == "wider"
    assert browser.find_element(By.ID, "fg-threshold").get_attribute("value") == "0.99"
    browser.find_element(By.ID, "anchor-auto").click()
    Select(browser.find_element(By.ID, "auto-anchor-method")).select_by_value("hog_grabcut")
    browser.find_element(By.ID, "auto-anchor-preview").click()
    message = _wait(browser, lambda d: d.find_element(By.ID, "auto-anchor-message").text.startswith(("frame", "auto-anchor"))
                    and d.find_element(By.ID, "auto-anchor-message").text, what="auto-anchor preview")
    shown = browser.find_element(By.ID, "auto-anchor-image").is_displayed()
    assert shown == message.startswith("frame")  # the mask over its frame, or the engine's reason and fix
    browser.find_element(By.ID, "anchor-file").click()
    browser.save_screenshot(str(shots / "web_run.png"))
    browser.find_element(By.ID, "start").click()

    # Jobs page: the job's frames advance live, then it is done.
    _wait(browser, lambda d: d.current_url.endswith("#jobs/1"), what="jobs page")
    seen: set[str] = set()

    def watch(d) -> bool:
        frames = _job_cell(d, "1", "frames")
        if "/" in frames and frames not in seen and len(seen) == 3:
            d.save_screenshot(str(shots / "web_jobs.png"))  # mid-run: progress bar and ETA
        seen.add(frames)
        return _job_cell(d, "1", "state") == "done"

    _wait(browser, watch, what="job done")
    assert len([s for s in seen if "/" in s]) >= 3, seen  # several distinct frame counts were shown while it ran

    # QC page: scrub the frames, wipe between plate and alpha over a checkerboard.
    browser.find_element(By.CSS_SELECTOR, 'tr[data-job="1"] button.qc').click()
    _wait(browser, lambda d: d.find_element(By.ID, "qc-frame-label").text == "1001", what="qc frames")
    slider = browser.find_element(By.ID, "qc-frame")
    for _ in range(12):
        slider.send_keys(Keys.ARROW_RIGHT)
    assert browser.find_element(By.ID, "qc-frame-label").text == "1013"
    loaded = "return [...document.querySelectorAll('#qc-view img')].map(i => i.complete && i.naturalWidth)"
    _wait(browser, lambda d: all(d.execute_script(loaded)), what="previews loaded")
    assert "/preview/checker/1013" in browser.find_element(By.ID, "qc-b").get_attribute("src")
    browser.save_screenshot(str(shots / "web_qc.png"))
    Select(browser.find_element(By.ID, "qc-mode")).select_by_value("wipe")
    assert "inset(0px 50%" in browser.find_element(By.ID, "qc-a").value_of_css_property("clip-path")

    # A failed job shows the engine's error and its fix.
    browser.find_element(By.ID, "nav-run").click()
    _browse(browser, "browse-anchor", "white.png")  # the dialog opens in the last anchor's folder
    browser.find_element(By.ID, "overwrite").click()
    browser.find_element(By.ID, "start").click()
    _wait(browser, lambda d: d.current_url.endswith("#jobs/2"), what="jobs page")
    _wait(browser, lambda d: _job_cell(d, "2", "state") == "failed", what="job failed")
    error = browser.find_element(By.CSS_SELECTOR, ".job-error").text
    assert "covers the whole frame" in error and "Fix: the anchor must leave some background" in error
    assert browser.find_element(By.CSS_SELECTOR, 'tr[data-job="2"] button.resume').is_displayed()
    browser.save_screenshot(str(shots / "web_failed.png"))
    browser.find_element(By.CSS_SELECTOR, 'tr[data-job="2"] button.rerun').click()  # back to Run, to fix it
    _wait(browser, lambda d: d.current_url.endswith("#run"), what="run page")
    assert browser.find_element(By.ID, "anchor-mask").get_attribute("value") == str(root / "shot" / "white.png")
    assert browser.find_element(By.ID, "band-name").text == "wider"

    # Settings: model files with the command that installs each missing one.
    browser.find_element(By.ID, "nav-settings").click()
    row = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, 'tr[data-model="mematte"]'), what="models")
    assert "missing" in row[0].text and "videomatte-hq models install mematte --from FILE" in row[0].text
    browser.save_screenshot(str(shots / "web_settings.png"))
