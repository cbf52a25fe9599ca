"""Voicings play what the symbol says: every quality the parser accepts, every style, checked
against music21's own reading of the chord symbol (its spelling, chord steps and chord names)."""

import re

import pytest
from music21 import chord as m21chord
from music21 import harmony, interval, pitch

from lofictl.compose import theory

# Our quality suffixes that music21's figure parser spells another way. A quality added to
# theory.QUALITIES that music21 cannot read fails here until it gets a spelling.
M21_FIGURES = {
    "69": "6add9",
    "m69": "m6add9",
    "7sus2": "sus2addb7",
    "mmaj7": "mM7",
    "ø": "m7b5",
    "maj9": "M9",
    "maj13": "M13",
}
ROOTS = ("C", "F#", "Bb")


def reference(root: str, quality: str) -> dict[int, pitch.Pitch]:
    """music21's chord for the symbol: pitch class → its spelled pitch."""
    figure = root.replace("b", "-") + M21_FIGURES.get(quality, quality)
    try:
        symbol = harmony.ChordSymbol(figure)
    except Exception as exc:  # noqa: BLE001 - music21 raises several kinds for unknown figures
        pytest.fail(f"music21 cannot read {figure!r} ({exc}); add a spelling for {quality!r} to M21_FIGURES")
    return {p.pitchClass: p for p in symbol.pitches}


def step_of(root: pitch.Pitch, tone: pitch.Pitch) -> int:
    """1..7: the chord step of a spelled tone above the root (9ths are 2, 13ths are 6)."""
    return interval.Interval(root, tone).generic.simpleUndirected


def named_extension_steps(quality: str) -> set[int]:
    """The extensions written in the symbol (9, 11, 13, with or without an accidental) as steps."""
    numbers = {int(n) for n in re.findall(r"(?<!\d)(9|11|13)(?!\d)", quality)}
    return {{9: 2, 11: 4, 13: 6}[n] for n in numbers}


def music21_kind(pitches: list[pitch.Pitch], root: pitch.Pitch) -> str:
    chord = m21chord.Chord(pitches)
    chord.root(root)
    return harmony.chordSymbolFigureFromChord(chord, True)[1]


@pytest.mark.parametrize("quality", list(theory.QUALITIES))
def test_every_voicing_plays_the_symbol(quality):
    for root_name in ROOTS:
        chord = theory.parse_chord(root_name + quality)
        spelled = reference(root_name, quality)
        root = spelled[chord.root]
        # The parser's table agrees with music21's chord (13ths may leave out the 11th).
        ours = chord.pitch_classes
        assert ours <= set(spelled), f"{chord.symbol}: tones music21 does not have"
        assert all(step_of(root, spelled[pc]) == 4 for pc in set(spelled) - ours), chord.symbol
        steps = {step_of(root, spelled[pc]): spelled[pc] for pc in ours}
        third = next((s for s in (3, 2, 4) if s in steps), None)  # the 3rd, or the sus tone
        seventh = (
            7
            if 7 in steps
            else (
                6
                if 6 in steps and 6 not in named_extension_steps(quality) and quality not in ("13", "m13", "maj13")
                else None
            )
        )
        fifth_altered = 5 in steps and (steps[5].pitchClass - chord.root) % 12 != 7
        full_kind = music21_kind([spelled[pc] for pc in sorted(ours, key=lambda pc: (pc - chord.root) % 12)], root)
        triad_steps = {1, 5} & set(steps) | ({third} if third else set())
        triad_kind = music21_kind([steps[s] for s in sorted(triad_steps)], root)
        previous = None
        for style, rule in theory.VOICING_RULES.items():
            voicing = theory.voice_chord(chord, previous, style)
            previous = voicing
            where = f"{chord.symbol} {style} {[pitch.Pitch(midi=p).nameWithOctave for p in voicing]}"
            assert len(voicing) == len(set(voicing)) <= rule.notes, where
            assert {p % 12 for p in voicing} <= ours, where
            played = {step_of(root, spelled[p % 12]) for p in voicing}
            if rule.triad:
                assert played == triad_steps, where
                heard = [spelled[p % 12] for p in voicing]
                assert music21_kind(heard, root) == triad_kind, where
                continue
            required = (
                ({third} if third else set()) | ({seventh} if seventh else set()) | ({5} if fifth_altered else set())
            )
            rootless = rule.rootless and seventh is not None
            if not rootless:
                required.add(1)
            else:
                assert 1 not in played, where
            assert required <= played, f"{where}: misses steps {sorted(required - played)}"
            room = rule.notes - len(required)
            named = named_extension_steps(quality) & set(steps)
            if len(named) <= room:
                assert named <= played, f"{where}: misses the named extension(s) {sorted(named - played)}"
            # music21's name for what is heard (the bass adds the root under a rootless voicing)
            heard = [spelled[p % 12] for p in voicing] + ([root] if rootless else [])
            kind = music21_kind(heard, root)
            if kind and full_kind:
                assert kind == full_kind, f"{where}: music21 hears {kind}, the symbol is {full_kind}"


@pytest.mark.parametrize(
    "symbol, kind", [("Dm9", "minor-ninth"), ("Cmaj9", "major-ninth"), ("G13", "dominant-13th"), ("Cm11", "minor-11th")]
)
def test_the_issue_examples_are_named_right_by_music21(symbol, kind):
    chord = theory.parse_chord(symbol)
    root = pitch.Pitch(midi=48 + chord.root)
    for style in ("lofi", "close", "drop2", "rootless"):
        if symbol == "Cm11" and style == "lofi":
            continue  # four notes: R b3 b7 11, which music21 does not name without the 9
        voicing = theory.voice_chord(chord, None, style)
        heard = [pitch.Pitch(midi=p) for p in voicing] + ([root] if style == "rootless" else [])
        assert music21_kind(heard, root) == kind, (symbol, style, voicing)
    triad = theory.voice_chord(chord, None, "triad")
    assert {(p - chord.root) % 12 for p in triad} == {0, chord.intervals[1], 7}


def test_a_new_quality_is_voiced_by_the_same_rules(monkeypatch):
    # A quality the table does not have yet (as another branch may add) needs no voicing code.
    monkeypatch.setitem(theory.QUALITIES, "m7add11", (0, 3, 10, 17, 7))
    chord = theory.parse_chord("Am7add11")
    assert {(p - 9) % 12 for p in theory.voice_chord(chord, None, "lofi")} == {0, 3, 10, 5}
