"""A running station: producer, air, encoder, ring, server, database and Icecast, in one object.

Threads: the producer (waits on the build process), the pacer (reads the air a block at a time
at real-time speed and feeds the encoder), the encoder's reader (MP3 frames into the ring), the
database writer (the pacer's plays and the listeners' listening time, in order, off the real-time
thread), the HTTP server (a thread per connection) and the Icecast relay. `stop()` ends them in
order (once, whoever calls it first), runs every queued database write and leaves the work folder
holding only what it should; the command calls it on Ctrl-C and SIGTERM.

Every field has one owner: the parts are made in `start()` but declared in `__init__` (None until
then); what the pacer writes and the HTTP threads read is a single value or under `_lock`.

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
from typing import TYPE_CHECKING, Callable

from lofictl.errors import LofictlError
from lofictl.radio.db import Play, Ratings, Writer
from lofictl.radio.encoder import EncoderStopped, IcecastFeed, IcecastTarget, Mp3Encoder, Ring, ffmpeg_path
from lofictl.radio.mixer import Air, Entry, make_bed
from lofictl.radio.producer import Producer, ReadyTrack, WorkFolder
from lofictl.radio.schedule import SAMPLE_RATE
from lofictl.radio.station import LoadedStation
from lofictl.radio.wire import Redactor

if TYPE_CHECKING:
    from lofictl.radio.server import RadioServer

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
        self.ring = Ring(int(RING_S * SAMPLE_RATE / 1152))
        # The parts, made by start() in this order (None before, and if start() failed early).
        self.work: WorkFolder | None = None
        self.db: Ratings | None = None
        self.writer: Writer | None = None  # every database write of the pacer goes through it
        self.server: RadioServer | None = None
        self.first_number: int | None = None
        self.producer: Producer | None = None
        self.air: Air | None = None
        self.encoder: Mp3Encoder | None = None  # the pacer's (it replaces a dead one)
        self.icecast: IcecastFeed | None = None
        self.icecast_target: IcecastTarget | None = None
        self._pacer: threading.Thread | None = None
        self._server_thread: threading.Thread | None = None
        # Stopping: set once, by the first stop() (the pacer, the server's listeners and the
        # writer's error path all look at it); _stopped when stop() has finished.
        self._stopping = threading.Event()
        self._stop_lock = threading.Lock()
        self._stopped = threading.Event()
        self._started_at = 0.0
        # Under _lock: the listener count, the history, and a skip (written by an HTTP thread,
        # read and reset by the pacer).
        self._lock = threading.Lock()
        self.listeners = 0
        self.peak_listeners = 0
        self.history: deque[dict] = deque(maxlen=HISTORY)
        self._skipped: int | None = None  # the track a listener's skip moved off the air
        # The pacer's alone (others only read these single values).
        self._play: tuple[Play, Entry] | None = None  # the play on air: its row, its entry
        self._frames_encoded = 0
        self._air_frame = 0
        self.stalls = 0  # times the pacer fell more than a second behind real time
        self.encoder_restarts = 0
        self._encoder_failures: deque[float] = deque()
        self.skipped_missing = 0  # tracks skipped because their audio was gone
        self.failure: str | None = None  # why the station stopped on its own (the command exits 1)
        if icecast:
            from lofictl.radio.encoder import check_icecast_url

            self.icecast_target = check_icecast_url(icecast, icecast_password)
            self.redactor.add(self.icecast_target.password)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

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
        work = self.work = WorkFolder(self.loaded.work_dir, station.keep_played, self.loaded.owner)
        work.open()
        try:
            db = self.db = Ratings(self.loaded.database_path, self.loaded.name)
            self.writer = Writer(db, self._fail)
            if self.serve_http:
                from lofictl.radio.server import bind

                self.server = bind(self, self.host, self.port)
            first = self.start_number
            if first is None:
                last = db.last_number()
                first = 0 if last is None else last + 1
            self.first_number = first
            producer = self.producer = Producer(
                self.loaded.path,
                work,
                first,
                station.queue,
                station.jobs,
                self.log,
                on_built=db.track_built,
                on_failed=db.track_failed,
            )
            bed = make_bed(work.path / "bed.wav", SAMPLE_RATE, station.seed)
            self.air = Air(
                producer.take,
                producer.has_ready,
                work,
                bed,
                station.crossfade,
                SAMPLE_RATE,
                self._on_air,
                on_missing=self._on_missing,
                remake_bed=lambda: make_bed(work.path / "bed.wav", SAMPLE_RATE, station.seed),
            )
            self.encoder = Mp3Encoder(SAMPLE_RATE, self.bitrate_kbps, self._on_frame)
            producer.start()
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
        """Stop everything, once: a second call (Ctrl-C while the station stops on its own)
        waits for the first to finish."""
        with self._stop_lock:
            first = not self._stopping.is_set()
            self._stopping.set()
        if not first:
            self._stopped.wait(60)
            return
        try:
            self._stop_parts()
        finally:
            self._stopped.set()

    def _stop_parts(self) -> None:
        if self._started_at:
            self.log("stopping")
        self.ring.close()
        if self._pacer is not None and self._pacer is not threading.current_thread():
            self._pacer.join(5)
        if self.icecast is not None:
            self.icecast.stop()
        if self.encoder is not None:
            self.encoder.close()
        if self.server is not None:
            if self._server_thread is not None:
                self.server.shutdown()
            self.server.server_close()
        if self.producer is not None:
            self.producer.stop()
        if self._play is not None and self.writer is not None:
            play, entry = self._play
            self.writer.play_ended(play, (self._air_frame - entry.air) / SAMPLE_RATE, "stop")
        if self.air is not None:
            self.air.close()
        if self.writer is not None:
            self.writer.close()  # every write queued so far reaches the database
        if self.db is not None:
            self.db.close()
        if self.work is not None:
            self.work.close()

    # --- the pacer: real-time reading of the air -----------------------------------------------

    def _pace(self) -> None:
        air, rate = self.air, SAMPLE_RATE * self.speed
        assert air is not None and self.encoder is not None  # made by start() before the pacer
        lead = int(LEAD_S * SAMPLE_RATE * max(1.0, self.speed))
        sent = 0
        started = time.monotonic()
        try:
            while not self.stopping:
                clock = int((time.monotonic() - started) * rate)
                if clock - sent > SAMPLE_RATE * self.speed:
                    self.stalls += 1  # a second behind: the machine is starved; catch up, and count it
                while sent < clock + lead and not self.stopping:
                    block = air.read(BLOCK)
                    try:
                        self.encoder.write(block)
                    except EncoderStopped as exc:
                        self._new_encoder(str(exc), sent)
                        self.encoder.write(block)
                    sent += BLOCK
                self._air_frame = clock
                air.advance_clock(clock)
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
        if self.encoder is not None:
            self.encoder.close()  # its reader has delivered every frame it had once this returns
        self._frames_encoded = sent  # the new encoder's first frame carries the block at `sent`
        self.encoder = Mp3Encoder(SAMPLE_RATE, self.bitrate_kbps, self._on_frame)
        self.encoder_restarts += 1

    def _fail(self, why: str) -> None:
        """Something the station cannot get past: stop, and let the command exit 1."""
        with self._stop_lock:
            if self._stopping.is_set() or self.failure is not None:
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
        for entry in self.air.timeline() if self.air is not None else ():
            if entry.air <= frame:
                heard = entry
        return heard.track.number if heard is not None and heard.track is not None else None

    def _on_air(self, entry: Entry, previous: Entry | None) -> None:
        """What is heard changed (the pacer's thread): the database work is queued, never waited on."""
        writer = self.writer
        assert writer is not None
        if previous is not None and previous.track is not None and self._play is not None:
            play, _ = self._play
            number = previous.track.number
            with self._lock:  # a skip of the track now on air, asked meanwhile, stays
                ended_by = "skip" if self._skipped == number else "next"
                if self._skipped == number:
                    self._skipped = None
            writer.play_ended(play, (entry.air - previous.air) / SAMPLE_RATE, ended_by)
            played = {**previous.track.public(), "kind": previous.kind, "ended_by": ended_by}
            writer.submit(lambda ratings: self._add_history({**played, "likes": ratings.likes(number)}))
        self._play = None
        if entry.track is not None:
            self._play = (writer.play_started(entry.track.number, entry.kind), entry)
            label = " (replay: nothing new was ready)" if entry.kind == "replay" else ""
            self.log(f"on air: track {entry.track.number}, {entry.track.title}{label}")
            if self.icecast is not None:
                self.icecast.set_title(f"{entry.track.title} — {entry.track.key}, {entry.track.tempo:g} BPM")

    def _add_history(self, played: dict) -> None:
        with self._lock:
            self.history.appendleft(played)

    # --- what the server asks ------------------------------------------------------------------

    def now(self) -> dict:
        now = self.air.now(self._air_frame) if self.air is not None else None
        if now is not None and now.get("number") is not None and self.db is not None:
            now["likes"] = self.db.likes(now["number"])
        producer = self.producer.status() if self.producer is not None else {}
        queue = [t.public() for t in self.producer.queued()] if self.producer is not None else []
        with self._lock:
            history = list(self.history)
        return {
            "station": self.title,
            "station_file": self.station_file,
            "now": now,
            "queue": queue,
            "history": history,
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
            "replays": self.air.replays if self.air is not None else 0,
        }

    def timeline(self) -> list[dict]:
        """The recent clips of the stream: what, and at which stream sample it starts and is heard."""
        return [
            {"kind": e.kind, "number": e.track.number if e.track else None, "start": e.start, "air": e.air}
            for e in (self.air.timeline() if self.air is not None else ())
        ]

    def rate(self, kind: str, listener: str) -> dict:
        air, db = self.air, self.db
        entry = air.aired if air is not None else None
        if air is None or db is None or entry is None or entry.track is None:
            return {"ok": False, "error": "nothing on air to rate yet"}
        position = max(0, self._air_frame - entry.start) / SAMPLE_RATE
        number = entry.track.number
        new = db.rate(number, kind, position, listener)
        result = {
            "ok": True,
            "number": number,
            "kind": kind,
            "position_s": round(position, 2),
            "likes": db.likes(number),
            "again": not new,
        }
        if kind == "skip":
            with self._lock:  # marked before the pacer can take the track off the air (it reads the mark under _lock)
                advancing = self.skip_policy == "advance" and air.request_skip(number)
                if advancing:
                    self._skipped = number
            result["advancing"] = advancing
        return result

    def pianoroll(self, number: int) -> Path | None:
        if self.work is None:
            return None
        live: dict[int, ReadyTrack] = {}
        for entry in self.air.timeline() if self.air is not None else ():
            if entry.track is not None:
                live[entry.track.number] = entry.track
        for track in self.producer.queued() if self.producer is not None else ():
            live[track.number] = track
        return self.work.pianoroll(number, live)

    def listened(self, number: int | None, listener: str | None, samples: int) -> None:
        """A listener heard `samples` of track `number`: queued for the writer (dropped once the
        station has stopped writing)."""
        if number is None or samples <= 0 or self.writer is None:
            return
        seconds = samples / SAMPLE_RATE
        self.writer.submit(lambda ratings: ratings.listened(number, listener, seconds))

    def listener_joined(self) -> None:
        with self._lock:
            self.listeners += 1
            self.peak_listeners = max(self.peak_listeners, self.listeners)

    def listener_left(self) -> None:
        with self._lock:
            self.listeners -= 1
