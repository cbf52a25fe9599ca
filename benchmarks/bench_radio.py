"""The station's real-time factor (seconds of music made per second of work), side by side:

  alone     the same track recipes built one after another in one warm process (no server)
  serving   the station building them while it streams to listeners (the build worker at nice +5)
  encoder   ffmpeg encoding one of those tracks to MP3 (the stream's own cost, for scale)

Target: serving >= 8x (a 3-minute track in under 23 s), so one machine can feed several
stations. Next to it: how the stream kept time while serving (the pacer's stalls, the stream's
clock against the wall clock, the share of the stream's rate the listeners received) and the
machine's load average in each phase, since every figure here depends on what else runs.
These timings are a benchmark's to report; no test asserts them (tests/radio/test_soak.py checks
the stream's bytes, not its timing). Run: .venv/bin/python benchmarks/bench_radio.py [--tracks 3]
[--listeners 8]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.radio import free_port, get_json, wait_for  # noqa: E402

STATION = """\
station: 1
title: Bench FM
seed: 2026
recipes:
  - {file: rainy_night.yaml, weight: 2}
  - {file: sunday_morning.yaml}
  - {file: night_drive.yaml}
length: 3m
crossfade: 2
vary:
  tempo: {min: 66, max: 88, step: 3}
  drums: [boom-bap, lazy, dilla, brushes]
queue: 4
work_dir: build/bench-radio
database: build/bench-radio.db
"""


class LoadAverage:
    """The 1-minute load average, sampled every few seconds while a phase runs."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while True:
            self.samples.append(os.getloadavg()[0])
            if self._stop.wait(3.0):
                return

    def __enter__(self) -> "LoadAverage":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)

    @property
    def mean(self) -> float:
        return sum(self.samples) / len(self.samples) if self.samples else float("nan")


DATABASE = REPO / "build" / "bench-radio.db"  # outside the work folder, which the station clears


def alone(station_path: Path, numbers: list[int]) -> list[tuple[int, float, float]]:
    """(number, music seconds, build seconds) for each track, built in this process."""
    from lofictl.pipeline.runner import build_recipe
    from lofictl.radio.schedule import Schedule, load_track_recipe
    from lofictl.radio.station import load_station

    loaded = load_station(station_path)
    schedule = Schedule(loaded)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-radio-") as folder:
        for number in numbers:
            recipe = load_track_recipe(loaded, schedule.plan(number))
            started = time.perf_counter()
            result = build_recipe(
                recipe, out_dir=Path(folder) / str(number), write_lock=False, use_cache=False, quiet=True
            )
            results.append((number, result.duration_s, time.perf_counter() - started))
            shutil.rmtree(Path(folder) / str(number))
    return results


def _listen(port: int, stop: threading.Event, received: list[int]) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"GET /stream HTTP/1.0\r\n\r\n")
        while not stop.is_set():
            data = sock.recv(65536)
            if not data:
                return
            received[0] += len(data)


