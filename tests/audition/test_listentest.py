"""`lofictl listen-test`: the test file's mistakes, the blind page in headless chromium, the
answers in SQLite, and `results` from them."""

from __future__ import annotations

import http.client
import json
import sqlite3
import textwrap
import time

import numpy as np
import pytest
import soundfile

from support import SMALL_RECIPE, invoke
from support.audition import chromium, serving

AB_TEST = """\
lofictl_listen_test: 1
title: Three takes
seed: 5
design: ab
excerpt: {start: 0.5s, length: 4s}
loudness_lufs: -23
systems:
  - {name: warm, audio: takes/warm.wav}
  - {name: plain, audio: takes/plain.wav}
  - {name: harsh, audio: takes/harsh.wav}
"""


def _takes(project):
    """Three 6-second stereo takes that differ (and differ in level: the excerpts are matched)."""
    rate = 44100
    t = np.arange(6 * rate) / rate
    rng = np.random.default_rng(0)
    for name, freq, level in (("warm", 220, 0.1), ("plain", 440, 0.3), ("harsh", 1760, 0.5)):
        tone = level * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)
        tone[2 * rate] = 0.5  # a click: the peak that clips when the quiet take is raised far
        (project / "takes").mkdir(exist_ok=True)
        soundfile.write(project / "takes" / f"{name}.wav", np.stack([tone, tone]).T, rate, subtype="PCM_24")


def _write(project, text, name="blind.yaml"):
    path = project / name
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("design: ab", "design: abx"), "blind.yaml:4: design:"),
        (("seed: 5", "seed: 5\ncolour: red"), "blind.yaml:4: colour:"),
        (("design: ab", "design: mushra"), "blind.yaml:4: design: a MUSHRA test needs a reference"),
        (("design: ab", "design: mushra\nreference: warmm"), "reference: no system is named 'warmm'"),
        (("name: plain", "name: warm"), "blind.yaml:9: systems.1.name: 'warm' names two systems"),
        (("audio: takes/harsh.wav", "audio: takes/harsh.wav, recipe: recipes/x.yaml"), "blind.yaml:10: systems.2:"),
        (("audio: takes/harsh.wav", "audio: takes/none.wav"), "blind.yaml:10: systems.2.audio:"),
        (("audio: takes/harsh.wav", "audio: ../outside.wav"), "blind.yaml:10: systems.2.audio:"),
        (("length: 4s", "length: 9s"), "blind.yaml:5: excerpt: the excerpt (0.5 s + 9 s) runs past the end"),
        (("length: 4s", "length: 4 bars"), "blind.yaml:5: excerpt.length:"),
        (("loudness_lufs: -23", "loudness_lufs: -3"), "blind.yaml:6: loudness_lufs:"),
        (
            ("loudness_lufs: -23", "loudness_lufs: -10"),
            "blind.yaml:6: loudness_lufs: at -10 LUFS an excerpt would clip",
        ),
    ],
)
def test_test_file_mistakes_are_one_line_with_file_line_and_field_exit_2_and_nothing_written(project, change, expected):
    _takes(project)
    path = _write(project, AB_TEST.replace(*change))
    result = invoke("listen-test", path, "--no-serve")
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and expected in lines[0], result.output
    assert not list((project / "build" / "listen-test").glob("*/plan.json"))


def test_recipe_systems_must_play_the_same_soundfonts(project, write_recipe):
    write_recipe(SMALL_RECIPE)
    text = """\
    lofictl_listen_test: 1
    title: Models
    seed: 1
    design: ab
    excerpt: {length: 2s}
    systems:
      - {name: one, recipe: recipes/test_loop.yaml}
      - {name: two, recipe: recipes/test_loop.yaml, set: {tracks.bass.instrument.soundfont: GeneralUser.sf2}}
    """
    result = invoke("listen-test", _write(project, text), "--no-serve")
    assert result.exit_code == 2
    assert "blind.yaml:6: systems:" in result.output or "systems.1" in result.output, result.output
    assert not (project / "build").exists()


def _request(url, method, path, body=None, cookie=None):
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if cookie:
        headers["Cookie"] = cookie
    connection.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = connection.getresponse()
    data = response.read()
    set_cookie = response.getheader("Set-Cookie")
    connection.close()
    return response.status, json.loads(data), (set_cookie or "").split(";")[0]


