"""The Icecast relay against a real icecast2 on 127.0.0.1: what listeners read, and what the log says.

A real ffmpeg encoder fills a ring; `IcecastFeed` (the station's source client) sends it to a
private icecast2. Titles of every kind reach listeners as ICY metadata without character
references; a restarted Icecast gets the title again without waiting for the next track; a
server that is down or refuses gets a growing, bounded back-off and a truthful log; the source
password is in no log line and on no process's command line.
"""

from __future__ import annotations

import socket
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

from lofictl.radio import encoder as encoder_module
from lofictl.radio.encoder import IcecastFeed, Mp3Encoder, Ring, check_icecast_url
from lofictl.radio.wire import icy_title
from support.radio import Icecast, free_port, get_json, start_icecast, wait_for

pytestmark = pytest.mark.xdist_group("radio-icecast")

TITLES = [
    "Night — Rain, D minor, 90 BPM",
    "ラジオ — 夜",
    "Радио ☕",
    "café crème",
    "line\r\nbreak\x00 and 'quote'; StreamTitle='x';",
    "x" * 1000,
]


@pytest.fixture(scope="module")
def ring():
    """A ring with a live edge: a real encoder fed a quiet tone at about real time."""
    ring = Ring(400)
    stop = threading.Event()
    encoder = Mp3Encoder(44100, 128, lambda frame, samples: ring.append(frame, (None, samples)))

    def feed():
        t = np.arange(2048) / 44100
        block = np.stack([0.1 * np.sin(2 * np.pi * 330 * t)] * 2).astype(np.float32)
        while not stop.is_set():
            encoder.write(block)
            stop.wait(2048 / 44100)

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    wait_for(lambda: ring.next > 20, 20, "frames in the ring")
    yield ring
    stop.set()
    thread.join(5)
    encoder.close()


