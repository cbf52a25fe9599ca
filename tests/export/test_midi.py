"""Score → MIDI → Score with mido, checked again by a second reader (music21)."""

from __future__ import annotations

from collections import Counter

import mido
import pytest

from lofictl.compose.drums import drum_notes
from lofictl.compose.score import DRUM_CHANNEL, ChordEvent, Note, PlacedSection, Score, Track
from lofictl.errors import LofictlError
from lofictl.export.midi import (
    assign_channels,
    midi_bytes,
    midi_key_signature,
    midi_to_score,
    read_midi_clip,
    score_to_midi,
    track_to_midi,
    write_midi,
)

TPB = 480


def make_score(key="D minor") -> Score:
    chords = tuple(Note(bar * 4.0, 3.9, p, 70) for bar in range(4) for p in (62, 65, 69, 72))
    melody = (
        Note(0.0, 0.5, 74, 90),
        Note(0.5, 0.25, 76, 80),
        Note(1.333, 0.667, 77, 85),
        Note(4.1, 1.0, 81, 100),
        Note(8.0, 2.0, 74, 60),
        Note(12.25, 3.75, 69, 70),
    )
    bass = tuple(Note(bar * 4.0, 1.5, 38, 95) for bar in range(4))
    drums = drum_notes(
        "boom-bap",
        0,
        4,
        4.0,
        11,
        swing=0.6,
        humanize_timing_ms=12,
        humanize_velocity=10,
        seconds_per_beat=60 / 72,
        fill_last_bar=True,
    )
    return Score(
        tempo=72,
        numerator=4,
        denominator=4,
        key=key,
        total_beats=16.0,
        tracks=(
            Track("chords", "chords", chords, program=4),
            Track("melody", "melody", melody, program=11),
            Track("bass", "bass", bass, program=32, bank=130),
            Track("drums", "drums", drums, is_drums=True),
        ),
        chords=tuple(ChordEvent(bar * 4.0, 4.0, "Dm9") for bar in range(4)),
        sections=(
            PlacedSection("A", 0, 2, ("chords", "melody")),
            PlacedSection("B", 2, 2, ("chords", "bass", "drums")),
        ),
    )


def ticks(notes):
    """Notes at tick resolution, the precision a MIDI file keeps."""
    return sorted((round(n.start * TPB), round(n.duration * TPB), n.pitch, n.velocity) for n in notes)


def absolute(track):
    now = 0
    for message in track:
        now += message.time
        yield now, message


def test_type_1_with_a_conductor_and_named_tracks():
    midi = score_to_midi(make_score(), provenance={"seed": 20261124, "recipe_sha256": "ab12", "title": "Rainy"})
    assert midi.type == 1 and midi.ticks_per_beat == TPB
    assert len(midi.tracks) == 5
    conductor = {m.type: m for m in midi.tracks[0]}
    assert not any(isinstance(m, mido.Message) for m in midi.tracks[0])
    assert conductor["track_name"].name == "Rainy"
    assert conductor["set_tempo"].tempo == mido.bpm2tempo(72)
    assert (conductor["time_signature"].numerator, conductor["time_signature"].denominator) == (4, 4)
    assert conductor["key_signature"].key == "Dm"
    assert [(t, m.text) for t, m in absolute(midi.tracks[0]) if m.type == "marker"] == [(0, "A"), (8 * TPB, "B")]
    provenance = [m.text for m in midi.tracks[0] if m.type == "text"]
    assert provenance == ['lofictl provenance: {"recipe_sha256":"ab12","seed":20261124,"title":"Rainy"}']
    assert [t.name for t in midi.tracks[1:]] == ["chords", "melody", "bass", "drums"]
    # Every track ends together at the piece's end.
    assert {sum(m.time for m in t) for t in midi.tracks} == {16 * TPB}


def test_programs_banks_and_channels():
    midi = score_to_midi(make_score())
    programs = {t.name: [(m.channel, m.program) for m in t if m.type == "program_change"] for t in midi.tracks[1:]}
    assert programs == {"chords": [(0, 4)], "melody": [(1, 11)], "bass": [(2, 32)], "drums": [(9, 0)]}
    bank = [(m.control, m.value) for m in midi.tracks[3] if m.type == "control_change"]
    assert bank == [(0, 1), (32, 2)]  # 130 = 1 * 128 + 2
    assert {m.channel for m in midi.tracks[4] if m.type == "note_on"} == {DRUM_CHANNEL}


