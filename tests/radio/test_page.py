"""The radio page as a browser lays it out before any track is on air (no station needed: the
page's own files, served on 127.0.0.1 by a plain file server whose /api answers 404)."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest

import lofictl.radio

pytestmark = pytest.mark.live  # headless chromium

WEB = Path(lofictl.radio.__file__).parent / "web"


def test_the_waiting_page_shows_no_broken_image_and_the_keep_command_under_its_label(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--window-size=420,900", "--no-first-run"):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(WEB))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(f"http://127.0.0.1:{server.server_port}/index.html")  # the API calls fail: the page waits
        assert driver.execute_script("return document.styleSheets.length") == 1  # style.css is applied
        roll = driver.find_element(By.ID, "roll")
        assert roll.get_attribute("hidden") is not None
        assert roll.value_of_css_property("display") == "none"  # not a broken-image box
        assert not roll.is_displayed()
        keep = driver.find_element(By.ID, "keep")
        label = driver.find_element(By.CSS_SELECTOR, ".keep")
        assert keep.value_of_css_property("display") == "block"
        assert keep.rect["y"] > label.rect["y"] + 5  # on its own line, not wrapped over the label
        assert keep.rect["x"] + keep.rect["width"] <= label.rect["x"] + label.rect["width"] + 1  # inside its box
    finally:
        driver.quit()
        server.shutdown()
