"""One feel for the band: the swing warp, and every part's onsets landing together."""

from __future__ import annotations

import statistics

import pytest

from lofictl.compose import drums
from lofictl.compose.arrangement import compose
from lofictl.compose.feel import Feel, hat_lean_ms, sit_with, swung
from lofictl.compose.score import Note
from lofictl.models.generate import load_track_model
from lofictl.recipe.load import load_recipe
from support import REPO, write_clip

SWINGS = [0.5, 0.54, 0.58, 0.62, 0.66]
UNITS = ["8th", "16th"]


@pytest.mark.parametrize("unit", UNITS)
@pytest.mark.parametrize("swing", SWINGS)
def test_the_warp_keeps_order_and_moves_a_pair_proportionally(swing, unit):
    feel = Feel(swing, unit)
    pair = 1.0 if unit == "8th" else 0.5
    grid = [i / 32 for i in range(4 * 32)]  # 128ths through a bar: finer than any part plays
    played = [feel.time(b) for b in grid]
    assert all(a < b for a, b in zip(played, played[1:]))  # nothing swaps places
    assert all(feel.time(k * pair) == pytest.approx(k * pair) for k in range(int(4 / pair)))  # pairs stay put
    for k in range(int(4 / pair)):  # within a pair: the first half stretched, the second squeezed, both linear
        start = k * pair
        assert feel.time(start + pair / 2) == pytest.approx(start + pair * swing)
        assert feel.time(start + pair / 4) == pytest.approx(start + pair * swing / 2)
        assert feel.time(start + 3 * pair / 4) == pytest.approx(start + pair * (swing + (1 - swing) / 2))


def test_16th_swing_leaves_8th_notes_straight_and_8th_swing_moves_them():
    assert Feel(0.6, "16th").time(2.5) == 2.5 and Feel(0.6, "16th").time(2.25) == pytest.approx(2.3)
    assert Feel(0.6, "8th").time(2.5) == pytest.approx(2.6)


def test_the_warp_is_measured_from_each_bar_and_keeps_to_it():
    seven_eight = Feel(0.62, "8th", beats_per_bar=3.5)
    assert seven_eight.time(3.5) == 3.5 and seven_eight.time(7.0) == 7.0  # every downbeat stays
    assert seven_eight.time(3.5 + 0.5) == pytest.approx(3.5 + 0.62)
    assert seven_eight.time(3.25) == 3.25  # the last 8th has no partner before the bar line: straight
    assert Feel(0.66, "8th", beats_per_bar=3.0, compound=True).time(1.25) == 1.25  # 6/8 swings already


def test_swung_notes_keep_their_ends_on_the_grid():
    notes = [Note(0.5, 0.5, 60, 80), Note(1.25, 0.25, 62, 80)]
    out = swung(notes, Feel(0.6))
    assert [(n.start, n.end) for n in out] == [(pytest.approx(0.6), pytest.approx(1.0)), (1.3, 1.6)]


def test_hats_lean_ahead_by_a_fifth_of_the_lay_back_at_most_3_ms():
    assert hat_lean_ms(0) == 0 and hat_lean_ms(10) == 2 and hat_lean_ms(40) == 3


# --- the band together ---------------------------------------------------------------------------

BAND = """\
lofictl: 1
title: Together
seed: {seed}
tempo: 84
key: D minor
swing: {swing}
swing_unit: {unit}
length: {bars} bars
tracks:
  keys:
    part: chords
    progression: "Dm9 G13 | Cmaj9 A7b9"
    rhythm: {rhythm}
    humanize: {{timing_ms: {pitched_ms}, strum_ms: 0}}
  lead:
    part: melody
    generate: {{model: models/lofi-melody, seed: 5}}
    humanize: {{timing_ms: {pitched_ms}, velocity: 0}}
  bass: {{part: bass, style: walking, humanize: {{timing_ms: {pitched_ms}}}}}
  clip: {{part: midi, file: clips/sixteenths.mid, swing: {clip_swing}}}
  drums:
    part: drums
    pattern: {pattern}
    humanize: {{timing_ms: {drum_ms}}}
    laid_back_ms: {laid_back}
"""
SIXTEENTHS = tuple(Note(i * 0.25, 0.25, 62 + i % 3, 80) for i in range(16))  # one bar of 16ths


@pytest.fixture(scope="module")
def melody_model():
    return load_track_model(REPO / "models" / "lofi-melody")


def band(write_recipe, melody_model, **settings):
    values = dict(seed=3, bars=8, swing=0.5, unit="8th", rhythm="arp", pattern="dilla", pitched_ms=0, drum_ms=0)
    values.update(laid_back=0, clip_swing="true")
    values.update(settings)
    text = BAND.format(**values)
    if melody_model is None:  # no lead: no model to sample
        text = text.replace(text[text.index("  lead:") : text.index("  bass:")], "")
    path = write_recipe(text)
    write_clip(path.parent.parent / "clips" / "sixteenths.mid")  # the recipe checks the file is there
    recipe = load_recipe(path).recipe
    models = {"lead": melody_model} if melody_model is not None else {}
    return compose(recipe, models=models, clips={"clip": SIXTEENTHS}).score


