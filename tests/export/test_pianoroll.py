"""The piano roll: a PNG of the right size, the same bytes every time, for any Score shape."""

from __future__ import annotations

import struct

import pytest

from lofictl.compose.drums import drum_notes
from lofictl.compose.score import ChordEvent, Note, PlacedSection, Score, Track
from lofictl.export.pianoroll import pianoroll_png, render_pianoroll


def make_score(bars=16, numerator=4, denominator=4, with_drums=True) -> Score:
    bpb = numerator * 4 / denominator
    symbols = ["Dm9", "G13", "Cmaj9", "A7b9"]
    chords = tuple(
        Note(b * bpb, bpb * 0.9, p + (b % 4), 60 + 10 * (b % 3)) for b in range(bars) for p in (53, 57, 60, 64)
    )
    melody = tuple(
        Note(b * bpb + i * 0.5, 0.45, 69 + (i * 5 + b) % 9, 50 + (i * 13) % 70)
        for b in range(bars)
        for i in range(int(bpb * 2))
        if (i + b) % 3
    )
    bass = tuple(Note(b * bpb, 1.5, 38 + (b % 4) * 2, 90) for b in range(bars))
    tracks = [
        Track("chords", "chords", chords, program=4),
        Track("melody", "melody", melody, program=11),
        Track("bass", "bass", bass, program=32),
    ]
    if with_drums:
        meter = (numerator, denominator)
        tracks.append(
            Track(
                "drums",
                "drums",
                drum_notes(
                    "lazy",
                    0,
                    bars,
                    bpb,
                    3,
                    seconds_per_beat=0.8,
                    humanize_timing_ms=10,
                    fill_last_bar=True,
                    meter=meter,
                ),
                is_drums=True,
            )
        )
    half = bars // 2
    return Score(
        72,
        numerator,
        denominator,
        "D minor",
        bars * bpb,
        tuple(tracks),
        tuple(ChordEvent(b * bpb, bpb, symbols[b % 4]) for b in range(bars)),
        (PlacedSection("A", 0, half, ("chords",)), PlacedSection("B", half, bars - half, ("chords", "drums"))),
    )


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_writes_a_wide_png_with_the_same_bytes_every_time(tmp_path):
    score = make_score(bars=64)
    assert render_pianoroll(score, tmp_path / "pianoroll.png") == [tmp_path / "pianoroll.png"]
    data = (tmp_path / "pianoroll.png").read_bytes()
    assert png_size(data) == (1600, 800)
    render_pianoroll(score, tmp_path / "again.png")
    assert (tmp_path / "again.png").read_bytes() == data
    assert b"Software" not in data and b"Matplotlib" not in data  # no version tag to drift


def test_different_music_different_picture():
    assert pianoroll_png(make_score(bars=8)) != pianoroll_png(make_score(bars=12))


def test_other_shapes_render():
    empty = Score(90, 4, 4, "C major", 16.0, ())
    for score in (
        empty,
        make_score(bars=4, with_drums=False),
        make_score(bars=6, numerator=6, denominator=8),
        make_score(bars=8, numerator=3, denominator=4).copy(sections=(), chords=()),
    ):
        assert png_size(pianoroll_png(score)) == (1600, 800)


def test_a_long_piece_gets_rows_and_pages(tmp_path):
    # 300 bars: rows of 32 bars, 8 rows a page (so every bar stays wide enough to read), then a
    # second page with the last 2 rows
    pages = render_pianoroll(make_score(bars=300), tmp_path / "long.png")
    assert [p.name for p in pages] == ["long.png", "long-2.png"]
    assert png_size(pages[0].read_bytes()) == (1600, round((8 * 3.4 + 0.8) * 100))
    assert png_size(pages[1].read_bytes()) == (1600, round((2 * 3.4 + 0.8) * 100))


def test_the_last_row_stops_where_the_music_does():
    from lofictl.export import pianoroll

    score = make_score(bars=300)  # rows of 32 bars: the last holds bars 289-300
    last_page = pianoroll._pages(score)[-1]
    rows = [ax for ax in last_page.axes if ax.get_ylabel() == "pitch"]
    full, last = rows[0], rows[-1]
    assert last.get_xlim() == (288 * score.beats_per_bar, 300 * score.beats_per_bar)  # no empty bars drawn
    assert full.get_xlim()[1] - full.get_xlim()[0] == 32 * score.beats_per_bar
    # a bar is as wide in the last row as in the others
    assert last.get_position().width == pytest.approx(full.get_position().width * 12 / 32)


def test_a_child_process_draws_the_same_pages(tmp_path):
    from lofictl.export.pianoroll_process import PianoRollDrawing

    score = make_score(bars=300)  # long enough for a second page
    (tmp_path / "here").mkdir()
    (tmp_path / "child").mkdir()
    here = render_pianoroll(score, tmp_path / "here" / "roll.png")
    child = PianoRollDrawing(score, tmp_path / "child" / "roll.png", scratch=tmp_path).wait()
    assert [p.name for p in child] == [p.name for p in here] == ["roll.png", "roll-2.png"]
    assert [p.read_bytes() for p in child] == [p.read_bytes() for p in here]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["child", "here"]  # its score file is gone


def test_a_child_that_fails_says_why_in_one_line(tmp_path):
    from lofictl.export.pianoroll_process import PianoRollDrawing

    drawing = PianoRollDrawing(make_score(bars=2), tmp_path / "missing" / "roll.png", scratch=tmp_path)
    with pytest.raises(RuntimeError, match=r"drawing the piano roll failed: .*No such file or directory") as caught:
        drawing.wait()
    assert "\n" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_cancelled_child_is_stopped_and_leaves_nothing(tmp_path):
    from lofictl.export.pianoroll_process import PianoRollDrawing

    drawing = PianoRollDrawing(make_score(bars=64), tmp_path / "roll.png", scratch=tmp_path)
    drawing.cancel()  # at once: it is still importing matplotlib
    assert drawing._process.returncode is not None and drawing._process.returncode < 0  # killed, not finished
    assert list(tmp_path.iterdir()) == []


def test_a_lofictl_folder_in_the_working_folder_is_never_imported_by_the_child(tmp_path, monkeypatch):
    """The child runs this lofictl: a `lofictl` package in the folder a build runs from (a
    user's project) is neither imported in its place nor run."""
    from lofictl.export.pianoroll_process import PianoRollDrawing

    planted = tmp_path / "lofictl"
    (planted / "export").mkdir(parents=True)
    (planted / "__init__.py").write_text(f"open({str(tmp_path / 'ran')!r}, 'w').close()\n")
    (planted / "export" / "__init__.py").write_text("")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    pages = PianoRollDrawing(make_score(bars=4), tmp_path / "out" / "roll.png", scratch=tmp_path).wait()
    assert [p.name for p in pages] == ["roll.png"] and pages[0].read_bytes().startswith(b"\x89PNG")
    assert not (tmp_path / "ran").exists()
