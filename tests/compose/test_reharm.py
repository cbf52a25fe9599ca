"""The reharmoniser (compose/reharm.py) and the colour by function (theory.colour_quality): each
style's moves on known loops, seeded and key-relative, loops kept as loops, written progressions
left alone unless asked."""

import pytest

from lofictl.compose import theory
from lofictl.compose.arrangement import compose
from lofictl.compose.reharm import STYLE_RULES, reharmonise
from lofictl.models.generate import load_track_model
from lofictl.recipe.load import load_recipe
from support import REPO, SMALL_RECIPE

STYLES = tuple(STYLE_RULES)
SEEDS = range(1, 13)


def bars(progression: str) -> list[tuple[str, float]]:
    return [(symbol, 4.0) for symbol in progression.split()]


def restyle(progression, key, style, seed, loop=4, half=False):
    chords = bars(progression) if isinstance(progression, str) else progression
    return reharmonise(chords, theory.parse_key(key), style, seed, loop_bars=loop, beats_per_bar=4.0, half_bars=half)


def per_beat(chords):
    """The symbol sounding on each beat (durations in whole beats here)."""
    out = []
    for symbol, beats in chords:
        out.extend([symbol] * int(round(beats)))
    return out


def changes(chords):
    """(root, kind, quality) of each chord in turn."""
    out = []
    for symbol, _ in chords:
        chord = theory.parse_chord(symbol)
        out.append((chord.root, theory.chord_kind(chord), chord.quality))
    return out


def has_ii_v(chords) -> bool:
    """A minor or half-diminished chord, then a dominant a fifth below it."""
    moves = changes(chords)
    return any(a[1] in ("min", "hdim") and b[1] == "dom" and (a[0] - b[0]) % 12 == 7 for a, b in zip(moves, moves[1:]))


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("half", [False, True])
def test_every_loop_turns_around_to_its_first_chord_by_a_fifth(style, half):
    # Am F C G in A minor: the last beats lead back to Am from its V7, a 7b9 before a minor chord.
    for seed in SEEDS:
        out = restyle("Am F C G", "A minor", style, seed, half=half)
        beats = per_beat(out)
        last = theory.parse_chord(beats[-1])
        assert last.root == theory.pitch_class("E") and last.quality == "7b9", (seed, out)
        assert theory.parse_chord(beats[0]).root == theory.pitch_class("A")  # the model's first chord stays
        assert sum(b for _, b in out) == 16.0


@pytest.mark.parametrize("style", STYLES)
def test_each_style_writes_ii_v_somewhere(style):
    found = [has_ii_v(restyle("Am F C G", "A minor", style, seed)) for seed in SEEDS]
    if style == "jazz":
        assert all(found)  # jazz always puts ii before its V
    else:
        assert sum(found) >= 3, found


def test_vi_ii_v_i_in_major():
    # C Em F G: the bar before the ii becomes vi (diatonic) or VI7 (jazz: the V of ii).
    seen = set()
    for style in ("neo-soul", "jazz"):
        for seed in SEEDS:
            out = per_beat(restyle("C Em F G", "C major", style, seed))[::4]
            roots = [theory.parse_chord(s).root for s in out]
            if roots == [0, 9, 2, 7]:
                seen.add((style, theory.chord_kind(theory.parse_chord(out[1]))))
    assert ("neo-soul", "min") in seen and ("jazz", "dom") in seen, seen


def test_backdoor_into_a_through_composed_tonic_never_at_a_loop_end():
    through = []
    for seed in SEEDS:
        beats = per_beat(restyle("Dm F Am C", "C major", "neo-soul", seed, loop=None))
        through.append([theory.parse_chord(s).root for s in beats[::4]])
    assert [0, 2 + 3, 10, 0][1:] in [r[1:] for r in through]  # iv–bVII–I: F(m) Bb C
    assert all(r[-1] == 0 for r in through)  # the final tonic stays
    for seed in SEEDS:
        looped = per_beat(restyle("C Am Dm F", "C major", "neo-soul", seed))
        assert theory.parse_chord(looped[-1]).root == 7  # a loop's end is always the V


def test_secondary_dominants_and_tritone_substitutes():
    secondary = tritone = False
    for seed in range(1, 40):
        out = restyle("Dm Dm Bb Bb Gm Gm C C", "D minor", "jazz", seed, loop=8, half=True)
        moves = changes(out)
        for (root, kind, quality), (next_root, _, _) in zip(moves, moves[1:]):
            if kind != "dom":
                continue
            if quality == "7#11":
                assert (root - next_root) % 12 == 1  # bII7: a semitone above its target
                tritone = True
            elif (root - next_root) % 12 == 7 and next_root != 2:
                secondary = True  # a V7 of a chord other than the tonic
    assert secondary and tritone


