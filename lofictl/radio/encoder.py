"""PCM → MP3 through one ffmpeg process for the whole stream, and the ring every listener reads.

One encoder for the life of the station means the stream is a single continuous MP3: no
encoder restart, so no gap or priming silence at track boundaries. Its output is cut into
whole MP3 frames (a listener joining mid-stream starts on a frame header) and kept in a ring
of the last few seconds that every listener reads from with its own cursor: one copy in
memory whatever the number of listeners, and a slow listener never holds up the others.

`IcecastFeed` relays the same frames to an Icecast server as its source client (HTTP PUT, the
protocol libshout speaks): no second encode, no second process, and the source password never
on a command line. It reconnects with a bounded exponential back-off and logs what happened.
"""

from __future__ import annotations

import base64
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from lofictl.errors import LofictlError
from lofictl.radio.wire import clean_text, icy_title, mask_url_passwords, title_bytes

# MPEG audio frame header tables (layer III)
_BITRATES = {
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),  # MPEG-1
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}  # MPEG-2 and 2.5
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def ffmpeg_path() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        raise LofictlError(
            "the radio needs ffmpeg to encode its MP3 stream; install it (Debian: apt-get install "
            "ffmpeg; macOS: brew install ffmpeg) or run `bash scripts/dev.sh setup`"
        )
    return path


def frame_length(header: bytes) -> tuple[int, int] | None:
    """(bytes, samples) of the MPEG layer III frame starting with these 4 bytes, or None."""
    if len(header) < 4 or header[0] != 0xFF or (header[1] & 0xE0) != 0xE0:
        return None
    version = (header[1] >> 3) & 3  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
    layer = (header[1] >> 1) & 3
    bitrate_index = header[2] >> 4
    rate_index = (header[2] >> 2) & 3
    padding = (header[2] >> 1) & 1
    if version == 1 or layer != 1 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    bitrate = _BITRATES[1 if version == 3 else 2][bitrate_index] * 1000
    rate = _RATES[version][rate_index]
    samples = 1152 if version == 3 else 576
    return samples // 8 * bitrate // rate + padding, samples


class FrameSplitter:
    """Bytes in, whole MP3 frames out (resynchronising on anything that is not a frame)."""

    def __init__(self):
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        frames = []
        start = 0
        buffer = self._buffer
        while len(buffer) - start >= 4:
            size = frame_length(bytes(buffer[start : start + 4]))
            if size is None:
                start += 1
                continue
            if len(buffer) - start < size[0]:
                break
            frames.append(bytes(buffer[start : start + size[0]]))
            start += size[0]
        del self._buffer[:start]
        return frames


class Ring:
    """The last `capacity` MP3 frames, each with a tag (what was on air), and a cursor per reader.

    Frame number n sits in slot n % capacity, so a read costs what it returns, not the ring's size.
    """

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._slots: list[tuple[bytes, object] | None] = [None] * capacity
        self.first = 0  # number of the oldest frame held
        self.next = 0  # number the next frame will get
        self.closed = False
        self._changed = threading.Condition()
        self.bytes_total = 0

    def append(self, frame: bytes, tag: object = None) -> None:
        with self._changed:
            self._slots[self.next % self.capacity] = (frame, tag)
            self.next += 1
            self.first = max(self.first, self.next - self.capacity)
            self.bytes_total += len(frame)
            self._changed.notify_all()

    def start(self, back: int) -> int:
        """A cursor `back` frames behind the live edge (a new listener's burst)."""
        with self._changed:
            return max(self.first, self.next - back)

    def read(self, cursor: int, timeout: float, limit: int = 256) -> tuple[list[tuple[bytes, object]], int]:
        """Up to `limit` frames from `cursor` on (waiting up to `timeout` for new ones) and the next
        cursor. A reader that fell behind the ring skips ahead to the oldest frame still held."""
        with self._changed:
            if cursor >= self.next and not self.closed:
                self._changed.wait(timeout)
            cursor = max(cursor, self.first)
            stop = min(self.next, cursor + limit)
            frames = [self._slots[n % self.capacity] for n in range(cursor, stop)]
            return frames, stop

    def close(self) -> None:
        with self._changed:
            self.closed = True
            self._changed.notify_all()


