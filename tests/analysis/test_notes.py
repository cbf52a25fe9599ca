"""Note measures of `lofictl analyze` (lofictl/analysis/notes.py) on hand-made parts with known answers."""

from __future__ import annotations

import pytest

from lofictl.analysis import notes
from lofictl.compose.score import Note


def test_two_parts_off_beats_at_056_and_050_flam_50_ms_at_72_bpm():
    swung = [Note(beat + 0.56, 0.25, 62, 80) for beat in range(16)]
    straight = [Note(beat + 0.5, 0.1, 42, 80) for beat in range(16)]
    on_beats = [Note(float(beat), 0.25, 36, 100) for beat in range(16)]  # beats and 16ths are not off-beat 8ths
    sixteenths = [Note(beat + 0.25, 0.25, 36, 100) for beat in range(16)]
    a = notes.offbeat_position(swung + on_beats)
    b = notes.offbeat_position(straight + sixteenths)
    assert a == {"mean": pytest.approx(0.56), "n": 16}
    assert b == {"mean": pytest.approx(0.5), "n": 16}
    assert notes.flam_ms(a["mean"], b["mean"], 72) == pytest.approx(50.0)
    assert notes.flams({"melody": 0.56, "hats": 0.5, "pad": None}, 72) == {"hats / melody": pytest.approx(50.0)}
    chord = [Note(0.6, 1, p, 70) for p in (60, 64, 67)]  # one stab, three notes: one onset
    assert notes.offbeat_position(chord) == {"mean": pytest.approx(0.6), "n": 1}


def test_melody_under_chords_counts_only_time_with_a_chord_note_above():
    melody = [Note(0, 2, 67, 80), Note(2, 2, 72, 80)]
    chords = [Note(0, 4, 60, 70), Note(0, 4, 64, 70), Note(1, 2, 69, 70), Note(1.5, 1, 70, 70)]
    # 67 is under the 69/70 from beat 1 to 2 (one beat of the first two); 72 is above everything
    assert notes.melody_under_chords(melody, chords) == pytest.approx(0.25)
    assert notes.melody_under_chords(melody, [Note(0, 4, 79, 70)]) == 1.0
    assert notes.melody_under_chords([], chords) is None


def test_velocity_spread_per_lane_and_hits_per_bar_per_section():
    drums = [Note(float(i), 0.1, 38, v) for i, v in enumerate((80, 90, 100, 110))] + [
        Note(i / 2, 0.1, 42, 60) for i in range(16)
    ]
    spread = notes.velocity_spread(drums)
    assert spread[38] == {"hits": 4, "median": 95.0, "iqr": 15.0, "min": 80, "max": 110}
    assert spread[42]["iqr"] == 0.0 and spread[42]["hits"] == 16
    per_bar = notes.hits_per_bar(drums, [("A", 0, 1), ("B", 1, 1), ("A", 2, 2)], 4.0)
    assert per_bar == {"A": 12.0, "B": 8.0, "A #2": 0.0}


def test_a_rolled_chord_is_one_off_beat_onset_at_its_first_note():
    from lofictl.analysis.notes import offbeat_fractions

    rolled = [Note(0.56 + 0.015 * voice, 1.0, 60 + 4 * voice, 70) for voice in range(4)]  # a soft roll on the "and"
    assert offbeat_fractions(rolled) == [pytest.approx(0.56)]
    apart = [Note(0.5, 0.2, 60, 70), Note(0.75, 0.2, 62, 70)]  # two 16ths: the second is not the "and"
    assert offbeat_fractions(apart) == [pytest.approx(0.5)]
