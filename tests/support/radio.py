"""Helpers for the radio tests: a station process, icecast2, decoding (the live tests), and a
track's files made without a build (the unit tests of the air and the producer)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from support import SMALL_RECIPE

RATE = 44100
TRACK_RECIPE = SMALL_RECIPE.replace("length: 4 bars", "length: 8 bars").replace("tempo: 90", "tempo: 120")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str, timeout: float = 5.0) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def wait_for(predicate, timeout: float, what: str, every: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def decode_mp3(data: bytes) -> np.ndarray:
    """MP3 bytes → float32 (2, n) at 44.1 kHz, by ffmpeg (an independent decoder)."""
    run = subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "mp3",
            "-i",
            "pipe:0",
            "-f",
            "f32le",
            "-ac",
            "2",
            "-ar",
            str(RATE),
            "pipe:1",
        ],
        input=data,
        capture_output=True,
        check=True,
    )
    return np.frombuffer(run.stdout, dtype="<f4").reshape(-1, 2).T.copy()


def children(pid: int) -> set[int]:
    """Every descendant process of pid (from /proc)."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            for kid in kids:
                if kid not in found:
                    found.add(kid)
                    todo.append(kid)
    return found


def rss_mb(pid: int) -> float:
    """Resident memory of a process; 0 for one that has exited and waits to be reaped (a build's
    piano-roll drawing, say: a zombie holds no memory and its status has no VmRSS)."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    for line in status:
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    if any(line.startswith("State:") and line.split()[1] in ("Z", "X") for line in status):
        return 0.0
    raise AssertionError("no VmRSS")


@dataclass
class Icecast:
    process: subprocess.Popen
    port: int
    password: str

    def url(self, mount: str = "/lofi.mp3") -> str:
        return f"icecast://source:{self.password}@127.0.0.1:{self.port}{mount}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_icecast(folder: Path) -> Icecast:
    """A private icecast2 on a free port (Debian's package; it drops root to nobody itself)."""
    port = free_port()
    logs = folder / "icecast-log"  # unused (logs go to stderr: the folders above are root's alone)
    logs.mkdir(parents=True)
    config = folder / "icecast.xml"
    config.write_text(
        textwrap.dedent(f"""\
        <icecast>
          <limits><clients>50</clients><sources>2</sources><burst-size>65536</burst-size></limits>
          <authentication>
            <source-password>radio-test</source-password>
            <admin-user>admin</admin-user><admin-password>radio-admin</admin-password>
          </authentication>
          <hostname>127.0.0.1</hostname>
          <listen-socket><port>{port}</port><bind-address>127.0.0.1</bind-address></listen-socket>
          <paths>
            <basedir>/usr/share/icecast2</basedir><logdir>{logs}</logdir>
            <webroot>/usr/share/icecast2/web</webroot><adminroot>/usr/share/icecast2/admin</adminroot>
          </paths>
          <logging><accesslog>-</accesslog><errorlog>-</errorlog><loglevel>2</loglevel></logging>
          <security><chroot>0</chroot><changeowner><user>nobody</user><group>nogroup</group></changeowner></security>
        </icecast>
        """)
    )
    process = subprocess.Popen(
        ["icecast2", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=(folder / "icecast.log").open("w")
    )
    server = Icecast(process, port, "radio-test")

    def up():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/status-json.xsl", timeout=1) as response:
                return response.status == 200
        except OSError:
            return None

    try:
        wait_for(up, 15, "icecast2 to start")
    except BaseException:
        server.stop()  # never leave a server behind
        raise
    return server


@dataclass
class Station:
    project: Path
    port: int
    process: subprocess.Popen
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def now(self) -> dict:
        return get_json(self.base + "/api/now")

    def timeline(self) -> list[dict]:
        return get_json(self.base + "/api/timeline")["entries"]

    @property
    def work(self) -> Path:
        return self.project / "build" / "radio" / "station"

    @property
    def database(self) -> Path:
        return self.project / "radio" / "station.db"

    def stop(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError("the station did not stop on SIGINT:\n" + self.log.read_text()[-3000:]) from None
        return self.process.returncode


def start_station(project: Path, station_text: str, *extra: str) -> Station:
    (project / "recipes").mkdir(parents=True, exist_ok=True)
    (project / "recipes" / "small.yaml").write_text(TRACK_RECIPE)
    (project / "recipes" / "station.yaml").write_text(textwrap.dedent(station_text))
    port = free_port()
    log = project / "station.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "lofictl", "radio", "recipes/station.yaml", "--port", str(port), *extra],
        cwd=project,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    station = Station(project, port, process, log)

    def up():
        if process.poll() is not None:
            raise AssertionError("the station exited:\n" + log.read_text())
        try:
            return station.now()
        except OSError:
            return None

    try:
        wait_for(up, 60, "the station's server")
    except BaseException:
        if process.poll() is None:
            process.kill()
            process.wait()
        raise
    return station


def ready_track(folder: Path, number: int, *, bars: int = 4, bar_frames: int = 4410, level: float = 0.1):
    """A built track as the producer hands it on: a float32 stereo master of `bars` bars (a
    constant level per track, `level * (number + 1)`, so a test can tell tracks apart by their
    samples; a bar of a tenth of a second by default) and a piano roll, in folder/NNNNNNN/."""
    from lofictl.radio.producer import ReadyTrack
    from lofictl.sound.audio_io import write_wav

    track_folder = folder / f"{number:07d}"
    track_folder.mkdir(parents=True, exist_ok=True)
    frames = bars * bar_frames
    master = track_folder / f"t-{number}.wav"
    write_wav(master, np.full((2, frames), level * (number + 1), dtype=np.float32), RATE)
    roll = track_folder / "pianoroll.png"
    roll.write_bytes(b"\x89PNG\r\n\x1a\n")
    return ReadyTrack(
        number=number,
        name=f"t-{number}",
        title=f"Track {number}",
        recipe="t.yaml",
        seed=number,
        key="A minor",
        camelot="8A",
        tempo=120.0,
        time_signature="4/4",
        bars=bars,
        bar_frames=float(bar_frames),
        frames=frames,
        sample_rate=RATE,
        duration_s=frames / RATE,
        folder=str(track_folder),
        master=str(master),
        pianoroll=str(roll),
        loudness_lufs=-14.0,
        true_peak_dbtp=-1.0,
        build_s=0.01,
        patterns={},
        presets={},
    )
