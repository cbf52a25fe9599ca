"""Measures on hand-built sequences with known values, the n-gram index against brute force,
the index training writes, eval-midi end to end on a tiny untrained model, and the commands'
bad input. (`lofictl eval` itself: test_quality.py.)"""

import json
import math

import mido
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from lofictl.compose import theory
from lofictl.compose.score import ChordEvent, Note
from lofictl.errors import LofictlError
from lofictl.models import evaluate as ev
from lofictl.models import ngrams as ng
from lofictl.models.train import corpus, loop
from support import REPO, SMALL_NET, write_song


def line(pitches, duration=0.5, start=0.0):
    """A monophonic melody: one note per pitch, back to back."""
    return [Note(start + i * duration, duration, p, 80) for i, p in enumerate(pitches)]


# --- repetitiveness -------------------------------------------------------------------------


def test_a_loop_scores_exactly_one():
    notes = line([60, 64, 67, 72] * 10)
    rep = ev.repetitiveness(notes)
    assert rep["mean"] == 1.0
    assert rep["curve"] == [1.0] * 21  # x = 20..40
    assert rep["at_beat"][0] == 19 * 0.5


def test_no_repeats_scores_zero_and_half_repeats_score_half():
    assert ev.repetitiveness(line(range(50, 80)))["mean"] == 0.0
    # x-20..x-11 = 60..69; x-10..x-1 = 60..64 then 70..74: half of them occurred before.
    rep = ev.repetitiveness(line(list(range(60, 70)) + list(range(60, 65)) + list(range(70, 75))))
    assert rep["curve"] == [0.5]


def test_occurring_means_same_pitch_and_duration():
    first = line(range(60, 70), duration=0.5)
    same_pitches_longer = line(range(60, 70), duration=1.0, start=5.0)
    assert ev.repetitiveness(first + same_pitches_longer)["curve"] == [0.0]
    octave_up = line(range(72, 82), duration=0.5, start=5.0)
    assert ev.repetitiveness(first + octave_up)["curve"] == [0.0]  # the octave counts


def test_too_short_for_the_measure():
    assert ev.repetitiveness(line([60] * 19))["mean"] is None


# --- chords, scale, entropy, density --------------------------------------------------------


def test_chord_tones_only_score_one():
    chords = [ChordEvent(0, 4, "Cmaj7"), ChordEvent(4, 4, "Dm9")]
    notes = line([60, 64, 67, 71, 62, 65, 69, 72], duration=1.0)
    assert ev.chord_tone_share(notes, chords) == 1.0


def test_chord_tone_share_splits_notes_across_changes_and_skips_silence():
    chords = [ChordEvent(0, 2, "C"), ChordEvent(2, 2, "F")]
    held_e = [Note(1.0, 2.0, 64, 80)]  # E: a chord tone of C for one beat, not of F for one beat
    assert ev.chord_tone_share(held_e, chords) == 0.5
    after = [Note(1.0, 1.0, 60, 80), Note(10.0, 4.0, 61, 80)]  # the C# sounds under no chord
    assert ev.chord_tone_share(after, chords) == 1.0
    assert ev.chord_tone_share(line([61]), []) is None


def test_in_scale_share_known_values():
    key = theory.parse_key("C major")
    notes = line([60, 61, 62, 64, 65, 66, 67, 69])  # C# and F# are out: 6 of 8
    assert ev.in_scale_share(notes, key) == 0.75
    weighted = [Note(0, 1.0, 61, 80), Note(1, 3.0, 60, 80)]  # duration-weighted: 3 of 4 beats
    assert ev.in_scale_share(weighted, "C major") == 0.75
    assert ev.in_scale_share(line([66, 68, 70]), "F# major") == 1.0


def test_entropy_of_all_twelve_pitch_classes_is_log2_12():
    assert ev.pitch_class_entropy(line(range(60, 72))) == pytest.approx(math.log2(12), abs=1e-12)
    assert ev.pitch_class_entropy(line([60, 72, 48])) == 0.0
    assert ev.pitch_class_entropy(line([60, 62])) == pytest.approx(1.0)
    assert ev.pitch_class_entropy([]) is None


def test_density_in_notes_per_beat():
    assert ev.note_density(line(range(60, 68), duration=0.5)) == 2.0
    assert ev.note_density(line(range(60, 68), duration=0.5), total_beats=16) == 0.5


# --- the n-gram index -----------------------------------------------------------------------


def brute_keys(pitch, duration, n):
    return [
        (int(duration[i]),) + tuple((int(pitch[i + j] - pitch[i + j - 1]), int(duration[i + j])) for j in range(1, n))
        for i in range(len(pitch) - n + 1)
    ]


