"""Vocabularies: encode/decode are exact inverses on what they cover; keys normalise away."""

import numpy as np
import pytest

from lofictl.compose import theory
from lofictl.models import tokens


@pytest.mark.parametrize("tonic", range(12))
def test_pitch_round_trip_over_the_whole_range(tonic):
    base = tokens.tonic_base(tonic)
    for midi in range(base + tokens.PITCH_LOW, base + tokens.PITCH_HIGH + 1):
        token = tokens.encode_pitch(midi, tonic)
        assert 2 <= token < tokens.N_PITCH
        assert tokens.decode_pitch(token, tonic) == midi
    assert tokens.encode_pitch(None, tonic) == tokens.REST
    assert tokens.decode_pitch(tokens.REST, tonic) is None


def test_pitch_outside_the_range_folds_by_octaves():
    token = tokens.encode_pitch(60 + tokens.PITCH_HIGH + 5, 0)
    assert tokens.decode_pitch(token, 0) == 60 + tokens.PITCH_HIGH + 5 - 12
    with pytest.raises(ValueError):
        tokens.decode_pitch(tokens.BOS, 0)


def test_same_tune_in_two_keys_gives_the_same_tokens():
    d_minor = [62, 64, 65, 67, 69, None, 74]
    g_minor = [p + 5 if p is not None else None for p in d_minor]
    assert [tokens.encode_pitch(p, 2) for p in d_minor] == [tokens.encode_pitch(p, 7) for p in g_minor]


def test_octave_transposition_of_tokens():
    seq = np.array([tokens.encode_pitch(p, 0) for p in (60, 64, None, 67)])
    up = tokens.transpose_pitch_tokens(seq, 12)
    assert [tokens.decode_pitch(int(t), 0) for t in up] == [72, 76, None, 79]
    assert tokens.transpose_pitch_tokens(np.array([tokens.encode_pitch(60 + tokens.PITCH_HIGH, 0)]), 12) is None


def test_duration_round_trip_and_snapping():
    for i, ticks in enumerate(tokens.DURATION_TICKS):
        beats = ticks / tokens.TICKS_PER_BEAT
        assert tokens.encode_duration(beats) == i + 1
        assert tokens.decode_duration(i + 1) == beats
    assert tokens.decode_duration(tokens.encode_duration(0.3)) == pytest.approx(1 / 3)
    assert tokens.decode_duration(tokens.encode_duration(10.0)) == 4.0
    with pytest.raises(ValueError):
        tokens.encode_duration(0)


def test_split_ticks_covers_the_span():
    for span in range(3, 200):
        parts = tokens.split_ticks(span)
        assert all(p in tokens.DURATION_TICKS for p in parts)
        assert 0 <= span - sum(parts) <= 2


def test_velocity_round_trip():
    for v in tokens.VELOCITIES:
        assert tokens.decode_velocity(tokens.encode_velocity(v)) == v
    assert tokens.decode_velocity(tokens.encode_velocity(127)) == max(tokens.VELOCITIES)


def test_every_theory_quality_reduces():
    for suffix in theory.QUALITIES:
        assert tokens.quality_of_suffix(suffix) in tokens.QUALITY_NAMES
    expected = {
        "m9": "min7",
        "7b9": "7",
        "7#9": "7",
        "13": "7",
        "maj9": "maj7",
        "ø": "hdim7",
        "dim7": "dim7",
        "m6": "min6",
        "sus2": "sus2",
        "sus4": "sus4",
        "7sus4": "sus4(b7)",
        "": "maj",
        "mmaj7": "minmaj7",
        "aug": "aug",
        "6": "maj6",
        "69": "maj6",
        "m69": "min6",
        "add9": "maj",
        "m13": "min7",
        "maj13": "maj7",
        "dim": "dim",
        "5": "maj",
    }
    for suffix, quality in expected.items():
        assert tokens.quality_of_suffix(suffix) == quality, suffix


@pytest.mark.parametrize("tonic", [0, 2, 7, 11])
def test_chord_token_round_trip_through_symbols(tonic):
    key = theory.Key(tonic, "minor")
    for token in np.flatnonzero(tokens.valid_chord_tokens()):
        symbol = tokens.decode_chord(int(token), key)
        theory.parse_chord(symbol)  # readable by the rest of lofictl
        assert tokens.encode_chord(symbol, key) == token


def test_chord_tokens_are_key_relative():
    assert tokens.encode_chord("Dm9", theory.parse_key("C major")) == tokens.chord_token(2, "min7")
    assert tokens.decode_chord(tokens.chord_token(7, "7"), theory.parse_key("D minor")) == "A7"
    assert tokens.chord_parts(tokens.NO_CHORD) is None


def test_every_data_quality_and_slash_bass_is_a_playable_symbol():
    key = theory.parse_key("Eb major")
    for quality in tokens.QUALITY_NAMES:
        for inversion in range(len(tokens.CHORD_QUALITIES[quality][0])):
            token = tokens.chord_token(5, quality, inversion)
            symbol = tokens.decode_chord(token, key)
            chord = theory.parse_chord(symbol)
            assert chord.pitch_classes == frozenset(
                (key.tonic + 5 + i) % 12 for i in tokens.CHORD_QUALITIES[quality][0]
            )
            if inversion:
                assert chord.bass == (key.tonic + 5 + tokens.chord_tones(quality)[inversion]) % 12
            assert theory.voice_chord(chord, None, "lofi")  # the voicer plays it
    assert tokens.decode_chord(tokens.chord_token(0, "maj", 1), theory.parse_key("C major")) == "C/E"
    assert tokens.decode_chord(tokens.chord_token(2, "min7", 3), theory.parse_key("C major")) == "Dm7/C"
    with pytest.raises(ValueError):
        tokens.chord_token(0, "maj", 3)  # a triad has no third inversion
    valid = tokens.valid_chord_tokens()
    assert not valid[tokens.BOS] and not valid[tokens.NO_CHORD]
    assert valid.sum() == 12 * sum(len(t) for t, _ in tokens.CHORD_QUALITIES.values())


def test_identify_chord_from_pitch_classes():
    assert tokens.identify_chord(tokens.pcs_mask([0, 4, 7]), 0) == (0, "maj")
    assert tokens.identify_chord(tokens.pcs_mask([7, 11, 2, 5]), 7) == (7, "7")
    assert tokens.identify_chord(tokens.pcs_mask([9, 0, 4]), 9) == (9, "min")
    assert tokens.identify_chord(np.zeros(12)) is None


@pytest.mark.parametrize("layout", tokens.LAYOUTS)
def test_melody_vocab_encode_decode_inverse(layout):
    rng = np.random.default_rng(0)
    seen = np.stack(
        [
            rng.integers(1, tokens.N_PITCH, 200),
            rng.integers(1, tokens.N_DURATION, 200),
            rng.integers(1, tokens.N_VELOCITY, 200),
        ],
        -1,
    )
    vocab = tokens.melody_vocab(layout, seen)
    encoded = vocab.encode(seen[:, 0], seen[:, 1], seen[:, 2])
    assert (encoded >= 1).all()
    assert (vocab.decode(encoded) == seen).all()
    again = tokens.MelodyVocab.from_json(vocab.to_json())
    assert again.heads == vocab.heads
    assert (again.decode(encoded) == seen).all()
