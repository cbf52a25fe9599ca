"""The station's HTTP server against hostile titles and hostile clients, on 127.0.0.1.

A real `RadioStation` (loaded from a real station file, not started: no builds) behind the real
server, with a real ffmpeg encoder feeding its ring, so /stream serves MP3. Clients are raw
sockets and urllib: odd titles in every header they reach, cookies, Origin and Content-Type
checks, rate limits, request deadlines, the connection cap, bodies that break parsers.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import unicodedata

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lofictl.radio.encoder import Mp3Encoder
from lofictl.radio.run import RadioStation
from lofictl.radio.server import COOKIE, bind, serve
from lofictl.radio.station import load_station
from lofictl.radio.wire import MAX_TITLE_CHARS, Redactor, clean_text, title_bytes
from support import SMALL_RECIPE
from support.radio import wait_for

STATION = """\
station: 1
title: Test FM
seed: 5
recipes:
  - {file: test_loop.yaml}
crossfade: 1
"""

HOSTILE_TITLES = [
    "ラジオ",
    "Радио",
    "☕ coffee",
    "Night — Rain",
    "a\r\nSet-Cookie: evil=1",
    "tab\there\x00nul\x1b[31mred",
    "\u202eevil\u200b",
    "x" * 10_000,
    "",
    "   ",
    "\ud800 lone surrogate",
    "😀👨\u200d👩\u200d👧",
    "café crème",
    "'quotes' \"and\" StreamTitle='x';",
]


@pytest.fixture(scope="module")
def station(tmp_path_factory):
    project = tmp_path_factory.mktemp("radio-server")
    (project / "recipes").mkdir()
    (project / "recipes" / "test_loop.yaml").write_text(SMALL_RECIPE)
    (project / "recipes" / "station.yaml").write_text(STATION)
    logs: list[str] = []
    radio = RadioStation(load_station(project / "recipes" / "station.yaml"), port=0, log=logs.append)
    radio.logs = logs
    server = bind(radio, "127.0.0.1", 0)
    radio.server = server
    radio.port = server.server_address[1]
    thread = serve(server)
    stop = threading.Event()
    encoder = Mp3Encoder(44100, 128, lambda frame, samples: radio.ring.append(frame, (None, samples)))

    def feed():  # a quiet tone at about real time: the ring always has a live edge
        t = np.arange(2048) / 44100
        block = np.stack([0.1 * np.sin(2 * np.pi * 440 * t)] * 2).astype(np.float32)
        while not stop.is_set():
            encoder.write(block)
            stop.wait(2048 / 44100)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    wait_for(lambda: radio.ring.next > 50, 20, "MP3 frames in the ring")
    try:
        yield radio
    finally:
        stop.set()
        feeder.join(5)
        encoder.close()
        server.shutdown()
        thread.join(5)
        radio.stop()  # never started: it closes the ring (the listeners leave) and the server


def _raw(station, request: bytes, read: int = 65536, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", station.port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data or len(data) < read:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data and not data.startswith(b"HTTP/1.0 200") or len(data) >= read:
                break
        return data


def _head(data: bytes) -> tuple[int, dict[bytes, bytes]]:
    head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    status = int(head[0].split()[1])
    return status, dict(line.split(b": ", 1) for line in head[1:])


def _post(station, path: str, body: bytes = b"{}", headers: dict | None = None) -> tuple[int, dict, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", station.port, timeout=10)
    try:
        connection.request("POST", path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        text = response.read()
        return response.status, json.loads(text or b"{}"), dict(response.getheaders())
    finally:
        connection.close()


def _until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a timeout fails the test)."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


@pytest.fixture(scope="module")
def cookie(station) -> str:
    """One listener's cookie, shared by the tests that are not about issuing them."""
    return _cookie(station)


def _cookie(station) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", station.port, timeout=10)
    try:
        connection.request("GET", "/api/now")
        response = connection.getresponse()
        response.read()
        set_cookie = response.getheader("Set-Cookie")
    finally:
        connection.close()
    assert set_cookie, "no listener cookie issued"
    return set_cookie.split(";", 1)[0]