def serving(station_path: Path, count: int, listeners: int) -> tuple[list[tuple[int, float, float]], int, dict]:
    """Start the station, attach listeners, wait for `count` tracks; their build times from its
    database, the bytes the listeners received, and how the stream kept time."""
    port = free_port()
    log = station_path.with_suffix(".log")
    process = subprocess.Popen(
        [sys.executable, "-m", "lofictl", "radio", str(station_path), "--port", str(port), "--start", "0"],
        cwd=REPO,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    stop = threading.Event()
    received = [0]
    try:
        wait_for(lambda: _up(port, process), 120, "the station")
        threads = [threading.Thread(target=_listen, args=(port, stop, received), daemon=True) for _ in range(listeners)]
        for thread in threads:
            thread.start()
        started = time.monotonic()
        begin = get_json(f"http://127.0.0.1:{port}/api/now")
        wait_for(
            lambda: (get_json(f"http://127.0.0.1:{port}/api/now")["built"] or 0) >= count,
            300 * count,  # a loaded machine builds slowly: the load average below says how loaded
            f"{count} tracks",
            every=2,
        )
        end = get_json(f"http://127.0.0.1:{port}/api/now")
        wall_s = time.monotonic() - started
        timing = {
            "wall_s": wall_s,
            "stream_s": end["stream_s"] - begin["stream_s"],
            "stalls": end["stalls"],
            "delivered": received[0] / (wall_s * listeners * 128_000 / 8) if listeners else None,
        }
    finally:
        stop.set()
        process.send_signal(2)
        process.wait(60)
    with sqlite3.connect(DATABASE) as db:
        rows = db.execute(
            "SELECT number, duration_s, build_s FROM tracks WHERE status = 'built' ORDER BY number LIMIT ?", (count,)
        ).fetchall()
    return rows, received[0], timing


def _up(port: int, process: subprocess.Popen):
    if process.poll() is not None:
        raise SystemExit("the station exited")
    try:
        return get_json(f"http://127.0.0.1:{port}/api/now", 2)
    except OSError:
        return None


def encoder_rtf(wav: Path) -> float:
    from lofictl.sound.stream import AudioReader

    with AudioReader(wav) as reader:
        seconds = reader.frames / reader.sample_rate
    started = time.perf_counter()
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(wav),
            "-c:a",
            "libmp3lame",
            "-b:a",
            "128k",
            "-f",
            "mp3",
            "/dev/null",
        ],
        check=True,
    )
    return seconds / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description="The radio's real-time factor, alone and while serving.")
    parser.add_argument("--tracks", type=int, default=3)
    parser.add_argument("--listeners", type=int, default=8)
    args = parser.parse_args()
    station_path = REPO / "recipes" / ".bench_radio.yaml"
    station_path.write_text(STATION)
    shutil.rmtree(REPO / "build" / "bench-radio", ignore_errors=True)
    DATABASE.unlink(missing_ok=True)  # the serving run's tracks are the only ones it holds
    try:
        numbers = list(range(args.tracks))
        with LoadAverage() as load_alone:
            solo = alone(station_path, numbers)
        with LoadAverage() as load_serving:
            served, received, timing = serving(station_path, args.tracks, args.listeners)
        roll = next((REPO / "build" / "bench-radio" / "tracks").glob("*/*.wav"), None)
        encode = encoder_rtf(roll) if roll else None
    finally:
        station_path.unlink(missing_ok=True)
        station_path.with_suffix(".log").unlink(missing_ok=True)
    print(f"{'track':>6} {'music s':>8} {'alone s':>8} {'alone RTF':>10} {'serving s':>10} {'serving RTF':>12}")
    served_by = {n: (d, b) for n, d, b in served}
    for number, music, seconds in solo:
        d, b = served_by.get(number, (None, None))
        print(
            f"{number:>6} {music:8.1f} {seconds:8.1f} {music / seconds:9.1f}x "
            f"{b if b is None else round(b, 1):>10} {('%.1fx' % (d / b)) if b else '-':>12}"
        )
    # The first track of each run also pays for loading the models and compiling the sampler (JAX):
    # a station pays that once at start, so the steady rate is over the tracks after it.
    warm_solo, warm_served = solo[1:] or solo, served[1:] or served
    total_alone = sum(m for _, m, _ in warm_solo) / sum(s for _, _, s in warm_solo)
    total_served = sum(d for _, d, _ in warm_served) / sum(b for _, _, b in warm_served)
    print(
        f"real-time factor after the first track: alone {total_alone:.1f}x, serving {args.listeners} listeners "
        f"{total_served:.1f}x (serving/alone {total_served / total_alone:.2f}); target >= 20x (issue 27)"
    )
    print(
        f"first track (models loaded, sampler compiled): alone {solo[0][1] / solo[0][2]:.1f}x, "
        f"serving {served[0][1] / served[0][2]:.1f}x"
    )
    print(f"a 3-minute track: {180 / total_served:.0f} s while serving; listeners received {received / 1e6:.1f} MB")
    delivered = timing["delivered"]
    print(
        f"the stream while serving: {timing['stream_s']:.0f} s of stream in {timing['wall_s']:.0f} s of wall time "
        f"(clock {timing['stream_s'] / timing['wall_s']:.2f}x), {timing['stalls']} pacer stalls, listeners "
        f"received {'-' if delivered is None else f'{delivered:.2f}'} of the stream's rate"
    )
    print(
        f"load average (1 min): {load_alone.mean:.2f} alone, {load_serving.mean:.2f} serving, on {os.cpu_count()} cores"
    )
    if encode:
        print(f"MP3 encoder (ffmpeg, 128 kb/s): {encode:.0f}x real time")


if __name__ == "__main__":
    main()
