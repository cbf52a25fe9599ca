"""FluidSynth stems: length, level, timing, and bytes that do not depend on process or block size."""

import gc
import hashlib
import re
import subprocess
import sys

import numpy as np
import pytest

from lofictl.compose.score import Note, Track
from lofictl.errors import LofictlError
from lofictl.sound.render import DEFAULT_GAIN, FLUID_BUFSIZE, fluidsynth_version, render_track
from lofictl.sound.soundfonts import Preset, resolve_preset

SR = 44100
SPB = 0.75  # 80 bpm

CHORDS = Track(
    "chords",
    "chords",
    tuple(
        Note(bar * 4.0, 3.5, pitch, 100)
        for bar, chord in enumerate([[50, 53, 57, 60], [55, 59, 62, 65], [48, 52, 55, 59], [57, 60, 64, 67]])
        for pitch in chord
    ),
)
DRUMS = Track(
    "drums",
    "drums",
    tuple(
        Note(beat * 0.5, 0.25, pitch, 100)
        for beat in range(16)
        for pitch in ([36] if beat % 4 == 0 else [38] if beat % 4 == 2 else []) + [42]
    ),
    is_drums=True,
    channel=9,
)


@pytest.fixture(scope="module")
def keys(gm):
    return resolve_preset(gm, "Electric Piano 1")


def test_chords_are_audible_the_right_length_and_below_full_scale(gm, keys):
    n = 6 * SR
    audio = render_track(CHORDS, SPB, gm, keys, SR, n)
    assert audio.shape == (2, n) and audio.dtype == np.float32
    peak = float(np.abs(audio).max())
    assert 10 ** (-12 / 20) < peak < 1.0  # DEFAULT_GAIN puts chords between -12 and 0 dBFS
    assert np.isfinite(audio).all()


def test_drum_kit_plays_on_bank_128(gm):
    kit = resolve_preset(gm, "Drums")
    audio = render_track(DRUMS, SPB, gm, kit, SR, 4 * SR)
    assert 10 ** (-20 / 20) < float(np.abs(audio).max()) < 1.0


def test_block_size_never_changes_bytes(gm, keys):
    n = 3 * SR + 17
    reference = render_track(CHORDS, SPB, gm, keys, SR, n)
    for block_size in (1000, 64, 4097, 10 * n):
        assert render_track(CHORDS, SPB, gm, keys, SR, n, block_size=block_size).tobytes() == reference.tobytes()


def test_same_bytes_in_two_processes(gm, keys):
    program = f"""
import hashlib
from pathlib import Path
from lofictl.sound.render import render_track
from lofictl.compose.score import Note, Track
from lofictl.sound.soundfonts import Preset
track = Track("chords", "chords", {CHORDS.notes!r})
audio = render_track(track, {SPB!r}, Path({str(gm)!r}), Preset({keys.bank}, {keys.program}, {keys.name!r}), {SR}, {2 * SR})
print(hashlib.sha256(audio.tobytes()).hexdigest())
"""
    digests = {
        subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True).stdout.strip()
        for _ in range(2)
    }
    here = hashlib.sha256(render_track(CHORDS, SPB, gm, keys, SR, 2 * SR).tobytes()).hexdigest()
    assert digests == {here}


def onset(audio: np.ndarray) -> int:
    return int(np.flatnonzero(np.abs(audio[0]) > 1e-6)[0])


@pytest.mark.parametrize("sample, expected_edge", [(44096, 44096), (44106, 44096), (44130, 44160), (64, 64)])
def test_note_starts_on_the_nearest_synth_block_edge(gm, keys, sample, expected_edge):
    # At 60 bpm a beat is exactly SR samples, so the note starts at exactly `sample`.
    note = Note(sample / SR, 0.5, 60, 100)
    audio = render_track(Track("one", "melody", (note,)), 1.0, gm, keys, SR, sample + SR)
    assert expected_edge % FLUID_BUFSIZE == 0
    # FluidSynth's voice output starts with one zero sample (its envelope starts at zero).
    assert onset(audio) - expected_edge in (0, 1)
    assert abs(onset(audio) - sample) <= FLUID_BUFSIZE // 2 + 1


def test_note_off_releases_the_voice(gm):
    organ = resolve_preset(gm, "Drawbar Organ")  # sustains forever while held
    short = render_track(Track("o", "melody", (Note(0.0, 0.5, 60, 100),)), 1.0, gm, organ, SR, 2 * SR)
    long = render_track(Track("o", "melody", (Note(0.0, 2.0, 60, 100),)), 1.0, gm, organ, SR, 2 * SR)
    tail = slice(int(1.5 * SR), 2 * SR)
    assert np.abs(short[:, tail]).max() < 1e-3 < np.abs(long[:, tail]).max()