# --- hostile titles ------------------------------------------------------------------------------


@given(st.text(max_size=400) | st.sampled_from(HOSTILE_TITLES))
def test_a_title_becomes_one_clean_line_in_latin1_or_utf8(title):
    data, charset = title_bytes(title)
    text = data.decode(charset)
    assert b"\r" not in data and b"\n" not in data and b"\0" not in data
    assert all(unicodedata.category(ch)[0] != "C" or unicodedata.category(ch) == "Co" for ch in text)
    assert len(text) <= MAX_TITLE_CHARS and text == text.strip()
    if charset == "UTF-8":  # only when Latin-1 cannot say it
        with pytest.raises(UnicodeEncodeError):
            clean_text(title).encode("latin-1")
    # what a reader sees keeps every letter, digit and mark of a title of ordinary length
    if len(title) < 100 and charset == "UTF-8":
        kept = [ch for ch in clean_text(title) if unicodedata.category(ch)[0] in "LNM"]
        assert kept == [ch for ch in text if unicodedata.category(ch)[0] in "LNM"]


def test_typographic_punctuation_keeps_a_title_latin1():
    assert title_bytes("Night — Rain “live”") == (b'Night - Rain "live"', "ISO-8859-1")
    assert title_bytes("café") == ("café".encode("latin-1"), "ISO-8859-1")
    assert title_bytes("ラジオ — night") == ("ラジオ — night".encode(), "UTF-8")  # UTF-8 keeps the dash


@pytest.mark.parametrize("title", HOSTILE_TITLES)
def test_stream_serves_any_station_title(station, title):
    station.title = title
    try:
        data = _raw(station, b"GET /stream HTTP/1.0\r\n\r\n", read=20_000)
    finally:
        station.title = "Test FM"
    status, headers = _head(data)
    assert status == 200
    assert headers[b"icy-name"] == title_bytes(title)[0]
    assert b"Set-Cookie" not in headers  # no header of its own smuggled in by a line break
    assert len(data.split(b"\r\n\r\n", 1)[1]) > 10_000  # the burst came: audio, not an error page


@settings(max_examples=40)
@given(title=st.text(min_size=1, max_size=300))
def test_stream_headers_hold_any_unicode_title(station, title):
    station.title = title
    try:
        data = _raw(station, b"HEAD /stream HTTP/1.0\r\n\r\n", read=1)
    finally:
        station.title = "Test FM"
    status, headers = _head(data)
    assert status == 200 and headers[b"icy-name"] == title_bytes(title)[0]
    assert set(headers) == {
        b"Server",
        b"Date",
        b"Content-Type",
        b"Cache-Control",
        b"Connection",
        b"icy-name",
        b"icy-br",
        b"X-Stream-Frame",
    }


@given(st.text(max_size=300) | st.sampled_from(HOSTILE_TITLES))
def test_a_title_in_a_log_line_stays_in_that_line(station, title):
    station.logs.clear()
    station.log(f"on air: track 1, {title}")
    assert station.logs[0].startswith("on air: track 1,")
    assert all(line.isprintable() for line in station.logs)
    assert all(line.startswith("    | ") for line in station.logs[1:])


def test_now_playing_json_carries_a_hostile_title_intact(station):
    station.title = "ラジオ\r\n☕"
    try:
        connection = http.client.HTTPConnection("127.0.0.1", station.port, timeout=10)
        connection.request("GET", "/api/now")
        body = json.loads(connection.getresponse().read())
        connection.close()
    finally:
        station.title = "Test FM"
    assert body["station"] == "ラジオ\r\n☕"  # JSON escapes it; the page shows it as text


