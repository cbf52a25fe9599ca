"""Helpers for the audition and listening-test tests: a small audition built in a project, a page
server on a free port, and headless chromium that may play audio without a click."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

from support import SMALL_RECIPE


def build_audition(recipe: Path, seeds: int = 2, vary: list[str] | None = None):
    """Plan and build `seeds` variants (and --vary) of `recipe`; (folder, built)."""
    from lofictl.audition import variants as va
    from lofictl.recipe.load import load_recipe

    loaded = load_recipe(recipe)
    plan = va.plan_variants(loaded, seeds, va.parse_vary(vary or []))
    return va.build_variants(loaded, plan, log=lambda text: None)


@contextlib.contextmanager
def serving(page):
    """The page on 127.0.0.1 at a free port; yields its base URL and the server."""
    from lofictl.audition.server import PageServer

    logged: list[str] = []
    server = PageServer(("127.0.0.1", 0), page, logged.append)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def chromium(profile: Path, size: str = "1280,900"):
    """Headless chromium through /usr/bin/chromedriver; audio plays without a user gesture."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        f"--window-size={size}",
        "--no-first-run",
        "--autoplay-policy=no-user-gesture-required",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        yield driver
    finally:
        driver.quit()


__all__ = ["SMALL_RECIPE", "build_audition", "chromium", "serving"]