def test_overlapping_notes_of_one_pitch_keep_sounding(gm):
    organ = resolve_preset(gm, "Drawbar Organ")
    track = Track("o", "melody", (Note(0.0, 2.0, 60, 100), Note(0.5, 0.5, 60, 100)))
    audio = render_track(track, 1.0, gm, organ, SR, 2 * SR)
    assert np.abs(audio[:, int(1.5 * SR) : int(1.9 * SR)]).max() > 1e-2


def test_notes_past_the_end_are_ignored_and_empty_track_is_silent(gm, keys):
    late = Track("late", "melody", (Note(100.0, 1.0, 60, 100),))
    assert not render_track(late, SPB, gm, keys, SR, SR).any()


def test_missing_preset_is_a_user_error(gm):
    with pytest.raises(LofictlError, match="no preset at bank 5 program 99"):
        render_track(CHORDS, SPB, gm, Preset(5, 99, "nothing"), SR, SR)


def test_sample_rate_out_of_range(gm, keys):
    with pytest.raises(LofictlError, match="sample rate"):
        render_track(CHORDS, SPB, gm, keys, 4000, 100)


def test_version_and_gain():
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", fluidsynth_version())
    assert 0 < DEFAULT_GAIN <= 1


THREADED = """
import hashlib, sys, threading
from pathlib import Path
from lofictl.compose.score import Note, Track
from lofictl.sound import render, soundfonts

font = Path(sys.argv[1])
specs = [("Acoustic Bass", 36), ("Electric Piano 1", 60), ("Vibraphone", 72), ("Acoustic Bass", 40)]

def play(name, base):
    preset = soundfonts.resolve_preset(font, name)
    track = Track(name, "bass", tuple(Note(b, 0.9, base + b % 5, 90) for b in range(8)))
    return hashlib.sha256(render.render_track(track, 0.5, font, preset, 44100, 44100 * 5).tobytes()).hexdigest()

together, start = {}, threading.Barrier(len(specs))
def run(i, name, base):
    start.wait()  # every synth is created at the same moment
    together[i] = play(name, base)
threads = [threading.Thread(target=run, args=(i, *spec)) for i, spec in enumerate(specs)]
[t.start() for t in threads]
[t.join() for t in threads]
alone = [play(*spec) for spec in specs]
print("same" if [together[i] for i in range(len(specs))] == alone else "differ")
"""


def test_stems_rendered_in_threads_at_once_sound_as_rendered_alone(gm):
    # FluidSynth's synth creation races when threads create synths together (it corrupts the
    # default modulators and warns); render takes turns there. Fresh processes: the race is
    # at a process's first synths.
    for _ in range(3):
        done = subprocess.run([sys.executable, "-c", THREADED, str(gm)], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "same"
        assert "Modulator" not in done.stderr, done.stderr
        assert "warning" not in done.stderr, done.stderr  # nor "No preset found" as a synth gives back a font


def test_a_soundfont_is_loaded_once_and_plays_as_loaded_by_each_synth(gm, keys, monkeypatch):
    # An .sf2 is loaded once per process and shared by the synths that play it, each new for its
    # track. Whatever was played before (notes ringing past a length off FluidSynth's block edge,
    # the drum channel, another preset), the bytes are those of a synth that loaded the file itself.
    from lofictl.sound import render

    kit, vibes = resolve_preset(gm, "Drums"), resolve_preset(gm, "Vibraphone")
    melody = Track("melody", "melody", tuple(Note(b * 0.5, 2.0, 67 + b % 7, 90) for b in range(12)))
    plays = [
        (CHORDS, keys, 2 * SR + 17),  # cut while the chord rings, mid-block
        (DRUMS, kit, 3 * SR + 5),
        (melody, vibes, SR + 33),
        (CHORDS, keys, 3 * SR),
    ]
    shared = [render_track(track, SPB, gm, preset, SR, n).tobytes() for track, preset, n in plays]
    assert [key[0] for key in render._FONTS._held].count(str(gm.resolve())) == 1
    with pytest.raises(LofictlError):  # the synth is deleted, the shared SoundFont stays
        render_track(CHORDS, SPB, gm, Preset(5, 99, "nothing"), SR, SR)
    assert render_track(*plays[0][:1], SPB, gm, keys, SR, plays[0][2]).tobytes() == shared[0]
    gc.collect()  # a track an earlier test in this process left half-rendered gives its synth back
    render.release_soundfonts()  # memory back; the next track loads the file again
    assert not render._FONTS._held, render._FONTS._users
    assert render_track(*plays[1][:1], SPB, gm, kit, SR, plays[1][2]).tobytes() == shared[1]
    monkeypatch.setattr(render, "_shared", lambda soundfont: False)
    own = [render_track(track, SPB, gm, preset, SR, n).tobytes() for track, preset, n in plays]
    assert shared == own