@given(
    st.text(max_size=60),
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FFF), min_size=6, max_size=20),
    st.sampled_from(["{p}", "icecast://source:{p}@h:8000/m", "Authorization: Basic {b}", "x\n{p}\ny", "{q}"]),
)
def test_log_lines_never_hold_a_secret_and_are_one_line_each(text, password, shape):
    import base64
    import urllib.parse

    lines: list[str] = []
    redactor = Redactor()
    redactor.add(password)
    secret_shapes = shape.format(
        p=password,
        b=base64.b64encode(f"source:{password}".encode()).decode(),
        q=urllib.parse.quote(password, safe=""),
    )
    for line in redactor.lines(f"{text} {secret_shapes} {text}"):
        lines.append(line)
    for line in lines:
        assert password not in line and line.isprintable()
    assert len(lines) == len(f"{text} {secret_shapes} {text}".splitlines() or [""])


def test_station_log_continuation_lines_cannot_pass_for_log_lines(station):
    station.logs.clear()
    station.log("on air: track 1, Title\n[radio 12:00:00] stopping\nicecast://source:pw@h/m")
    assert station.logs[0] == "on air: track 1, Title"
    assert all(line.startswith("    | ") for line in station.logs[1:])
    assert "pw@" not in "".join(station.logs) and "source:***@" in station.logs[2]


# --- hostile clients -----------------------------------------------------------------------------


def test_ratings_need_the_servers_cookie(station):
    status, body, _ = _post(station, "/api/like")
    assert status == 403 and "cookie" in body["error"]
    forged = f"{COOKIE}={'a' * 32}.{'b' * 32}"
    assert _post(station, "/api/like", headers={"Cookie": forged})[0] == 403
    status, body, _ = _post(station, "/api/like", headers={"Cookie": _cookie(station)})
    assert status == 409 and body["error"] == "nothing on air to rate yet"  # every check passed


def test_the_listener_cookie_is_httponly_and_samesite(station):
    connection = http.client.HTTPConnection("127.0.0.1", station.port, timeout=10)
    connection.request("GET", "/api/now")
    response = connection.getresponse()
    response.read()
    cookie = response.getheader("Set-Cookie")
    connection.close()
    assert cookie.startswith(COOKIE + "=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    # a client that has one is not given another
    connection = http.client.HTTPConnection("127.0.0.1", station.port, timeout=10)
    connection.request("GET", "/api/now", headers={"Cookie": cookie.split(";")[0]})
    response = connection.getresponse()
    response.read()
    assert response.getheader("Set-Cookie") is None
    connection.close()


@pytest.mark.parametrize(
    "headers, status",
    [
        ({"Origin": "http://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Content-Type": "text/plain"}, 415),
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415),
        ({"Content-Type": "multipart/form-data; boundary=x"}, 415),
    ],
)
def test_cross_site_and_non_json_posts_are_refused(station, cookie, headers, status):
    assert _post(station, "/api/skip", headers={"Cookie": cookie, **headers})[0] == status


def test_same_origin_posts_pass(station, cookie):
    origin = f"http://127.0.0.1:{station.port}"
    headers = {"Cookie": cookie, "Origin": origin, "Sec-Fetch-Site": "same-origin"}
    assert _post(station, "/api/like", headers=headers)[0] == 409  # past the checks: nothing on air


def test_ratings_are_rate_limited_per_listener(station):
    cookie = _cookie(station)
    codes = [_post(station, "/api/like", headers={"Cookie": cookie})[0] for _ in range(40)]
    assert codes.count(409) <= 6 and codes[-1] == 429  # a burst of 6, then 429
    status, body, headers = _post(station, "/api/like", headers={"Cookie": cookie})
    assert status == 429 and int(headers["Retry-After"]) >= 1


@pytest.mark.parametrize(
    "body",
    [b"[" * 3000 + b"]" * 3000, b'{"a":' * 1300 + b"1" + b"}" * 1300, b"\xff\xfe", b"[1,2]", b'"x"', b"{", b"nan"],
)
def test_broken_bodies_get_a_400_and_no_traceback(station, cookie, body):
    station.logs.clear()
    status, reply, _ = _post(station, "/api/like", body=body, headers={"Cookie": cookie})
    assert status in (400, 413) and "error" in reply
    assert not station.logs


