"""A real station: lofictl radio in its own process, real builds, ffmpeg, icecast2, chromium.

One station serves every test of this module (they share the xdist group "radio-live", so
they run in order on one worker): the page in headless chromium, the stream's seams, keep,
several listeners, the Icecast relay, an encoder killed and the work folder deleted under the
running station (it goes on), and at the end a clean stop on SIGINT. The station's title is not
Latin-1, and the Icecast password comes from the environment, not the command line.
"""

from __future__ import annotations

import errno
import http.client
import os
import random
import shutil
import signal
import socket
import sqlite3
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from lofictl.radio.encoder import FrameSplitter
from support import run_lofictl
from support.radio import RATE, children, decode_mp3, get_json, start_icecast, start_station, wait_for

pytestmark = [pytest.mark.live, pytest.mark.xdist_group("radio-live")]

STATION = """\
station: 1
title: Test FM ラジオ ☕
seed: 11
recipes:
  - {file: small.yaml}
crossfade: 1
keep_played: 3
vary:
  tempo: {min: 112, max: 128, step: 4}
  drums: [boom-bap, lazy]
server: {burst_s: 2}
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    folder = tmp_path_factory.mktemp("radio-live")
    icecast = start_icecast(folder)
    os.environ["LOFICTL_ICECAST_PASSWORD"] = icecast.password  # the station's child inherits it
    try:
        station = start_station(
            folder / "project", STATION, "--icecast", f"icecast://source@127.0.0.1:{icecast.port}/lofi.mp3"
        )
    except BaseException:
        icecast.stop()
        raise
    finally:
        del os.environ["LOFICTL_ICECAST_PASSWORD"]
    station.icecast = icecast
    try:
        yield station
    finally:
        if station.process.poll() is None:
            station.process.kill()
            station.process.wait()
        icecast.stop()


def _on_air(station, at_least: int = 0) -> dict:
    now = station.now()["now"]
    return now if now and now.get("number") is not None and now["number"] >= at_least else None


def _read_stream(url: str, seconds: float) -> tuple[int, bytes]:
    """(X-Stream-Frame, bytes) of `seconds` of a listener's stream."""
    parts = urllib.request.urlparse(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
    connection.request("GET", parts.path + ("?" + parts.query if parts.query else ""))
    response = connection.getresponse()
    assert response.status == 200 and response.getheader("Content-Type") == "audio/mpeg"
    first = int(response.getheader("X-Stream-Frame", "-1"))
    data = bytearray()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        data += response.read1(16384)
    connection.close()
    return first, bytes(data)


def test_page_plays_in_chromium_and_a_like_reaches_the_database(live, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1100,900",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--autoplay-policy=no-user-gesture-required",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.set_page_load_timeout(30)
        driver.get(live.base + "/")
        wait_for(lambda: "Test FM" in driver.title, 20, "the page to show the station")
        first = wait_for(lambda: _on_air(live), 90, "a track on air")["number"]
        wait_for(
            lambda: (
                driver.find_element(By.ID, "number").text == str(first)
                or driver.find_element(By.ID, "number").text == str(first + 1)
            ),
            10,
            "now playing on the page",
        )
        driver.find_element(By.ID, "play").click()
        audio = (
            "return [document.getElementById('audio').currentTime, "
            "document.getElementById('audio').webkitAudioDecodedByteCount, "
            "document.getElementById('audio').readyState, document.getElementById('audio').paused]"
        )
        wait_for(lambda: driver.execute_script(audio)[0] > 2.0, 30, "the audio element to play the stream")
        current, decoded, ready, paused = driver.execute_script(audio)
        assert decoded > 10_000 and ready >= 2 and not paused  # bytes arrived and were decoded
        shown = int(driver.find_element(By.ID, "number").text)
        wait_for(
            lambda: driver.find_element(By.ID, "number").text not in ("", "–", str(shown)),
            60,
            "now playing to change at a track boundary",
        )
        after = int(driver.find_element(By.ID, "number").text)
        assert after > shown
        assert driver.find_element(By.ID, "title").text.startswith("Test Loop #")
        assert driver.find_element(By.ID, "roll").get_attribute("src").endswith(f"/api/track/{after}/pianoroll.png")
        assert driver.execute_script(audio)[0] > current  # still playing across the boundary
        driver.find_element(By.ID, "like").click()
        rating = wait_for(
            lambda: driver.execute_script("return document.body.dataset.lastRating"), 10, "the like to be answered"
        )
        liked = int(rating.split(":")[1])
        assert liked in (after, after + 1)
        with sqlite3.connect(live.database) as db:
            rows = db.execute("SELECT kind, number, position_s, listener FROM ratings WHERE kind = 'like'").fetchall()
        assert any(number == liked and position >= 0 and listener for _, number, position, listener in rows)
        wait_for(lambda: driver.find_element(By.CSS_SELECTOR, "#history tbody tr"), 10, "the history")
        shot = tmp_path / "radio-page.png"
        driver.save_screenshot(str(shot))
        if os.environ.get("RADIO_ARTIFACTS"):
            shutil.copyfile(shot, Path(os.environ["RADIO_ARTIFACTS"]) / "radio-page.png")
        assert shot.stat().st_size > 20_000
    finally:
        driver.quit()


def test_stream_is_continuous_across_a_track_boundary(live):
    """Decoded by ffmpeg: no gap and no click at the seam, and the stream is the track's audio."""
    wait_for(lambda: _on_air(live, 1), 90, "a second track on air")
    # Start listening a few seconds before the track on air fades out, and stay for the fade.
    for _ in range(3):
        now = wait_for(lambda: _on_air(live), 30, "a track on air")
        fade_in = (now["bars"] - 1) * now["bar_s"] - now["position_s"]
        if fade_in < 3:  # too close: wait for the next one
            time.sleep(fade_in + 3)
            continue
        time.sleep(max(0.0, fade_in - 3))
        first_frame, data = _read_stream(live.base + "/stream", 8)
        start, end = first_frame * 1152, (first_frame + len(FrameSplitter().feed(data))) * 1152
        seams = [e for e in live.timeline() if e["kind"] == "track" and start + RATE < e["start"] < end - 4 * RATE]
        if seams:
            break
    assert seams, "no track boundary in the stream"
    seam = seams[0]
    audio = decode_mp3(data)
    at = seam["start"] - first_frame * 1152  # the fade's first sample, in what we decoded (± codec delay)
    mono = audio.mean(axis=0)
    # no gap: every 20 ms window after the burst's first second holds sound
    window = RATE // 50
    body = mono[RATE : len(mono) - RATE // 2]
    rms = np.sqrt(np.mean(body[: len(body) // window * window].reshape(-1, window) ** 2, axis=1))
    assert 20 * np.log10(rms.min() + 1e-12) > -50, "a silent gap in the stream"
    # no click: the largest step between samples around the seam is like the music's own
    steps = np.abs(np.diff(mono))
    frames = steps[: len(steps) // window * window].reshape(-1, window).max(axis=1)
    around = steps[max(0, at - RATE // 2) : at + RATE // 10 * 25].max()  # the whole fade and its edges
    assert around <= 1.5 * np.percentile(frames, 99.5), (around, np.percentile(frames, 99.5))
    # and what we heard after the fade is that track's own audio
    track = live.work / "tracks" / f"{seam['number']:07d}"
    master = next(track.glob("*.wav"))
    from lofictl.sound.stream import AudioReader

    with AudioReader(master) as reader:
        reference = reader.read(0, reader.frames).mean(axis=0)
    fade = seam["air"] - seam["start"]
    heard = mono[at + 2 * fade + 4000 : at + 2 * fade + 4000 + RATE]
    own = reference[2 * fade + 4000 - 3000 : 2 * fade + 4000 + RATE + 3000]
    correlation = np.correlate(own, heard, "valid") / (
        np.linalg.norm(heard) * np.sqrt(np.convolve(own**2, np.ones(len(heard)), "valid")) + 1e-12
    )
    assert correlation.max() > 0.9, correlation.max()


def test_keep_rebuilds_the_track_the_station_played_byte_for_byte(live, tmp_path):
    now = wait_for(lambda: _on_air(live, 1), 60, "a track on air")
    number = now["number"]
    folder = live.work / "tracks" / f"{number:07d}"
    played = {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.suffix in (".wav", ".mid", ".png")
    }
    assert f"small-{number}.wav" in played
    run = run_lofictl("radio", "keep", "recipes/station.yaml", number, cwd=live.project)
    assert run.returncode == 0, run.stderr
    kept = live.project / "recipes" / f"small-{number}.yaml"
    assert f"wrote recipes/small-{number}.yaml" in run.stdout and kept.is_file()
    build = run_lofictl("build", kept, "--out", tmp_path / "kept", "--quiet", "--no-cache", cwd=live.project)
    assert build.returncode == 0, build.stderr
    rebuilt = {rel: (tmp_path / "kept" / rel).read_bytes() for rel in played}
    assert rebuilt == played  # the master the station played, its MIDI and piano roll, byte for byte
    assert (tmp_path / "kept" / "stems").is_dir()  # and the stems the station does not keep


def test_listeners_hear_the_same_stream_and_leaving_harms_nothing(live):
    results: list[tuple[int, list[bytes]]] = []

    def listen():
        first, data = _read_stream(live.base + "/stream", 4)
        results.append((first, FrameSplitter().feed(data)))

    threads = [threading.Thread(target=listen) for _ in range(6)]
    for thread in threads:
        thread.start()
    # meanwhile, listeners who leave at once, mid-header or mid-stream
    for index in range(30):
        with socket.create_connection(("127.0.0.1", live.port), timeout=5) as sock:
            sock.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n"[: 10 if index % 5 == 0 else None])
            if index % 3 and index % 5:
                wanted = random.Random(index).randint(1, 40000)
                got = 0
                while got < wanted:
                    chunk = sock.recv(wanted - got)
                    if not chunk:
                        break
                    got += len(chunk)
    for thread in threads:
        thread.join()
    by_frame: dict[int, bytes] = {}
    overlap = 0
    for first, frames in results:
        assert len(frames) > 100  # 4 s is ~150 frames
        for offset, frame in enumerate(frames):
            if first + offset in by_frame:
                assert by_frame[first + offset] == frame, "listeners heard different streams"
                overlap += 1
            by_frame[first + offset] = frame
    assert overlap > 300
    wait_for(lambda: live.now()["listeners"] == 0, 20, "the listeners to be gone")
    first, data = _read_stream(live.base + "/stream", 1.5)
    assert len(data) > 20_000  # a newcomer still gets the burst and live audio


def test_icecast_relays_the_stream_with_now_playing(live):
    port = live.icecast.port
    status = wait_for(
        lambda: get_json(f"http://127.0.0.1:{port}/status-json.xsl")["icestats"].get("source"),
        30,
        "the station's source on icecast",
    )
    assert "Test FM" in status["server_name"] and status["listenurl"].endswith("/lofi.mp3")
    wait_for(
        lambda: (
            "Test Loop #"
            in str(get_json(f"http://127.0.0.1:{port}/status-json.xsl")["icestats"]["source"].get("title", ""))
        ),
        60,
        "the title on icecast",
    )
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/lofi.mp3", timeout=10) as response:
        data = response.read(96_000)
    audio = decode_mp3(data)
    assert audio.shape[1] > RATE * 3 and np.sqrt(np.mean(audio**2)) > 0.01
    commands = [_cmdline(pid) for pid in [live.process.pid, *children(live.process.pid)]]
    assert not [c for c in commands if live.icecast.password in c], "the source password is on a command line"
    assert live.icecast.password not in live.log.read_text()


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _encoder_pid(station) -> int | None:
    for pid in children(station.process.pid):
        if "libmp3lame" in _cmdline(pid):
            return pid
    return None


def test_a_killed_encoder_is_replaced_and_the_stream_goes_on(live):
    first = wait_for(lambda: _encoder_pid(live), 10, "the encoder process")
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: live.now()["encoder_restarts"] == 1, 30, "a new encoder")
    assert _encoder_pid(live) not in (None, first)
    assert "stopped (killed by signal 9); starting a new one" in live.log.read_text()
    _, data = _read_stream(live.base + "/stream", 3)
    audio = decode_mp3(data)
    assert audio.shape[1] > RATE * 2 and np.sqrt(np.mean(audio[:, RATE:] ** 2)) > 0.005  # music, not silence
    assert live.process.poll() is None


def _remove_while_written(folder: Path) -> None:
    """rmtree of a folder a build is writing into: a file or folder the build removes or renames
    meanwhile ends one attempt (FileNotFoundError, or "not empty" for one it refilled); the next
    attempt removes what is left."""
    for _ in range(20):
        try:
            shutil.rmtree(folder)
            return
        except FileNotFoundError:
            if not folder.exists():
                return
        except OSError as exc:
            if exc.errno != errno.ENOTEMPTY:
                raise
    raise AssertionError(f"{folder} could not be removed in 20 attempts")


def test_a_deleted_work_folder_does_not_stop_the_station(live):
    before = wait_for(lambda: _on_air(live), 30, "a track on air")["number"]
    _remove_while_written(live.work)  # the queued tracks' audio, the bed, the history, the lock: all gone
    after = wait_for(lambda: _on_air(live, before + 2), 180, "newer tracks on air after the folder went")
    assert after["kind"] == "track" and live.process.poll() is None
    log = live.log.read_text()
    assert "Traceback" not in log and "the station stops" not in log
    assert (live.work / "tracks").is_dir()  # new tracks were built into a new folder
    _, data = _read_stream(live.base + "/stream", 2)
    assert len(data) > 20_000


def test_stops_cleanly_on_sigint(live):
    kids = children(live.process.pid)
    assert kids, "the build worker runs in its own process"
    code = live.stop()
    log = live.log.read_text()
    assert code == 0, log[-3000:]
    assert "Traceback" not in log and "stopping" in log
    time.sleep(0.5)
    assert not [
        pid for pid in kids if Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()
    ], "processes left behind"
    assert not list((live.work / "tracks").glob(".*")), "a build's temporary folder was left"
    with sqlite3.connect(live.database) as db:
        open_plays = db.execute("SELECT COUNT(*) FROM plays WHERE seconds IS NULL").fetchone()[0]
        built = db.execute("SELECT COUNT(*) FROM tracks WHERE status = 'built'").fetchone()[0]
    assert open_plays == 0 and built >= 3


def test_an_encoder_that_keeps_dying_stops_the_station_with_exit_1(tmp_path):
    """What it cannot get past, a station does not hide: it stops with exit code 1 (a supervisor's cue)."""
    station = start_station(tmp_path / "project", STATION)
    try:
        for _ in range(8):
            if station.process.poll() is not None:
                break
            pid = wait_for(lambda: _encoder_pid(station) or station.process.poll() is not None, 30, "an encoder")
            if pid is True:
                break
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: _encoder_pid(station) != pid, 30, "the encoder to be replaced or the station to stop")
        code = station.process.wait(60)
    finally:
        if station.process.poll() is None:
            station.process.kill()
            station.process.wait()
    log = station.log.read_text()
    assert code == 1, log[-2000:]
    assert "giving up" in log and "the station stops" in log and "Traceback" not in log