def _serve_test(path):
    from lofictl.audition.db import Answers
    from lofictl.audition.listentest import load_test, prepare
    from lofictl.audition.pages import ListenPage

    loaded = load_test(path)
    plan = prepare(loaded, log=lambda text: None)
    answers = Answers(loaded.database_path, loaded.project_file)
    return loaded, plan, answers, ListenPage(loaded, plan, answers)


def test_the_blind_ab_page_hides_names_keeps_the_playhead_stores_votes_and_results_rank_them(project, tmp_path):
    from selenium.webdriver.common.by import By

    _takes(project)
    path = _write(project, AB_TEST)
    loaded, plan, answers, page = _serve_test(path)
    rank = {"warm": 0, "plain": 1, "harsh": 2}  # the listener (this test) prefers warm > plain > harsh
    try:
        with serving(page) as (url, _), chromium(tmp_path / "profile") as driver:
            driver.get(url)
            _wait(lambda: driver.find_elements(By.ID, "prefer-A"), "the first trial")
            source = driver.page_source + json.dumps(driver.execute_script("return window.listenTest.state.data"))
            assert not any(name in source for name in ("warm", "plain", "harsh", "takes/"))  # blind
            audio = "document.querySelectorAll('audio')"
            assert all(
                src.split("/media/")[1].removesuffix(".wav") in plan["stimuli"]
                for src in driver.execute_script(f"return [...{audio}].map(a => a.src)")
            )
            body = driver.find_element(By.TAG_NAME, "body")
            body.send_keys(" ")
            _wait(lambda: driver.execute_script(f"return {audio}[0].currentTime > 1.0"), "A to play 1 s")
            before = driver.execute_script(f"return {audio}[0].currentTime")
            body.send_keys("b")
            after = driver.execute_script(f"const a = {audio}; return [a[0].paused, a[1].paused, a[1].currentTime]")
            assert after[0] is True and after[1] is False and before <= after[2] < before + 1.0
            _wait(lambda: driver.execute_script(f"return {audio}[1].currentTime") > after[2] + 0.2, "B to go on")
            for answered in range(3):
                trial = driver.execute_script("return window.listenTest.state.trial")
                systems = [plan["stimuli"][s["name"]]["system"] for s in trial["stimuli"]]
                choice = "A" if rank[systems[0]] < rank[systems[1]] else "B"
                driver.find_element(By.ID, f"prefer-{choice}").click()
                _wait(
                    lambda n=answered: f"{n + 1} of 3 answered" in driver.find_element(By.ID, "progress").text, "vote"
                )
            assert "All 3 trials are answered" in driver.find_element(By.ID, "trial").text
    finally:
        answers.close()
    with sqlite3.connect(loaded.database_path) as db:
        rows = db.execute("SELECT listener, winner, loser, shown_a, shown_b FROM ab_answers").fetchall()
    assert len(rows) == 3 and len({row[0] for row in rows}) == 1
    assert {(w, lo) for _, w, lo, _, _ in rows} == {("warm", "plain"), ("warm", "harsh"), ("plain", "harsh")}
    result = invoke("listen-test", "results", path, "--json")
    assert result.exit_code == 0, result.output
    ranked = json.loads(result.output)
    assert [row["system"] for row in ranked["systems"]] == ["warm", "plain", "harsh"]
    assert ranked["listeners"] == 1 and ranked["votes"] == 3
    table = invoke("listen-test", "results", path)
    text = table.output
    assert "1 listener," in text or "1 listener\n" in text
    assert text.index("warm") < text.index("plain") < text.index("harsh")
    assert "one listener: no interval" in text


def test_each_listener_has_a_stable_order_of_their_own_and_bad_answers_are_refused(project):
    _takes(project)
    loaded, plan, answers, page = _serve_test(_write(project, AB_TEST.replace("excerpt:", "items: 1\nexcerpt:")))
    try:
        with serving(page) as (url, _):
            status, anonymous, first = _request(url, "GET", "/api/state")
            assert status == 200 and anonymous["trials"] == [] and first
            _, one, _ = _request(url, "GET", "/api/state", cookie=first)
            _, again, _ = _request(url, "GET", "/api/state", cookie=first)
            assert one["trials"] == again["trials"]  # stable for a listener
            orders = set()
            for _ in range(6):  # 48 arrangements of 3 pairs: six listeners all alike would be 1 in 48**5
                _, _, other = _request(url, "GET", "/api/state")
                _, data, _ = _request(url, "GET", "/api/state", cookie=other)
                orders.add(tuple(tuple(s["name"] for s in t["stimuli"]) for t in data["trials"]))
            assert len(orders) > 1  # not the same order for everyone
            trial = one["trials"][0]["id"]
            for body, status in (
                ({"trial": trial, "choice": "C"}, 400),
                ({"trial": "9-9-9", "choice": "A"}, 400),
                ({"trial": trial}, 400),
            ):
                assert _request(url, "POST", "/api/answer", body, cookie=first)[0] == status
            assert _request(url, "POST", "/api/answer", {"trial": trial, "choice": "A"})[0] == 403  # no listener
            assert _request(url, "POST", "/api/answer", {"trial": trial, "choice": "A"}, cookie=first)[0] == 200
            assert _request(url, "POST", "/api/answer", {"trial": trial, "choice": "B"}, cookie=first)[0] == 200
    finally:
        answers.close()
    with sqlite3.connect(loaded.database_path) as db:
        assert db.execute("SELECT COUNT(*) FROM ab_answers").fetchone()[0] == 1  # the second answer replaced the first