def test_channels_keep_free_choices_and_skip_ten():
    notes = (Note(0, 1, 60, 80),)
    tracks = tuple(Track(f"t{i}", "midi", notes, channel=ch) for i, ch in enumerate([5, 5, 9, 0, 0, 0, 0, 0, 0, 0]))
    score = make_score().copy(tracks=tracks + (Track("kit", "drums", notes, is_drums=True, channel=3),))
    channels = assign_channels(score)
    assert channels["t0"] == 5 and channels["kit"] == DRUM_CHANNEL
    # t3 keeps its 0; the clash (t1) and the drum channel (t2) and the rest take free ones, 9 skipped.
    assert [channels[f"t{i}"] for i in range(1, 10)] == [1, 2, 0, 3, 4, 6, 7, 8, 10]


@pytest.mark.parametrize(
    "key, expected",
    [
        ("D minor", "Dm"),
        ("Eb major", "Eb"),
        ("F#", "F#"),
        ("Gb major", "Gb"),
        ("A# major", "Bb"),
        ("Db minor", "C#m"),
        ("E dorian", "Bm"),
        ("G mixolydian", "C"),
        ("F lydian", "C"),
        ("E phrygian", "Am"),
        ("A harmonic minor", "Am"),
    ],
)
def test_key_signatures(key, expected):
    assert midi_key_signature(key) == expected


def test_round_trip_keeps_every_note_and_the_header():
    score = make_score(key="E dorian")
    back = midi_to_score(midi_bytes(score_to_midi(score)))
    assert (back.tempo, back.numerator, back.denominator, back.key) == (72, 4, 4, "E dorian")
    assert back.total_beats == 16.0
    assert [(t.name, t.program, t.bank, t.is_drums) for t in back.tracks] == [
        (t.name, t.program, t.bank, t.is_drums) for t in score.tracks
    ]
    assert [t.channel for t in back.tracks] == [0, 1, 2, 9]
    for original, read in zip(score.tracks, back.tracks):
        assert ticks(read.notes) == ticks(original.notes), original.name
    assert [(s.name, s.start_bar, s.bars) for s in back.sections] == [("A", 0, 2), ("B", 2, 2)]


def test_overlaps_and_zero_lengths_leave_no_stuck_or_empty_notes():
    notes = (
        Note(0.0, 2.0, 60, 80),
        Note(1.0, 2.0, 60, 90),  # same pitch, overlapping
        Note(1.0, 0.5, 60, 50),  # and struck again at the same time
        Note(0.5, 0.0, 64, 70),
        Note(2.0, 0.0001, 67, 70),  # zero and sub-tick lengths
        Note(4.0, 1.0, 62, 80),
        Note(5.0, 1.0, 62, 80),
    )  # one ends where the next starts
    score = make_score().copy(tracks=(Track("keys", "chords", notes),))
    track = score_to_midi(score).tracks[1]
    sounding: dict[int, int] = {}
    last = (-1, -1)
    for tick, message in absolute(track):
        if message.type == "note_on":
            assert message.note not in sounding, f"note {message.note} struck while still on at {tick}"
            sounding[message.note] = tick
            last = (tick, 1)
        elif message.type == "note_off":
            assert message.note in sounding
            assert tick > sounding.pop(message.note), "zero-length note"
            assert (tick, 0) >= last, "note-off after a note-on at the same tick"
            last = (tick, 0)
    assert not sounding
    back = midi_to_score(midi_bytes(score_to_midi(score))).tracks[0].notes
    assert [(n.start, n.end, n.pitch, n.velocity) for n in back if n.pitch == 60] == [
        (0.0, 1.0, 60, 80),
        (1.0, 3.0, 60, 90),
    ]
    assert all(n.duration > 0 for n in back) and len(back) == 6