def onsets(track, pitches=None):
    return sorted({round(n.start, 6) for n in track.notes if pitches is None or n.pitch in pitches})


@pytest.mark.parametrize("unit", UNITS)
@pytest.mark.parametrize("swing", [0.5, 0.58, 0.66])
def test_every_part_plays_the_same_swung_grid(write_recipe, melody_model, swing, unit):
    """Without humanize every onset of every part is a 16th of the grid put through the one
    feel, so parts that play the same grid position start at the same time."""
    score = band(write_recipe, melody_model, swing=swing, unit=unit)
    feel = Feel(swing, unit)
    grid = {round(feel.time(i * 0.25), 6): i for i in range(8 * 16)}
    offbeats: dict[str, set[float]] = {}
    for track in score.tracks:
        played = onsets(track)
        assert played and all(t in grid for t in played), track.name
        offbeats[track.name] = {t for t in played if grid[t] % 4 != 0}  # between the beats
    assert offbeats["drums"] and offbeats["clip"] and offbeats["bass"] and offbeats["lead"] and offbeats["keys"]
    # The hats' swung positions are the bass's, the keys' and the lead's where they play the same step.
    hats = {t for t in onsets(score.track("drums"), drums.TIMEKEEPERS)}
    for name in ("keys", "bass", "lead", "clip"):
        assert hats & offbeats[name], name  # there is a shared off-beat, and it is one time, not two


@pytest.mark.parametrize("unit", UNITS)
@pytest.mark.parametrize("swing", [0.54, 0.62])
def test_with_humanize_and_the_pocket_the_off_beats_stay_within_5_ms(write_recipe, swing, unit):
    """Humanized (6 ms everywhere) and in the pocket (snare 12 ms late, hats 2.4 ms ahead), the
    parts' off-beats still sit together: the median of each part's distance from the swung
    off-beat, over four seeds of 16 bars, within 5 ms of every other part's."""
    spb = 60 / 84
    feel = Feel(swing, unit)
    swung_places = [feel.time(0.5)] if unit == "8th" else [feel.time(0.25), feel.time(0.75)]  # in a beat
    found: dict[str, list[float]] = {}
    for seed in range(4):
        settings = dict(seed=seed, bars=16, swing=swing, unit=unit, pattern="boom-bap", laid_back=12)
        score = band(write_recipe, None, pitched_ms=6, drum_ms=6, **settings)
        parts = {"keys": None, "bass": None, "clip": None, "hats": drums.TIMEKEEPERS, "drums": None}
        for name, pitches in parts.items():
            track = score.track("drums" if name == "hats" else name)
            found.setdefault(name, []).extend(
                (t % 1 - place) * spb * 1000
                for t in onsets(track, pitches)
                for place in swung_places
                if abs(t % 1 - place) < 0.08
            )
    # boom-bap's hats are 8ths: with 16th swing their "and" is straight, like every part's 8ths,
    # and the swung 16ths are the kick's, the ghosts' and the clip's.
    names = ("keys", "bass", "clip", "hats") if unit == "8th" else ("clip", "drums")
    places = {name: statistics.median(found[name]) for name in names}
    assert all(len(found[name]) >= 12 for name in names), {name: len(found[name]) for name in names}
    assert max(places.values()) - min(places.values()) <= 5.0, places


def test_a_clip_can_keep_its_own_timing(write_recipe):
    score = band(write_recipe, None, swing=0.62, clip_swing="false")
    assert onsets(score.track("clip")) == [i * 0.25 for i in range(8 * 16)]  # the 1-bar clip looped, straight
    assert onsets(score.track("bass")) != onsets(band(write_recipe, None, swing=0.5).track("bass"))  # the rest swing


def test_a_bass_note_on_a_kick_plays_with_the_kick():
    feel = Feel(0.6)
    kicks = [0.012, feel.time(1.75) - 0.01, 4.0]  # humanized kicks: on 1, on the last 16th of beat 2, bar 2
    bass = [Note(0.0, 1.0, 40, 90), Note(round(feel.time(1.75), 6), 0.5, 43, 80), Note(2.0, 1.0, 45, 80)]
    locked, free = sit_with(bass, kicks, feel)
    assert [(n.start, n.pitch) for n in locked] == [(0.012, 40), (round(kicks[1], 6), 43)]
    assert locked[0].end == pytest.approx(1.0) and free == [bass[2]]  # ends stay; a note off the kick is left


@pytest.mark.parametrize("unit", ["8th", "16th"])
@pytest.mark.parametrize("swing", [0.5, 0.56, 0.62, 0.66])
def test_written_undoes_the_swing(swing, unit):
    feel = Feel(swing, unit, 4.0)
    for step in range(64):
        beat = step * 0.125 + 8.0
        assert abs(feel.written(feel.time(beat)) - beat) < 1e-9
