"""Your own chords lead the band: the chords of a MIDI clip, read from its notes, for melody,
bass and the piano roll."""

from __future__ import annotations

from pathlib import Path

import mido
import pytest
from music21 import harmony as m21harmony

from lofictl.compose import theory
from lofictl.compose.arrangement import compose
from lofictl.compose.harmony import detect_chords
from lofictl.compose.score import Note
from lofictl.errors import LofictlError
from lofictl.models.generate import load_track_model
from lofictl.recipe.load import load_recipe
from support import REPO

PROGRESSION = ["Dm9", "G13", "Cmaj9", "A7b9", "Fmaj7", "Em7b5", "Bbmaj7#11", "C7sus4", "Am", "E7#9", "Db69", "F#m11"]


def same_chord(found: str, written: str) -> bool:
    """The same chord: root and tones (Db is C#, and a slash bass is kept apart)."""
    a, b = theory.parse_chord(found), theory.parse_chord(written)
    return a.root == b.root and a.pitch_classes == b.pitch_classes and a.bass == b.bass


def _play(chords: list[list[int]], beats: float = 4.0, bass: list[int] | None = None) -> list[Note]:
    notes = []
    for i, pitches in enumerate(chords):
        notes += [Note(i * beats, beats - 0.1, p, 72) for p in pitches]
        if bass:
            notes.append(Note(i * beats, beats - 0.1, bass[i], 90))
    return notes


@pytest.mark.parametrize("style", ["lofi", "close", "drop2", "rootless"])
def test_our_own_voicings_with_a_bass_note_read_back(style):
    previous, chords, bass = None, [], []
    for symbol in PROGRESSION:
        chord = theory.parse_chord(symbol)
        previous = theory.voice_chord(chord, previous, style)
        chords.append(list(previous))
        bass.append(theory.chord_bass_pitch(chord))
    found = detect_chords(_play(chords, bass=bass), 4 * len(PROGRESSION), 4, key=theory.parse_key("D minor"))
    assert [e.start for e in found] == [4.0 * i for i in range(len(PROGRESSION))]
    for event, written in zip(found, PROGRESSION):
        assert same_chord(event.symbol, written), (event.symbol, written, style)


def test_music21s_chords_read_back_even_without_a_bass():
    # an independent voicing: music21's own spelling of each symbol, stacked from the root
    written = ["Dm7", "G7", "CM7", "Am", "F", "Bø7", "E7", "A7"]
    chords = [
        [
            48 + p.pitchClass + 12 * (p.pitchClass < m21harmony.ChordSymbol(s).root().pitchClass)
            for p in m21harmony.ChordSymbol(s).pitches
        ]
        for s in written
    ]
    found = detect_chords(_play(chords), 4 * len(written), 4)
    ours = ["Dm7", "G7", "Cmaj7", "Am", "F", "Bm7b5", "E7", "A7"]
    assert [e.symbol for e in found] == ours


def test_broken_chords_slash_basses_and_changes_per_beat():
    # an arpeggio: C E G C' as eighth notes, then Am7 the same way
    arp = [Note(i * 0.5, 0.45, p, 80) for i, p in enumerate([48, 52, 55, 60, 48, 52, 55, 60])]
    arp += [Note(4 + i * 0.5, 0.45, p, 80) for i, p in enumerate([45, 48, 52, 55, 45, 48, 52, 55])]
    assert [e.symbol for e in detect_chords(arp, 8, 4)] == ["C", "Am7"]
    # a bass note apart from the voicing is a slash bass; the bottom of a keyboard voicing is not
    over_e = [Note(0, 3.9, 40, 90), Note(0, 3.9, 60, 70), Note(0, 3.9, 64, 70), Note(0, 3.9, 67, 70)]
    inversion = [Note(0, 3.9, 64, 70), Note(0, 3.9, 67, 70), Note(0, 3.9, 72, 70)]
    assert detect_chords(over_e, 4, 4)[0].symbol == "C/E"
    assert detect_chords(inversion, 4, 4)[0].symbol == "C"
    # two chords a bar: one per bar reads the stronger, per beat reads both
    two = _play([[50, 53, 57, 60], [55, 59, 62, 65]], beats=2.0)
    assert [e.symbol for e in detect_chords(two, 4, 4, "beat")] == ["Dm7", "G7"]
    assert [e.symbol for e in detect_chords(two, 4, 4, "half-bar")] == ["Dm7", "G7"]
    assert len(detect_chords(two, 4, 4, "bar")) == 1
    # silence holds the chord before it; a silent start takes the first chord
    gap = [Note(4, 3.9, p, 70) for p in (48, 52, 55)] + [Note(12, 3.9, p, 70) for p in (45, 48, 52)]
    assert [(e.start, e.duration, e.symbol) for e in detect_chords(gap, 16, 4)] == [(0.0, 12.0, "C"), (12.0, 4.0, "Am")]


def _clip(path: Path, chords: list[list[int]], name: str = "keys", beats: float = 4.0) -> Path:
    midi = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack([mido.MetaMessage("track_name", name=name)])
    events = []
    for i, pitches in enumerate(chords):
        for p in pitches:
            events += [(int(i * beats * 480), 1, p), (int((i + 1) * beats * 480) - 60, 0, p)]
    now = 0
    for tick, on, pitch in sorted(events):
        track.append(mido.Message("note_on", note=pitch, velocity=80 if on else 0, time=tick - now))
        now = tick
    midi.tracks.append(track)
    path.parent.mkdir(parents=True, exist_ok=True)
    midi.save(str(path))
    return path


