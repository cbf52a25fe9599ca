"""Long tracks: time and peak memory of a 10- and a 60-minute build, streaming vs whole-array.

    .venv/bin/python benchmarks/bench_long.py [--minutes 10 60] [--whole 10] [--keep DIR]

Writes a recipe (chords + bass + drums, streaming-safe effect chains, a vinyl overlay, a master
compressor and a -14 LUFS target) into a temporary folder, composes it with lofictl.compose.arrangement, and
runs the audio side in a fresh process per case, so each peak RSS (ru_maxrss) is that case's
alone:

- stream: lofictl.sound.stems, .master and .stream — stems and overlay rendered to float32 WAV block
  by block, the master mixed, measured, limited and written in passes over files, then encoded to
  flac and mp3;
- whole: the whole-array path (sound.reference's render_stem, render_overlay and master, read_audio
  on every stem, write_audio) for comparison.

Prints seconds per stage, total seconds, seconds per minute of music and peak RSS, and the
master's loudness and true peak. Stems render one after another (a build with --jobs N runs N
such processes, each with the memory of one stem).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RECIPE = """\
lofictl: 1
title: Long Night
seed: 60
tempo: 80
time_signature: 4/4
key: D minor
length: {minutes}m
swing: 0.56
tracks:
  chords:
    part: chords
    progression: "Dm9 G13 Cmaj9 A7b9"
    instrument: {{soundfont: FluidR3_GM.sf2, preset: Electric Piano 1}}
    gain_db: -3
    pan: -0.1
    effects:
      - LowpassFilter: {{cutoff_frequency_hz: 3200}}
      - Chorus: {{rate_hz: 0.6, depth: 0.2, mix: 0.3}}
  bass:
    part: bass
    instrument: {{soundfont: FluidR3_GM.sf2, preset: Acoustic Bass}}
    gain_db: -2
  drums:
    part: drums
    pattern: boom-bap
    humanize: {{timing_ms: 12, velocity: 10}}
    gain_db: -4
    effects:
      - LowpassFilter: {{cutoff_frequency_hz: 6000}}
      - Bitcrush: {{bit_depth: 10}}
overlays:
  - {{ambience: vinyl, gain_db: -26}}
master:
  effects:
    - Compressor: {{threshold_db: -18, ratio: 2.5}}
  loudness_lufs: -14