def test_same_score_same_bytes(tmp_path):
    score = make_score()
    data = midi_bytes(score_to_midi(score, provenance={"seed": 1}))
    assert data == midi_bytes(score_to_midi(score, provenance={"seed": 1}))
    assert write_midi(score_to_midi(score, provenance={"seed": 1}), tmp_path / "a.mid") == data
    assert (tmp_path / "a.mid").read_bytes() == data
    assert data[:4] == b"MThd"


def test_one_track_file_keeps_its_channel():
    midi = track_to_midi(make_score(), "bass")
    assert [t.name for t in midi.tracks] == ["lofictl", "bass"]
    assert {m.channel for m in midi.tracks[1] if m.type == "note_on"} == {2}
    with pytest.raises(LofictlError, match="did you mean 'bass'"):
        track_to_midi(make_score(), "base")


def test_a_second_reader_sees_the_same_notes(tmp_path):
    import music21

    score = make_score()
    path = tmp_path / "piece.mid"
    write_midi(score_to_midi(score), path)
    parsed = music21.converter.parse(str(path), quantizePost=False)
    by_name = {part.partName: part for part in parsed.parts}
    assert set(by_name) == {t.name for t in score.tracks}
    for track in score.tracks:
        pitches = []
        for element in by_name[track.name].recurse().notes:
            for note in getattr(element, "notes", [element]):  # chords hold several
                if track.is_drums:
                    pitches.append(note.storedInstrument.percMapPitch)
                else:
                    pitches.append(note.pitch.midi)
        assert Counter(pitches) == Counter(n.pitch for n in track.notes), track.name


def test_reading_midi_clips(tmp_path):
    path = tmp_path / "clip.mid"
    write_midi(score_to_midi(make_score()), path)
    melody = make_score().track("melody").notes
    assert ticks(read_midi_clip(path, "melody")) == ticks(melody)
    assert ticks(read_midi_clip(path, 2)) == ticks(melody)
    assert ticks(read_midi_clip(path, None, channel=1)) == ticks(melody)
    assert len(read_midi_clip(path)) == sum(len(t.notes) for t in make_score().tracks)
    with pytest.raises(LofictlError, match="did you mean 'melody'") as info:
        read_midi_clip(path, "melodie")
    assert info.value.file == str(path)
    with pytest.raises(LofictlError, match="no notes"):
        read_midi_clip(path, "melody", channel=5)


def test_type_0_file_is_split_by_channel():
    midi = mido.MidiFile(type=0, ticks_per_beat=96)
    midi.tracks.append(
        mido.MidiTrack(
            [
                mido.MetaMessage("track_name", name="song"),
                mido.Message("note_on", channel=0, note=60, velocity=80, time=0),
                mido.Message("note_on", channel=9, note=36, velocity=100, time=0),
                mido.Message("note_on", channel=9, note=36, velocity=0, time=24),
                mido.Message("note_off", channel=0, note=60, time=72),
                mido.Message("note_on", channel=0, note=62, velocity=70, time=0),  # never ended: closed at the end
                mido.MetaMessage("end_of_track", time=96),
            ]
        )
    )
    score = midi_to_score(midi)
    assert [(t.name, t.channel, t.is_drums) for t in score.tracks] == [
        ("song (ch 1)", 0, False),
        ("song (ch 10)", 9, True),
    ]
    assert score.tracks[0].notes == (Note(0.0, 1.0, 60, 80), Note(1.0, 1.0, 62, 70))
    assert score.tracks[1].notes == (Note(0.0, 0.25, 36, 100),)
    assert (score.tempo, score.numerator, score.key) == (120.0, 4, "C major")


@pytest.mark.parametrize(
    "content",
    [b"", b"not a midi file at all", b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\x01\x00\x00\x90"],
)
def test_corrupt_or_empty_midi_names_the_file(tmp_path, content):
    path = tmp_path / "broken.mid"
    path.write_bytes(content)
    with pytest.raises(LofictlError) as info:
        midi_to_score(path)
    assert info.value.file == str(path)
    assert "broken.mid" in str(info.value)


def test_missing_file_and_unwritable_meter():
    with pytest.raises(LofictlError, match="not found"):
        midi_to_score("/nonexistent/clip.mid")
    with pytest.raises(LofictlError, match="power of two"):
        score_to_midi(make_score().copy(numerator=7, denominator=10))