class EncoderStopped(LofictlError):
    """The ffmpeg encoder went away (killed, crashed): the station starts a new one."""


class Mp3Encoder:
    """float32 stereo blocks in (`write`), MP3 frames out to `on_frame(frame_bytes, samples)`."""

    def __init__(self, sample_rate: int, bitrate_kbps: int, on_frame: Callable[[bytes, int], None]):
        self.sample_rate = sample_rate
        self.on_frame = on_frame
        command = [
            ffmpeg_path(),
            "-hide_banner",
            "-nostdin",
            "-loglevel",
            "error",
            "-f",
            "f32le",
            "-ar",
            str(sample_rate),
            "-ac",
            "2",
            "-i",
            "pipe:0",
            "-c:a",
            "libmp3lame",
            "-b:a",
            f"{bitrate_kbps}k",
            "-write_xing",
            "0",
            "-id3v2_version",
            "0",
            "-flush_packets",
            "1",
            "-f",
            "mp3",
            "pipe:1",
        ]
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0
        )
        self._splitter = FrameSplitter()
        self._reader = threading.Thread(target=self._read, name="radio-mp3-reader", daemon=True)
        self._reader.start()
        self.error: str | None = None

    def _read(self) -> None:
        stdout = self._process.stdout
        while True:
            data = stdout.read(4096)
            if not data:
                break
            for frame in self._splitter.feed(data):
                self.on_frame(frame, frame_length(frame[:4])[1])

    def write(self, block: np.ndarray) -> None:
        try:
            self._process.stdin.write(np.ascontiguousarray(block.T, dtype="<f4").tobytes())
        except (BrokenPipeError, OSError, ValueError):
            raise EncoderStopped(self._why()) from None

    def _why(self) -> str:
        """How the ffmpeg process ended: its exit code or signal, and its last message line."""
        try:
            code = self._process.wait(2)
        except subprocess.TimeoutExpired:
            code = None
        message = ""
        if self._process.stderr is not None:
            try:
                lines = self._process.stderr.read().decode(errors="replace").strip().splitlines()
                message = lines[-1] if lines else ""
            except (OSError, ValueError):
                pass
        if code is not None and code < 0:
            ended = f"killed by signal {-code}"
        elif code is not None:
            ended = f"exit code {code}"
        else:
            ended = "not taking input"
        return f"the MP3 encoder (ffmpeg) stopped ({ended})" + (f": {message}" if message else "")

    def close(self) -> None:
        try:
            self._process.stdin.close()
        except OSError:
            pass
        try:
            self._process.wait(5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._reader.join(5)


# --- Icecast -------------------------------------------------------------------------------------

PASSWORD_ENV = "LOFICTL_ICECAST_PASSWORD"
CONNECT_TIMEOUT_S = 5.0
SEND_TIMEOUT_S = 15.0  # a server that takes nothing for this long is treated as gone
FIRST_RETRY_S = 1.0
MAX_RETRY_S = 60.0
STABLE_S = 30.0  # a connection that held this long resets the back-off
TITLE_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class IcecastTarget:
    """Where to send the stream: host, port, mount, and the source credentials (kept out of repr)."""

    host: str
    port: int
    mount: str
    user: str
    password: str = field(repr=False)

    @property
    def netloc(self) -> str:
        """host:port, an IPv6 host in brackets."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def where(self) -> str:
        """The target for logs: no credentials."""
        return f"icecast://{self.netloc}{self.mount}"

    @property
    def authorization(self) -> str:
        return "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode("ascii")


def check_icecast_url(url: str, password: str | None = None) -> IcecastTarget:
    """icecast://USER[:PASSWORD]@HOST[:PORT]/MOUNT; without a password in it, the password comes
    from `password` (the command reads LOFICTL_ICECAST_PASSWORD), which keeps it out of `ps`."""
    shown = mask_url_passwords(url)  # for messages: without its password, whatever else is wrong
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or 8000
    except ValueError as exc:
        raise LofictlError(f"--icecast {shown}: {exc}") from None
    if parts.scheme != "icecast" or not parts.hostname or not parts.path or parts.path == "/":
        raise LofictlError(
            f"--icecast {shown}: write it as icecast://source@HOST:PORT/MOUNT with the password in "
            f"{PASSWORD_ENV} (or icecast://source:PASSWORD@HOST:PORT/MOUNT)"
        )
    if any(ch in parts.path for ch in "\r\n\0 ") or parts.query or parts.fragment:
        raise LofictlError(f"--icecast {shown}: the mount is a plain path like /lofi.mp3")
    secret = urllib.parse.unquote(parts.password) if parts.password is not None else password
    if not secret:
        raise LofictlError(
            f"--icecast {shown}: give the source password in {PASSWORD_ENV} "
            "(or in the URL: icecast://source:PASSWORD@...)"
        )
    user = urllib.parse.unquote(parts.username or "source")
    if any(ord(ch) < 32 for ch in user + secret) or ":" in user:
        raise LofictlError(f"--icecast {shown}: the user and password cannot hold control characters")
    return IcecastTarget(parts.hostname, port, parts.path, user, secret)


class IcecastRefused(Exception):
    """Icecast answered the source request with something else than 200."""


class IcecastFeed:
    """Relays the ring's frames to an Icecast mount, and the title of the track on air as metadata.

    `connected` is true only while Icecast has accepted the source (its 200 answer), so the log
    says "streaming to" only when that is so. Titles are sent by a thread of their own (the pacer
    that reports a new track never waits on the network) and again after every reconnection,
    retried while Icecast says the mount is not up yet.
    """

    def __init__(self, target: IcecastTarget, ring: Ring, name: str, log: Callable[[str], None]):
        self.target = target
        self.ring = ring
        self.name = name
        self.log = log
        self.connected = False
        self.connections = 0  # accepted connections so far (a title is sent once per connection)
        self.sent_bytes = 0
        self.retry_delays: list[float] = []  # each back-off waited, in order (the log says the same)
        self._stop = threading.Event()
        self._socket: socket.socket | None = None
        self._title: str | None = None
        self._title_wanted = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, name="radio-icecast", daemon=True),
            threading.Thread(target=self._titles, name="radio-icecast-title", daemon=True),
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    # --- the source connection -----------------------------------------------------------------

    def _connect(self) -> socket.socket:
        target = self.target
        name, _ = title_bytes(self.name)
        head = (
            (
                f"PUT {target.mount} HTTP/1.1\r\n"
                f"Host: {target.netloc}\r\n"
                f"Authorization: {target.authorization}\r\n"
                "User-Agent: lofictl-radio\r\n"
                "Content-Type: audio/mpeg\r\n"
                "Ice-Public: 0\r\n"
            ).encode("ascii", "strict")
            + b"Ice-Name: "
            + name
            + b"\r\n\r\n"
        )
        sock = socket.create_connection((target.host, target.port), timeout=CONNECT_TIMEOUT_S)
        try:
            sock.sendall(head)
            answer = b""
            while b"\r\n\r\n" not in answer and len(answer) < 8192:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
            status = answer.split(b"\r\n", 1)[0].decode("latin-1")
            code = status.split(" ", 2)[1] if status.count(" ") >= 1 else ""
            if code not in ("100", "200"):
                body = re.sub(r"<[^>]*>", " ", answer.partition(b"\r\n\r\n")[2].decode("latin-1"))
                detail = clean_text(f"{status} {body}".strip() or "the server closed the connection", 160)
                if code == "401":
                    detail += " (the source user or password is wrong)"
                raise IcecastRefused(detail)
            sock.settimeout(SEND_TIMEOUT_S)
            return sock
        except BaseException:
            sock.close()
            raise

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            where = self.target.where
            try:
                sock = self._connect()
            except (OSError, IcecastRefused) as exc:
                delay = min(MAX_RETRY_S, FIRST_RETRY_S * 2**failures)
                failures += 1
                self._wait_retry(f"icecast: cannot stream to {where}: {_reason(exc)}", delay)
                continue
            self._socket = sock
            self.connections += 1
            self.connected = True
            self.log(f"icecast: streaming to {where}")
            self._title_wanted.set()
            started = time.monotonic()
            reason = "stopped"
            cursor = self.ring.start(0)
            try:
                while not self._stop.is_set() and not self.ring.closed:
                    frames, cursor = self.ring.read(cursor, 1.0)
                    if frames:
                        data = b"".join(frame for frame, _ in frames)
                        sock.sendall(data)
                        self.sent_bytes += len(data)
            except OSError as exc:
                reason = _reason(exc)
            finally:
                self.connected = False
                self._socket = None
                sock.close()
            if self._stop.is_set() or self.ring.closed:
                return
            held = time.monotonic() - started
            if held >= STABLE_S:
                failures = 0
            delay = min(MAX_RETRY_S, FIRST_RETRY_S * 2**failures)
            failures += 1
            self._wait_retry(f"icecast: the connection to {where} dropped after {held:.0f} s ({reason})", delay)

    def _wait_retry(self, message: str, delay: float) -> None:
        self.retry_delays.append(delay)
        self.log(f"{message}; retrying in {delay:.0f} s")
        self._stop.wait(delay)

    # --- now-playing metadata ------------------------------------------------------------------

    def set_title(self, title: str) -> None:
        """Ask for this now-playing title (sent by the title thread; never blocks the caller)."""
        self._title = title
        self._title_wanted.set()

    def _titles(self) -> None:
        done: tuple[int, str] | None = None  # (connection, title) Icecast has taken
        failed: tuple[int, str] | None = None  # the last one that failed (retried with a back-off)
        attempts = 0
        while not self._stop.is_set():
            self._title_wanted.wait(1.0)
            self._title_wanted.clear()
            title, connection = self._title, self.connections
            if title is None or not self.connected or (connection, title) == done:
                continue
            if failed == (connection, title):
                self._stop.wait(min(30.0, 2.0**attempts))  # Icecast not ready for it yet: back off
                if self._title != title or self.connections != connection:
                    self._title_wanted.set()
                    continue
            else:
                attempts = 0
            error = self._send_title(title)
            if error is None:
                done, failed = (connection, title), None
                continue
            attempts += 1
            if attempts == 2:  # the first try may come before Icecast has the mount up: say nothing yet
                self.log(f"icecast: could not set the title yet ({error}); retrying")
            failed = (connection, title)
            self._title_wanted.set()

    def _send_title(self, title: str) -> str | None:
        """None when Icecast took the title; otherwise what went wrong."""
        data, charset = icy_title(title)
        # A title that fits Latin-1 is declared UTF-8: Icecast converts it to its mount's charset.
        # One that does not is sent as raw UTF-8 without a charset: a converting Icecast would
        # turn each such character into a `&#NNNN;` reference that no player shows as meant.
        query = {"mount": self.target.mount, "mode": "updinfo", "song": data.decode(charset)}
        if charset == "ISO-8859-1":
            query["charset"] = "UTF-8"
        target = self.target
        request = urllib.request.Request(
            f"http://{target.netloc}/admin/metadata?{urllib.parse.urlencode(query, encoding='utf-8')}"
        )
        request.add_header("Authorization", target.authorization)
        request.add_header("User-Agent", "lofictl-radio")
        try:
            with urllib.request.urlopen(request, timeout=TITLE_TIMEOUT_S) as response:
                response.read(4096)
            return None
        except urllib.error.HTTPError as exc:
            return f"HTTP {exc.code}: {clean_text(exc.reason, 80)}"
        except (OSError, ValueError) as exc:
            return _reason(exc)

    def stop(self) -> None:
        self._stop.set()
        sock = self._socket
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes a send blocked on a stalled server
            except OSError:
                pass
        for thread in self._threads:
            if thread.is_alive():
                thread.join(5)


def _reason(exc: BaseException) -> str:
    """A short, secret-free account of a connection error."""
    if isinstance(exc, IcecastRefused):
        return f"refused: {exc}"
    if isinstance(exc, socket.timeout):
        return "timed out"
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return clean_text(text, 160)
