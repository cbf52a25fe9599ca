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
    score = compose(recipe).score
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


# --- form: i4A8B8A8o4, and forms sampled from the labelled songs --------------------------------

FORM_RECIPE = SMALL_RECIPE.replace("length: 4 bars\n", "form: i2A4B4A4b2o2\n")


def test_a_form_reads_into_phrases_and_stands_for_sections():
    from lofictl.compose.form import Phrase, parse_form

    assert parse_form(" i4A8 B8A8B8o4 ") == [
        Phrase("i", 4),
        Phrase("A", 8),
        Phrase("B", 8),
        Phrase("A", 8),
        Phrase("B", 8),
        Phrase("o", 4),
    ]
    recipe = _recipe([], FORM_RECIPE)
    blocks = arrangement(recipe)
    assert [(b.name, b.bars, b.material) for b in blocks] == [
        ("intro", 2, "intro"),
        ("A", 4, "A"),
        ("B", 4, "B"),
        ("A2", 4, "A"),  # the same letter: the same phrase, coming back
        ("b", 2, "b"),
        ("outro", 2, "outro"),
    ]
    assert recipe.total_bars == 18 and recipe.form == "i2A4B4A4b2o2"
    assert blocks[4].tracks == ("chords", "bass", "drums")  # lowercase: instrumental (no melody track here)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ("i4A8B", r"cannot read 'B' at character 5 of 'i4A8B': a letter needs a bar count after it"),
        ("8A", r"cannot read '8A' at character 1 of '8A': a bar count needs a letter before it"),
        ("A8B8A4", r"A comes back with 4 bars but first had 8; a phrase that comes back keeps its length"),
        ("A0", r"phrase A0: a phrase lasts 1 to 64 bars"),
        ("A8o4B8", r"the outro \(o\) comes last, not as phrase 2"),
        ("i4b4o4", r"has no melodic phrase"),
    ],
)
def test_a_malformed_form_is_one_line_at_the_form(form, message):
    with pytest.raises(LofictlError, match=message) as caught:
        _recipe([], SMALL_RECIPE.replace("length: 4 bars\n", f"form: {form}\n"))
    assert caught.value.line == 7 and "form" in str(caught.value)


def test_a_form_and_sections_together_are_refused():
    text = SONG.replace("sections:\n", "form: A4B4\nsections:\n")
    with pytest.raises(LofictlError, match="give either form or sections, not both"):
        _recipe([], text)


def test_a_form_with_a_longer_length_plays_its_body_again():
    recipe = _recipe(["length=30"], FORM_RECIPE)
    names = [b.name for b in arrangement(recipe)]
    assert names[0] == "intro" and names[-1] == "outro" and names.count("intro") == 1
    assert "A (2)" in names and recipe.total_bars >= 30


def test_a_length_alone_samples_a_form_from_the_table_deterministically():
    from lofictl.compose.form import fit_form, form_table, form_text, parse_form, sample_form

    table = form_table()
    assert len(table) > 100 and all(count >= 1 for _, count in table)
    known = {form for form, _ in table}
    drawn = [form_text(sample_form(table, seed)) for seed in range(12)]
    assert set(drawn) <= known and len(set(drawn)) > 1  # from the table, and not always the same one
    assert drawn == [form_text(sample_form(table, seed)) for seed in range(12)]  # the seed decides
    for bars in (16, 37, 64, 200):
        fitted = fit_form(parse_form(drawn[0]), bars)
        assert sum(p.bars for p in fitted) == bars

    text = SMALL_RECIPE.replace("length: 4 bars", "length: 48 bars")
    blocks = arrangement(_recipe([], text))
    assert sum(b.bars for b in blocks) == 48 and len(blocks) > 2
    assert blocks == arrangement(_recipe([], text)) and blocks != arrangement(_recipe(["seed=8"], text))
    assert [b.name for b in arrangement(_recipe([], SMALL_RECIPE))] == ["main"]  # 4 bars: one phrase


def test_the_forms_table_is_made_from_labels_with_its_licence(tmp_path):
    from lofictl.compose.form import form_text
    from lofictl.models.train import forms

    assert form_text(forms.normalise("i4A4A4B9b4A4B9b4B9X5o2")) == "i4A4A4B8b4A4B8b4B8X4o2"
    assert form_text(forms.normalise("i1A7x1A9B16o3")) == "A8A8B8o2"  # one-bar links dropped; A keeps 8
    dataset = tmp_path / "structure"
    for song, label, melody in (
        ("001", "i4A4A4o2", "0 16\n" + "60 4\n62 4\n64 8\n" * 2 + "60 4\n62 4\n67 8\n" * 2 + "0 32\n"),
        ("002", "A4B4A4", "60 16\n" * 12),
    ):
        (dataset / song).mkdir(parents=True)
        (dataset / song / "human_label1.txt").write_text(label + "\n")
        (dataset / song / "melody.txt").write_text(melody)
    (dataset / "LICENSE").write_text("MIT License\n")
    data = forms.write_forms(dataset, tmp_path / "out")
    assert data["forms"] == [["A4B4A4", 1], ["i4A4A4o2", 1]]
    assert data["restated_similarity"]["whole"]["n"] == 2
    assert (tmp_path / "out" / "LICENSE").read_text() == "MIT License\n"
    assert "Dai, Zhang & Dannenberg" in (tmp_path / "out" / "README.md").read_text()
