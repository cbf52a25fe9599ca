"""PCM → MP3 through one ffmpeg process for the whole stream, and the ring every listener reads.

One encoder for the life of the station means the stream is a single continuous MP3: no
encoder restart, so no gap or priming silence at track boundaries. Its output is cut into
whole MP3 frames (a listener joining mid-stream starts on a frame header) and kept in a ring
of the last few seconds that every listener reads from with its own cursor: one copy in
memory whatever the number of listeners, and a slow listener never holds up the others.

`IcecastFeed` relays the same frames to an Icecast server through a second ffmpeg (`-c copy`:
no second encode), reconnecting with a back-off when the server goes away.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from typing import Callable

import numpy as np

from lofictl.errors import LofictlError

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
        except (BrokenPipeError, OSError):
            message = self._process.stderr.read().decode(errors="replace").strip() if self._process.stderr else ""
            raise LofictlError(f"the MP3 encoder (ffmpeg) stopped: {message or 'no message'}") from None

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


def redact(url: str) -> str:
    """The URL without its password, for logs."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def check_icecast_url(url: str) -> urllib.parse.SplitResult:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "icecast" or not parts.hostname or not parts.path or parts.path == "/":
        raise LofictlError(
            f"--icecast {redact(url)}: write it as icecast://source:PASSWORD@HOST:PORT/MOUNT "
            "(e.g. icecast://source:hackme@localhost:8000/lofi.mp3)"
        )
    if parts.password is None:
        raise LofictlError(f"--icecast {redact(url)}: give the source password (icecast://source:PASSWORD@...)")
    return parts


class IcecastFeed:
    """Relays the ring's frames to an Icecast mount (ffmpeg -c copy), and the title as metadata."""

    def __init__(self, url: str, ring: Ring, name: str, log: Callable[[str], None]):
        self.parts = check_icecast_url(url)
        self.url = url
        self.ring = ring
        self.name = name
        self.log = log
        self.connected = False
        self.sent_bytes = 0
        self._stop = threading.Event()
        self._process: subprocess.Popen | None = None
        self._thread = threading.Thread(target=self._run, name="radio-icecast", daemon=True)
        self._title: str | None = None

    def start(self) -> None:
        self._thread.start()

    def _spawn(self) -> subprocess.Popen:
        command = [
            ffmpeg_path(),
            "-hide_banner",
            "-nostdin",
            "-loglevel",
            "error",
            "-f",
            "mp3",
            "-i",
            "pipe:0",
            "-c:a",
            "copy",
            "-content_type",
            "audio/mpeg",
            "-ice_name",
            self.name,
            "-f",
            "mp3",
            self.url,
        ]
        return subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, bufsize=0
        )

    def _run(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            self._process = process = self._spawn()
            cursor = self.ring.start(0)
            started = time.monotonic()
            try:
                while not self._stop.is_set() and process.poll() is None:
                    frames, cursor = self.ring.read(cursor, 1.0)
                    if frames:
                        process.stdin.write(b"".join(frame for frame, _ in frames))
                        self.sent_bytes += sum(len(frame) for frame, _ in frames)
                        if not self.connected and time.monotonic() - started > 1.0 and process.poll() is None:
                            self.connected = True
                            self.log(f"icecast: streaming to {redact(self.url)}")
                            backoff = 1.0
                            if self._title:
                                self.set_title(self._title)
            except (OSError, ValueError):  # the server went away, or stop() closed the pipe
                pass
            self.connected = False
            self._end(process)
            if self._stop.is_set():
                return
            message = process.stderr.read().decode(errors="replace").strip().splitlines() if process.stderr else []
            self.log(
                f"icecast: {redact(self.url)} dropped ({redact(message[-1]) if message else 'ffmpeg ended'}); "
                f"retrying in {backoff:.0f} s"
            )
            self._stop.wait(backoff)
            backoff = min(30.0, backoff * 2)

    def _end(self, process: subprocess.Popen) -> None:
        try:
            process.stdin.close()
        except OSError:
            pass
        try:
            process.wait(3)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def set_title(self, title: str) -> None:
        """Now-playing metadata through Icecast's admin API (the source password may set it)."""
        self._title = title
        if not self.connected:
            return
        parts = self.parts
        query = urllib.parse.urlencode({"mount": parts.path, "mode": "updinfo", "song": title, "charset": "UTF-8"})
        request = urllib.request.Request(f"http://{parts.hostname}:{parts.port or 8000}/admin/metadata?{query}")
        token = base64.b64encode(f"{parts.username or 'source'}:{parts.password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
        try:
            urllib.request.urlopen(request, timeout=3).read()
        except OSError as exc:
            self.log(f"icecast: could not set the title ({exc})")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)  # it sees the stop within a ring timeout, then ends its ffmpeg
        if self._process is not None and self._process.poll() is None:
            self._end(self._process)