def test_a_huge_track_number_is_a_404_and_logging_stays_bounded(station, monkeypatch):
    station.logs.clear()
    connection_codes = []
    for digits in (5000, 13, 4301):
        connection = http.client.HTTPConnection("127.0.0.1", station.port, timeout=10)
        connection.request("GET", f"/api/track/{'9' * digits}/pianoroll.png")
        response = connection.getresponse()
        response.read()
        connection_codes.append(response.status)
        connection.close()
    assert connection_codes == [404, 404, 404] and not station.logs
    # a route that does fail (here: a timeline that raises) logs a bounded number of lines

    def broken_timeline():
        raise RuntimeError("the timeline broke")

    monkeypatch.setattr(station, "timeline", broken_timeline)
    for _ in range(30):
        connection = http.client.HTTPConnection("127.0.0.1", station.port, timeout=10)
        connection.request("GET", "/api/timeline")
        assert connection.getresponse().status == 500
        connection.close()
    assert 1 <= len(station.logs) <= 5 and not any("Traceback" in line for line in station.logs)


def test_slow_and_idle_clients_are_cut_at_the_deadline_and_listeners_are_not(station, monkeypatch):
    server = station.server
    monkeypatch.setattr(server, "request_deadline_s", 1.0)
    listener = socket.create_connection(("127.0.0.1", station.port), timeout=10)
    listener.sendall(b"GET /stream HTTP/1.0\r\n\r\n")
    listener.recv(4096)
    idle = [socket.create_connection(("127.0.0.1", station.port), timeout=10) for _ in range(20)]
    drip = socket.create_connection(("127.0.0.1", station.port), timeout=10)
    short_body = socket.create_connection(("127.0.0.1", station.port), timeout=10)
    short_body.sendall(b"POST /api/like HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
    # bounded: 12 drips of a byte, each well inside the per-read timeout; the deadline comes first
    closed = False
    for byte in b"GET /api/now HT"[:12]:
        try:
            drip.sendall(bytes([byte]))
        except OSError:
            closed = True
            break
        time.sleep(0.3)
    wait_for(lambda: server.open_connections <= 2, 10, "the idle and slow connections to be closed")
    for sock in idle:
        assert sock.recv(10) == b""  # closed by the server
        sock.close()
    for sock in (drip, short_body):  # cut: whatever the server managed to say, then the end
        answer = _until_closed(sock) if not closed or sock is short_body else b""
        assert answer == b"" or answer.startswith(b"HTTP/1.0 400"), answer[:100]
        sock.close()
    # the listener, connected all along, still receives audio
    got = 0
    while got < 50_000:
        chunk = listener.recv(65536)
        assert chunk, "the listener was cut off"
        got += len(chunk)
    listener.close()


def test_connections_past_the_cap_are_refused_at_once(station, monkeypatch):
    server = station.server
    monkeypatch.setattr(server, "max_per_client", 10)
    wait_for(lambda: server.open_connections == 0, 10, "earlier connections to close")
    held = [socket.create_connection(("127.0.0.1", station.port), timeout=10) for _ in range(10)]
    wait_for(lambda: server.open_connections == 10, 10, "ten connections open")
    threads = threading.active_count()
    extra = [socket.create_connection(("127.0.0.1", station.port), timeout=10) for _ in range(30)]
    answers = [sock.recv(200) for sock in extra]
    assert all(answer.startswith(b"HTTP/1.0 503") for answer in answers)
    assert threading.active_count() <= threads + 2  # no thread each
    for sock in held + extra:
        sock.close()
    wait_for(lambda: server.open_connections == 0, 10, "the held connections to close")
    data = _raw(station, b"GET /api/now HTTP/1.0\r\n\r\n")
    assert _head(data)[0] == 200  # and the server serves again
