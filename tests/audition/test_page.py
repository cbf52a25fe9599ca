"""The audition page in headless chromium, and its server against hostile requests."""

from __future__ import annotations

import http.client
import json
import time

import pytest

from support.audition import build_audition, chromium, serving


@pytest.fixture(scope="module")
def audition(tmp_path_factory):
    from support import SMALL_RECIPE

    project = tmp_path_factory.mktemp("project")
    (project / "recipes").mkdir()
    recipe = project / "recipes" / "loop.yaml"
    # two variants that differ in loudness too, so matching has something to do
    recipe.write_text(SMALL_RECIPE)
    folder, built = build_audition(recipe, seeds=1, vary=["master.loudness_lufs=-16,-20"])
    return recipe, folder, built


def _page(recipe):
    from lofictl.audition.pages import AuditionPage

    return AuditionPage(recipe)


def test_the_page_plays_loudness_matched_and_the_ab_switch_keeps_the_playhead(audition, tmp_path):
    from selenium.webdriver.common.by import By

    recipe, folder, built = audition
    assert [round(b.lufs) for b in built] == [-16, -20]
    with serving(_page(recipe)) as (url, _), chromium(tmp_path / "profile") as driver:
        driver.get(url)
        cards = _wait(
            lambda: (
                driver.find_elements(By.CSS_SELECTOR, ".card")
                if len(driver.find_elements(By.CSS_SELECTOR, ".card")) == 2
                else None
            ),
            "two cards",
        )
        assert "seed" not in cards[0].text  # one seed: only the varied field differs
        assert "master.loudness_lufs" in cards[0].text and "-20" in cards[1].text
        _wait(
            lambda: driver.execute_script("return [...document.images].every(i => i.complete && i.naturalWidth > 0)"),
            "the piano rolls",
        )
        volumes = driver.execute_script("return [...document.querySelectorAll('audio')].map(a => a.volume)")
        # the louder variant (-16 LUFS) is turned down 4 dB to the quieter one's -20
        assert volumes[0] == pytest.approx(10 ** (-4 / 20), abs=0.01) and volumes[1] == pytest.approx(1.0)
        body = driver.find_element(By.TAG_NAME, "body")
        body.send_keys(" ")  # space: play variant 1 (slot A)
        audio = "document.querySelectorAll('audio')"
        _wait(lambda: driver.execute_script(f"return {audio}[0].currentTime > 1.5"), "variant 1 to play 1.5 s")
        before = driver.execute_script(f"return {audio}[0].currentTime")
        body.send_keys("b")  # to slot B: variant 2, at the same playhead
        after = driver.execute_script(
            f"const a = {audio}; return [a[0].paused, a[1].paused, a[1].currentTime, window.audition.state.current]"
        )
        assert after[0] is True and after[1] is False and after[3] == 2
        assert after[2] >= before  # it starts where variant 1 was, not at 0
        assert after[2] < before + 1.0
        _wait(lambda: driver.execute_script(f"return {audio}[1].currentTime") > after[2] + 0.3, "variant 2 to go on")
        body.send_keys("1")  # and back by number: the playhead comes along again
        back = driver.execute_script(f"const a = {audio}; return [a[0].paused, a[0].currentTime, a[1].currentTime]")
        assert back[0] is False and back[1] >= after[2]
        driver.find_element(By.CSS_SELECTOR, "#variant-2 button.keep").click()
        kept = recipe.parent / "loop-v2.yaml"
        _wait(lambda: kept.is_file(), "the kept recipe")
        _wait(lambda: "kept as recipes/loop-v2.yaml" in driver.find_element(By.ID, "variant-2").text, "the note")
        assert "master: {loudness_lufs: -20}" in kept.read_text()


def _wait(predicate, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"waited {timeout:.0f} s for {what}")


def _request(url, method, path, body=b"", headers=None):
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, data


def test_hostile_requests_are_refused_and_harm_nothing(audition):
    recipe, folder, built = audition
    before = sorted(p.name for p in recipe.parent.iterdir())
    json_type = {"Content-Type": "application/json"}
    with serving(_page(recipe)) as (url, server):
        for path in (
            "/media/../loop.yaml",
            "/media/..%2f..%2frecipes%2floop.yaml",
            "/media/v1.wav/..",
            "/media/%00",
            "/../../etc/passwd",
            "/media/v9.wav",
        ):
            status, _ = _request(url, "GET", path)
            assert status == 404, path
        assert _request(url, "POST", "/api/keep", b'{"variant": ', json_type)[0] == 400
        assert _request(url, "POST", "/api/keep", b"[1, 2]", json_type)[0] == 400
        assert _request(url, "POST", "/api/keep", b'{"variant": "1; rm -rf /"}', json_type)[0] == 400
        assert _request(url, "POST", "/api/keep", b'{"variant": 99}', json_type)[0] == 409
        assert _request(url, "POST", "/api/keep", b"x" * 100_000, json_type)[0] == 413
        assert _request(url, "POST", "/api/keep", b'{"variant": 1}', {"Content-Type": "text/plain"})[0] == 415
        cross = {**json_type, "Origin": "http://evil.example", "Host": url.removeprefix("http://")}
        assert _request(url, "POST", "/api/keep", b'{"variant": 1}', cross)[0] == 403
        assert _request(url, "GET", "/media/v1.wav", headers={"Range": "bytes=99999999-"})[0] == 416
        status, data = _request(url, "GET", "/media/v1.wav", headers={"Range": "bytes=0-99"})
        assert status == 206 and data[:4] == b"RIFF" and len(data) == 100
        status, data = _request(url, "GET", "/api/state")
        assert status == 200 and len(json.loads(data)["variants"]) == 2  # still serving
        assert server.errors.left_out == 0
    assert sorted(p.name for p in recipe.parent.iterdir()) == before  # nothing kept, nothing written
