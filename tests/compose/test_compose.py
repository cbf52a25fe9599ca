"""Compose: the Score made from a recipe, with sections, repeats and seeds."""

import pytest

from lofictl.compose import theory
from lofictl.compose.arrangement import arrangement, compose
from lofictl.compose.feel import Feel
from lofictl.recipe.load import load_recipe
from support import SMALL_RECIPE

SECTIONS = SMALL_RECIPE.replace(
    "length: 4 bars\n",
    """\
sections:
  - {name: intro, bars: 2, tracks: [chords]}
  - {name: A, bars: 4}
  - {name: B, bars: 4, seed: 11}
  - {name: A2, bars: 4, repeat: A}
""",
)


def notes_in(track, start, end, shift=0.0):
    return [(round(n.start - shift, 6), n.duration, n.pitch, n.velocity) for n in track.notes if start <= n.start < end]


def test_a_written_progression_loops_and_plays_as_written(write_recipe):
    # "Dm9 G13 Cmaj9 A7b9" over 6 bars loops, and the last bar is what the loop reaches (G13):
    # the tonic ending is for generated chords unless the recipe asks for it
    score = compose(load_recipe(write_recipe(SMALL_RECIPE.replace("length: 4 bars", "length: 6 bars"))).recipe).score
    assert [c.symbol for c in score.chords] == ["Dm9", "G13", "Cmaj9", "A7b9", "Dm9", "G13"]
    assert score.total_beats == 24


def test_ending_tonic_when_asked(write_recipe):
    text = SMALL_RECIPE.replace("swing: 0.55", "swing: 0.55\nending: tonic")
    score = compose(load_recipe(write_recipe(text)).recipe).score
    assert score.chords[-1].symbol == "Dm9"


def test_ending_as_written(write_recipe):
    text = SMALL_RECIPE.replace("swing: 0.55", "swing: 0.55\nending: as-written")
    score = compose(load_recipe(write_recipe(text)).recipe).score
    assert score.chords[-1].symbol == "A7b9"


def test_chord_notes_are_chord_tones(write_recipe):
    score = compose(load_recipe(write_recipe()).recipe).score
    chords = score.track("chords")
    for event in score.chords:
        tones = theory.parse_chord(event.symbol).pitch_classes
        sounding = [n for n in chords.notes if event.start <= n.start < event.end]
        assert len(sounding) >= 3
        assert all(n.pitch % 12 in tones for n in sounding)


def test_bass_starts_each_chord_on_its_root(write_recipe):
    score = compose(load_recipe(write_recipe()).recipe).score
    bass = score.track("bass")
    for event in score.chords:
        first = min((n for n in bass.notes if abs(n.start - event.start) < 0.2), key=lambda n: n.start)
        assert first.pitch % 12 == theory.parse_chord(event.symbol).root
        assert 24 <= first.pitch <= 48


def test_drums_on_channel_ten(write_recipe):
    score = compose(load_recipe(write_recipe()).recipe).score
    drums = score.track("drums")
    assert drums.is_drums and drums.channel == 9 and len(drums.notes) > 20
    assert {36, 38} & {n.pitch for n in drums.notes}


def test_same_recipe_same_score_other_seed_other_drums(write_recipe):
    path = write_recipe()
    first = compose(load_recipe(path).recipe).score
    assert compose(load_recipe(path).recipe).score == first
    other = compose(load_recipe(path, ["seed=8"]).recipe).score
    assert other.track("drums").notes != first.track("drums").notes
    assert other.track("chords").notes != first.track("chords").notes  # velocities vary by seed


def test_sections_activate_tracks(write_recipe):
    score = compose(load_recipe(write_recipe(SECTIONS)).recipe).score
    assert [s.name for s in score.sections] == ["intro", "A", "B", "A2"]
    intro_end = 2 * 4
    assert not [n for n in score.track("drums").notes if n.start < intro_end]
    assert not [n for n in score.track("bass").notes if n.start < intro_end]
    assert [n for n in score.track("chords").notes if n.start < intro_end]


def test_repeat_is_note_for_note_and_a_new_seed_varies(write_recipe):
    text = SECTIONS.replace("swing: 0.55", "swing: 0.55\nending: as-written")
    score = compose(load_recipe(write_recipe(text)).recipe).score
    a_start, b_start, a2_start = 8, 24, 40
    for name in ("drums", "bass"):
        track = score.track(name)
        original = notes_in(track, a_start, a_start + 16, a_start)
        repeat = notes_in(track, a2_start, a2_start + 16, a2_start)
        varied = notes_in(track, b_start, b_start + 16, b_start)
        assert original == repeat, name
        assert original != varied, name


def test_arrangement_without_sections_is_one_block(write_recipe):
    recipe = load_recipe(write_recipe()).recipe
    (block,) = arrangement(recipe)
    assert block.bars == 4 and block.tracks == ("chords", "bass", "drums")


def test_swing_moves_offbeat_eighths_and_the_16ths_with_them():
    feel = Feel(0.6)
    assert feel.time(2.5) == pytest.approx(2.6)
    assert feel.time(2.0) == 2.0
    assert feel.time(2.25) == pytest.approx(2.3)  # half way to the swung "and"
    assert feel.time(2.75) == pytest.approx(2.8)


def test_three_four_meter(write_recipe):
    text = SMALL_RECIPE.replace("time_signature: 4/4", "time_signature: 3/4")
    score = compose(load_recipe(write_recipe(text)).recipe).score
    assert score.total_beats == 12 and score.numerator == 3
    assert all(n.end <= score.total_beats + 1e-6 for t in score.tracks for n in t.notes)