def test_a_mushra_test_scores_the_hidden_reference_and_anchor_and_screens_listeners(project):
    _takes(project)
    text = AB_TEST.replace("design: ab", "design: mushra\nreference: warm")
    loaded, plan, answers, page = _serve_test(_write(project, text))
    roles = {v["role"] for v in plan["stimuli"].values()}
    assert roles == {"system", "reference", "anchor"}
    try:
        with serving(page) as (url, _):
            for listener_kind in ("good", "good", "careless"):
                _, _, cookie = _request(url, "GET", "/api/state")
                _, data, _ = _request(url, "GET", "/api/state", cookie=cookie)
                (trial,) = data["trials"]
                assert trial["reference"] == "/media/ref-0.wav" and len(trial["stimuli"]) == 4
                scores = {}
                for s in trial["stimuli"]:
                    info = plan["stimuli"][s["name"]]
                    key = info["role"] if info["role"] != "system" else info["system"]
                    scores[s["name"]] = {
                        "reference": 100 if listener_kind == "good" else 40,
                        "anchor": 10,
                        "plain": 70,
                        "harsh": 30,
                    }[key]
                bad = dict(scores, **{next(iter(scores)): 101})
                assert _request(url, "POST", "/api/answer", {"trial": trial["id"], "scores": bad}, cookie)[0] == 400
                assert _request(url, "POST", "/api/answer", {"trial": trial["id"], "scores": scores}, cookie)[0] == 200
    finally:
        answers.close()
    result = json.loads(invoke("listen-test", "results", loaded.path, "--json").output)
    assert result["listeners"] == 2 and len(result["excluded"]) == 1
    means = {row["system"]: row["mean"] for row in result["systems"]}
    assert means == {"hidden reference": 100, "plain": 70, "harsh": 30, "anchor": 10}
    assert [row["system"] for row in result["systems"]] == ["hidden reference", "plain", "harsh", "anchor"]


def _wait(predicate, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"waited {timeout:.0f} s for {what}")


def test_the_mushra_page_takes_scores_only_when_every_slider_was_moved(project, tmp_path):
    from selenium.webdriver.common.by import By

    _takes(project)
    text = AB_TEST.replace("design: ab", "design: mushra\nreference: warm")
    loaded, plan, answers, page = _serve_test(_write(project, text))
    try:
        with serving(page) as (url, _), chromium(tmp_path / "profile") as driver:
            driver.get(url)
            sliders = _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "input[type=range]"), "the sliders")
            assert len(sliders) == 4  # two systems under test, the hidden reference, the anchor
            assert "Reference" in driver.find_element(By.ID, "trial").text
            submit = driver.find_element(By.ID, "submit")
            names = driver.execute_script("return window.listenTest.state.trial.stimuli.map(s => s.name)")
            wanted = {"reference": 100, "anchor": 15}
            for slider, name in zip(sliders, names):
                assert not submit.is_enabled()  # not until every slider was moved
                info = plan["stimuli"][name]
                value = wanted.get(info["role"], 60 if info["system"] == "plain" else 35)
                driver.execute_script(
                    "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'))", slider, value
                )
            assert submit.is_enabled()
            submit.click()
            _wait(lambda: "Thank you" in driver.find_element(By.ID, "trial").text, "the end of the test")
    finally:
        answers.close()
    with sqlite3.connect(loaded.database_path) as db:
        rows = dict(db.execute("SELECT role || ':' || system, score FROM mushra_answers").fetchall())
    assert rows == {"reference:warm": 100, "anchor:warm": 15, "system:plain": 60, "system:harsh": 35}
