"""Albums: serial against Dask LocalClusters of 1 and 2 workers, and the continuous mix against its length.

    python benchmarks/bench_album.py                    # both parts
    python benchmarks/bench_album.py cluster [TRACKS]   # serial vs LocalCluster(1), (2); 12 tracks unless told
    python benchmarks/bench_album.py mix                # 15, 30, 60 minutes of mix: time and peak RSS
                                                        #  (target: linear in length, under 1.5 GB at 60 min)

The cluster part builds an album of short recipes (no models, so no JAX: the tracks' audio work
is what is measured) cold, each run with an empty cache: in this process's runner (tasks one
after another, each with a thread per CPU inside), then on LocalClusters of 1 and 2
single-threaded workers. Beside each speed-up it prints the per-task overhead (a no-op task's
round trip on the same cluster, times the album's task count, as a share of the run), the
cluster's start-up (which the album overlaps with planning its tracks), and from the serial
run's own phases the serial fraction (planning, cover, the mix and what follows it, gathering:
what no number of workers shortens) and Amdahl's estimate for 2 and 8 workers. The album's
bytes are compared across the three runs. Absolute times drift on a busy machine: the load
average is printed beside them.

The mix part makes synthetic 3-minute masters and times `make_mix` and the mix's files and video
(sequence with crossfades, master to the loudness target, FLAC and MP3 with chapters, MP4 video)
in a fresh process per length, reading its peak RSS from the kernel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RECIPE = """\
lofictl: 1
title: Bench {n}
seed: {n}
tempo: {tempo}
key: D minor
length: 16 bars
tracks:
  chords: {{part: chords, progression: "Dm9 G13 Cmaj9 A7b9", effects: [{{LowpassFilter: {{cutoff_frequency_hz: 3200}}}}]}}
  bass: {{part: bass}}
  drums: {{part: drums, pattern: boom-bap}}
overlays:
  - {{ambience: vinyl, gain_db: -28}}