@pytest.mark.parametrize("style", STYLES)
def test_same_seed_same_chords_and_seeds_vary(style):
    outs = {tuple(restyle("Dm Bb C Dm Gm Bb C Am", "D minor", style, seed, loop=8)) for seed in SEEDS}
    again = {tuple(restyle("Dm Bb C Dm Gm Bb C Am", "D minor", style, seed, loop=8)) for seed in SEEDS}
    assert outs == again
    assert len(outs) >= 3


@pytest.mark.parametrize("loop", [1, 2, 4, 8])
@pytest.mark.parametrize("style", STYLES)
def test_loops_stay_loops(loop, style):
    # The model's loop, tiled over 16 bars (its repeats merged where a chord runs on): the styled
    # chords repeat with the same period.
    cycle = ["Dm", "Bb", "F", "C", "Dm", "Gm", "Bb", "C"][:loop]
    tiled = [cycle[i % loop] for i in range(16)]
    merged: list[list] = []
    for symbol in tiled:
        if merged and merged[-1][0] == symbol:
            merged[-1][1] += 4.0
        else:
            merged.append([symbol, 4.0])
    for seed in (1, 2, 3):
        beats = per_beat(restyle([tuple(m) for m in merged], "D minor", style, seed, loop=loop, half=True))
        assert len(beats) == 64
        period = 4 * loop
        assert beats[period:] == beats[:-period]


@pytest.mark.parametrize("tonic, mode", [("C", "major"), ("Eb", "major"), ("F#", "minor"), ("A", "minor")])
def test_key_relative(tonic, mode):
    # A loop given in degrees of the key comes out the same in every key, moved to it.
    major = mode == "major"
    degrees = [(0, "maj" if major else "m"), (9 if major else 8, "m" if major else ""), (5, "" if major else "m")]
    degrees.append((7, "") if major else (10, ""))
    base = theory.pitch_class(tonic)
    progression = " ".join(f"{theory.NOTE_NAMES[(base + d) % 12]}{q}" for d, q in degrees)
    c_progression = " ".join(f"{theory.NOTE_NAMES[d]}{q}" for d, q in degrees)
    for style in STYLES:
        for seed in (1, 2, 3, 4):
            here = changes(restyle(progression, f"{tonic} {mode}", style, seed, half=True))
            home = changes(restyle(c_progression, f"C {mode}", style, seed, half=True))
            assert [((r - base) % 12, k, q) for r, k, q in here] == home


def test_extensions_by_function():
    for style in STYLES:
        for seed in SEEDS:
            for progression, key in (("C Am F G", "C major"), ("Am F C G", "A minor"), ("Dm Bb Gm A", "D minor")):
                out = restyle(progression, key, style, seed, half=True)
                tonic = theory.parse_key(key).tonic
                moves = changes(out)
                for index, (root, kind, quality) in enumerate(moves):
                    following = moves[(index + 1) % len(moves)]
                    if kind == "dom":
                        assert quality in ("13", "7b9", "7#11", "9"), out
                        if (root - following[0]) % 12 == 7:  # a dominant that resolves
                            assert quality == ("7b9" if following[1] in ("min", "hdim") else "13"), out
                    elif kind == "maj" and root == tonic:
                        assert quality in ("maj9", "69"), out
                    elif kind == "min":
                        assert quality in ("m9", "m11", "m7"), out
                    elif kind == "hdim":
                        assert quality == "m7b5"
                # the ii of a minor target is half-diminished
                for (root, kind, _), (next_root, next_kind, _), (third_root, third_kind, _) in zip(
                    moves, moves[1:], moves[2:]
                ):
                    if next_kind == "dom" and (root - next_root) % 12 == 7 and (next_root - third_root) % 12 == 7:
                        if third_kind == "min" and kind in ("min", "hdim") and (root - third_root) % 12 == 2:
                            assert kind == "hdim", out


