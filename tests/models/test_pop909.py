"""The POP909 reader, its fixed split and the derived corpus, on five songs copied from the dataset
(tests/data/pop909: 001, 007, 022 and 039 in 4/4, 039 with four key changes; 176 in 6 beats a bar)."""

import gzip
import json

import numpy as np
import pytest

from lofictl.compose import theory
from lofictl.errors import LofictlError
from lofictl.models import tokens
from lofictl.models.train import corpus, loop, pop909
from support import data_path

DATA = data_path("pop909")


@pytest.fixture(scope="module")
def pieces():
    summary = corpus.SourceSummary("pop909:test")
    return pop909.read_pop909(DATA, summary=summary), summary


@pytest.fixture(scope="module")
def derived(tmp_path_factory):
    out = tmp_path_factory.mktemp("derived")
    return out, pop909.write_derived(DATA, out)


def by_song(pieces, song):
    return [p for p in pieces if pop909.song_of(p.name) == song]


def test_labels_map_to_the_vocabulary():
    assert pop909.parse_label("F#:maj7/5") == (6, "maj7", 7)
    assert pop909.parse_label("B:min/b3") == (11, "min", 3)
    assert pop909.parse_label("C:7/b7") == (0, "7", 10)
    assert pop909.parse_label("Eb:maj/3") == (3, "maj", 4)
    assert pop909.parse_label("E:sus4(b7)") == (4, "sus4(b7)", 0)
    assert pop909.parse_label("A:hdim7") == (9, "hdim7", 0)
    assert pop909.parse_label("N") is None
    with pytest.raises(ValueError):
        pop909.parse_label("C:maj13")
    assert pop909.parse_key_label("Gb:maj") == (6, "major")
    assert pop909.parse_key_label("E:min") == (4, "minor")


def test_every_label_in_the_songs_becomes_a_playable_chord(pieces):
    got, _ = pieces
    seen = set()
    for piece in got:
        key = theory.Key(piece.tonic, piece.mode)
        for _, _, root, quality, bass in piece.chords:
            token = corpus.piece_chord_token(piece, root, quality, bass)
            symbol = tokens.decode_chord(token, key)
            chord = theory.parse_chord(symbol)
            assert chord.root == root
            assert (chord.bass is None) == (bass == 0)
            if bass:
                assert chord.bass == (root + bass) % 12  # the slash bass survives the round trip
            seen.add(quality)
    assert {"maj", "min", "maj7", "min7", "sus2", "sus4", "sus4(b7)", "maj6", "hdim7", "dim"} <= seen


def test_songs_not_in_four_four_are_skipped_and_counted(pieces):
    got, summary = pieces
    assert summary.files == 5 and summary.skipped.get("not 4/4") == 1
    assert not by_song(got, "176")
    assert {pop909.song_of(p.name) for p in got} == {"001", "007", "022", "039"}


def test_key_changes_split_a_song_into_key_relative_pieces(pieces):
    got, _ = pieces
    song = by_song(got, "039")
    keys = [(p.tonic, p.mode) for p in song]
    assert set(keys) == {(7, "minor"), (4, "minor")}  # G minor and E minor, as key_audio.txt says
    assert keys[0] == (7, "minor")
    assert any(a != b for a, b in zip(keys, keys[1:]))  # the key changes between pieces
    assert song[0].name == "pop909:039" and song[1].name == "pop909:039/1"
    (one,) = by_song(got, "001")  # one key, regular bars throughout: one piece
    assert (one.tonic, one.mode) == (6, "major")  # Gb major


def test_bars_come_from_the_downbeats(pieces):
    got, _ = pieces
    (piece,) = by_song(got, "001")
    rows = np.array(
        [[float(x) for x in line.split()] for line in (DATA / "001" / "beat_midi.txt").read_text().splitlines()]
    )
    downbeats = np.flatnonzero(rows[:, 2] == 1.0)
    first, span = int(downbeats[0]), int(downbeats[-1] - downbeats[0])  # the piece: first to last bar line
    labels = [line.split("\t") for line in (DATA / "001" / "chord_midi.txt").read_text().splitlines()]
    starts = []
    for start, _, label in labels:
        if label.strip() != "N":
            beat = int(np.argmin(np.abs(rows[:, 0] - float(start))))
            if beat - first < span:
                starts.append(beat - first)
    assert [c[0] for c in piece.chords] == starts  # each label at its beat, counted from the first downbeat
    # Pop changes chords on the bar line or half way through it: with the bars found right, so do
    # the pieces (a bar line a beat off would put half the changes on beats 2 and 4).
    assert sum(1 for s in starts if s % 2 == 0) > 0.75 * len(starts)
    assert sum(1 for s in starts if s % 4 == 0) > 0.4 * len(starts)
    assert piece.beats_per_bar == 4.0