output: {{formats: [wav]}}
"""

ALBUM = """\
lofictl_album: 1
title: Bench Album
artist: bench
year: 2026
seed: 1
tracks:
{tracks}
output: {{formats: [flac, mp3], video: {{width: 1280, height: 720}}}}
"""


def _write_project(project: Path, tracks: int) -> Path:
    (project / "recipes").mkdir()
    (project / "albums").mkdir()
    lines = []
    for n in range(tracks):
        (project / "recipes" / f"bench{n}.yaml").write_text(RECIPE.format(n=n, tempo=80 + 2 * n))
        lines.append(f"  - recipe: recipes/bench{n}.yaml")
    album = project / "albums" / "bench.yaml"
    album.write_text(ALBUM.format(tracks="\n".join(lines)))
    return album


class _Phases:
    """The serial run's time per kind of work: each task function (they run in this process)
    and the planning, timed by wrapping them for the length of the run."""

    WRAPPED = (
        ("lofictl.album.tasks", "render_track"),
        ("lofictl.album.tasks", "encode_track"),
        ("lofictl.album.tasks", "make_mix"),
        ("lofictl.album.tasks", "make_video"),
        ("lofictl.album.run", "plan_album"),
    )

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.encode_names: list[str] = []

    def __enter__(self):
        import importlib

        self.saved = []
        for module_name, name in self.WRAPPED:
            module = importlib.import_module(module_name)
            real = getattr(module, name, None)
            if real is None:  # an older lofictl, measured side by side
                continue
            self.saved.append((module, name, real))
            setattr(module, name, self._timed(name, real))
        return self

    def _timed(self, name, real):
        def timed(*args):
            started = time.perf_counter()
            try:
                return real(*args)
            finally:
                label = name
                if name == "encode_track" and getattr(args[0], "stage", None) == "mix":
                    label = "encode_mix"
                self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - started
                self.calls[label] = self.calls.get(label, 0) + 1

        return timed

    def __exit__(self, *exc):
        for module, name, real in self.saved:
            setattr(module, name, real)


def _noop(payload: dict) -> dict:
    return {"outputs": dict(payload)}


def _round_trip_s(client, count: int = 40) -> float:
    """A no-op task's round trip on this cluster, carrying a result the size of a track's."""
    payload = {f"file-{i}": "0" * 64 for i in range(8)}
    client.submit(_noop, payload, pure=False).result()  # the function shipped once
    started = time.perf_counter()
    for i in range(count):
        client.submit(_noop, payload, pure=False, key=f"noop-{i}").result()
    return (time.perf_counter() - started) / count


def cluster_part(tracks: int = 12) -> None:
    from distributed import Client

    from lofictl.album.run import build_album
    from lofictl.cluster import local_cluster

    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        album = _write_project(project, tracks)
        load_before = os.getloadavg()[0]
        with _Phases() as phases:
            started = time.perf_counter()
            # with a stage cache of its own, as the cluster runs (and a user's album) have one
            serial = build_album(album, out_dir=project / "serial", cache_dir=project / "cache-serial", quiet=True)
            serial_s = time.perf_counter() - started
        runs = {}
        for workers in (1, 2):
            started = time.perf_counter()
            cluster = local_cluster(workers)
            client = Client(cluster)
            start_up = time.perf_counter() - started
            try:
                started = time.perf_counter()
                built = build_album(
                    album,
                    client=client,
                    out_dir=project / f"workers-{workers}",
                    cache_dir=project / f"cache-{workers}",
                    quiet=True,
                )
                wall = time.perf_counter() - started
                trip = _round_trip_s(client)
            finally:
                client.close()
                cluster.close()
            runs[workers] = (wall, start_up, trip, built)
        load_after = os.getloadavg()[0]

    n_tasks = 2 * tracks + 3  # a render and an encode per track; the mix, its files, its video
    print(
        f"{tracks}-track album, {serial.duration_s:.0f} s of music, {n_tasks} tasks; load average "
        f"{load_before:.2f} before, {load_after:.2f} after ({os.cpu_count()} CPUs)"
    )
    print(f"serial (in this process, threads inside each task)  {serial_s:7.2f} s")
    for workers, (wall, start_up, trip, built) in runs.items():
        # The album starts its own cluster while planning: start-up beyond the planning is what it costs.
        hidden = min(start_up, phases.seconds.get("plan_album", 0.0))
        total = wall + start_up - hidden
        same = json.dumps(built.lock["outputs"], sort_keys=True) == json.dumps(serial.lock["outputs"], sort_keys=True)
        print(
            f"LocalCluster, {workers} worker{'s' if workers > 1 else ' '}  {total:7.2f} s  "
            f"{serial_s / total:4.2f}x serial   per-task overhead {trip * 1000:5.1f} ms x {n_tasks} = "
            f"{100 * trip * n_tasks / wall:4.1f}% of the run; start-up {start_up:.1f} s "
            f"({hidden:.1f} s of it behind the planning); same album: {same}"
        )
    one, two = runs[1][0], runs[2][0]
    print(f"2 workers against 1 (the workers alone, start-up aside): {one / two:.2f}x")
    parallel = phases.seconds.get("render_track", 0.0) + phases.seconds.get("encode_track", 0.0)
    fraction = max(0.0, serial_s - parallel) / serial_s
    amdahl = {n: 1 / (fraction + (1 - fraction) / n) for n in (2, 8)}
    parts = ", ".join(f"{k} {v:.1f} s" for k, v in sorted(phases.seconds.items()))
    print(f"serial run's phases: {parts}")
    print(
        f"serial fraction {fraction:.2f} (planning, cover, the mix and its files and video, gathering): "
        f"Amdahl's estimate {amdahl[2]:.2f}x on 2 workers, {amdahl[8]:.2f}x on 8 "
        f"(limit {1 / fraction if fraction else float('inf'):.1f}x); on paper, with a core per worker"
    )


SETUP = """
import sys, json
import numpy as np
from pathlib import Path
from lofictl.sound import audio_io
from lofictl.pipeline.cache import Cache