@pytest.mark.parametrize(
    "symbol, key, coloured",
    [
        ("C", "C major", "Cmaj9"),
        ("G", "C major", "G13"),  # the V of a major key: 13, not a plain 9
        ("E", "C major", "E7b9"),  # the V of vi: b9 before a minor chord
        ("A", "D minor", "A7b9"),  # the V of a minor key
        ("Dm", "C major", "Dm9"),
        ("Em", "C major", "Em11"),  # the key has no F#: the 11th instead of the 9th
        ("Bdim", "C major", "Bm7b5"),
        ("Edim", "D minor", "Em7b5"),  # ii of minor
        ("F", "C major", "Fmaj9"),
        ("C", "D minor", "C9"),  # the flat seven of a minor key, not resolving: a 9th's colour
        ("Dm7", "C major", "Dm7"),  # a chord written with a 7th keeps its colour
        ("Csus4", "C major", "Csus4"),
        ("C/E", "C major", "Cmaj9/E"),
    ],
)
def test_lofi_colour_by_function(symbol, key, coloured):
    chord = theory.lofi_colour(theory.parse_chord(symbol), theory.parse_key(key))
    expected = theory.parse_chord(coloured)
    assert (chord.root, chord.intervals, chord.bass) == (expected.root, expected.intervals, expected.bass)


def test_lofi_voicing_keeps_root_third_seventh_and_the_named_extension():
    for symbol, key, named in (("G", "C major", 21), ("A", "D minor", 13), ("C", "C major", 14)):
        chord = theory.lofi_colour(theory.parse_chord(symbol), theory.parse_key(key))
        played = {(p - chord.root) % 12 for p in theory.voice_chord(chord, None, "lofi")}
        third = 4
        seventh = 11 if chord.quality == "maj9" else 10
        assert {0, third, seventh, named % 12} <= played, (chord.symbol, played)


WRITTEN = SMALL_RECIPE.replace("length: 4 bars", "length: 8 bars").replace(
    "swing: 0.55", "swing: 0.55\nending: as-written"
)


def test_a_written_progression_plays_as_written_unless_a_style_is_asked(write_recipe):
    score = compose(load_recipe(write_recipe(WRITTEN)).recipe).score
    assert [c.symbol for c in score.chords] == ["Dm9", "G13", "Cmaj9", "A7b9"] * 2
    styled = WRITTEN.replace("part: chords\n", "part: chords\n    style: jazz\n")
    assert styled != WRITTEN
    score = compose(load_recipe(write_recipe(styled)).recipe).score
    symbols = [c.symbol for c in score.chords]
    assert symbols != ["Dm9", "G13", "Cmaj9", "A7b9"] * 2
    last = theory.parse_chord(symbols[-1])
    assert (last.root - theory.parse_chord(symbols[0]).root) % 12 == 7  # the loop turns around by a fifth


GENERATED = """\
lofictl: 1
title: Styled
seed: 7
tempo: 80
key: D minor
ending: as-written
sections:
  - {name: A, bars: 8}
tracks:
  chords:
    part: chords
    generate: {model: models/lofi-chords, temperature: 0.9, seed: 7}
  bass: {part: bass}
"""


def test_generated_chords_are_reharmonised_by_default_and_plain_keeps_the_model(write_recipe):
    model = {"chords": load_track_model(REPO / "models" / "lofi-chords")}

    def symbols(text):
        return [(c.start, c.symbol) for c in compose(load_recipe(write_recipe(text)).recipe, models=model).score.chords]

    plain = symbols(GENERATED.replace("seed: 7}", "seed: 7}\n    style: plain"))
    styled = symbols(GENERATED)
    assert all(len(theory.parse_chord(s).pitch_classes) <= 4 for _, s in plain)  # the model's triads
    assert styled != plain
    assert theory.parse_chord(styled[0][1]).root == theory.parse_chord(plain[0][1]).root
    # the 4-bar loop still loops, and bar 4 leads back to bar 1 by a fifth
    first = [(t, s) for t, s in styled if t < 16]
    assert [(t + 16, s) for t, s in first] == [(t, s) for t, s in styled if t >= 16]
    before_turn = [s for t, s in styled if t < 16][-1]
    assert (theory.parse_chord(before_turn).root - theory.parse_chord(styled[0][1]).root) % 12 == 7


@pytest.mark.parametrize("loop", [8, None])
def test_eight_bars_cadence_into_their_second_phrase_too(loop):
    for style in STYLES:
        for seed in SEEDS:
            out = per_beat(restyle("C F Am F C Dm Em C", "C major", style, seed, loop=loop))[::4]
            bar3, bar4, bar5 = (theory.parse_chord(s) for s in out[2:5])
            assert theory.chord_kind(bar4) == "dom", (style, seed, out)
            if (bar4.root - bar5.root) % 12 != 7:  # else the backdoor into the tonic: iv–bVII–I
                assert (bar3.root, bar4.root, bar5.root) == (5, 10, 0) and theory.chord_kind(bar3) == "min", out
            if loop is None:
                assert theory.parse_chord(out[-1]).root == 0  # home on the tonic
