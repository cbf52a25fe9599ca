"""Soak a real station: many listeners coming and going, thousands of API requests, a fast clock.

    python benchmarks/soak_radio.py --minutes 10 --speed 30 --listeners 40

runs `lofictl radio` (its own process, real builds of a small recipe) with the stream clock
`speed` times real time, so 10 minutes of wall time are 5 hours of stream. Prints what the
station's memory, work folder and listeners did, and how it kept time (the largest gap between
two reads at a listener's live edge, the share of the stream's rate delivered, the pacer's
stalls) next to the machine's load average: timings are this benchmark's to report, not a
test's to assert. When the builds cannot keep up with the fast clock the station replays its
newest track (that path is soaked too). tests/radio/test_soak.py runs a short version of the same
function and checks what is not a timing: every listener's bytes are whole MP3 frames back to
back, nothing failed, memory and disk stay flat.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from lofictl.radio.encoder import frame_length  # noqa: E402
from support.radio import children, rss_mb, start_station  # noqa: E402


def folder_bytes(folder: Path) -> int:
    """Bytes under a folder the station is writing into: a build's staging folder renamed or a
    track dropped while we walk is skipped, not an error (rglob raised FileNotFoundError)."""
    total = 0
    for root, _dirs, files in os.walk(folder):  # os.walk ignores folders that vanish
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                pass
    return total


STATION = """\
station: 1
title: Soak FM
seed: 3
recipes:
  - {file: small.yaml}
crossfade: 1
keep_played: 2
vary:
  tempo: {min: 112, max: 128, step: 4}
  drums: [boom-bap, lazy, dilla]
