"""The built-in HTTP server (one machine, the embedded default): the page, the stream, the API.

    GET  /                     the player page (web/index.html, app.js, style.css)
    GET  /stream               endless MP3 (audio/mpeg) for any <audio> element or player
    GET  /api/now              JSON: what is on air, the queue, the history, the real-time factor
    GET  /api/track/N/pianoroll.png
    POST /api/like             {"listener": id}: a like for the track on air, at its position
    POST /api/skip             {"listener": id}: a skip (recorded; moves the stream on if the station says so)

A thread per connection (http.server's ThreadingHTTPServer). Every listener reads the same
ring of MP3 frames with its own cursor, so a listener who goes away mid-stream, or reads
slowly, touches nothing shared; a socket that stops taking data is dropped after a timeout.
For real audiences, feed Icecast (`--icecast`) rather than serving thousands from here.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from lofictl.radio.run import RadioStation

SEND_TIMEOUT_S = 15.0  # a listener whose socket takes nothing for this long is dropped
_ASSETS = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}
_LISTENER_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def asset(name: str) -> bytes:
    return resources.files(__package__).joinpath("web", name).read_bytes()


class RadioServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], station: "RadioStation"):
        self.station = station
        super().__init__(address, Handler)


class Handler(BaseHTTPRequestHandler):
    server: RadioServer
    server_version = "lofictl-radio"
    protocol_version = "HTTP/1.0"  # one request per connection; the stream ends when the socket does

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        pass  # the station logs what matters; per-request lines would flood a 24/7 log

    # --- helpers -------------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, data: dict, status: int = 200) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")

    def _listener(self, data: dict | None = None) -> str:
        query = parse_qs(urlsplit(self.path).query)
        candidate = (data or {}).get("listener") or (query.get("listener") or [None])[0]
        if isinstance(candidate, str) and _LISTENER_RE.match(candidate):
            return candidate
        return uuid.uuid4().hex[:16]

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0:
            return {}
        if length > 4096:
            raise ValueError("request body too large")
        data = json.loads(self.rfile.read(length) or b"{}")
        return data if isinstance(data, dict) else {}

    # --- routes --------------------------------------------------------------------------------

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        station = self.server.station
        try:
            if path in _ASSETS:
                name, content_type = _ASSETS[path]
                self._send(200, asset(name), content_type)
            elif path in ("/stream", "/stream.mp3"):
                self._stream()
            elif path == "/api/now":
                self._json(station.now())
            elif path == "/api/timeline":
                self._json({"sample_rate": station.sample_rate, "entries": station.timeline()})
            elif match := re.fullmatch(r"/api/track/(\d+)/pianoroll\.png", path):
                roll = station.pianoroll(int(match[1]))
                if roll is None:
                    self._json({"error": "no piano roll for that track (too old, or not built)"}, 404)
                else:
                    self._send(200, roll.read_bytes(), "image/png", {"Cache-Control": "max-age=3600"})
            else:
                self._json({"error": f"nothing at {path}"}, 404)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass  # the client went away: nothing to clean up
        except Exception as exc:  # noqa: BLE001 - one bad request must not print a traceback per hit
            self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        self.server.station.log(
            f"server: {self.command} {urlsplit(self.path).path} failed: {type(exc).__name__}: {exc}"
        )
        try:
            self._json({"error": "internal error"}, 500)
        except OSError:
            pass

    def do_POST(self) -> None:  # noqa: N802
        path = urlsplit(self.path).path
        station = self.server.station
        try:
            data = self._body()
        except (ValueError, json.JSONDecodeError):
            self._json({"error": "the body must be a small JSON object"}, 400)
            return
        try:
            if path == "/api/like":
                result = station.rate("like", self._listener(data))
            elif path == "/api/skip":
                result = station.rate("skip", self._listener(data))
            else:
                self._json({"error": f"nothing at {path}"}, 404)
                return
            self._json(result, 200 if result.get("ok") else HTTPStatus.CONFLICT)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass
        except Exception as exc:  # noqa: BLE001
            self._failed(exc)

    def _stream(self) -> None:
        station = self.server.station
        listener = self._listener()
        self.connection.settimeout(SEND_TIMEOUT_S)
        self.send_response(200)
        self.send_header("Content-Type", "audio/mpeg")
        self.send_header("Cache-Control", "no-cache, no-store")
        self.send_header("Connection", "close")
        self.send_header("icy-name", station.title)
        self.send_header("icy-br", str(station.bitrate_kbps))
        ring = station.ring
        cursor = ring.start(station.burst_frames)
        # Where this listener's first MP3 frame sits in the stream (frame n holds samples from
        # n * 1152): lets a client line what it hears up with /api/timeline.
        self.send_header("X-Stream-Frame", str(cursor))
        self.end_headers()
        if self.command == "HEAD":
            return
        heard_track, heard_samples = None, 0
        station.listener_joined()
        try:
            while not station.stopping and not ring.closed:
                frames, cursor = ring.read(cursor, 1.0)
                if not frames:
                    continue
                self.wfile.write(b"".join(frame for frame, _ in frames))
                for _, (number, samples) in frames:
                    if number != heard_track:
                        station.listened(heard_track, listener, heard_samples)
                        heard_track, heard_samples = number, 0
                    heard_samples += samples
        except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
            pass  # the listener left: their cursor simply goes away
        finally:
            station.listened(heard_track, listener, heard_samples)
            station.listener_left()


def bind(station: "RadioStation", host: str, port: int) -> RadioServer:
    """The listening socket, taken first so a busy port is reported before any work starts."""
    from lofictl.errors import LofictlError

    try:
        return RadioServer((host, port), station)
    except OSError as exc:
        hint = "; stop what uses it or pass --port" if exc.errno in (98, 48) else ""
        raise LofictlError(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}") from None


def serve(server: RadioServer) -> threading.Thread:
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.25}, name="radio-http", daemon=True
    )
    thread.start()
    return thread
