"""A running station: producer, air, encoder, ring, server, database and Icecast, in one object.

Threads: the producer (waits on the build process), the pacer (reads the air a block at a time
at real-time speed and feeds the encoder), the encoder's reader (MP3 frames into the ring), the
HTTP server (a thread per connection) and the Icecast relay. `stop()` ends them in order and
leaves the work folder holding only what it should; the command calls it on Ctrl-C and SIGTERM.

A station keeps going where it can: a track whose audio is gone is skipped, a killed encoder is
replaced (a bounded number of times a minute). What it cannot get past sets `failure`, stops it,
and the command exits 1, so a supervisor (systemd's Restart=on-failure) starts it again.
Every log line goes through a `Redactor`: one printable line, no secret in it.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable

from lofictl.errors import LofictlError
from lofictl.radio.db import Ratings
from lofictl.radio.encoder import EncoderStopped, IcecastFeed, IcecastTarget, Mp3Encoder, Ring, ffmpeg_path
from lofictl.radio.mixer import Air, Entry, make_bed
from lofictl.radio.producer import Producer, ReadyTrack, WorkFolder
from lofictl.radio.schedule import SAMPLE_RATE
from lofictl.radio.station import LoadedStation
from lofictl.radio.wire import Redactor

BLOCK = 2048  # frames the pacer reads from the air at a time
LEAD_S = 0.5  # the encoder runs this far ahead of the air clock
RING_S = 12.0  # seconds of MP3 the ring holds (bursts come from it)
HISTORY = 20
ENCODER_RESTARTS = 5  # a killed encoder is replaced at most this many times ...
ENCODER_WINDOW_S = 60.0  # ... within this many seconds; more means something keeps killing it


def log_line(message: str) -> None:
    print(f"[radio {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class RadioStation:
    def __init__(
        self,
        loaded: LoadedStation,
        *,
        host: str | None = None,
        port: int | None = None,
        icecast: str | None = None,
        icecast_password: str | None = None,
        start: int | None = None,
        speed: float = 1.0,
        serve_http: bool = True,
        log: Callable[[str], None] = log_line,
    ):
        self.loaded = loaded
        station = loaded.station
        self.title = station.title
        try:
            self.station_file = loaded.path.resolve().relative_to(Path.cwd()).as_posix()
        except ValueError:
            self.station_file = str(loaded.path)
        self.host = host or station.server.host
        self.port = station.server.port if port is None else port
        self.bitrate_kbps = station.server.bitrate_kbps
        self.speed = speed
        self.redactor = Redactor()
        self._write_log = log
        self.sample_rate = SAMPLE_RATE
        self.burst_frames = int(station.server.burst_s * SAMPLE_RATE / 1152)
        self.skip_policy = station.server.skip
        self.serve_http = serve_http
        self.start_number = start
        self.stopping = False
        self.listeners = 0
        self.peak_listeners = 0
        self.ring = Ring(int(RING_S * SAMPLE_RATE / 1152))
        self.history: deque[dict] = deque(maxlen=HISTORY)
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._play: tuple[int, Entry] | None = None  # (database id, entry) of the play on air
        self._skipped: int | None = None
        self._frames_encoded = 0
        self._air_frame = 0
        self._started_at = 0.0
        self.stalls = 0  # times the pacer fell more than a second behind real time
        self.encoder_restarts = 0
        self._encoder_failures: deque[float] = deque()
        self.skipped_missing = 0  # tracks skipped because their audio was gone
        self.failure: str | None = None  # why the station stopped on its own (the command exits 1)
        self.server = None
        self.icecast: IcecastFeed | None = None
        self.icecast_target: IcecastTarget | None = None
        if icecast:
            from lofictl.radio.encoder import check_icecast_url

            self.icecast_target = check_icecast_url(icecast, icecast_password)
            self.redactor.add(self.icecast_target.password)

    def log(self, message: str) -> None:
        """One log line per line of the message, secrets masked; continuation lines indented, so
        no text (a title, an error from a library) can pass for a line of its own."""
        for index, line in enumerate(self.redactor.lines(message)):
            self._write_log(line if index == 0 else f"    | {line}")

    # --- start and stop ------------------------------------------------------------------------

    def start(self) -> None:
        ffmpeg_path()
        station = self.loaded.station
        self.loaded.check_places()  # again: the folder may have changed since the station was read
        self.work = WorkFolder(self.loaded.work_dir, station.keep_played, self.loaded.owner)
        self.work.open()
        try:
            self.db = Ratings(self.loaded.database_path, self.loaded.name)
            if self.serve_http:
                from lofictl.radio.server import bind

                self.server = bind(self, self.host, self.port)
            first = self.start_number
            if first is None:
                last = self.db.last_number()
                first = 0 if last is None else last + 1
            self.first_number = first
            self.producer = Producer(
                self.loaded.path,
                self.work,
                first,
                station.queue,
                station.jobs,
                self.log,
                on_built=self.db.track_built,
                on_failed=self.db.track_failed,
            )
            bed = make_bed(self.work.path / "bed.wav", SAMPLE_RATE, station.seed)
            self.air = Air(
                self.producer.take,
                self.producer.has_ready,
                self.work,
                bed,
                station.crossfade,
                SAMPLE_RATE,
                self._on_air,
                on_missing=self._on_missing,
                remake_bed=lambda: make_bed(self.work.path / "bed.wav", SAMPLE_RATE, station.seed),
            )
            self.encoder = Mp3Encoder(SAMPLE_RATE, self.bitrate_kbps, self._on_frame)
            self.producer.start()
            self._pacer = threading.Thread(target=self._pace, name="radio-pacer", daemon=True)
            self._started_at = time.monotonic()
            self._pacer.start()
            if self.icecast_target is not None:
                self.icecast = IcecastFeed(self.icecast_target, self.ring, self.title, self.log)
                self.icecast.start()
            if self.server is not None:
                from lofictl.radio.server import serve

                self._server_thread = serve(self.server)
        except BaseException:
            self.stop()
            raise
        where = f"http://{self.host}:{self.port}" if self.serve_http else "no web server"
        self.log(
            f"{self.title}: {where} — starting at track {first}"
            + (f" (clock {self.speed:g}x)" if self.speed != 1 else "")
        )

    def wait(self, timeout: float | None = None) -> bool:
        """Block until stopped (or `timeout` seconds); True if stopped."""
        return self._stopped.wait(timeout)

    def stop(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        if self._started_at:
            self.log("stopping")
        self.ring.close()
        for name in ("_pacer",):
            thread = getattr(self, name, None)
            if thread is not None:
                thread.join(5)
        if self.icecast is not None:
            self.icecast.stop()
        if getattr(self, "encoder", None) is not None:
            self.encoder.close()
        if self.server is not None:
            if getattr(self, "_server_thread", None) is not None:
                self.server.shutdown()
            self.server.server_close()
        if getattr(self, "producer", None) is not None:
            self.producer.stop()
        if self._play is not None and getattr(self, "db", None) is not None:
            play_id, entry = self._play
            self.db.play_ended(play_id, (self._air_frame - entry.air) / SAMPLE_RATE, "stop")
        if getattr(self, "air", None) is not None:
            self.air.close()
        if getattr(self, "db", None) is not None:
            self.db.close()
        if getattr(self, "work", None) is not None:
            self.work.close()
        self._stopped.set()

    # --- the pacer: real-time reading of the air -----------------------------------------------

    def _pace(self) -> None:
        rate = SAMPLE_RATE * self.speed
        lead = int(LEAD_S * SAMPLE_RATE * max(1.0, self.speed))
        sent = 0
        started = time.monotonic()
        try:
            while not self.stopping:
                clock = int((time.monotonic() - started) * rate)
                if clock - sent > SAMPLE_RATE * self.speed:
                    self.stalls += 1  # a second behind: the machine is starved; catch up, and count it
                while sent < clock + lead and not self.stopping:
                    block = self.air.read(BLOCK)
                    try:
                        self.encoder.write(block)
                    except EncoderStopped as exc:
                        self._new_encoder(str(exc), sent)
                        self.encoder.write(block)
                    sent += BLOCK
                self._air_frame = clock
                self.air.advance_clock(clock)
                time.sleep(max(0.001, BLOCK / rate / 2))
        except LofictlError as exc:
            self._fail(str(exc))
        except Exception as exc:  # noqa: BLE001 - report, then stop the station (and exit 1)
            self._fail(f"{type(exc).__name__}: {exc}")

    def _new_encoder(self, why: str, sent: int) -> None:
        """Replace a dead encoder, unless it keeps dying (then the station stops, exit 1)."""
        now = time.monotonic()
        failures = self._encoder_failures
        failures.append(now)
        while failures and now - failures[0] > ENCODER_WINDOW_S:
            failures.popleft()
        if len(failures) > ENCODER_RESTARTS:
            raise LofictlError(f"{why}; {len(failures)} times in {ENCODER_WINDOW_S:.0f} s, giving up")
        self.log(f"{why}; starting a new one")
        self.encoder.close()  # its reader has delivered every frame it had once this returns
        self._frames_encoded = sent  # the new encoder's first frame carries the block at `sent`
        self.encoder = Mp3Encoder(SAMPLE_RATE, self.bitrate_kbps, self._on_frame)
        self.encoder_restarts += 1

    def _fail(self, why: str) -> None:
        """Something the station cannot get past: stop, and let the command exit 1."""
        if self.stopping:
            return
        self.failure = why
        self.log(f"the station stops: {why}")
        threading.Thread(target=self.stop, name="radio-stop", daemon=True).start()

    def _on_missing(self, track: ReadyTrack) -> None:
        self.skipped_missing += 1
        self.log(f"track {track.number}'s audio is gone ({track.master}); skipped")

    def _on_frame(self, frame: bytes, samples: int) -> None:
        position = self._frames_encoded
        self._frames_encoded += samples
        self.ring.append(frame, (self._number_at(position), samples))

    def _number_at(self, frame: int) -> int | None:
        heard = None
        for entry in self.air.timeline():
            if entry.air <= frame:
                heard = entry
        return heard.track.number if heard is not None and heard.track is not None else None

    def _on_air(self, entry: Entry, previous: Entry | None) -> None:
        if previous is not None and previous.track is not None and self._play is not None:
            play_id, _ = self._play
            ended_by = "skip" if self._skipped == previous.track.number else "next"
            self.db.play_ended(play_id, (entry.air - previous.air) / SAMPLE_RATE, ended_by)
            self.history.appendleft(
                {
                    **previous.track.public(),
                    "kind": previous.kind,
                    "likes": self.db.likes(previous.track.number),
                    "ended_by": ended_by,
                }
            )
        self._play = None
        self._skipped = None
        if entry.track is not None:
            self._play = (self.db.play_started(entry.track.number, entry.kind), entry)
            label = " (replay: nothing new was ready)" if entry.kind == "replay" else ""
            self.log(f"on air: track {entry.track.number}, {entry.track.title}{label}")
            if self.icecast is not None:
                self.icecast.set_title(f"{entry.track.title} — {entry.track.key}, {entry.track.tempo:g} BPM")

    # --- what the server asks ------------------------------------------------------------------

    def now(self) -> dict:
        now = self.air.now(self._air_frame) if hasattr(self, "air") else None
        if now is not None and now.get("number") is not None:
            now["likes"] = self.db.likes(now["number"])
        producer = self.producer.status() if hasattr(self, "producer") else {}
        queue = [t.public() for t in list(self.producer.ready)] if hasattr(self, "producer") else []
        return {
            "station": self.title,
            "station_file": self.station_file,
            "now": now,
            "queue": queue,
            "history": list(self.history),
            "building": producer.get("building"),
            "rtf": producer.get("rtf"),
            "built": producer.get("built"),
            "failed": producer.get("failed"),
            "listeners": self.listeners,
            "skip": self.skip_policy,
            "stream_s": round(self._air_frame / SAMPLE_RATE, 1),
            "stalls": self.stalls,
            "encoder_restarts": self.encoder_restarts,
            "skipped_missing": self.skipped_missing,
            "replays": getattr(self.air, "replays", 0) if hasattr(self, "air") else 0,
        }

    def timeline(self) -> list[dict]:
        """The recent clips of the stream: what, and at which stream sample it starts and is heard."""
        return [
            {"kind": e.kind, "number": e.track.number if e.track else None, "start": e.start, "air": e.air}
            for e in self.air.timeline()
        ]

    def rate(self, kind: str, listener: str) -> dict:
        entry = self.air.aired if hasattr(self, "air") else None
        if entry is None or entry.track is None:
            return {"ok": False, "error": "nothing on air to rate yet"}
        position = max(0, self._air_frame - entry.start) / SAMPLE_RATE
        number = entry.track.number
        new = self.db.rate(number, kind, position, listener)
        result = {
            "ok": True,
            "number": number,
            "kind": kind,
            "position_s": round(position, 2),
            "likes": self.db.likes(number),
            "again": not new,
        }
        if kind == "skip":
            advancing = self.skip_policy == "advance" and self.air.request_skip(number)
            if advancing:
                self._skipped = number
            result["advancing"] = advancing
        return result

    def pianoroll(self, number: int) -> Path | None:
        live: dict[int, ReadyTrack] = {}
        for entry in self.air.timeline():
            if entry.track is not None:
                live[entry.track.number] = entry.track
        for track in list(self.producer.ready):
            live[track.number] = track
        return self.work.pianoroll(number, live)

    def listened(self, number: int | None, listener: str | None, samples: int) -> None:
        if number is None or samples <= 0 or self.stopping:
            return
        try:
            self.db.listened(number, listener, samples / SAMPLE_RATE)
        except Exception:  # noqa: BLE001 - the database closing under a leaving listener is harmless
            pass

    def listener_joined(self) -> None:
        with self._lock:
            self.listeners += 1
            self.peak_listeners = max(self.peak_listeners, self.listeners)

    def listener_left(self) -> None:
        with self._lock:
            self.listeners -= 1
