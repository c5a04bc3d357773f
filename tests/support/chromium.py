"""Headless Chromium for the tests that look at `dsql compare`'s report as a reader's browser would.

Debian's `chromium` and `chromium-driver` (.ci/run installs both) driven by
selenium, with the driver's path given so selenium never downloads one.
`open_and_list_images` asks the page itself which images loaded. Chromium and
its driver get a temporary directory of their own (TMPDIR, and the profile in it),
removed after: Chromium leaves `org.chromium.Chromium.*` directories in its TMPDIR.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
CHROMEDRIVER = ("chromedriver",)
SCREEN = (1280, 900)
IMAGES_SETTLE_S = 30.0  # every <img> reports complete (loaded or broken) well before this on a loaded CI box


class ChromiumMissing(RuntimeError):
    pass


def _which(names: tuple[str, ...]) -> str | None:
    return next((path for path in map(shutil.which, names) if path), None)


@contextlib.contextmanager
def headless_chromium() -> Iterator[WebDriver]:
    """One headless Chromium with a SCREEN-sized window (starting it costs seconds)."""
    browser, driver_path = _which(CHROMIUM), _which(CHROMEDRIVER)
    if browser is None or driver_path is None:  # CI installs both (.ci/run); a silent skip would hide it
        raise ChromiumMissing("headless Chromium is needed: apt-get install chromium chromium-driver")
    with tempfile.TemporaryDirectory(prefix="dsql-chromium-") as scratch:
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--allow-file-access-from-files", f"--window-size={SCREEN[0]},{SCREEN[1]}",
                         f"--user-data-dir={scratch}/profile"):  # fmt: skip
            options.add_argument(argument)
        service = Service(executable_path=driver_path, env={**os.environ, "TMPDIR": scratch})
        driver = webdriver.Chrome(options=options, service=service)
        try:
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                   {"width": SCREEN[0], "height": SCREEN[1], "deviceScaleFactor": 1, "mobile": False})  # fmt: skip
            yield driver
        finally:
            driver.quit()


def open_and_list_images(driver: WebDriver, page: Path) -> list[dict[str, Any]]:
    """Open `page` and return, from inside it, each <img>'s src, whether it loaded, and its claim if any."""
    driver.get(page.resolve().as_uri())
    script = """return Array.from(document.images).map(img => ({
        src: img.getAttribute('src'), complete: img.complete, width: img.naturalWidth,
        claim: (img.closest('article.claim') || {}).id || null}));"""
    deadline = time.monotonic() + IMAGES_SETTLE_S
    while True:
        ready = driver.execute_script("return document.readyState") == "complete"
        images = driver.execute_script(script)
        if ready and all(image["complete"] for image in images):
            return images
        if time.monotonic() > deadline:
            return images
        time.sleep(0.1)


def not_loaded(images: list[dict[str, Any]]) -> list[str]:
    return [image["src"] for image in images if not (image["complete"] and image["width"] > 0)]