def test_melody_sits_on_a_grid_of_sixteenths_and_triplets(pieces):
    got, _ = pieces
    positions = set()
    for piece in got:
        assert len(piece.melody) >= corpus.MIN_MELODY_NOTES
        for start, duration, _pitch, velocity in piece.melody:
            ticks = round(start * tokens.TICKS_PER_BEAT)
            assert abs(ticks - start * tokens.TICKS_PER_BEAT) < 1e-6
            positions.add(ticks % tokens.TICKS_PER_BEAT)
            assert duration > 0 and 0 < velocity <= 127
        starts = [n[0] for n in piece.melody]
        assert starts == sorted(set(starts))  # one line: one note per onset
    assert positions <= {0, 3, 4, 6, 8, 9}
    assert {0, 3, 6, 9} <= positions  # sixteenths are there
    seq = corpus.melody_tokens(got[0])
    assert (seq.pitch == tokens.REST).mean() > 0.1  # sung melodies breathe


def test_split_is_fixed_by_song_id():
    assert pop909.split_of("001") == "train"
    assert pop909.split_of("007") == "validation"
    assert pop909.split_of("022") == "test"
    songs = [f"{i:03d}" for i in range(1, 910)]
    groups = pop909.split_songs(reversed(songs))
    assert groups == pop909.split_songs(songs)  # order of the list plays no part
    assert 0.75 < len(groups["train"]) / 909 < 0.85 and 0.07 < len(groups["test"]) / 909 < 0.13
    assert sorted(sum(groups.values(), [])) == songs


def test_training_never_sees_the_test_songs(pieces):
    got, _ = pieces
    config = loop.TrainConfig(kind="chords", arch="chord-lstm", seed=123, val_fraction=0.5)
    prepared = loop.prepare(got, config)
    split = prepared.summary["split"]["pop909"]
    assert split["songs"] == {"train": ["001", "039"], "validation": ["007"], "test": ["022"]}
    assert prepared.summary["val_pieces"] == len(by_song(got, "007"))
    assert prepared.summary["train_pieces"] == len(by_song(got, "001")) + len(by_song(got, "039"))
    assigned = corpus.assign_splits([p.name for p in got], 999, 0.9)  # seed and fraction do not move it
    assert {n: s for n, s in assigned.items()} == corpus.assign_splits([p.name for p in got], 0, 0.1)


def test_derived_corpus_gives_the_same_pieces_and_the_same_bytes(pieces, derived, tmp_path):
    got, _ = pieces
    folder, header = derived
    assert pop909.read_pop909(folder) == got
    assert header["pieces_sha256"] == corpus.pieces_digest(got)
    assert (folder / "LICENSE").read_text() == (DATA / "LICENSE").read_text()
    assert "ISMIR" in (folder / "README.md").read_text() and "MIT" in header["licence"]
    again = tmp_path / "again"
    again.mkdir()
    first = (folder / pop909.DERIVED_FILE).read_bytes()
    pop909.write_derived(DATA, folder)  # no timestamp inside: the same data gives the same file
    assert (folder / pop909.DERIVED_FILE).read_bytes() == first
    parsed = json.loads(gzip.decompress(first))
    parsed["pieces"][0]["melody"][0][2] += 1  # one note changed: the header's hash no longer fits
    (again / pop909.DERIVED_FILE).write_bytes(gzip.compress(json.dumps(parsed).encode()))
    with pytest.raises(LofictlError, match="do not match the sha256"):
        pop909.read_pop909(again)


def test_corpus_spec_reads_pop909_and_records_licence_and_hash(derived, tmp_path, monkeypatch):
    monkeypatch.setenv("LOFICTL_CACHE_DIR", str(tmp_path / "cache"))
    got, summary = corpus.load_corpus(f"pop909:{derived[0]}")
    source = summary["sources"][0]
    assert source["licence"] == "MIT" and "POP909" in source["citation"]
    assert source["pieces_sha256"] == corpus.pieces_digest(got)
    with pytest.raises(LofictlError, match="is not a folder"):
        corpus.load_corpus(f"pop909:{tmp_path / 'nowhere'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(LofictlError, match="neither POP909 song folders"):
        corpus.load_corpus(f"pop909:{tmp_path / 'empty'}", use_cache=False)