output: {{sample_rate: 44100, formats: [wav, flac, mp3]}}
"""


def _stem(track, score, inst, spec, sr: int, n: int):
    """A track's stem as sound.stems renders it (the recipe's chain as written, no ducking)."""
    from lofictl.sound.stems import Stem

    return Stem(
        track=track,
        timing=score.seconds_per_beat,
        soundfont=inst.soundfont,
        preset=inst.preset,
        sample_rate=sr,
        n_samples=n,
        effects=spec.effects,
        gain_db=spec.gain_db,
        pan=spec.pan,
    )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def child(mode: str, minutes: float, folder: Path) -> dict:
    """One case in this process; returns the timings and peak RSS as a dict."""
    from lofictl.pipeline.plan import n_samples_for
    from lofictl.pipeline.runner import prepare
    from lofictl.pipeline.stages import compose_score
    from lofictl.recipe.load import load_recipe

    recipe_path = folder / "recipes" / f"long_{minutes:g}.yaml"
    recipe_path.parent.mkdir(parents=True, exist_ok=True)
    recipe_path.write_text(RECIPE.format(minutes=f"{minutes:g}"))
    out = folder / f"{mode}-{minutes:g}"
    out.mkdir()
    times: dict[str, float] = {}
    started = clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        times[name] = round(now - clock, 2)
        clock = now

    plan = prepare(load_recipe(recipe_path))
    score = compose_score(plan).score
    recipe = plan.recipe
    sr = recipe.output.sample_rate
    n = n_samples_for(score.duration_seconds, sr)
    rss_after_compose = peak_rss_mb()
    lap("compose")
    stems = []
    if mode == "stream":
        from lofictl.pipeline.inputs import overlay_layer
        from lofictl.sound import master as mastering
        from lofictl.sound import stems as sound_stems
        from lofictl.sound import stream

        for track in score.tracks:
            spec, inst = recipe.tracks[track.name], plan.instruments[track.name]
            stems.append(out / f"{track.name}.wav")
            sound_stems.render_stem_to_wav(_stem(track, score, inst, spec, sr, n), stems[-1])
        for index in range(len(recipe.overlays)):
            stems.append(out / f"overlay-{index}.wav")
            sound_stems.render_overlay_to_wav(overlay_layer(plan, index), sr, n, stems[-1])
        lap("stems")
        stats = mastering.mix_to_master_wav(
            stems,
            sr,
            recipe.master.effects,
            recipe.master.loudness_lufs,
            recipe.master.true_peak_db,
            out / "master.wav",
        )
        lap("master")
        for fmt in ("flac", "mp3"):
            stream.encode_wav_to(out / "master.wav", out / f"master.{fmt}", fmt, sr)
        lap("encode")
    else:
        from lofictl.pipeline.inputs import overlay_layer
        from lofictl.sound import audio_io, reference

        for track in score.tracks:
            spec, inst = recipe.tracks[track.name], plan.instruments[track.name]
            stems.append(out / f"{track.name}.wav")
            audio = reference.render_stem(_stem(track, score, inst, spec, sr, n))
            audio_io.write_wav(stems[-1], audio, sr)
            del audio
        for index in range(len(recipe.overlays)):
            stems.append(out / f"overlay-{index}.wav")
            audio_io.write_wav(stems[-1], reference.render_overlay(overlay_layer(plan, index), sr, n), sr)
        lap("stems")
        layers = [audio_io.read_audio(path)[0] for path in stems]  # as the mix stage (pipeline.stages)
        mixed = layers[0].copy()
        for layer in layers[1:]:
            mixed += layer
        del layers
        master, stats = reference.master(
            mixed, sr, recipe.master.effects, recipe.master.loudness_lufs, recipe.master.true_peak_db
        )
        del mixed
        audio_io.write_wav(out / "master.wav", master, sr)
        lap("master")
        for fmt in ("flac", "mp3"):
            audio_io.write_audio(out / f"master.{fmt}", master, sr, fmt)
        lap("encode")
    total = time.perf_counter() - started
    music_minutes = n / sr / 60
    return {
        "mode": mode,
        "minutes": minutes,
        "music_minutes": round(music_minutes, 3),
        "stages_s": times,
        "total_s": round(total, 1),
        "s_per_music_minute": round(total / music_minutes, 2),
        "peak_rss_mb": round(peak_rss_mb()),
        "rss_after_compose_mb": round(rss_after_compose),
        "integrated_lufs": stats["integrated_lufs"],
        "true_peak_dbtp": stats["true_peak_dbtp"],
        "limiter_reduction_db": stats["limiter_reduction_db"],
    }


def run_case(mode: str, minutes: float, folder: Path) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(minutes), str(folder)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[10, 60])
    parser.add_argument("--whole", type=float, nargs="*", default=[10], help="lengths for the whole-array path")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep the files")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, minutes, folder = args.child
        print(json.dumps(child(mode, float(minutes), Path(folder))))
        return
    with tempfile.TemporaryDirectory(prefix="bench_long-") as temporary:
        folder = args.keep or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        cases = [("whole", m) for m in args.whole] + [("stream", m) for m in args.minutes]
        results = []
        for mode, minutes in cases:
            result = run_case(mode, minutes, folder)
            results.append(result)
            print(json.dumps(result), flush=True)
        print(f"\n{'case':<14}{'music min':>10}{'total s':>9}{'s/min':>8}{'peak RSS MB':>13}{'LUFS':>8}{'dBTP':>7}")
        for r in results:
            print(
                f"{r['mode'] + ' ' + format(r['minutes'], 'g') + 'm':<14}{r['music_minutes']:>10.2f}"
                f"{r['total_s']:>9.1f}{r['s_per_music_minute']:>8.2f}{r['peak_rss_mb']:>13}"
                f"{r['integrated_lufs']:>8}{r['true_peak_dbtp']:>7}"
            )
        by = {(r["mode"], r["minutes"]): r for r in results}
        for minutes in args.whole:
            if ("stream", minutes) in by:
                w, s = by[("whole", minutes)], by[("stream", minutes)]
                print(
                    f"{minutes:g} min: stream/whole time {s['total_s'] / w['total_s']:.2f}x, "
                    f"peak RSS {s['peak_rss_mb'] / w['peak_rss_mb']:.2f}x"
                )
        lengths = sorted(m for mode, m in by if mode == "stream")
        if len(lengths) >= 2:
            a, b = by[("stream", lengths[0])], by[("stream", lengths[-1])]
            print(
                f"stream s per music minute: {a['s_per_music_minute']} at {lengths[0]:g} min, "
                f"{b['s_per_music_minute']} at {lengths[-1]:g} min (linear time keeps these equal)"
            )


if __name__ == "__main__":
    main()
