"""Building the next tracks while the current one plays.

A worker process (spawned once, so the models' compiled JAX functions stay warm) builds one
track at a time with the ordinary build (`build.build_recipe`: the same stages, mastering,
loudness and true peak as `lofictl build`) into the station's work folder. The producer thread
keeps `queue` tracks ready ahead of the one on air. A track that fails is logged, recorded and
skipped (its number is not reused: track N stays track N); a worker that dies is started again.

The work folder is bounded: the audio of a track is deleted once it has played and
`keep_played` newer ones have too; only its piano roll stays, for the page's history (the
newest `HISTORY` of them).
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import shutil
import signal
import threading
import time
import traceback
from collections import deque
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Protocol

from lofictl.errors import LofictlError
from lofictl.safety import outputs as output_rule

HISTORY = 50  # piano rolls kept for the page's history
MAX_BACKOFF_S = 60.0


@dataclass(frozen=True)
class ReadyTrack:
    """A built track: where its audio is and what the page and the database show about it."""

    number: int
    name: str  # the track's recipe name, <recipe>-<N>
    title: str
    recipe: str  # the drawn recipe's file name
    seed: int
    key: str
    camelot: str
    tempo: float
    time_signature: str
    bars: int
    bar_frames: float
    frames: int
    sample_rate: int
    duration_s: float
    folder: str
    master: str
    pianoroll: str
    loudness_lufs: float | None
    true_peak_dbtp: float | None
    build_s: float
    patterns: dict
    presets: dict

    @property
    def rtf(self) -> float:
        """Seconds of music made per second of work."""
        return self.duration_s / self.build_s if self.build_s > 0 else float("inf")

    def public(self) -> dict:
        """What the page shows."""
        return {
            "number": self.number,
            "title": self.title,
            "recipe": self.recipe,
            "name": self.name,
            "seed": self.seed,
            "key": self.key,
            "camelot": self.camelot,
            "tempo": self.tempo,
            "time_signature": self.time_signature,
            "duration_s": round(self.duration_s, 2),
            "bars": self.bars,
            "bar_s": round(self.bar_frames / self.sample_rate, 4),
            "loudness_lufs": self.loudness_lufs,
            "build_s": round(self.build_s, 2),
            "rtf": round(self.rtf, 2),
            "patterns": self.patterns,
            "presets": self.presets,
        }


# --- the worker process ------------------------------------------------------------------------


_STATE: dict = {}


def build_track(station_path: str, number: int, work_dir: str, jobs: int) -> dict:
    """Build track `number` of the station into work_dir/tracks/<number>/ (runs in the worker)."""
    from lofictl.pipeline.runner import build_recipe
    from lofictl.radio.schedule import Schedule, load_track_recipe
    from lofictl.radio.station import load_station
    from lofictl.sound.stream import AudioReader

    if _STATE.get("path") != station_path:
        loaded = load_station(Path(station_path))
        _STATE.update(path=station_path, station=loaded, schedule=Schedule(loaded))
    station, schedule = _STATE["station"], _STATE["schedule"]
    plan = schedule.plan(number)
    kept = load_track_recipe(station, plan)
    # The stream plays the master alone: no stems are written (`keep` and `lofictl build` give
    # them to whoever wants them). The music is the same: output.stems reaches only the export.
    output = kept.recipe.output.model_copy(update={"stems": False})
    recipe = dataclasses.replace(kept, recipe=kept.recipe.model_copy(update={"output": output}))
    folder = Path(work_dir) / "tracks" / f"{number:07d}"
    started = time.perf_counter()
    result = build_recipe(recipe, out_dir=folder, write_lock=False, use_cache=False, quiet=True, jobs=jobs)
    build_s = time.perf_counter() - started
    master = folder / f"{plan.name}.wav"
    with AudioReader(master) as reader:
        frames, sample_rate = reader.frames, reader.sample_rate
    r = recipe.recipe
    loudness = result.loudness or {}
    return asdict(
        ReadyTrack(
            number=number,
            name=plan.name,
            title=r.title,
            recipe=station.recipes[plan.recipe_index].path.name,
            seed=plan.seed,
            key=plan.key,
            camelot=plan.camelot,
            tempo=plan.tempo,
            time_signature=r.time_signature,
            bars=r.total_bars,
            bar_frames=r.seconds_per_bar * sample_rate,
            frames=frames,
            sample_rate=sample_rate,
            duration_s=frames / sample_rate,
            folder=str(folder),
            master=str(master),
            pianoroll=str(folder / "pianoroll.png"),
            loudness_lufs=loudness.get("integrated_lufs"),
            true_peak_dbtp=loudness.get("true_peak_dbtp"),
            build_s=build_s,
            patterns=plan.patterns,
            presets=plan.presets,
        )
    )


def _worker_main(conn, station_path: str, work_dir: str, jobs: int) -> None:
    # Ctrl-C reaches the whole process group: the parent decides when the worker stops. Its
    # SIGTERM ends the worker at once (the default action); the parent then removes what an
    # unfinished build left in the work folder.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        os.nice(5)  # the stream in the parent comes first
    except OSError:
        pass
    while True:
        try:
            number = conn.recv()
        except (EOFError, OSError):
            return
        try:
            reply = ("ok", number, build_track(station_path, number, work_dir, jobs))
        except KeyboardInterrupt:
            # The parent's SIGTERM, turned into a stop by the build's own signal guard: leave
            # quietly (the parent removes what the unfinished build left in the work folder).
            return
        except LofictlError as exc:
            reply = ("error", number, str(exc))
        except Exception as exc:  # noqa: BLE001 - any failure of one track is reported, the next goes on
            where = traceback.extract_tb(exc.__traceback__)[-1]
            reply = ("error", number, f"{type(exc).__name__}: {exc} ({Path(where.filename).name}:{where.lineno})")
        try:
            conn.send(reply)
        except OSError:  # the station is gone (killed): so is the reason to go on
            return


class Builder(Protocol):
    """What the producer builds with: `BuildWorker` (or, in the producer's unit tests, any
    builder that writes a track's files and answers the same way)."""

    def build(self, number: int, stop: threading.Event) -> tuple[str, dict | str]: ...

    def stop(self, timeout: float = 10.0) -> None: ...


class BuildWorker:
    """One long-lived spawned process that builds tracks on request; restarted if it dies."""

    def __init__(self, station_path: Path, work_dir: Path, jobs: int):
        self.args = (str(station_path.resolve()), str(work_dir), jobs)
        self._process = None
        self._conn = None

    def _start(self) -> None:
        context = get_context("spawn")
        parent, child = context.Pipe()
        self._process = context.Process(
            target=_worker_main, args=(child, *self.args), daemon=True, name="lofictl-radio-builder"
        )
        self._process.start()
        child.close()
        self._conn = parent

    def build(self, number: int, stop: threading.Event) -> tuple[str, dict | str]:
        """("ok", track fields) or ("error", message); ("stopped", "") if `stop` was set meanwhile."""
        if self._process is None or not self._process.is_alive():
            self._start()
        process, conn = self._process, self._conn
        try:
            conn.send(number)
            while not stop.is_set():
                if conn.poll(0.2):
                    status, got, payload = conn.recv()
                    assert got == number
                    return status, payload
                if not process.is_alive():
                    self._process = None
                    return "error", f"the build process died (exit code {process.exitcode}); starting a new one"
        except (EOFError, OSError):
            self._process = None
            return "error", "the build process died; starting a new one"
        return "stopped", ""

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.is_alive():
            process.terminate()  # SIGTERM: the build in progress cleans up after itself
            process.join(timeout)
        if process.is_alive():
            process.kill()
            process.join(2)
        if self._conn is not None:
            self._conn.close()


# --- the work folder ---------------------------------------------------------------------------


class WorkFolder:
    """tracks/<N>/ for audio being built, queued or recently played; history/<N>.png after.

    One station at a time may use a work folder (a lock file says which process has it).
    """

    def __init__(self, path: Path, keep_played: int, owner: str | None = None):
        self.path = path
        self.owner = owner  # the station file named in the folder's marker (safety.outputs)
        self.tracks = path / "tracks"
        self.history = path / "history"
        self.keep_played = keep_played
        self._played: deque[ReadyTrack] = deque()
        self._lock_handle = None

    def open(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._lock_handle = open(self.path / ".lock", "w")
        except OSError as exc:
            raise LofictlError(f"cannot use the work folder {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(self._lock_handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_handle.close()
            raise LofictlError(
                f"another station is running in {self.path}; stop it first, or give this station its own work_dir"
            ) from None
        self._lock_handle.write(str(os.getpid()))
        self._lock_handle.flush()
        if self.owner is not None:
            output_rule.mark_work_folder(self.path, self.owner)
        # What an earlier run left is stale: its tracks are rebuilt from their numbers if needed.
        shutil.rmtree(self.tracks, ignore_errors=True)
        self.tracks.mkdir()
        self.history.mkdir(exist_ok=True)

    def close(self) -> None:
        if self._lock_handle is not None:
            self._lock_handle.close()
            self._lock_handle = None

    def played(self, track: ReadyTrack) -> None:
        """A track finished playing: keep its audio for replays until newer ones push it out."""
        if any(t.number == track.number for t in self._played):
            return
        self._played.append(track)
        while len(self._played) > self.keep_played:
            self.drop(self._played.popleft())

    def recent(self) -> list[ReadyTrack]:
        """Played tracks whose audio is still here, newest last."""
        return [t for t in self._played if Path(t.master).is_file()]

    def drop(self, track: ReadyTrack) -> None:
        """Delete a track's audio; keep its piano roll for the history."""
        folder = Path(track.folder)
        roll = Path(track.pianoroll)
        try:
            if roll.is_file():
                self.history.mkdir(parents=True, exist_ok=True)  # it may have been deleted under us
                os.replace(roll, self.history / f"{track.number}.png")
        except OSError:
            pass  # a lost piano roll only leaves a gap in the page's history; the stream goes on
        shutil.rmtree(folder, ignore_errors=True)
        rolls = sorted(self.history.glob("*.png"), key=lambda p: int(p.stem) if p.stem.isdigit() else -1)
        for old in rolls[:-HISTORY]:
            old.unlink(missing_ok=True)

    def pianoroll(self, number: int, live: dict[int, ReadyTrack]) -> Path | None:
        if number in live and Path(live[number].pianoroll).is_file():
            return Path(live[number].pianoroll)
        path = self.history / f"{number}.png"
        return path if path.is_file() else None

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())


# --- the producer ------------------------------------------------------------------------------


class Producer:
    """Keeps `queue` tracks ready, building them in order from `start`."""

    def __init__(
        self,
        station_path: Path,
        work: WorkFolder,
        start: int,
        queue: int,
        jobs: int,
        log: Callable[[str], None],
        on_built: Callable[[ReadyTrack], None] | None = None,
        on_failed: Callable[[int, str], None] | None = None,
        worker: Builder | None = None,
    ):
        self.worker: Builder = worker if worker is not None else BuildWorker(station_path, work.path, jobs)
        self.work = work
        self.next_number = start
        self.queue = queue
        self.log = log
        self.on_built = on_built or (lambda track: None)
        self.on_failed = on_failed or (lambda number, message: None)
        self.ready: deque[ReadyTrack] = deque()
        self.building: int | None = None
        self.built = 0
        self.failed = 0
        self.music_s = 0.0  # music made and time spent making it, for the real-time factor
        self.work_s = 0.0
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="radio-producer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def take(self) -> ReadyTrack | None:
        """The next ready track, or None (never waits: the air must not)."""
        with self._changed:
            track = self.ready.popleft() if self.ready else None
            self._changed.notify_all()
            return track

    def has_ready(self) -> bool:
        with self._changed:
            return bool(self.ready)

    def queued(self) -> list[ReadyTrack]:
        """The ready tracks, oldest first (a copy: the producer's thread appends to the queue)."""
        with self._changed:
            return list(self.ready)

    @property
    def rtf(self) -> float | None:
        return self.music_s / self.work_s if self.work_s > 0 else None

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            with self._changed:
                while len(self.ready) >= self.queue and not self._stop.is_set():
                    self._changed.wait(0.5)
            if self._stop.is_set():
                return
            number = self.next_number
            self.next_number += 1
            self.building = number
            started = time.perf_counter()
            status, payload = self.worker.build(number, self._stop)
            self.building = None
            if status == "stopped":
                return
            if status == "ok":
                track = ReadyTrack(**payload)
                failures = 0
                with self._changed:  # the counters and the queue change together (status() reads them)
                    self.built += 1
                    self.music_s += track.duration_s
                    self.work_s += time.perf_counter() - started
                    self.ready.append(track)
                self.log(
                    f"built track {number}: {track.title} ({track.key}, {track.tempo:g} BPM) — "
                    f"{track.duration_s:.0f} s of music in {track.build_s:.1f} s ({track.rtf:.1f}x real time)"
                )
                self.on_built(track)
            else:
                with self._changed:
                    self.failed += 1
                failures += 1
                self.log(f"track {number} failed and is skipped: {payload}")
                self.on_failed(number, str(payload))
                # A station whose every track fails should not spin: wait longer after each failure.
                self._stop.wait(min(MAX_BACKOFF_S, 0.5 * 2 ** min(failures - 1, 7)) if failures > 1 else 0)

    def stop(self) -> None:
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        if self._thread.is_alive():
            self._thread.join(5)  # it notices the stop within a poll interval
        self.worker.stop()
        for stale in self.work.tracks.glob(".*"):  # what a build cut short left behind
            shutil.rmtree(stale, ignore_errors=True)

    def status(self) -> dict:
        with self._changed:
            rtf = self.rtf
            return {
                "ready": [t.number for t in self.ready],
                "building": self.building,
                "built": self.built,
                "failed": self.failed,
                "rtf": round(rtf, 2) if rtf else None,
            }
