"""lofictl's FluidSynth render vs the `fluidsynth` command on the same MIDI, side by side.

    .venv/bin/python benchmarks/bench_render.py [--minutes 3]

Writes a MIDI file of chords (mido), renders it with `fluidsynth -ni -F out.wav -r 44100` and
with lofictl.sound.render (render time plus writing a float WAV, like the CLI writes its file), three
rounds interleaved, and prints the best times and their ratio (target: <= 1.2x).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import mido

from lofictl.compose.score import Note, Track
from lofictl.sound.audio_io import write_audio
from lofictl.sound.render import render_track
from lofictl.sound.soundfonts import find_soundfont, resolve_preset

SR = 44100
TEMPO = 80
CHORDS = [[50, 53, 57, 60, 64], [55, 59, 62, 65, 69], [48, 52, 55, 59, 62], [57, 61, 64, 67, 70]]


def chord_track(minutes: float) -> Track:
    bars = int(minutes * TEMPO / 4)
    notes = [
        Note(bar * 4.0 + offset, 1.9, pitch, 90)
        for bar in range(bars)
        for offset in (0.0, 2.0)
        for pitch in CHORDS[bar % 4]
    ]
    return Track("chords", "chords", tuple(notes), program=4)


def write_midi(track: Track, path: Path) -> None:
    ticks = 480
    midi = mido.MidiFile(ticks_per_beat=ticks)
    events = [(round(n.start * ticks), 1, n.pitch, n.velocity) for n in track.notes]
    events += [(round(n.end * ticks), 0, n.pitch, 0) for n in track.notes]
    messages = mido.MidiTrack(
        [
            mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(TEMPO)),
            mido.Message("program_change", program=track.program, channel=0),
        ]
    )
    now = 0
    for tick, kind, pitch, velocity in sorted(events):
        messages.append(
            mido.Message("note_on" if kind else "note_off", note=pitch, velocity=velocity, channel=0, time=tick - now)
        )
        now = tick
    midi.tracks.append(messages)
    midi.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("fluidsynth") is None:
        raise SystemExit("the fluidsynth command is needed for this comparison")
    gm = find_soundfont("FluidR3_GM.sf2", None)
    preset = resolve_preset(gm, program=4)
    track = chord_track(args.minutes)
    spb = 60.0 / TEMPO
    n = round((max(note.end for note in track.notes) * spb + 2.0) * SR)
    with tempfile.TemporaryDirectory() as folder:
        midi_path = Path(folder) / "chords.mid"
        write_midi(track, midi_path)
        cli_times, ours = [], []
        for _ in range(args.rounds):
            start = time.perf_counter()
            subprocess.run(
                [
                    "fluidsynth",
                    "-ni",
                    "-q",
                    "-R",
                    "0",
                    "-C",
                    "0",
                    "-F",
                    str(Path(folder) / "cli.wav"),
                    "-r",
                    str(SR),
                    str(gm),
                    str(midi_path),
                ],
                check=True,
                capture_output=True,
            )
            cli_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            audio = render_track(track, spb, gm, preset, SR, n)
            write_audio(Path(folder) / "lofictl.wav", audio, SR)
            ours.append(time.perf_counter() - start)
    cli, mine = min(cli_times), min(ours)
    print(f"audio: {n / SR:.0f} s of five-note chords, {len(track.notes)} notes")
    print(f"fluidsynth CLI:  {cli:.3f} s (best of {args.rounds})")
    print(f"lofictl render:  {mine:.3f} s (best of {args.rounds})")
    print(f"ratio lofictl/CLI: {mine / cli:.2f}x (target <= 1.2x)")


if __name__ == "__main__":
    main()
