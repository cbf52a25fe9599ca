"""Humanize for every part: timing and velocity for melody, chords (rolled) and bass, seeded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lofictl.compose.arrangement import compose
from lofictl.errors import LofictlError
from lofictl.models.generate import load_track_model
from lofictl.models.tokens import VELOCITIES
from lofictl.recipe.load import parse_recipe_text
from support import REPO, SMALL_RECIPE

LOOSE = (
    SMALL_RECIPE.replace(
        "length: 4 bars\n",
        """\
sections:
  - {name: A, bars: 8}
  - {name: B, bars: 8, seed: 3}
  - {name: A2, bars: 8, repeat: A}
""",
    )
    .replace("swing: 0.55", "swing: 0.5")
    .replace(
        '    progression: "Dm9 G13 Cmaj9 A7b9"\n',
        '    progression: "Dm9 G13 Cmaj9 A7b9"\n    rhythm: stabs\n'
        "    humanize: {timing_ms: 10, velocity: 12, strum_ms: 30}\n",
    )
    .replace("    part: bass\n", "    part: bass\n    humanize: {timing_ms: 8, velocity: 10}\n")
)


def _score(text: str = LOOSE, models: dict | None = None):
    loaded = {name: load_track_model(path) for name, path in (models or {}).items()}
    return compose(parse_recipe_text(text, Path("recipes/loose.yaml")).recipe, models=loaded).score


def _hits(track):
    """Chord strikes: the notes starting within 40 ms of the first of a group."""
    groups: list[list] = []
    for note in sorted(track.notes):
        if groups and note.start - groups[-1][0].start < 0.06:
            groups[-1].append(note)
        else:
            groups.append([note])
    return groups


def test_chords_are_rolled_and_move_together():
    score = _score()
    seconds_per_beat = 60 / 90
    hits = [h for h in _hits(score.track("chords")) if len(h) >= 3]
    assert len(hits) > 40
    for hit in hits:  # lowest first, 30 ms from lowest to highest
        by_pitch = sorted(hit, key=lambda n: n.pitch)
        assert [n.start for n in by_pitch] == sorted(n.start for n in by_pitch)
        spread_ms = (by_pitch[-1].start - by_pitch[0].start) * seconds_per_beat * 1000
        assert spread_ms == pytest.approx(30, abs=0.5)
    # the strikes leave the grid by about timing_ms (the stabs sit on 8ths)
    offsets = np.array([min(n.start for n in h) - round(min(n.start for n in h) * 2) / 2 for h in hits])
    assert offsets.std() * seconds_per_beat * 1000 == pytest.approx(10, rel=0.35)
    velocities = {n.velocity for n in score.track("chords").notes}
    assert len(velocities) > 15


def test_bass_moves_but_never_before_its_section_and_repeats_play_the_same():
    score = _score()
    bass = score.track("bass").notes
    assert any(abs(n.start * 4 - round(n.start * 4)) > 0.01 for n in bass)  # off the 16th grid
    assert min(n.start for n in bass) >= 0.0
    for section in score.sections:  # every downbeat note stays in its own section
        first = min(n.start for n in bass if n.start >= section.start_bar * 4 - 0.2)
        assert first >= section.start_bar * 4
    # (the end differs: the piece ends on the tonic chord, and the bass leads into it)
    a = [(round(n.start, 6), n.pitch, n.velocity) for n in bass if n.start < 24]
    a2 = [(round(n.start - 64, 6), n.pitch, n.velocity) for n in bass if 64 <= n.start < 88]
    assert a == a2, "a repeat is humanized exactly as its original"
    b = [(round(n.start - 32, 6), n.pitch, n.velocity) for n in bass if 32 <= n.start < 60]
    assert a != b


def test_humanize_is_seeded_by_name():
    one, two = _score(), _score()
    assert one.tracks == two.tracks
    extra = LOOSE.replace("  drums:\n", '  keys:\n    part: chords\n    progression: "Am7"\n  drums:\n')
    three = _score(extra)
    assert three.track("bass").notes == one.track("bass").notes  # another track changes nothing here
    straight = _score(LOOSE.replace("humanize: {timing_ms: 8, velocity: 10}", "humanize: {timing_ms: 0, velocity: 0}"))
    assert straight.track("bass").notes != one.track("bass").notes
    # Off the kick a bass without humanize is on the grid; on a kick it plays with the (humanized) kick.
    kicks = {n.start for n in straight.track("drums").notes if n.pitch == 36}
    on_grid = lambda note: abs(note.start * 4 - round(note.start * 4)) < 1e-6  # noqa: E731
    assert all(on_grid(n) or n.start in kicks for n in straight.track("bass").notes)
    assert any(not on_grid(n) and n.start in kicks for n in straight.track("bass").notes)


def test_strum_is_only_for_chords():
    with pytest.raises(LofictlError, match="strum_ms rolls a chord"):
        _score(LOOSE.replace("humanize: {timing_ms: 8, velocity: 10}", "humanize: {strum_ms: 20}"))


def test_melody_velocities_are_spread_by_default():
    # The model writes the velocities of its vocabulary (48, 64, 80, 100); a melody track humanizes
    # them by default.
    text = (
        SMALL_RECIPE.replace("length: 4 bars", "length: 8 bars") + "  melody:\n    part: melody\n"
        "    generate: {model: models/lofi-melody, seed: 3}\n"
    )
    text = (
        text.replace("master:\n  loudness_lufs: -16\noutput: {formats: [wav]}\n", "")
        + "master:\n  loudness_lufs: -16\noutput: {formats: [wav]}\n"
    )
    score = _score(text, models={"melody": REPO / "models" / "lofi-melody"})
    melody = score.track("melody").notes
    assert len({n.velocity for n in melody}) > 6
    assert any(abs(n.start * 4 - round(n.start * 4)) > 0.005 for n in melody)
    plain = _score(
        text.replace(
            "generate: {model: models/lofi-melody, seed: 3}",
            "generate: {model: models/lofi-melody, seed: 3}\n    humanize: {}",
        ),
        models={"melody": REPO / "models" / "lofi-melody"},
    )
    assert {n.velocity for n in plain.track("melody").notes} <= set(VELOCITIES)
