"""The built-in HTTP server (one machine, the embedded default): the page, the stream, the API.

    GET  /                     the player page (web/index.html, app.js, style.css)
    GET  /stream               endless MP3 (audio/mpeg) for any <audio> element or player
    GET  /api/now              JSON: what is on air, the queue, the history, the real-time factor
    GET  /api/track/N/pianoroll.png
    POST /api/like             a like for the track on air, at its position
    POST /api/skip             a skip (recorded; moves the stream on if the station says so)

A thread per connection (http.server's ThreadingHTTPServer). Every listener reads the same
ring of MP3 frames with its own cursor, so a listener who goes away mid-stream, or reads
slowly, touches nothing shared; a socket that stops taking data is dropped after a timeout.
For real audiences, feed Icecast (`--icecast`) rather than serving thousands from here.

Hostile clients are bounded: a request (line, headers and body) must arrive within
`REQUEST_DEADLINE_S` (a reaper shuts the sockets that take longer, one byte at a time or not at
all), connections are capped in all and per client address (past the cap: 503 at once, no
thread), and errors are answered with a 4xx and logged a few lines a minute at most, never a
traceback. Ratings need the listener cookie this server issues (HttpOnly, SameSite=Strict, signed
with a key of this run), a same-origin JSON POST (Origin and Content-Type checked), and are
rate-limited per listener and per client address.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import socket
import threading
import time
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import TYPE_CHECKING, Callable
from urllib.parse import urlsplit

from lofictl.radio.wire import clean_text, header_value

if TYPE_CHECKING:
    from lofictl.radio.run import RadioStation

SEND_TIMEOUT_S = 15.0  # a listener whose socket takes nothing for this long is dropped
REQUEST_DEADLINE_S = 10.0  # a request's line, headers and body must all arrive within this
MAX_CONNECTIONS = 512  # open connections in all (listeners included) ...
MAX_PER_CLIENT = 64  # ... and from one client address
MAX_BODY = 4096
COOKIE = "lofictl_listener"
COOKIE_MAX_AGE_S = 365 * 24 * 3600
_ASSETS = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
}
_LISTENER_RE = re.compile(r"^[0-9a-f]{32}$")
_PIANOROLL_RE = re.compile(r"/api/track/(\d{1,12})/pianoroll\.png")


def asset(name: str) -> bytes:
    return resources.files(__package__).joinpath("web", name).read_bytes()


class RequestError(Exception):
    """A request answered with a 4xx and a one-line JSON reason (nothing logged)."""

    def __init__(self, status: int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


class Buckets:
    """Token buckets by key: `burst` at once, then one more every `every_s` seconds."""

    MAX_KEYS = 10_000

    def __init__(self, burst: int, every_s: float):
        self.burst = burst
        self.every_s = every_s
        self._tokens: dict[str, tuple[float, float]] = {}  # key: (tokens, when)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when allowed (a token is spent), otherwise the seconds until one is."""
        now = time.monotonic()
        with self._lock:
            tokens, when = self._tokens.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - when) / self.every_s)
            if tokens < 1.0:
                self._tokens[key] = (tokens, now)
                return (1.0 - tokens) * self.every_s
            self._tokens[key] = (tokens - 1.0, now)
            if len(self._tokens) > self.MAX_KEYS:  # forget the keys that are full again
                full = now - self.burst * self.every_s
                self._tokens = {k: v for k, v in self._tokens.items() if v[1] > full}
            return 0.0