minutes, work = int(sys.argv[1]), Path(sys.argv[2])
rate, track_s = 44100, 180
cache = Cache(work / "cache")
rng = np.random.default_rng(0)
digests = []
for index in range(minutes * 60 // track_s):
    path = work / f"track{index}.wav"
    t = np.arange(track_s * rate) / rate
    tone = 0.2 * np.sin(2 * np.pi * (110 + 10 * index) * t) * (1 + 0.3 * np.sin(2 * np.pi * 0.5 * t))
    audio = np.vstack([tone, tone]).astype(np.float32) + (rng.standard_normal((2, t.size)) * 0.02).astype(np.float32)
    audio_io.write_wav(path, audio, rate)
    cache.store(f"bench{index}", "mix", {"master.wav": path})
    digests.append(cache.lookup(f"bench{index}", "mix").outputs["master.wav"])
    path.unlink()
(work / "digests.json").write_text(json.dumps(digests))
"""

MIX = """
import sys, time, resource, json
from pathlib import Path
from lofictl.album import chapters, cover, tasks
from lofictl.export.tags import Tags

work = Path(sys.argv[1])
rate, track_s = 44100, 180
digests = json.loads((work / "digests.json").read_text())
spec = tasks.CacheSpec(str(work / "cache"))
tracks = tuple(
    tasks.MixTrack(master=d, frames=track_s * rate, bar_frames=3.0 * rate, bars=track_s // 3, title=f"T{i}", isrc=None)
    for i, d in enumerate(digests)
)
art = cover.as_cover(cover.draw_cover("Bench", "bench", 1, []))
started = time.perf_counter()
mixed = tasks.make_mix(tasks.MixTask(tracks=tracks, crossfade_bars=2, gap_s=0.0, cache=spec, sample_rate=rate,
                                     loudness_lufs=-14.0, ceiling_db=-1.0))
meta = mixed["meta"]
items = chapters.marks([t.title for t in tracks], "bench", [None] * len(tracks), meta["takes_over"], meta["frames"], rate)
tags = Tags(title="Bench (continuous mix)", artist="bench", album="Bench", year=2026, genre="Lo-Fi",
            chapters=chapters.id3_chapters(items))
master = mixed["outputs"]["master.wav"]
tasks.encode_track(tasks.EncodeTask(stage="mix", master=master, cache=spec, folder="mix", base="Bench_mix",
                                    formats=("flac", "mp3"), sample_rate=rate, ceiling_db=-1.0, tags=tags,
                                    cover=cover.embedded(art), jobs=2))
tasks.make_video(tasks.VideoTask(master=master, cache=spec, frames=meta["frames"], sample_rate=rate, base="Bench_mix",
                                 frame_png=cover.video_frame(art, 1280, 720),
                                 metadata=chapters.ffmetadata("Bench", "bench", items), fps=1, audio_kbps=192))
print(json.dumps({"seconds": time.perf_counter() - started, "duration_s": meta["frames"] / rate,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def mix_part() -> None:
    print(
        f"continuous mix (sequence, master, FLAC + MP3 with chapters, 720p video); load average "
        f"{os.getloadavg()[0]:.2f}"
    )
    for minutes in (15, 30, 60):
        with tempfile.TemporaryDirectory() as folder:
            subprocess.run([sys.executable, "-c", SETUP, str(minutes), folder], check=True, capture_output=True)
            done = subprocess.run([sys.executable, "-c", MIX, folder], check=True, capture_output=True, text=True)
        stats = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"{minutes:3d} min: {stats['seconds']:7.1f} s ({stats['seconds'] / minutes:5.2f} s per minute of mix), "
            f"peak RSS {stats['rss_mb']:6.0f} MB"
        )


if __name__ == "__main__":
    part = sys.argv[1] if len(sys.argv) > 1 else "all"
    if part in ("cluster", "all"):
        cluster_part(int(sys.argv[2]) if len(sys.argv) > 2 else 12)
    if part in ("mix", "all"):
        mix_part()
