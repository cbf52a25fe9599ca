"""Phrases around the melody model: a motif developed, cadences and breaths, restatements that
vary, and seeds that make another song (the shipped melody model; a second or two a score)."""

import pytest

from lofictl.compose import phrase, theory
from lofictl.compose.arrangement import arrangement, compose
from lofictl.compose.score import ChordEvent, Note
from lofictl.models import generate
from lofictl.models.generate import load_track_model
from lofictl.recipe.load import load_recipe
from support import REPO

MELODY_MODEL = REPO / "models" / "lofi-melody"

SONG = """\
lofictl: 1
title: Song
seed: 11
tempo: 80
key: D minor
form: i2A8B8A8o2
tracks:
  chords: {part: chords, progression: "Dm7 Gm7 C7 Fmaj7 | Bbmaj7 Em7b5 A7 Dm7"}
  melody: {part: melody, generate: {model: models/lofi-melody}}
  bass: {part: bass}
"""


@pytest.fixture(scope="module")
def model():
    return load_track_model(MELODY_MODEL)


def compose_song(write_recipe, model, overrides=(), text=SONG):
    recipe = load_recipe(write_recipe(text), list(overrides)).recipe
    return recipe, compose(recipe, models={"melody": model}).score


def section_notes(score, recipe, name, track="melody"):
    block = next(b for b in arrangement(recipe) if b.name == name)
    start, end = block.start_bar * 4, (block.start_bar + block.bars) * 4
    return [n.copy(start=n.start - start) for n in score.track(track).notes if start <= n.start < end]


def test_measures_on_plain_figures():
    bar = [Note(0, 1, 62, 80), Note(1, 0.5, 65, 80), Note(2, 2, 69, 80)]
    two = bar + [n.copy(start=n.start + 4) for n in bar]
    assert phrase.bar_rhythms(two, 2, 4.0) == [(0, 4, 8), (0, 4, 8)]
    assert phrase.rhythm_repetition(two, 2, 4.0) == 0.5  # the first bar comes back, the last has no later bar
    assert phrase.phrase_similarity(bar, bar) == 1.0
    assert phrase.phrase_similarity(bar, [n.copy(pitch=n.pitch + 1) for n in bar]) == 0.0
    chords = [ChordEvent(0, 4, "Dm9")]  # the 9th (E) is the voicing's colour, not the chord's own tone
    assert phrase.core_tone_share([Note(0, 2, 64, 80), Note(2, 2, 65, 80)], chords) == 0.5


def test_a_restated_phrase_varies_but_stays_close_and_different_letters_contrast(write_recipe, model):
    recipe, score = compose_song(write_recipe, model)
    a, a2, b = (section_notes(score, recipe, name) for name in ("A", "A2", "B"))
    assert a and a2 and b
    similarity = phrase.phrase_similarity(a, a2)
    assert 0.4 <= similarity <= 0.9  # the phrase comes back, not a copy
    assert phrase.phrase_similarity(a, b) < similarity
    assert section_notes(score, recipe, "A", "bass") == section_notes(score, recipe, "A2", "bass")  # the band repeats
    assert not section_notes(score, recipe, "intro") and not section_notes(score, recipe, "outro")


def test_a_sections_repeat_restates_the_melody_with_variation(write_recipe, model):
    text = SONG.replace(
        "form: i2A8B8A8o2\n",
        "sections:\n  - {name: A, bars: 8}\n  - {name: B, bars: 8}\n  - {name: A2, bars: 8, repeat: A}\n",
    )
    recipe, score = compose_song(write_recipe, model, text=text)
    assert 0.4 <= phrase.phrase_similarity(section_notes(score, recipe, "A"), section_notes(score, recipe, "A2")) <= 0.9


def test_developing_a_motif_brings_rhythms_back_more_than_the_plain_model(model):
    key = theory.parse_key("D minor")
    symbols = ["Dm7", "Gm7", "C7", "Fmaj7", "Bbmaj7", "Em7b5", "A7", "Dm7"]
    chords = [ChordEvent(4.0 * i, 4.0, s) for i, s in enumerate(symbols)]
    plain, developed = [], []
    for seed in (1, 2, 3):
        raw = generate.generate_melody(model.network, key, chords, 32.0, seed, low=62, high=84)
        made = phrase.develop(raw, chords, 8, key, 62, 84, 4.0, seed)
        plain.append(phrase.rhythm_repetition(raw, 8, 4.0))
        developed.append(phrase.rhythm_repetition(made, 8, 4.0))
        assert len(made) / 8 < len(raw) / 8 or len(raw) / 8 <= 5  # busy bars thinned towards what people sing
        assert made == phrase.develop(raw, chords, 8, key, 62, 84, 4.0, seed)  # pure: the seed decides
        downbeats = [n for n in made if abs(n.start % 4.0) < 1e-6]
        assert all(n.pitch % 12 in phrase.core_tones(symbols[int(n.start // 4)]) for n in downbeats)
        for bar in (3, 7):  # each phrase ends on a held chord tone and a breath
            last = [n for n in made if 4 * bar <= n.start < 4 * bar + 4][-1]
            assert last.duration >= 0.5 and last.end <= 4 * bar + 3.5 + 1e-6
    assert sum(developed) > sum(plain)


def test_the_master_seed_makes_another_song_unless_a_generate_seed_is_pinned(write_recipe, model):
    pitches = {}
    for overrides in (
        ["seed=1"],
        ["seed=2"],
        ["seed=1", "tracks.melody.generate.seed=7"],
        ["seed=2", "tracks.melody.generate.seed=7"],
    ):
        _, score = compose_song(write_recipe, model, overrides)
        pitches[tuple(overrides)] = [n.pitch for n in score.track("melody").notes]
    assert pitches[("seed=1",)] != pitches[("seed=2",)]
    assert pitches[("seed=1", "tracks.melody.generate.seed=7")] == pitches[("seed=2", "tracks.melody.generate.seed=7")]
