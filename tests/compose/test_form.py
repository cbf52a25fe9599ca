"""Long tracks that are still songs: a length longer than the sections plays them again."""

from __future__ import annotations

from pathlib import Path

import pytest

from lofictl.compose.arrangement import arrangement, compose
from lofictl.errors import LofictlError
from support import SMALL_RECIPE

SONG = SMALL_RECIPE.replace(
    "length: 4 bars\n",
    """\
sections:
  - {name: intro, bars: 2, tracks: [chords]}
  - {name: A, bars: 4}
  - {name: B, bars: 4, seed: 9}
  - {name: A2, bars: 4, repeat: A}
  - {name: outro, bars: 2, tracks: [chords, bass]}
""",
)


def _recipe(overrides: list[str], text: str = SONG):
    from lofictl.recipe.load import validate_data
    from lofictl.recipe.yamlfile import parse_yaml

    data, positions = parse_yaml(text, Path("recipes/song.yaml"))
    return validate_data(data, positions, Path("recipes/song.yaml"), overrides).recipe


def test_a_duration_with_sections_repeats_the_middle_and_keeps_intro_and_outro():
    recipe = _recipe(["length=10m0s"])
    blocks = arrangement(recipe)
    names = [b.name for b in blocks]
    assert names[:5] == ["intro", "A", "B", "A2", "A (2)"] and names[-1] == "outro"
    assert names.count("intro") == 1 and names.count("outro") == 1
    seconds = recipe.total_bars * 4 * 60 / 90
    assert 600 <= seconds < 600 + 4 * 4 * 60 / 90 + 1e-6  # it stops at the first section past 10 minutes
    assert recipe.total_bars == sum(b.bars for b in blocks)


def test_each_pass_keeps_the_chords_and_varies_the_rest():
    recipe = _recipe(["length=64 bars"])
    score = compose(recipe)
    blocks = {b.name: b for b in arrangement(recipe)}

    def window(track, name):
        block = blocks[name]
        start, end = block.start_bar * 4, (block.start_bar + block.bars) * 4
        return [(round(n.start - start, 6), n.pitch) for n in score.track(track).notes if start <= n.start < end]

    def chords(name):
        block = blocks[name]
        return [
            (round(c.start - block.start_bar * 4, 6), c.symbol)
            for c in score.chords
            if block.start_bar * 4 <= c.start < (block.start_bar + block.bars) * 4
        ]

    assert chords("A") == chords("A (2)") == chords("A (3)")
    assert window("drums", "A") != window("drums", "A (2)")  # a new take of the drums
    assert window("drums", "A (2)") == window("drums", "A2 (2)")  # a repeat inside a pass is still a repeat
    assert window("bass", "B") != window("bass", "B (2)")
    assert score.total_beats == 64 * 4 and [s.name for s in score.sections][-1] == "outro"


def test_a_length_shorter_than_the_sections_is_an_error_and_equal_changes_nothing():
    with pytest.raises(LofictlError, match="length 10 bars is shorter than the sections .16 bars."):
        _recipe(["length=10"])
    assert [b.name for b in arrangement(_recipe(["length=16"]))] == ["intro", "A", "B", "A2", "outro"]
    with pytest.raises(LofictlError, match=r"length 5.0s is shorter than the sections \(16 bars, 42.7s\)"):
        _recipe(["length=5s"])


def test_without_an_intro_or_outro_every_section_repeats():
    text = SMALL_RECIPE.replace(
        "length: 4 bars\n", "length: 12 bars\nsections:\n  - {name: verse, bars: 4}\n  - {name: hook, bars: 2}\n"
    )
    assert [b.name for b in arrangement(_recipe([], text))] == ["verse", "hook", "verse (2)", "hook (2)"]
    # a pass may stop early: at the first section that reaches the length
    assert [b.name for b in arrangement(_recipe(["length=14"], text))] == [
        "verse",
        "hook",
        "verse (2)",
        "hook (2)",
        "verse (3)",
    ]