def _icy_title(port: int) -> bytes:
    """The StreamTitle a listener asking for ICY metadata reads now."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /lofi.mp3 HTTP/1.0\r\nIcy-MetaData: 1\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(4096)
        head, _, body = data.partition(b"\r\n\r\n")
        metaint = int(
            next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"icy-metaint"))
        )
        while len(body) < metaint + 1 + 255 * 16:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
            if len(body) > metaint and len(body) >= metaint + 1 + body[metaint] * 16:
                break
    meta = body[metaint + 1 : metaint + 1 + body[metaint] * 16].rstrip(b"\0")
    assert meta.startswith(b"StreamTitle='"), meta
    return meta[len(b"StreamTitle='") : meta.index(b"';")]


def _status(port: int) -> dict:
    """The mount's status ({} while there is none; icecast's XSL JSON is now and then malformed)."""
    try:
        return get_json(f"http://127.0.0.1:{port}/status-json.xsl")["icestats"].get("source") or {}
    except (OSError, ValueError):
        return {}


def _restart(server: Icecast, folder: Path) -> Icecast:
    server.stop()
    process = subprocess.Popen(
        ["icecast2", "-c", str(folder / "icecast.xml")],
        stdout=subprocess.DEVNULL,
        stderr=(folder / "icecast-2.log").open("w"),
    )
    again = Icecast(process, server.port, server.password)

    def up():
        try:
            return get_json(f"http://127.0.0.1:{server.port}/status-json.xsl", 1)
        except (OSError, ValueError):
            return None

    try:
        wait_for(up, 15, "icecast2 to start again")
    except BaseException:
        again.stop()  # never leave a server behind
        raise
    return again


def _commands_holding(secret: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if secret in text:
            found.append(text[:200])
    return found


@pytest.mark.live  # a real icecast2
def test_titles_reach_listeners_and_survive_an_icecast_restart(ring, tmp_path):
    server = start_icecast(tmp_path)
    logs: list[str] = []
    target = check_icecast_url(f"icecast://source@127.0.0.1:{server.port}/lofi.mp3", server.password)
    feed = IcecastFeed(target, ring, "ラジオ Test FM ☕", logs.append)
    try:
        feed.start()
        wait_for(lambda: _status(server.port).get("listenurl"), 20, "the source on icecast")
        assert sum("streaming to" in line for line in logs) == 1
        assert not _commands_holding(server.password), "the source password is on a command line"
        for title in TITLES:
            feed.set_title(title)
            data, charset = icy_title(title)
            wait_for(lambda: _icy_title(server.port) == data, 20, f"the ICY title {title[:20]!r}")
            if charset == "ISO-8859-1":  # Icecast's own pages show it right too
                assert _status(server.port).get("title") == data.decode("latin-1")
            assert b"&#" not in data
        server = _restart(server, tmp_path)
        # no new title is asked for: the relay sends the last one again on its new connection
        wait_for(lambda: _status(server.port).get("listenurl"), 30, "the relay to reconnect")
        last = icy_title(TITLES[-1])[0]
        wait_for(lambda: _icy_title(server.port) == last, 30, "the title after the restart")
        assert sum("streaming to" in line for line in logs) == 2
        assert any("dropped" in line for line in logs)
    finally:
        feed.stop()
        server.stop()
    assert not any(server.password in line for line in logs)


def test_a_server_that_is_down_gets_a_bounded_back_off_and_no_false_report(ring, monkeypatch):
    monkeypatch.setattr(encoder_module, "FIRST_RETRY_S", 0.05)
    monkeypatch.setattr(encoder_module, "MAX_RETRY_S", 0.4)
    logs: list[str] = []
    port = free_port()  # nothing listens there
    feed = IcecastFeed(
        check_icecast_url(f"icecast://source:s3cret-pw@127.0.0.1:{port}/lofi.mp3"), ring, "x", logs.append
    )
    try:
        feed.start()
        wait_for(lambda: len(feed.retry_delays) >= 7, 20, "seven attempts")
    finally:
        feed.stop()
    assert feed.retry_delays[:7] == [0.05, 0.1, 0.2, 0.4, 0.4, 0.4, 0.4]
    assert not feed.connected and not any("streaming to" in line for line in logs)
    assert all("cannot stream to" in line and "retrying in" in line for line in logs)
    assert not any("s3cret-pw" in line for line in logs)


@pytest.mark.live  # a real icecast2
def test_a_wrong_password_is_reported_as_refused(ring, tmp_path, monkeypatch):
    monkeypatch.setattr(encoder_module, "FIRST_RETRY_S", 0.05)
    monkeypatch.setattr(encoder_module, "MAX_RETRY_S", 0.2)
    server = start_icecast(tmp_path)
    logs: list[str] = []
    feed = IcecastFeed(
        check_icecast_url(f"icecast://source:wrong-pw@127.0.0.1:{server.port}/lofi.mp3"), ring, "x", logs.append
    )
    try:
        feed.start()
        wait_for(lambda: len(feed.retry_delays) >= 3, 20, "three attempts")
    finally:
        feed.stop()
        server.stop()
    assert not any("streaming to" in line for line in logs)
    assert "401" in logs[0] and "password is wrong" in logs[0]
    assert not any("wrong-pw" in line for line in logs)


@pytest.mark.parametrize(
    "url, password, message",
    [
        ("icecast://source@127.0.0.1:8000/lofi.mp3", None, "LOFICTL_ICECAST_PASSWORD"),
        ("http://source:pw@127.0.0.1:8000/lofi.mp3", None, "icecast://source@HOST"),
        ("icecast://source:pw@127.0.0.1:8000/", None, "icecast://source@HOST"),
        ("icecast://source:pw@127.0.0.1:99999/lofi.mp3", None, "Port out of range"),
        ("icecast://source:pw@127.0.0.1:8000/a b", None, "plain path"),
    ],
)
def test_bad_icecast_targets_are_one_line_without_the_password(url, password, message):
    from lofictl.errors import LofictlError

    with pytest.raises(LofictlError) as caught:
        check_icecast_url(url, password)
    assert message in str(caught.value) and ":pw@" not in str(caught.value)


def test_the_password_can_come_from_the_environment_or_the_url():
    assert check_icecast_url("icecast://source@h:8000/m", "from-env").password == "from-env"
    assert check_icecast_url("icecast://source:p%40ss@h/m").password == "p@ss"
    assert "p@ss" not in repr(check_icecast_url("icecast://source:p%40ss@h/m"))