def test_index_lookup_matches_brute_force_on_random_data():
    rng = np.random.default_rng(3)

    def seq(length):  # a small alphabet, so that many n-grams recur
        return rng.integers(60, 66, length), rng.integers(1, 4, length)

    corpus_seqs = [seq(int(rng.integers(5, 60))) for _ in range(200)]
    queries = [seq(40) for _ in range(200)] + corpus_seqs[:20]
    for n in (3, 4, 8):
        index = ng.NgramIndex(ng.index_hashes(corpus_seqs, (n,)), (n,), {})
        known = {k for p, d in corpus_seqs for k in brute_keys(p, d, n)}
        assert len(index.hashes) == len(known)  # no two distinct n-grams share a hash
        assert np.all(np.diff(index.hashes.astype(np.float64)) >= 0) and index.hashes.dtype == np.uint64
        for p, d in queries:
            got = index.contains(ng.ngram_hashes(p, d, n))
            assert got.tolist() == [k in known for k in brute_keys(p, d, n)]


def test_lengths_share_one_array_without_meeting():
    rng = np.random.default_rng(5)
    p, d = rng.integers(55, 75, 60), rng.integers(1, 12, 60)
    both = ng.index_hashes([(p, d)], (4, 5))
    assert len(both) == len(np.unique(ng.ngram_hashes(p, d, 4))) + len(np.unique(ng.ngram_hashes(p, d, 5)))
    assert not np.intersect1d(ng.ngram_hashes(p, d, 4), ng.ngram_hashes(p, d, 5)).size


def test_copied_and_transposed_melodies_overlap_fully_and_new_ones_do_not():
    pieces = corpus.synthetic_pieces(3, bars=8)
    index = ng.NgramIndex(ng.index_hashes([ng.piece_elements(p) for p in pieces], (8, 12, 15)), (8, 12, 15), {})
    copy = [Note(s, d, p + 5, 80) for s, d, p, _ in pieces[1].melody]  # a fourth up: still a copy
    result = ng.ngram_overlap(copy, index)
    assert result["shares"] == {8: 1.0, 12: 1.0, 15: 1.0} and result["copied_15"] == 1.0
    fresh = line([60 + (i * 7) % 23 for i in range(40)], duration=0.75)
    result = ng.ngram_overlap(fresh, index)
    assert result["shares"] == {8: 0.0, 12: 0.0, 15: 0.0} and result["copied_15"] == 0.0
    # Half copied: 20 copied notes then 20 new ones; windows wholly inside the copy match.
    half = copy[:20] + [n.copy(start=n.start + copy[19].end) for n in fresh[:20]]
    result = ng.ngram_overlap(half, index)
    assert result["windows"][15] == 26 and result["shares"][15] == pytest.approx(6 / 26)
    assert result["copied_15"] == pytest.approx(20 / 40)


