"""The local page server both audition pages run on (127.0.0.1 by default).

    GET  /  /app.js  /style.css     the page (web/<page>.html, <page>.js, style.css)
    GET  /api/state                 JSON the page draws (and a listener cookie, once)
    GET  /media/NAME                a file the page lists (audio with Range support, piano rolls)
    POST /api/...                   the page's actions (keep a variant, answer a trial)

It is the radio's hardened server (radio.server.RadioServer: connection caps, a deadline for
each request, bounded logging, signed listener cookies, same-origin JSON POSTs of at most
MAX_BODY bytes) with these routes. A file is served only by its name in the page's own table,
never by joining a path from the request, so `..` and its encodings reach nothing.
"""

from __future__ import annotations

import re
import threading
from importlib import resources
from pathlib import Path
from typing import Callable, Protocol
from urllib.parse import unquote, urlsplit

from lofictl.radio.server import SEND_TIMEOUT_S, Buckets, Handler, RadioServer, RequestError
from lofictl.radio.wire import clean_text

DEFAULT_PORT = 8010
CHUNK = 256 * 1024
RANGE_PART = 2 * 1024 * 1024
_RANGE_RE = re.compile(r"bytes=(\d{0,15})-(\d{0,15})")
_TYPES = {".wav": "audio/wav", ".png": "image/png", ".flac": "audio/flac", ".mp3": "audio/mpeg"}


class Page(Protocol):
    page: str  # web/<page>.html and web/<page>.js

    def media(self) -> dict[str, Path]: ...  # name in /media/NAME -> file

    def state(self, listener: str | None) -> dict: ...

    def post(self, path: str, body: dict, listener: str | None) -> dict: ...  # raises RequestError


def asset(name: str) -> bytes:
    return resources.files(__package__).joinpath("web", name).read_bytes()


class _Logger:
    """What RadioServer reads of its station: a log."""

    def __init__(self, log: Callable[[str], None]):
        self.log = log


class PageServer(RadioServer):
    def __init__(self, address: tuple[str, int], page: Page, log: Callable[[str], None]):
        self.page = page
        super().__init__(address, _Logger(log))  # type: ignore[arg-type]
        self.RequestHandlerClass = PageHandler
        # A listening test answers a trial every few seconds: allow a brisk listener.
        self.rate_by_listener = Buckets(burst=40, every_s=0.5)
        self.rate_by_client = Buckets(burst=80, every_s=0.25)


class PageHandler(Handler):
    server: PageServer
    server_version = "lofictl-audition"

    def _get(self) -> None:
        path = urlsplit(self.path).path
        page = self.server.page
        if path in ("/", "/index.html"):
            self._send(200, asset(f"{page.page}.html"), "text/html; charset=utf-8", self._issue_cookie())
        elif path == "/app.js":
            self._send(200, asset(f"{page.page}.js"), "text/javascript; charset=utf-8")
        elif path == "/style.css":
            self._send(200, asset("style.css"), "text/css; charset=utf-8")
        elif path == "/api/state":
            self._json(page.state(self._listener()), extra=self._issue_cookie())
        elif path.startswith("/media/"):
            name = unquote(path[len("/media/") :])
            file = page.media().get(name)  # a name in the table, or nothing
            if file is None or not file.is_file():
                raise RequestError(404, f"no file {clean_text(name, 80)}")
            self._file(file)
        else:
            raise RequestError(404, f"nothing at {clean_text(path, 80)}")

    def _file(self, file: Path) -> None:
        """The whole file, or the one byte range asked for (players seek with Range requests)."""
        size = file.stat().st_size
        content_type = _TYPES.get(file.suffix.lower(), "application/octet-stream")
        header = self.headers.get("Range")
        start, end = 0, size - 1
        status = 200
        if header:
            match = _RANGE_RE.fullmatch(header.strip())
            if match is None or (not match[1] and not match[2]):
                raise RequestError(416, "one byte range, bytes=START-END", {"Content-Range": f"bytes */{size}"})
            if match[1]:
                start = int(match[1])
                # An open range (bytes=N-, what a media element asks) gets a part at a time: a
                # player that reads slowly then holds no connection for long (a browser has six
                # per host, and the piano rolls need some), and asks again for the rest.
                end = min(int(match[2]), size - 1) if match[2] else min(size - 1, start + RANGE_PART - 1)
            else:  # the last N bytes
                start = max(0, size - int(match[2]))
            if start >= size or start > end:
                raise RequestError(416, "the range is outside the file", {"Content-Range": f"bytes */{size}"})
            status = 206
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if self.command == "HEAD":
            return
        self.connection.settimeout(SEND_TIMEOUT_S)  # a reader that stops taking data is dropped
        with open(file, "rb") as handle:  # in blocks: a long master is tens of MB
            handle.seek(start)
            left = end - start + 1
            while left > 0:
                block = handle.read(min(CHUNK, left))
                if not block:
                    break
                self.wfile.write(block)
                left -= len(block)

    def do_POST(self) -> None:  # noqa: N802
        self._answer(self._post)

    def _post(self) -> None:
        path = urlsplit(self.path).path
        if not path.startswith("/api/"):
            self.server.request_read(self.connection)
            raise RequestError(404, f"nothing at {clean_text(path, 80)}")
        self._check_origin()
        body = self._body()
        listener = self._listener()
        for buckets, key in (
            (self.server.rate_by_listener, listener or "-"),
            (self.server.rate_by_client, self.client_address[0]),
        ):
            wait = buckets.take(key)
            if wait:
                raise RequestError(429, "too many requests; try again later", {"Retry-After": str(int(wait) + 1)})
        self._json(self.server.page.post(path, body, listener))


def bind(page: Page, host: str, port: int, log: Callable[[str], None]) -> PageServer:
    """The listening socket, taken before any work starts so a busy port is said at once."""
    from lofictl.errors import LofictlError

    try:
        return PageServer((host, port), page, log)
    except OSError as exc:
        hint = "; stop what uses it or pass --port" if exc.errno in (98, 48) else ""
        raise LofictlError(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}") from None


def serve(server: PageServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.25}, daemon=True)
    thread.start()
    return thread


def serve_until_stopped(server: PageServer, url: str, log: Callable[[str], None]) -> None:
    """Serve until Ctrl-C or SIGTERM, then close the socket."""
    import signal

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    serve(server)
    log(f"serving {url} (Ctrl-C to stop)")
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.shutdown()
        server.server_close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
