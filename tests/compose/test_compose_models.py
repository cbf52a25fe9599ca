"""Generated chords in a recipe: loops per section, harmonic rhythm, and every seed field doing its job
(the shipped POP909 chord model; composing a score takes a second or two)."""

import pytest

from lofictl.compose import theory
from lofictl.compose.arrangement import compose
from lofictl.errors import LofictlError
from lofictl.recipe.load import load_recipe
from support import REPO

MODELS = {"chords": REPO / "models" / "lofi-chords", "melody": REPO / "models" / "lofi-melody"}

RECIPE = """\
lofictl: 1
title: Loops
seed: 7
tempo: 80
key: D minor
ending: as-written
sections:
  - {name: A, bars: 8}
  - {name: B, bars: 8, loop: 2}
  - {name: C, bars: 8, loop: through}
  - {name: A2, bars: 8, repeat: A}
tracks:
  chords:
    part: chords
    generate: {model: models/lofi-chords, temperature: 0.9, seed: 7}
    changes: half-bar
  bass: {part: bass}
  drums: {part: drums}
"""


def chords_of(score, start_bar, bars):
    """(beat from the section start, symbol) of the chords in a span of bars."""
    start, end = start_bar * 4, (start_bar + bars) * 4
    return [(round(c.start - start, 6), c.symbol) for c in score.chords if start <= c.start < end]


def period(events, beats):
    """The events of a span folded onto a loop of `beats`: equal when the span repeats it."""
    first = [(s, sym) for s, sym in events if s < beats]
    rest = [(s - beats, sym) for s, sym in events if s >= beats]
    return first, rest


def make(write_recipe, text=RECIPE, **models):
    return compose(load_recipe(write_recipe(text)).recipe, models={**MODELS, **models})


def test_sections_loop_their_progression_or_run_through(write_recipe):
    score = make(write_recipe)
    a = chords_of(score, 0, 8)
    first, second = period(a, 16)  # the chords track's loop: 4 bars
    assert first == second and len({sym for _, sym in first}) > 1
    b = chords_of(score, 8, 8)
    for k in range(1, 4):  # loop: 2 — the same two bars four times
        assert [(s - 8 * k, sym) for s, sym in b if 8 * k <= s < 8 * (k + 1)] == [(s, sym) for s, sym in b if s < 8]
    c = chords_of(score, 16, 8)
    first, second = period(c, 16)
    assert first != second  # through-composed
    assert theory.parse_chord(c[-1][1]).root == theory.parse_key("D minor").tonic  # and home at its end
    assert chords_of(score, 24, 8) == a  # a repeat plays A's loop again
    assert all(s % 2 == 0 for s, _ in a + b + c)  # changes: half-bar


def test_changes_bar_keeps_one_chord_a_bar_at_most(write_recipe):
    score = make(write_recipe, RECIPE.replace("changes: half-bar", "changes: bar"))
    assert all(c.start % 4 == 0 and c.duration % 4 == 0 for c in score.chords)


def test_generated_chords_are_the_datas_vocabulary_and_playable(write_recipe):
    score = make(write_recipe, RECIPE.replace("temperature: 0.9", "temperature: 1.2"))
    for event in score.chords:
        theory.parse_chord(event.symbol)
    played = [n for n in score.track("chords").notes]
    assert played and all(n.end <= score.total_beats + 1e-6 for n in played)


@pytest.mark.parametrize("seeds", [(7, 8, 12345)])
def test_generate_seed_decides_the_chords(write_recipe, seeds):
    """The bug of issue 11: tracks.chords.generate.seed was ignored (7, 8, 12345 gave one progression)."""
    made = [chords_of(make(write_recipe, RECIPE.replace("seed: 7}", f"seed: {s}}}")), 0, 32) for s in seeds]
    assert len({tuple(m) for m in made}) == len(seeds)
    again = chords_of(make(write_recipe, RECIPE.replace("seed: 7}", f"seed: {seeds[1]}}}")), 0, 32)
    assert again == made[1]
    # With generate.seed given, the track's seed no longer moves the chords (it voices them).
    text = RECIPE.replace("    changes: half-bar", "    changes: half-bar\n    seed: 99")
    assert chords_of(make(write_recipe, text), 0, 32) == made[0]