"""
BYTES_PER_SECOND = 128_000 / 8


class FrameCheck:
    """A listener's body, checked as it arrives: whole MP3 frames back to back from the first
    byte (no junk, no torn frame in the middle); only the last frame may be cut by leaving."""

    def __init__(self) -> None:
        self._pending = b""
        self.frames = 0
        self.broken = False

    def feed(self, data: bytes) -> None:
        if self.broken:
            return
        buffer = self._pending + data
        pos = 0
        while len(buffer) - pos >= 4:
            size = frame_length(buffer[pos : pos + 4])
            if size is None:
                self.broken = True
                return
            if len(buffer) - pos < size[0]:
                break
            pos += size[0]
            self.frames += 1
        self._pending = buffer[pos:]


def _listener(port: int, stop: threading.Event, stats: dict, seed: int) -> None:
    """Connect, listen a while (sometimes leaving mid-frame or mid-header), go, come back."""
    rng = random.Random(seed)
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                if rng.random() < 0.05:
                    sock.sendall(b"GET /stre")  # leaves mid-request
                    stats["requests"] += 1
                    continue
                sock.sendall(b"GET /stream HTTP/1.0\r\n\r\n")
                stats["requests"] += 1
                stay = rng.uniform(1.0, 6.0)
                started = last = time.monotonic()
                got = 0
                head = b""
                check = FrameCheck()
                while time.monotonic() - started < stay and not stop.is_set():
                    chunk = sock.recv(65536)
                    if not chunk:
                        stats["dropped"] += 1
                        break
                    now = time.monotonic()
                    if got > 40_000:  # after the burst: the live edge should keep coming
                        stats["max_gap_s"] = max(stats["max_gap_s"], now - last)
                    last = now
                    got += len(chunk)
                    if head is not None:  # the response's head first, then the MP3 body
                        head += chunk
                        if b"\r\n\r\n" not in head:
                            continue
                        head, _, chunk = head.partition(b"\r\n\r\n")
                        if not head.startswith(b"HTTP/1.0 200"):
                            stats["errors"] += 1
                            break
                        head = None
                    check.feed(chunk)
                stats["bytes"] += got
                stats["listen_s"] += time.monotonic() - started
                stats["frames"] += check.frames
                stats["listens"] += 1
                stats["broken_streams"] += check.broken
        except OSError:
            stats["errors"] += 1
            time.sleep(0.2)


def _api(base: str, stop: threading.Event, stats: dict, seed: int) -> None:
    import http.cookiejar

    rng = random.Random(seed)
    # A browser's way: the listener cookie /api/now issues comes back with the ratings.
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    paths = ["/api/now", "/api/now", "/api/now", "/", "/app.js", "/style.css", "/api/timeline", "/nothing"]
    while not stop.is_set():
        try:
            if rng.random() < 0.05:
                request = urllib.request.Request(
                    base + rng.choice(["/api/like", "/api/skip"]),
                    method="POST",
                    data=b"{}",
                    headers={"Content-Type": "application/json"},
                )
            else:
                path = rng.choice(paths)
                if path == "/api/timeline" and rng.random() < 0.5:
                    now = json.loads(opener.open(base + "/api/now", timeout=10).read())["now"]
                    path = f"/api/track/{(now or {}).get('number') or 0}/pianoroll.png"
                request = urllib.request.Request(base + path)
            with opener.open(request, timeout=10) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            if exc.code not in (404, 409, 429):  # 429: the station's rate limit on ratings
                stats["errors"] += 1
        except OSError:
            stats["errors"] += 1
        stats["requests"] += 1


def soak(project: Path, seconds: float, speed: float, listeners: int, api_threads: int, warmup: float = 10.0) -> dict:
    station = start_station(project, STATION, "--speed", str(speed))
    stop = threading.Event()
    stats = {
        "requests": 0,
        "bytes": 0,
        "listen_s": 0.0,
        "errors": 0,
        "dropped": 0,
        "max_gap_s": 0.0,
        "frames": 0,
        "listens": 0,
        "broken_streams": 0,
    }
    load: list[float] = []
    threads = [
        threading.Thread(target=_listener, args=(station.port, stop, stats, i), daemon=True) for i in range(listeners)
    ]
    threads += [
        threading.Thread(target=_api, args=(station.base, stop, stats, 1000 + i), daemon=True)
        for i in range(api_threads)
    ]
    samples: list[tuple[float, float, float, int]] = []  # time, station RSS, worker RSS, work folder bytes
    started = time.monotonic()
    try:
        for thread in threads:
            thread.start()
        while time.monotonic() - started < seconds:
            time.sleep(1.0)
            if station.process.poll() is not None:
                raise AssertionError("the station died:\n" + station.log.read_text()[-3000:])
            worker = sum(rss_mb(pid) for pid in children(station.process.pid) if Path(f"/proc/{pid}").exists())
            work = folder_bytes(station.work)
            samples.append((time.monotonic() - started, rss_mb(station.process.pid), worker, work))
            load.append(os.getloadavg()[0])
        now = station.now()
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
        code = station.stop()
    steady = [s for s in samples if s[0] >= warmup]
    half = len(steady) // 2
    log = station.log.read_text()
    return {
        "wall_s": round(time.monotonic() - started, 1),
        "stream_s": now["stream_s"],
        "stream_hours": round(now["stream_s"] / 3600, 2),
        "speed": speed,
        "listeners": listeners,
        "requests": stats["requests"],
        "errors": stats["errors"],
        "dropped_streams": stats["dropped"],
        "listens": stats["listens"],
        "frames_received": stats["frames"],
        "broken_streams": stats["broken_streams"],
        "max_gap_s": round(stats["max_gap_s"], 2),
        "received_mb": round(stats["bytes"] / 1e6, 1),
        "delivery_ratio": round(stats["bytes"] / (stats["listen_s"] * BYTES_PER_SECOND * speed), 2)
        if stats["listen_s"]
        else None,
        "tracks_built": now["built"],
        "failed": now["failed"],
        "replays": now["replays"],
        "pacer_stalls": now.get("stalls"),
        "rss_mb_first_half": round(statistics.mean(s[1] for s in steady[:half]), 1),
        "rss_mb_second_half": round(statistics.mean(s[1] for s in steady[half:]), 1),
        "rss_mb_max": round(max(s[1] for s in steady), 1),
        "worker_rss_mb_max": round(max(s[2] for s in steady), 1),
        "work_mb_first_half_max": round(max(s[3] for s in steady[:half]) / 1e6, 1),
        "work_mb_second_half_max": round(max(s[3] for s in steady[half:]) / 1e6, 1),
        "load_avg_1m": round(statistics.mean(load), 2) if load else None,
        "cores": os.cpu_count(),
        "exit_code": code,
        "traceback_in_log": "Traceback" in log,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--speed", type=float, default=30.0)
    parser.add_argument("--listeners", type=int, default=40)
    parser.add_argument("--api-threads", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="soak-radio-") as folder:
        report = soak(Path(folder), args.minutes * 60, args.speed, args.listeners, args.api_threads, warmup=30)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
