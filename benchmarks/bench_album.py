"""Albums: serial against a 2-worker Dask LocalCluster, and the continuous mix against its length.

    python benchmarks/bench_album.py            # both parts
    python benchmarks/bench_album.py cluster    # 12 tracks, serial vs LocalCluster(2)  (target >= 1.7x)
    python benchmarks/bench_album.py mix        # 15, 30, 60 minutes of mix: time and peak RSS
                                                #  (target: linear in length, under 1.5 GB at 60 min)

The cluster part builds a 12-track album of short recipes (no models, so no JAX: the tracks'
audio work is what is measured) cold, each run with an empty cache: once in this process's
runner, once on a LocalCluster of 2 single-threaded workers; the ratio is printed. The mix part
makes synthetic 3-minute masters and times `make_mix` (sequence with crossfades, master to the
loudness target, FLAC and MP3 with chapters, MP4 video) in a fresh process per length, reading
its peak RSS from the kernel. Run on a quiet machine; the load average is printed.
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


def cluster_part() -> None:
    from lofictl.album.run import build_album

    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder)
        (project / "recipes").mkdir()
        (project / "albums").mkdir()
        lines = []
        for n in range(12):
            (project / "recipes" / f"bench{n}.yaml").write_text(RECIPE.format(n=n, tempo=80 + 2 * n))
            lines.append(f"  - recipe: recipes/bench{n}.yaml")
        album = project / "albums" / "bench.yaml"
        album.write_text(ALBUM.format(tracks="\n".join(lines)))
        started = time.perf_counter()
        serial = build_album(album, out_dir=project / "serial", use_cache=False, quiet=True)
        serial_s = time.perf_counter() - started
        started = time.perf_counter()
        parallel = build_album(album, jobs=2, out_dir=project / "parallel", use_cache=False, quiet=True)
        parallel_s = time.perf_counter() - started
    same = json.dumps(serial.lock, sort_keys=True) == json.dumps(parallel.lock, sort_keys=True)
    print(f"12-track album, {serial.duration_s:.0f} s of music; load average {os.getloadavg()[0]:.2f}")
    print(f"serial (threads in one process)   {serial_s:7.2f} s")
    print(
        f"LocalCluster, 2 workers           {parallel_s:7.2f} s   {serial_s / parallel_s:.2f}x faster "
        f"(target >= 1.7x); identical lock: {same}"
    )


SETUP = """
import sys, json
import numpy as np
from pathlib import Path
from lofictl.sound import audio_io
from lofictl.build.cache import Cache

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
from lofictl.album import tasks, cover

work = Path(sys.argv[1])
rate, track_s = 44100, 180
digests = json.loads((work / "digests.json").read_text())
tracks = [tasks.MixTrack(master=d, frames=track_s * rate, bar_frames=3.0 * rate, bars=track_s // 3, title=f"T{i}", isrc=None)
          for i, d in enumerate(digests)]
art = cover.as_cover(cover.draw_cover("Bench", "bench", 1, []))
task = tasks.MixTask(tracks=tuple(tracks), crossfade_bars=2, gap_s=0.0, cache=tasks.CacheSpec(str(work / "cache")),
                     sample_rate=rate, loudness_lufs=-14.0, ceiling_db=-1.0, album_title="Bench", artist="bench",
                     genre="Lo-Fi", year=2026, release_date=None, provenance={}, base="Bench_mix",
                     formats=("flac", "mp3"), cover=art, jobs=2,
                     video=tasks.VideoSpec(frame_png=cover.video_frame(art, 1280, 720), fps=1, audio_kbps=192))
started = time.perf_counter()
result = tasks.make_mix(task)
print(json.dumps({"seconds": time.perf_counter() - started, "duration_s": result["duration_s"],
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
        cluster_part()
    if part in ("mix", "all"):
        mix_part()