class BoundedLog:
    """At most `lines` log lines per `window_s`; the next line says how many were left out."""

    def __init__(self, log: Callable[[str], None], lines: int = 5, window_s: float = 60.0):
        self.log = log
        self.lines = lines
        self.window_s = window_s
        self._times: list[float] = []
        self.left_out = 0
        self._lock = threading.Lock()

    def __call__(self, message: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._times = [t for t in self._times if now - t < self.window_s]
            if len(self._times) >= self.lines:
                self.left_out += 1
                return
            self._times.append(now)
            left_out, self.left_out = self.left_out, 0
        self.log(message + (f" ({left_out} more like it left out)" if left_out else ""))


class RadioServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], station: "RadioStation"):
        self.station = station
        self.request_deadline_s = REQUEST_DEADLINE_S
        self.max_connections = MAX_CONNECTIONS
        self.max_per_client = MAX_PER_CLIENT
        self.errors = BoundedLog(lambda message: station.log(f"server: {message}"))
        self.listener_key = secrets.token_bytes(32)
        self.rate_by_listener = Buckets(burst=6, every_s=10.0)
        self.rate_by_client = Buckets(burst=30, every_s=2.0)
        self.cookies_by_client = Buckets(burst=20, every_s=30.0)
        self._open: dict[socket.socket, list] = {}  # socket: [client address, deadline or None]
        self._per_client: dict[str, int] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        super().__init__(address, Handler)
        self._reaper = threading.Thread(target=self._reap, name="radio-http-reaper", daemon=True)
        self._reaper.start()

    # --- connections: a cap, and a deadline for each request -----------------------------------

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._open)

    def process_request(self, request, client_address) -> None:
        client = str(client_address[0])
        with self._lock:
            full = len(self._open) >= self.max_connections or self._per_client.get(client, 0) >= self.max_per_client
            if not full:
                self._open[request] = [client, time.monotonic() + self.request_deadline_s]
                self._per_client[client] = self._per_client.get(client, 0) + 1
        if full:
            try:  # answered without a thread, and without waiting on the client
                request.setblocking(False)
                request.send(
                    b"HTTP/1.0 503 Service Unavailable\r\nRetry-After: 10\r\nContent-Type: text/plain\r\n"
                    b"Content-Length: 21\r\nConnection: close\r\n\r\ntoo many connections\n"
                )
            except OSError:
                pass
            super().shutdown_request(request)
            return
        super().process_request(request, client_address)

    def request_read(self, request) -> None:
        """The request is in: its deadline no longer applies (a listener stays as long as it likes)."""
        with self._lock:
            if request in self._open:
                self._open[request][1] = None

    def shutdown_request(self, request) -> None:
        with self._lock:
            entry = self._open.pop(request, None)
            if entry is not None:
                left = self._per_client.get(entry[0], 1) - 1
                if left > 0:
                    self._per_client[entry[0]] = left
                else:
                    self._per_client.pop(entry[0], None)
        super().shutdown_request(request)

    def _reap(self) -> None:
        while not self._closing.wait(0.5):
            now = time.monotonic()
            with self._lock:
                late = [sock for sock, (_, deadline) in self._open.items() if deadline is not None and deadline < now]
                for sock in late:
                    self._open[sock][1] = None  # shut once
            for sock in late:
                try:
                    sock.shutdown(socket.SHUT_RDWR)  # the handler's read returns; its thread ends
                except OSError:
                    pass

    def server_close(self) -> None:
        self._closing.set()
        super().server_close()

    def handle_error(self, request, client_address) -> None:
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            return  # a client that went away
        self.errors(f"a request failed: {type(exc).__name__}: {clean_text(exc, 160)}")

    # --- listener cookies ----------------------------------------------------------------------

    def sign(self, listener: str) -> str:
        return hmac.new(self.listener_key, listener.encode("ascii"), hashlib.sha256).hexdigest()[:32]

    def listener_of(self, cookie_header: str | None) -> str | None:
        """The listener id in a cookie this server issued, or None."""
        if not cookie_header or len(cookie_header) > 4096:
            return None
        cookies = SimpleCookie()
        try:
            cookies.load(cookie_header)
        except CookieError:
            return None
        morsel = cookies.get(COOKIE)
        if morsel is None:
            return None
        listener, _, mac = morsel.value.partition(".")
        if _LISTENER_RE.match(listener) and hmac.compare_digest(mac.encode(), self.sign(listener).encode()):
            return listener
        return None