def test_every_seed_field_is_used(write_recipe):
    """Master seed, track seed, generate seed and section seed each change what they should."""
    base = RECIPE.replace(", seed: 7}", "}")  # no generate.seed: the track seed decides
    ref = make(write_recipe, base)

    def changed(score, track):
        return [n for n in score.track(track).notes] != [n for n in ref.track(track).notes]

    master = make(write_recipe, base.replace("seed: 7\n", "seed: 8\n", 1))
    assert chords_of(master, 0, 32) != chords_of(ref, 0, 32) and changed(master, "drums")
    chords_seed = make(write_recipe, base.replace("    changes: half-bar", "    changes: half-bar\n    seed: 5"))
    assert chords_of(chords_seed, 0, 32) != chords_of(ref, 0, 32) and not changed(chords_seed, "drums")
    bass_seed = make(write_recipe, base.replace("  bass: {part: bass}", "  bass: {part: bass, seed: 5}"))
    assert changed(bass_seed, "bass") and chords_of(bass_seed, 0, 32) == chords_of(ref, 0, 32)
    drums_seed = make(write_recipe, base.replace("  drums: {part: drums}", "  drums: {part: drums, seed: 5}"))
    assert changed(drums_seed, "drums") and not changed(drums_seed, "bass")
    section = make(write_recipe, base.replace("{name: B, bars: 8, loop: 2}", "{name: B, bars: 8, loop: 2, seed: 3}"))
    assert chords_of(section, 8, 8) != chords_of(ref, 8, 8) and chords_of(section, 0, 8) == chords_of(ref, 0, 8)


MELODY = RECIPE.replace(
    "  bass: {part: bass}",
    """\
  melody:
    part: melody
    generate: {model: models/lofi-melody, seed: 1}
  bass: {part: bass}""",
).replace("  - {name: B, bars: 8, loop: 2}\n  - {name: C, bars: 8, loop: through}\n", "")


def test_melody_generate_seed_and_track_seed(write_recipe):
    def pitches(text):  # rounded to the 16th: humanize, seeded by the track, only nudges the notes
        return [(round(n.start * 4), n.pitch) for n in make(write_recipe, text).track("melody").notes]

    one = pitches(MELODY)
    assert one and one == pitches(MELODY)
    assert pitches(MELODY.replace("seed: 1}", "seed: 2}")) != one
    # generate.seed given: the track seed does not resample the notes (it still humanizes them)
    other = pitches(
        MELODY.replace(
            "    generate: {model: models/lofi-melody, seed: 1}",
            "    generate: {model: models/lofi-melody, seed: 1}\n    seed: 40",
        )
    )
    assert [pitch for _, pitch in other] == [pitch for _, pitch in one]
    assert all(abs(a - b) <= 1 for (a, _), (b, _) in zip(other, one))


@pytest.mark.parametrize(
    "change, line, message",
    [
        (
            ("changes: half-bar", "changes: half-bar\n    loop: 3"),
            17,
            "tracks.chords.loop: must be 1, 2, 4, 8 or 'through' (got 3)",
        ),
        (
            ("{name: A2, bars: 8, repeat: A}", "{name: A2, bars: 8, repeat: A, loop: 2}"),
            11,
            "sections.3.loop: a repeat plays 'A' again, chords and all; set loop on 'A' instead",
        ),
        (
            (
                "    generate: {model: models/lofi-chords, temperature: 0.9, seed: 7}",
                "    progression: Dm G\n    loop: 2",
            ),
            9,
            "sections.1.loop: loop sets how generated chords repeat, and no chords track generates",
        ),
        (
            (
                "    generate: {model: models/lofi-chords, temperature: 0.9, seed: 7}",
                "    progression: Dm G\n    loop: 2",
            ),
            16,
            "tracks.chords.loop: loop applies to generated chords",
        ),
    ],
)
def test_loop_mistakes_are_one_line_with_file_and_line(write_recipe, change, line, message):
    text = RECIPE.replace(*change)
    if "tracks.chords.loop" in message:  # no section loops, so the track's own loop is the mistake
        text = text.replace(", loop: 2}", "}").replace(", loop: through}", "}")
    path = write_recipe(text)
    with pytest.raises(LofictlError) as info:
        load_recipe(path)
    text = str(info.value)
    assert text.startswith(f"{path}:{line}: ") and message in text, text
