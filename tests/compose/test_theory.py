import pytest

from lofictl.compose import theory


@pytest.mark.parametrize(
    "symbol, pcs",
    [
        ("Dm9", {2, 5, 9, 0, 4}),
        ("G13", {7, 11, 2, 5, 9, 4}),
        ("Cmaj9", {0, 4, 7, 11, 2}),
        ("A7b9", {9, 1, 4, 7, 10}),
        ("F#m7b5", {6, 9, 0, 4}),
        ("Bb", {10, 2, 5}),
    ],
)
def test_chord_pitch_classes(symbol, pcs):
    assert theory.parse_chord(symbol).pitch_classes == frozenset(pcs)


def test_slash_chord_bass():
    chord = theory.parse_chord("F/A")
    assert chord.bass == 9 and theory.chord_bass_pitch(chord) % 12 == 9


def test_unknown_chord_suggests():
    with pytest.raises(theory.TheoryError, match="did you mean"):
        theory.parse_chord("Dm99")
    with pytest.raises(theory.TheoryError, match="unknown chord symbol"):
        theory.parse_chord("H7")


def test_progression_durations():
    chords = theory.parse_progression("Dm9:2 G7:2 | Cmaj7", 4)
    assert [(c.symbol, d) for c, d in chords] == [("Dm9", 2.0), ("G7", 2.0), ("Cmaj7", 4.0)]
    with pytest.raises(theory.TheoryError):
        theory.parse_progression("Dm9:0", 4)


def test_keys():
    assert theory.parse_key("D minor").scale == (2, 4, 5, 7, 9, 10, 0)
    assert theory.parse_key("Eb").name == "Eb major"
    with pytest.raises(theory.TheoryError, match="unknown mode"):
        theory.parse_key("D locrianish")


def test_voicing_contains_chord_tones_in_register_and_leads_smoothly():
    previous = None
    total_motion = 0
    for symbol in ["Dm9", "G13", "Cmaj9", "A7b9"] * 2:
        chord = theory.parse_chord(symbol)
        voicing = theory.voice_chord(chord, previous, "lofi")
        assert all(50 - 12 <= p <= 76 + 12 for p in voicing)
        assert {p % 12 for p in voicing} <= chord.pitch_classes
        assert len(voicing) == 4  # 7th/9th colour, the fifth dropped
        if previous:
            total_motion += sum(min(abs(p - q) for q in previous) for p in voicing)
        previous = voicing
    # smooth voice leading: on average well under a third per voice per change
    assert total_motion / (7 * 4) < 3


def test_drop2_spreads_the_voicing():
    chord = theory.parse_chord("Cmaj7")
    close = theory.voice_chord(chord, None, "close")
    drop2 = theory.voice_chord(chord, None, "drop2")
    assert max(drop2) - min(drop2) > max(close) - min(close)