class Handler(BaseHTTPRequestHandler):
    server: RadioServer
    server_version = "lofictl-radio"
    protocol_version = "HTTP/1.0"  # one request per connection; the stream ends when the socket does
    timeout = REQUEST_DEADLINE_S  # per read while the request comes in (the reaper bounds the total)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        pass  # the station logs what matters; per-request lines would flood a 24/7 log

    # --- helpers -------------------------------------------------------------------------------

    def _send(self, status: int, body: bytes, content_type: str, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, data: dict, status: int = 200, extra: dict | None = None) -> None:
        self._send(status, json.dumps(data).encode(), "application/json", extra)

    def _listener(self) -> str | None:
        return self.server.listener_of(self.headers.get("Cookie"))

    def _issue_cookie(self) -> dict:
        """A Set-Cookie header for a client without a valid listener cookie (a few per address)."""
        if self._listener() is not None or self.server.cookies_by_client.take(self.client_address[0]):
            return {}
        listener = secrets.token_hex(16)
        value = f"{listener}.{self.server.sign(listener)}"
        return {"Set-Cookie": f"{COOKIE}={value}; Path=/; Max-Age={COOKIE_MAX_AGE_S}; HttpOnly; SameSite=Strict"}

    def _check_origin(self) -> None:
        """Only the station's own page may POST: a cross-site page is refused (CSRF)."""
        site = self.headers.get("Sec-Fetch-Site")
        if site is not None and site not in ("same-origin", "none"):
            raise RequestError(403, "ratings come from the station's own page")
        origin = self.headers.get("Origin")
        if origin is None:
            return  # not a browser (browsers send Origin with every POST)
        host = (self.headers.get("Host") or "").strip().lower()
        try:
            parts = urlsplit(origin.strip())
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not host or parts.netloc.lower() != host:
            raise RequestError(403, "ratings come from the station's own page")

    def _body(self) -> dict:
        """The request's JSON object (small, application/json, all of it), or a RequestError."""
        if self.headers.get("Transfer-Encoding"):
            raise RequestError(411, "send a Content-Length")
        if self.headers.get_content_type() != "application/json":
            raise RequestError(415, "the body must be JSON (Content-Type: application/json)")
        raw = (self.headers.get("Content-Length") or "0").strip()
        if not raw.isdigit() or len(raw) > 9:
            raise RequestError(400, "bad Content-Length")
        length = int(raw)
        if length > MAX_BODY:
            raise RequestError(413, "the body must be a small JSON object")
        data = self.rfile.read(length) if length else b""
        if len(data) < length:
            raise RequestError(400, "the body ended early")
        self.server.request_read(self.connection)
        try:
            parsed = json.loads(data or b"{}")
        except (ValueError, RecursionError):  # RecursionError: [[[[... nested past the parser's depth
            raise RequestError(400, "the body must be a small JSON object") from None
        if not isinstance(parsed, dict):
            raise RequestError(400, "the body must be a small JSON object")
        return parsed

    def _answer(self, route: Callable[[], None]) -> None:
        try:
            route()
        except RequestError as exc:
            try:
                self._json({"error": str(exc)}, exc.status, {"Connection": "close", **exc.headers})
            except OSError:
                pass
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass  # the client went away: nothing to clean up
        except Exception as exc:  # noqa: BLE001 - one bad request must not print a traceback per hit
            self.server.errors(
                f"{self.command} {clean_text(urlsplit(self.path).path, 80)} failed: "
                f"{type(exc).__name__}: {clean_text(exc, 160)}"
            )
            try:
                self._json({"error": "internal error"}, 500)
            except OSError:
                pass

    # --- routes --------------------------------------------------------------------------------

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        self.server.request_read(self.connection)
        self._answer(self._get)

    def _get(self) -> None:
        path = urlsplit(self.path).path
        station = self.server.station
        if path in _ASSETS:
            name, content_type = _ASSETS[path]
            self._send(200, asset(name), content_type)
        elif path in ("/stream", "/stream.mp3"):
            self._stream()
        elif path == "/api/now":
            self._json(station.now(), extra=self._issue_cookie())
        elif path == "/api/timeline":
            self._json({"sample_rate": station.sample_rate, "entries": station.timeline()})
        elif match := _PIANOROLL_RE.fullmatch(path):
            roll = station.pianoroll(int(match[1]))
            if roll is None:
                self._json({"error": "no piano roll for that track (too old, or not built)"}, 404)
            else:
                self._send(200, roll.read_bytes(), "image/png", {"Cache-Control": "max-age=3600"})
        else:
            self._json({"error": f"nothing at {clean_text(path, 80)}"}, 404)

    def do_POST(self) -> None:  # noqa: N802
        self._answer(self._post)

    def _post(self) -> None:
        path = urlsplit(self.path).path
        if path not in ("/api/like", "/api/skip"):
            self.server.request_read(self.connection)
            raise RequestError(404, f"nothing at {clean_text(path, 80)}")
        self._check_origin()
        self._body()
        listener = self._listener()
        if listener is None:
            raise RequestError(403, "no listener cookie: open the station's page first")
        for buckets, key in (
            (self.server.rate_by_listener, listener),
            (self.server.rate_by_client, self.client_address[0]),
        ):
            wait = buckets.take(key)
            if wait:
                raise RequestError(429, "too many ratings; try again later", {"Retry-After": str(int(wait) + 1)})
        kind = "like" if path == "/api/like" else "skip"
        result = self.server.station.rate(kind, listener)
        self._json(result, 200 if result.get("ok") else HTTPStatus.CONFLICT)

    def _stream(self) -> None:
        station = self.server.station
        listener = self._listener()  # None for players without the page's cookie (VLC, mpv)
        self.connection.settimeout(SEND_TIMEOUT_S)
        self.send_response(200)
        self.send_header("Content-Type", "audio/mpeg")
        self.send_header("Cache-Control", "no-cache, no-store")
        self.send_header("Connection", "close")
        self.send_header("icy-name", header_value(station.title))
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