# --- model folders: index, build measures, gate, eval, compare ------------------------------


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A MIDI-folder corpus; model "a" made as training makes one (with its n-gram index),
    model "b" as models were made before training wrote an index (none, no fingerprint)."""
    root = tmp_path_factory.mktemp("eval")
    cache = root / "cache"
    mp = pytest.MonkeyPatch()
    mp.setenv("LOFICTL_CACHE_DIR", str(cache))
    songs = root / "songs"
    songs.mkdir()
    for i, tonic in enumerate((0, 2, 7, 9, 4, 5)):
        write_song(songs / f"song{i}.mid", tonic, variant=i)
    pieces, summary = corpus.load_corpus(str(songs))
    models = {}
    for name, seed in (("a", 0), ("b", 1)):
        folder = root / name
        loop.write_untrained(pieces, loop.TrainConfig(kind="melody", seed=seed, **SMALL_NET), folder, summary)
        meta = json.loads((folder / "model.json").read_text())
        meta["metrics"] = {"val_loss": 3.0, "best_step": 10, "steps_done": 10}
        if name == "b":
            del meta["data"]["train_pieces_sha256"]
            (folder / "ngrams.npy").unlink()
            (folder / "ngrams.json").unlink()
        (folder / "model.json").write_text(json.dumps(meta))
        models[name] = folder
    yield {"root": root, "songs": songs, "pieces": pieces, "summary": summary, **models}
    mp.undo()


def test_the_index_training_writes_holds_exactly_the_training_pieces(project):
    meta = json.loads((project["a"] / "ngrams.json").read_text())
    train, held = ng.split_pieces(project["pieces"], 0, 0.1)
    assert len(held) == 1 and len(train) == 5 and meta["split"]["training_pieces"] == 5
    model = json.loads((project["a"] / "model.json").read_text())
    assert meta["pieces_sha256"] == model["data"]["train_pieces_sha256"] == ng.pieces_fingerprint(train)
    hashes = np.load(project["a"] / "ngrams.npy", allow_pickle=False)
    assert hashes.dtype == np.uint64 and len(hashes) == meta["entries"] and meta["lengths"] == [15]
    copied = [Note(s, d, p, v) for s, d, p, v in train[0].melody]
    key = theory.Key(train[0].tonic, train[0].mode)
    m = ev.measure_melody(copied, [], key, ng.load_ngram_index(project["a"]))
    assert (m["overlap_15"], m["copied_15"]) == (1.0, 1.0) and m["overlap_8"] is None  # 15-grams only
    assert m["ngram_index"]["sha256"] == meta["sha256"] and m["in_scale_share"] == 1.0
    assert not ev.originality_gate(m, 0.02)
    fresh = line([60 + (i * 5) % 19 for i in range(64)])
    m = ev.measure_melody(fresh, [], "C major", ng.load_ngram_index(project["a"]))
    assert m["overlap_15"] == 0.0 and ev.originality_gate(m, 0.02)
    json.dumps(m, allow_nan=False)  # lock files need strict JSON


def test_eval_index_rebuilds_an_older_models_index_with_more_lengths(project, tmp_path):
    import shutil

    folder = tmp_path / "b"
    shutil.copytree(project["b"], folder)
    meta = ng.build_ngram_index(folder, lengths=(8, 12, 15))
    assert meta["lengths"] == [8, 12, 15] and meta["corpus"] == str(project["songs"])
    train, _ = ng.split_pieces(project["pieces"], 1, 0.1)
    assert meta["split"]["training_pieces"] == len(train) and meta["pieces_sha256"] == ng.pieces_fingerprint(train)
    m = ev.measure_melody(
        [Note(s, d, p, v) for s, d, p, v in train[0].melody], [], "C major", ng.load_ngram_index(folder)
    )
    assert (m["overlap_8"], m["overlap_12"], m["overlap_15"]) == (1.0, 1.0, 1.0)


def test_eval_index_keeps_the_limit_the_model_was_trained_with(project, tmp_path):
    """A model trained with --limit 3 trained on 3 songs: its index must not hold all six."""
    pieces, summary = corpus.load_corpus(str(project["songs"]), limit=3)
    folder = tmp_path / "limited"
    loop.write_untrained(pieces, loop.TrainConfig(kind="melody", **SMALL_NET), folder, summary)
    written = json.loads((folder / "ngrams.json").read_text())
    trained, _ = ng.split_pieces(pieces, 0, 0.1)
    assert written["split"]["training_pieces"] == len(trained) <= 3 and written["limit"] == 3
    rebuilt = ng.build_ngram_index(folder)
    assert rebuilt["pieces_sha256"] == written["pieces_sha256"] and rebuilt["entries"] == written["entries"]


def test_gate_without_an_index_or_with_a_bad_limit(project):
    m = ev.measure_melody(line(range(60, 80)), [], "C major", ng.load_ngram_index(project["b"]))
    assert m["overlap_15"] is None and m["ngram_index"] is None
    with pytest.raises(LofictlError, match="no n-gram index"):
        ev.originality_gate(m, 0.02)
    with pytest.raises(LofictlError, match="between 0 and 1"):
        ev.originality_gate({"overlap_15": 0.0}, 1.5)


def test_a_damaged_or_stale_index_is_refused(project, tmp_path):
    import shutil

    folder = tmp_path / "m"
    shutil.copytree(project["a"], folder)
    data = bytearray((folder / "ngrams.npy").read_bytes())
    data[-1] ^= 0xFF
    (folder / "ngrams.npy").write_bytes(bytes(data))
    with pytest.raises(LofictlError, match="sha256"):
        ng.load_ngram_index(folder)
    ng.build_ngram_index(folder)
    assert ng.load_ngram_index(folder) is not None
    model = json.loads((folder / "model.json").read_text())
    model["data"]["train_pieces_sha256"] = "0" * 64  # retrained on other pieces since
    (folder / "model.json").write_text(json.dumps(model))
    with pytest.raises(LofictlError, match="other training data"):
        ng.load_ngram_index(folder)
    old = tmp_path / "old"
    shutil.copytree(project["b"], old)
    ng.build_ngram_index(old)
    meta = json.loads((old / "ngrams.json").read_text())
    meta["split"]["seed"] = 99
    (old / "ngrams.json").write_text(json.dumps(meta))
    with pytest.raises(LofictlError, match="other training data"):
        ng.load_ngram_index(old)


def test_eval_midi_measures_a_file_with_and_without_a_chords_file(project, tmp_path):
    song = tmp_path / "song.mid"
    write_song(song, tonic=7)
    result = ev.eval_midi(song)
    assert result["key"] == "G major" and result["melody_track"] == "lead"
    assert result["key_from"].startswith("estimated")
    m = result["measures"]
    assert m["notes"] == 32 and m["chord_tone_share"] == 1.0 and m["in_scale_share"] == 1.0
    assert m["note_density"] == 1.0 and "overlap_15" not in m
    melody, chords = tmp_path / "melody.mid", tmp_path / "chords.mid"
    write_song(melody, tonic=7, melody_only=True)
    write_song(chords, tonic=7, chords_only=True)
    assert ev.eval_midi(melody)["chords_from"] is None
    assert ev.eval_midi(melody)["measures"]["chord_tone_share"] is None
    with_chords = ev.eval_midi(melody, chords, model_dir=project["a"])
    assert with_chords["measures"]["chord_tone_share"] == 1.0
    assert with_chords["measures"]["overlap_15"] is not None


@pytest.mark.parametrize("signature, key", [("F", "F major"), ("Dm", "D minor"), ("Bb", "Bb major")])
def test_eval_midi_reads_the_key_signature(tmp_path, signature, key):
    """A tune whose notes alone read as C major is reported in the key its file declares, and
    measured in it (the B naturals of its G chords are outside F major)."""
    song = tmp_path / "declared.mid"
    write_song(song, tonic=0)
    assert ev.eval_midi(song)["key"] == "C major"  # no signature: estimated
    mid = mido.MidiFile(str(song))
    mid.tracks[0].insert(0, mido.MetaMessage("key_signature", key=signature, time=0))
    mid.save(str(song))
    result = ev.eval_midi(song)
    assert result["key"] == key and result["key_from"] == "key signature"
    if key == "F major":
        assert result["measures"]["in_scale_share"] < 1.0


def test_eval_midi_prefers_lofictls_mode_text_to_the_signature(tmp_path):
    from lofictl.export import midi

    song = tmp_path / "dorian.mid"
    write_song(song, tonic=2)
    mid = mido.MidiFile(str(song))
    mid.tracks[0].insert(0, mido.MetaMessage("key_signature", key="C", time=0))
    mid.tracks[0].insert(1, mido.MetaMessage("text", text=midi.KEY_TEXT_PREFIX + "D dorian", time=0))
    mid.save(str(song))
    assert ev.eval_midi(song)["key"] == "D dorian"


# --- commands -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app():
    app = typer.Typer()
    from lofictl.cli.eval import eval_index_command, eval_midi_command  # wearing user_errors already

    app.command("eval-midi")(eval_midi_command)
    app.command("eval-index")(eval_index_command)
    return app


def test_commands_happy_path(app, project, tmp_path):
    import shutil

    runner = CliRunner()
    folder = tmp_path / "b"
    shutil.copytree(project["b"], folder)
    result = runner.invoke(app, ["eval-index", str(folder), "--length", "15"])
    assert result.exit_code == 0, result.output
    assert "of 5 training pieces" in result.output and (folder / "ngrams.npy").is_file()
    song = tmp_path / "song.mid"
    write_song(song, tonic=0)
    result = runner.invoke(app, ["eval-midi", str(song), "--model", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["measures"]["overlap_15"] is not None
    result = runner.invoke(app, ["eval-midi", str(song), "--model", str(folder)])
    assert result.exit_code == 0 and "key C major (estimated" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["eval-index", "no/such/model"], "does not exist"),
        (["eval-midi", "{broken}"], "not a readable MIDI file"),
        (["eval-midi", "no/such.mid"], "not found"),
    ],
)
def test_commands_bad_input_exit_2(app, project, tmp_path, args, message):
    broken = tmp_path / "broken.mid"
    broken.write_bytes(b"MThd\x00\x00\x00\x06garbage")
    args = [a.format(a=project["a"], broken=broken) for a in args]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_shipped_model_carries_a_checked_index():
    model = REPO / "models" / "lofi-melody"
    index = ng.load_ngram_index(model)
    assert index is not None and ng.GATE_LENGTH in index.lengths
    assert index.hashes.dtype == np.uint64 and np.all(index.hashes[1:] > index.hashes[:-1])
    assert (model / "ngrams.npy").stat().st_size < 4_000_000