CLIP_RECIPE = """\
lofictl: 1
title: Clip Lead
seed: 5
tempo: 84
key: F major
length: 8 bars
tracks:
  keys: {part: midi, file: clips/keys.mid}
  bass: {part: bass}
  drums: {part: drums}
"""


def test_melody_and_bass_follow_a_clip(write_recipe, project):
    # F, Dm7, Bb, C7: the clip has no bass note, so the band plays its roots
    _clip(project / "recipes" / "clips" / "keys.mid", [[53, 57, 60], [50, 53, 57, 60], [46, 50, 53], [48, 52, 55, 58]])
    text = CLIP_RECIPE + "  melody: {part: melody, generate: {model: models/lofi-melody, seed: 1}}\n"
    score = compose(
        load_recipe(write_recipe(text)).recipe,
        models={"melody": load_track_model(REPO / "models" / "lofi-melody")},
        clips={"keys": tuple(Note(n.start, n.duration, n.pitch, n.velocity) for n in _notes(project))},
    ).score
    assert [c.symbol for c in score.chords] == ["F", "Dm7", "Bb", "C7"] * 2  # the piano roll's chord strip
    bass = score.track("bass").notes
    for chord in score.chords:
        first = min((n for n in bass if abs(n.start - chord.start) < 0.2), key=lambda n: n.start)
        assert first.pitch % 12 == theory.parse_chord(chord.symbol).root
    melody = score.track("melody").notes
    assert melody and all(n.start < 32 for n in melody)


def _notes(project: Path):
    from lofictl.export.midi import read_midi_clip

    return read_midi_clip(project / "recipes" / "clips" / "keys.mid")


def test_a_recipe_names_its_harmony_and_followers_can_name_a_clip(write_recipe, project):
    _clip(project / "recipes" / "clips" / "keys.mid", [[53, 57, 60], [50, 53, 57, 60]])
    _clip(project / "recipes" / "clips" / "pad.mid", [[43, 47, 50], [45, 48, 52]], name="pad", beats=8.0)
    text = CLIP_RECIPE.replace(
        "  bass: {part: bass}\n",
        "  pad: {part: midi, file: clips/pad.mid, loop: false}\n"
        "  bass: {part: bass}\n  bass2: {part: bass, follow: keys}\n",
    )
    path = write_recipe(text.replace("length: 8 bars\n", "length: 4 bars\nharmony: pad\n"))
    from lofictl.pipeline.plan import prepare
    from lofictl.pipeline.stages import compose_score

    score = compose_score(prepare(load_recipe(path))).score
    assert [c.symbol for c in score.chords] == ["G", "Am"]  # the pad leads: 2 bars each, then held
    assert [n.pitch % 12 for n in score.track("bass").notes if n.start in (0.0, 8.0)] == [7, 9]
    assert [n.pitch % 12 for n in score.track("bass2").notes if n.start in (0.0, 4.0, 8.0, 12.0)] == [5, 2, 5, 2]
    for change, message in (
        (("harmony: pad", "harmony: drums"), "'drums' is not a chords track or a MIDI clip"),
        (("follow: keys", "follow: drums"), "follows 'drums', which is not a chords track"),
    ):
        bad = write_recipe(text.replace("length: 8 bars\n", "length: 4 bars\nharmony: pad\n").replace(*change))
        with pytest.raises(LofictlError, match=message):
            load_recipe(bad)


def test_chords_command_prints_the_clip_as_a_progression(tmp_path):
    from typer.testing import CliRunner

    from lofictl.cli import app

    clip = _clip(tmp_path / "keys.mid", [[45, 48, 52, 55], [50, 53, 57, 60], [43, 55, 59, 62, 65]])
    result = CliRunner().invoke(app, ["chords", str(clip)])
    assert result.exit_code == 0, result.output
    assert "as a progression: Am7:4 Dm7:4 G7:4" in result.output
    shipped = CliRunner().invoke(app, ["chords", str(REPO / "recipes" / "clips" / "own_chords.mid")])
    assert "Am9:4 Dm9:4 Gmaj9:4 Cmaj7:4 Fmaj7:4 Bm7b5:4 E7b9:4 Am9:4" in shipped.output
    bad = CliRunner().invoke(app, ["chords", str(clip), "--changes", "bars"])
    assert bad.exit_code == 2 and "--changes must be one of bar, half-bar, beat" in bad.output


def test_lofictl_own_lofi_voicings_read_as_written():
    # the `lofi` voicing spreads Dm9 as F3 C4 E4 D5 and G13 as F3 E4 G4 B4: the bottom is a
    # voicing's 3rd or 7th, not a bass line, so no slash chord (issue 26: "Dm9/F")
    key = theory.parse_key("D minor")
    for symbol in ("Dm9", "G13", "Cmaj9", "A7b9", "Fmaj9"):
        chord = theory.lofi_colour(theory.parse_chord(symbol), key)
        pitches = theory.voice_chord(chord, None, "lofi")
        found = detect_chords([Note(0, 3.9, p, 70) for p in pitches], 4, 4, key=key)
        assert [e.symbol for e in found] == [chord.symbol], (symbol, pitches)
