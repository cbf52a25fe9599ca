"""Corpus readers, the training loop and `lofictl train`: tiny corpora, seconds each."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from lofictl.cli.train import train_app
from lofictl.errors import LofictlError
from lofictl.models import tokens
from lofictl.models.nn import checkpoint
from lofictl.models.train import corpus, loop
from support import write_song

# One shape for most tests: runs that differ only in seed or data share one compilation.
TINY = dict(steps=20, batch_size=8, hidden=16, layers=1, embed=8, seq_len=16, eval_every=5, patience=100, lr=1e-2)


@pytest.fixture
def midi_dir(tmp_path):
    folder = tmp_path / "songs"
    folder.mkdir()
    for i, tonic in enumerate((0, 2, 7, 9)):
        write_song(folder / f"song{i}.mid", tonic, bars=4, lead=None, steps=(0, 1, 2, 1))
    return folder


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LOFICTL_CACHE_DIR", str(tmp_path / "cache"))


# --- corpus ---------------------------------------------------------------------------------


def test_midi_folder_gives_melody_chords_and_key(midi_dir):
    pieces, summary = corpus.load_corpus(str(midi_dir))
    assert summary["pieces"] == 4 and summary["sources"][0]["skipped_total"] == 0
    by_name = {p.name: p for p in pieces}
    song = by_name["song1.mid"]
    assert (song.tonic, song.mode) == (2, "major")
    assert song.melody[0][2] == 74 and song.melody[0][3] == 90  # top line, with its velocity
    assert [c[2:4] for c in song.chords[:2]] == [(2, "maj"), (11, "min")]
    seq = corpus.melody_tokens(song)
    assert tokens.decode_pitch(int(seq.pitch[0]), song.tonic) == 74
    assert seq.chord[0] == tokens.chord_token(0, "maj")


def test_broken_files_are_skipped_and_counted(midi_dir):
    (midi_dir / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06garbage")
    (midi_dir / "empty.midi").write_bytes(b"")
    pieces, summary = corpus.load_corpus(str(midi_dir), use_cache=False)
    assert len(pieces) == 4
    assert summary["sources"][0]["skipped"] == {"unreadable": 2}


def test_corpus_is_cached_as_json(midi_dir, tmp_path):
    corpus.load_corpus(str(midi_dir))
    cached = list((tmp_path / "cache" / "corpus").glob("*.json"))
    assert len(cached) == 1
    json.loads(cached[0].read_text())
    again, _ = corpus.load_source(str(midi_dir))
    assert [p.name for p in again] == sorted(p.name for p in again)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("music21:mozart", "unknown corpus 'music21:mozart'"),
        ("", "no corpus given"),
        ("/no/such/folder", "neither a music21 corpus"),
    ],
)
def test_bad_corpus_specs(spec, message):
    with pytest.raises(LofictlError, match=message) as info:
        corpus.load_corpus(spec)
    assert info.value.field == "corpus"


def test_empty_folder_is_an_error(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(LofictlError, match="no .mid or .midi files"):
        corpus.load_corpus(str(empty))


def test_folder_of_only_broken_midi_is_an_error(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    for i in range(3):
        (folder / f"b{i}.mid").write_bytes(b"not midi at all")
    with pytest.raises(LofictlError, match=r"none of the 3 MIDI files .* 3 unreadable"):
        corpus.load_corpus(str(folder))


def test_music21_bach_reads_a_few_chorales():
    pieces, summary = corpus.load_corpus("music21:bach", limit=2, use_cache=False)
    assert len(pieces) == 2 and summary["sources"][0]["spec"] == "music21:bach"
    for piece in pieces:
        assert piece.chords and len(piece.melody) >= corpus.MIN_MELODY_NOTES
        assert piece.mode in ("major", "minor")
        chords = corpus.chord_tokens(piece)
        assert len(chords.chord) >= len(piece.chords)


# --- training -------------------------------------------------------------------------------


def test_tiny_melody_model_trains_and_loss_decreases(tmp_path):
    pieces = corpus.synthetic_pieces(12, seed=1)
    meta = loop.train(pieces, {}, loop.TrainConfig(**TINY), tmp_path / "m", "t", progress=False)
    history = meta["metrics"]["val_history"]
    assert [step for step, _ in history] == [5, 10, 15, 20]
    assert meta["metrics"]["val_loss"] < history[0][1] - 1.0
    assert (tmp_path / "m" / checkpoint.WEIGHTS).is_file()


@pytest.mark.parametrize(
    "kind, arch", [("chords", loop.CHORD_ARCH), ("melody", "one-embedding"), ("melody", "two-embeddings")]
)
def test_every_layout_trains(tmp_path, kind, arch):
    meta = loop.train(
        corpus.synthetic_pieces(6),
        {},
        loop.TrainConfig(kind=kind, arch=arch, **TINY),
        tmp_path / arch,
        "t",
        progress=False,
    )
    assert meta["arch"] == arch and np.isfinite(meta["metrics"]["val_loss"])
    checkpoint.load(tmp_path / arch, kind)


def test_same_seed_same_weights_other_seed_other_weights(tmp_path):
    pieces = corpus.synthetic_pieces(6)
    shas = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        meta = loop.train(pieces, {}, loop.TrainConfig(seed=seed, **TINY), tmp_path / name, "t", progress=False)
        shas.append(meta["weights"]["sha256"])
    assert shas[0] == shas[1] != shas[2]


@pytest.mark.live  # three training runs end to end
def test_resumed_run_matches_an_uninterrupted_one(tmp_path):
    pieces = corpus.synthetic_pieces(6)
    config = loop.TrainConfig(**TINY)
    whole = loop.train(pieces, {}, config, tmp_path / "whole", "t", progress=False)
    loop.train(pieces, {}, config, tmp_path / "part", "t", progress=False, stop_at=10)
    resumed = loop.train(pieces, {}, config, tmp_path / "part", "t", resume=True, progress=False)
    assert resumed["weights"]["sha256"] == whole["weights"]["sha256"]


def test_resume_without_state_is_an_error(tmp_path):
    with pytest.raises(LofictlError, match="cannot resume"):
        loop.train(
            corpus.synthetic_pieces(4), {}, loop.TrainConfig(**TINY), tmp_path / "new", "t", resume=True, progress=False
        )


@pytest.mark.live  # the train command end to end
def test_train_command_writes_command_and_data_summary(midi_dir, tmp_path):
    out = tmp_path / "model"
    result = CliRunner().invoke(
        train_app,
        [
            "melody",
            "--corpus",
            str(midi_dir),
            "--out",
            str(out),
            "--steps",
            "4",
            "--hidden",
            "8",
            "--embed",
            "8",
            "--layers",
            "1",
            "--seq-len",
            "8",
            "--eval-every",
            "2",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "model.json").read_text())
    assert meta["training"]["command"].startswith("lofictl train melody --arch three-embeddings --corpus ")
    assert meta["data"]["sources"][0]["pieces"] == 4
    assert meta["kind"] == "melody" and meta["weights"]["sha256"]


def test_training_writes_the_index_of_exactly_its_training_pieces(midi_dir, tmp_path):
    """`--limit 3` trains on (the training split of) three songs: the index holds those, not
    the folder's four, and a build's gate can use it with no separate step."""
    from lofictl.models import ngrams

    out = tmp_path / "model"
    result = CliRunner().invoke(
        train_app,
        [
            "melody",
            "--corpus",
            str(midi_dir),
            "--out",
            str(out),
            "--steps",
            "2",
            "--hidden",
            "8",
            "--embed",
            "8",
            "--layers",
            "1",
            "--seq-len",
            "8",
            "--eval-every",
            "2",
            "--limit",
            "3",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    pieces, _ = corpus.load_corpus(str(midi_dir), limit=3)
    trained, _ = ngrams.split_pieces(pieces, 0, 0.1)
    index = json.loads((out / "ngrams.json").read_text())
    assert index["split"]["training_pieces"] == len(trained) < 4 and index["limit"] == 3
    assert index["pieces_sha256"] == ngrams.pieces_fingerprint(trained)
    assert json.loads((out / "model.json").read_text())["data"]["train_pieces_sha256"] == index["pieces_sha256"]
    assert ngrams.load_ngram_index(out).lengths == (ngrams.GATE_LENGTH,)


def test_train_command_reports_user_errors(tmp_path):
    from lofictl.cli import app

    result = CliRunner().invoke(app, ["train", "chords", "--corpus", "music21:nope", "--out", str(tmp_path / "m")])
    assert result.exit_code == 2 and "music21:nope" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(app, ["train", "melody", "--arch", "four-embeddings", "--out", str(tmp_path / "m")])
    assert result.exit_code == 2 and "arch" in result.output


@pytest.mark.slow
def test_model_trained_on_chorales_follows_its_chords(tmp_path):
    """A few minutes of real training: melodies sit on chord tones far above chance (0.44)."""
    from lofictl.compose import score, theory
    from lofictl.models import generate

    pieces, summary = corpus.load_corpus("music21:bach", limit=60)
    config = loop.TrainConfig(steps=300, batch_size=16, hidden=64, embed=32, seq_len=32, eval_every=100)
    loop.train(pieces, summary, config, tmp_path / "m", "t", progress=False)
    key = theory.parse_key("D minor")
    chords = [score.ChordEvent(4.0 * i, 4.0, s) for i, s in enumerate(["Dm9", "G13", "Cmaj9", "A7b9"] * 2)]
    shares = [
        generate.onset_chord_tone_share(generate.generate_melody(tmp_path / "m", key, chords, 32, seed=s), chords)
        for s in range(5)
    ]
    assert np.mean(shares) > 0.7
