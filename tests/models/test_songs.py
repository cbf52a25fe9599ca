"""Song measures (lofictl/models/songs.py) on hand-made melodies and progressions with known answers."""

from __future__ import annotations

import pytest

from lofictl.compose.form import form_text
from lofictl.compose.score import Note
from lofictl.models import songs


def _bars(rhythms, pitch=60):
    """One bar per entry: onsets (beats within the bar) of quarter-beat notes."""
    return [Note(bar * 4 + at, 0.25, pitch, 80) for bar, onsets in enumerate(rhythms) for at in onsets]


def test_rhythm_repeating_every_two_bars_scores_one():
    notes = _bars([(0, 1, 1.5, 3), (0, 2, 2.5)] * 8)
    assert songs.rhythm_repetition(notes, 16, 4.0) == 1.0


def test_rhythm_never_repeating_scores_zero_and_swing_is_read_on_the_16th_grid():
    notes = _bars([tuple(range(k % 4 + 1)) + (3.25 if k >= 4 else 3.5,) for k in range(8)] + [(0,)] * 8)
    # bars 0-7 all differ from each other and from the one-note bars after them
    assert songs.rhythm_repetition(notes, 16, 4.0) == pytest.approx(1 / 9)  # only bar 8 (a one-note bar) recurs
    swung = [Note(bar * 4 + 0.56 + beat, 0.25, 60, 80) for bar in range(9) for beat in range(4)]
    assert songs.rhythm_repetition(swung, 9, 4.0) == 1.0  # 0.56 of a beat sits on the "and"


def test_rhythm_repetition_needs_a_full_window():
    assert songs.rhythm_repetition(_bars([(0,)] * 7), 7, 4.0) is None


def test_ii_v_i_is_a_fifth_motion_and_a_two_chord_vamp_is_not():
    ii_v_i = songs.chord_events([("Dm7", 4), ("G7", 4), ("Cmaj7", 4), ("Am7", 4)] * 2)
    assert songs.fifth_motion_share(ii_v_i, 8, 4.0) == 1.0
    vamp = songs.chord_events([("Dm", 4), ("F", 4)] * 4)  # D→F up a third, F→D down a third
    assert songs.fifth_motion_share(vamp, 8, 4.0) == 0.0
    # a ii-V-I, then a window of thirds (C→E, E→Ab, Ab→E): one window of two
    one_of_two = songs.chord_events(
        [("Dm7", 4), ("G7", 4), ("C", 4), ("C", 4), ("E", 4), ("Ab", 4), ("E", 4), ("E", 4)]
    )
    assert songs.fifth_motion_share(one_of_two, 8, 4.0) == 0.5
    up = songs.chord_events([("C", 4), ("G", 4), ("D", 4), ("A", 4)])  # up a fifth each time
    assert songs.fifth_motion_share(up, 4, 4.0) == 0.0


def test_own_chord_tones_leave_out_the_voicings_extensions():
    assert songs.own_tones("Dm9") == frozenset({2, 5, 9, 0})  # D F A C, not E
    assert songs.own_tones("Csus4") == frozenset({0, 5, 7})
    assert songs.own_tones("Bdim7") == frozenset({11, 2, 5, 8})
    chords = songs.chord_events([("Dm9", 4), ("G13", 4)])
    on = [Note(0, 1, 62, 80), Note(1, 1, 65, 80), Note(2, 2, 72, 80), Note(4, 4, 71, 80)]
    assert songs.own_chord_tone_share(on, chords) == 1.0
    ninth = [Note(0, 2, 64, 80), Note(2, 2, 62, 80)]  # E over Dm9: a voicing tone, not the symbol's own
    assert songs.own_chord_tone_share(ninth, chords) == 0.5


def test_phrase_similarity_copy_variation_and_contrast():
    a = [Note(at, 0.5, 60 + i, 80) for i, at in enumerate((0, 1, 2, 3, 4, 5, 6, 7))]
    copy = [n.copy(start=n.start + 8) for n in a]
    varied = [n.copy(start=n.start + 16, pitch=n.pitch + (2 if n.start >= 6 else 0)) for n in a]  # a new ending
    other = [Note(24 + at, 0.5, 70, 80) for at in (0.5, 1.5, 2.5, 3.5)]
    notes = a + copy + varied + other
    phrases = songs.parse_form("A2A2A2B2")
    assert songs.phrase_similarity(notes, phrases[0], phrases[1], 4.0) == 1.0
    assert songs.phrase_similarity(notes, phrases[0], phrases[2], 4.0) == pytest.approx(0.75)
    assert songs.restated_similarity(notes, phrases, 4.0) == pytest.approx((1.0 + 0.75) / 2)
    assert songs.contrast(notes, phrases, 4.0) == 0.0


def test_forms_parse_and_compare_by_shape():
    phrases = songs.parse_form("i4A4A4B9b4A4B9b4B9X5o2")
    assert [p.start_bar for p in phrases[:4]] == [0, 4, 8, 12]
    assert songs.form_skeleton(phrases) == "iABaABaBCo"
    assert songs.form_skeleton(songs.parse_form("i4C8D8C8o4")) == "iABAo"  # names do not matter
    assert songs.form_similarity("iABAo", "iABAo") == 1.0
    assert songs.form_similarity("iABAo", "iABBo") == pytest.approx(0.8)
    assert songs.restated_share(songs.parse_form("A8B8A8B8")) == 0.5
    with pytest.raises(ValueError, match="i4A8B8A8o4"):
        songs.parse_form("A8 B8")


def test_built_sections_become_letters_by_what_they_restate():
    melody = [Note(bar * 4.0, 1, 60, 80) for bar in range(4, 28)]
    sections = [
        ("intro", None, 0, 4),
        ("A", None, 4, 8),
        ("B", None, 12, 8),
        ("A2", "A", 20, 8),
        ("outro", None, 28, 4),
    ]
    phrases = songs.built_phrases(sections, melody, 4.0)
    assert form_text(phrases) == "i4A8B8A8o4"
    # a "chorus" restated by name with a digit, a verse restating it through `repeat:`
    named = songs.built_phrases(
        [("verse", None, 0, 4), ("chorus", None, 4, 4), ("chorus2", None, 8, 4), ("v2", "verse", 12, 4)],
        [Note(b * 4.0, 1, 60, 80) for b in range(16)],
        4.0,
    )
    assert form_text(named) == "A4B4B4A4"


def test_grid_melody_reads_the_structure_datasets_16ths():
    notes = songs.grid_melody("0:4 61:2 63:6 0:4 65:4")
    assert [(n.start, n.duration, n.pitch) for n in notes] == [(1.0, 0.5, 61), (1.5, 1.5, 63), (4.0, 1.0, 65)]
