"""The API compose calls: contracts on what comes back, and errors on bad settings."""

import math

import numpy as np
import pytest

from lofictl.compose import score, theory
from lofictl.errors import LofictlError
from lofictl.models import generate, tokens
from lofictl.models.train import corpus, loop
from support import REPO, SMALL_NET

SHIPPED = {"chords": REPO / "models" / "lofi-chords", "melody": REPO / "models" / "lofi-melody"}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    pieces = corpus.synthetic_pieces(4)
    loop.write_untrained(pieces, loop.TrainConfig(kind="melody", **SMALL_NET), root / "melody")
    loop.write_untrained(pieces, loop.TrainConfig(kind="chords", arch=loop.CHORD_ARCH, **SMALL_NET), root / "chords")
    return root


def timeline(symbols, beats_each=4.0):
    return [score.ChordEvent(i * beats_each, beats_each, s) for i, s in enumerate(symbols)]


@pytest.mark.parametrize("n_beats, beats_per_bar", [(32, 4), (30, 4), (3, 4), (10.5, 4), (24, 3), (7, 3.5)])
def test_chords_fill_exactly_and_end_on_the_tonic(models, n_beats, beats_per_bar):
    key = theory.parse_key("D minor")
    chords = generate.generate_chords(models / "chords", key, n_beats, beats_per_bar, seed=5)
    assert math.isclose(sum(d for _, d in chords), n_beats, abs_tol=1e-9)
    assert all(d > 0 for _, d in chords)
    for symbol, _ in chords:
        theory.parse_chord(symbol)
    last = theory.parse_chord(chords[-1][0])
    assert last.root == key.tonic and tokens.reduce_intervals(last.intervals) in generate.tonic_qualities(key)


def test_chord_durations_fall_on_half_bars(models):
    chords = generate.generate_chords(models / "chords", theory.parse_key("C major"), 64, 4, seed=9)
    starts, t = [], 0.0
    for _, d in chords:
        starts.append(t)
        t += d
    assert all(s % 2 == 0 for s in starts)
    assert chords[-1][1] >= 4


def test_chords_on_a_whole_bar_grid(models):
    chords = generate.generate_chords(models / "chords", theory.parse_key("C major"), 32, 4, seed=2, grid_beats=4)
    assert all(d % 4 == 0 for _, d in chords) and sum(d for _, d in chords) == 32
    with pytest.raises(LofictlError) as info:
        generate.generate_chords(models / "chords", theory.parse_key("C major"), 32, 4, seed=2, grid_beats=5)
    assert info.value.field == "grid_beats"


def test_chords_same_seed_same_result(models):
    key = theory.parse_key("Eb major")
    a = generate.generate_chords(models / "chords", key, 32, 4, seed=11)
    assert a == generate.generate_chords(models / "chords", key, 32, 4, seed=11)


@pytest.mark.parametrize("low, high", [(60, 84), (48, 60), (70, 95), (36, 50)])
def test_melody_notes_inside_the_span_and_range(models, low, high):
    key = theory.parse_key("D minor")
    notes = generate.generate_melody(
        models / "melody", key, timeline(["Dm9", "G13", "Cmaj9", "A7b9"]), 16, seed=3, low=low, high=high
    )
    assert notes
    for note in notes:
        assert 0 <= note.start < 16 and note.end <= 16 + 1e-9 and note.duration > 0
        assert low <= note.pitch <= high and 1 <= note.velocity <= 127
    assert all(a.end <= b.start + 1e-9 for a, b in zip(notes, notes[1:]))


def test_melody_same_seed_same_notes_other_seed_other_notes(models):
    key = theory.parse_key("F major")
    chords = timeline(["F", "Dm7", "Bb", "C7"])
    a = generate.generate_melody(models / "melody", key, chords, 16, seed=1)
    assert a == generate.generate_melody(models / "melody", key, chords, 16, seed=1)
    assert a != generate.generate_melody(models / "melody", key, chords, 16, seed=2)


def test_melody_over_gaps_and_odd_lengths(models):
    key = theory.parse_key("A minor")
    chords = [score.ChordEvent(2, 2, "Am"), score.ChordEvent(6, 5, "E7")]
    notes = generate.generate_melody(models / "melody", key, chords, 9.5, seed=4, beats_per_bar=3)
    assert all(0 <= n.start < 9.5 and n.end <= 9.5 + 1e-9 for n in notes)
    assert generate.generate_melody(models / "melody", key, [], 4, seed=4)  # no chords at all is allowed


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"temperature": 0}, "temperature"),
        ({"temperature": -1.0}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"top_k": -1}, "top_k"),
    ],
)
def test_bad_sampling_settings(models, kwargs, field):
    key = theory.parse_key("C major")
    with pytest.raises(LofictlError) as info:
        generate.generate_melody(models / "melody", key, timeline(["C"]), 4, seed=1, **kwargs)
    assert info.value.field == field
    with pytest.raises(LofictlError) as info:
        generate.generate_chords(models / "chords", key, 8, 4, seed=1, **kwargs)
    assert info.value.field == field


def test_bad_ranges_lengths_and_symbols(models):
    key = theory.parse_key("C major")
    with pytest.raises(LofictlError) as info:
        generate.generate_melody(models / "melody", key, timeline(["C"]), 4, seed=1, low=70, high=60)
    assert info.value.field == "high"
    with pytest.raises(LofictlError) as info:
        generate.generate_melody(models / "melody", key, timeline(["Cxyz"]), 4, seed=1)
    assert info.value.field == "chords.0"
    with pytest.raises(LofictlError) as info:
        generate.generate_chords(models / "chords", key, 0, 4, seed=1)
    assert info.value.field == "n_beats"


def test_missing_model_folder(tmp_path):
    with pytest.raises(LofictlError, match="does not exist") as info:
        generate.generate_chords(tmp_path / "missing", theory.parse_key("C major"), 8, 4, seed=1)
    assert info.value.field == "model"
    with pytest.raises(LofictlError, match="does not exist"):
        generate.model_info(tmp_path / "missing")


def test_models_of_the_wrong_kind(models):
    key = theory.parse_key("C major")
    with pytest.raises(LofictlError, match="a melody model is needed"):
        generate.generate_melody(models / "chords", key, timeline(["C"]), 4, seed=1)
    with pytest.raises(LofictlError, match="a chords model is needed"):
        generate.generate_chords(models / "melody", key, 8, 4, seed=1)


def test_model_info_for_the_lock_file(models):
    info = generate.model_info(models / "melody")
    assert info["kind"] == "melody" and info["arch"] == "three-embeddings"
    assert len(info["sha256"]) == 64 and len(info["model_json_sha256"]) == 64
    assert generate.load_model(models / "melody") is generate.load_model(models / "melody")


def test_shipped_models_are_pop909_and_follow_the_chords():
    from lofictl.models.nn import checkpoint

    for kind, path in SHIPPED.items():
        meta = checkpoint.read_meta(path)
        (source,) = meta["data"]["sources"]
        assert source["spec"] == "pop909:data/pop909" and source["licence"] == "MIT" and "ISMIR" in source["citation"]
        assert len(source["pieces_sha256"]) == 64  # the data hash
        songs = meta["data"]["split"]["pop909"]["songs"]
        assert songs["test"] and not set(songs["test"]) & (set(songs["train"]) | set(songs["validation"]))
        assert meta["training"]["command"].startswith(f"lofictl train {kind} ")
    key = theory.parse_key("D minor")
    chords = generate.generate_chords(SHIPPED["chords"], key, 32, 4, seed=7, temperature=0.9, loop_bars=4)
    assert math.isclose(sum(d for _, d in chords), 32)
    events, t = [], 0.0
    for symbol, d in chords:
        events.append(score.ChordEvent(t, d, symbol))
        t += d
    first = [(e.start, e.symbol) for e in events if e.start < 16]
    assert [(e.start - 16, e.symbol) for e in events if e.start >= 16] == first  # a 4-bar loop, twice
    notes = generate.generate_melody(SHIPPED["melody"], key, events, 32, seed=7)
    assert len(notes) >= 8
    assert generate.onset_chord_tone_share(notes, events) > 0.5  # chance is about 0.3
    sounding = sum(min(n.duration, 32 - n.start) for n in notes)
    assert sounding < 0.95 * 32  # it breathes
    assert generate.model_info(SHIPPED["melody"])["arch"] == "three-embeddings"


def test_loops_fill_the_span_and_repeat(models):
    key = theory.parse_key("C major")
    for bars, total in ((1, 32), (2, 32), (4, 30), (8, 16)):
        chords = generate.generate_chords(models / "chords", key, total, 4, seed=3, loop_bars=bars)
        assert math.isclose(sum(d for _, d in chords), total)
        grid = []
        for symbol, d in chords:
            grid += [symbol] * int(round(d * 2))
        period = bars * 8  # half beats
        assert all(grid[i] == grid[i % period] for i in range(len(grid))), (bars, chords)
    with pytest.raises(LofictlError) as info:
        generate.generate_chords(models / "chords", key, 32, 4, seed=3, loop_bars=3)
    assert info.value.field == "loop"


def test_the_loop_kept_is_the_one_the_model_expects_again(models):
    """_best_loop plays each candidate twice and keeps the best-scored second pass."""
    model = generate.load_model(models / "chords")
    key = theory.parse_key("C major")
    cond = {"bar_ticks": np.int32(48), "mode": np.int32(0)}
    loops = [
        [(tokens.encode_chord(s, key), 48) for s in progression]
        for progression in (["C", "Am", "F", "G"], ["C", "C#dim7", "Fmaj7/A", "E7"], ["C", "C", "C", "C"])
    ]
    scores = []
    for progression in loops:
        targets = np.array(
            [[(t, 1 + list(tokens.CHORD_DURATION_TICKS).index(n)) for t, n in progression * 2]], np.int32
        )
        ticks = np.array([[48 * i for i in range(8)]], np.int32)
        mask = np.array([[0.0] * 4 + [1.0] * 4], np.float32)
        scores.append(float(model.sampler.score(model.params, targets, ticks, mask, cond)[0]) / 4)
    best = generate._best_loop(model, loops, 192, cond)
    moving = [0, 1]  # a loop of one chord counts only when every candidate is one
    assert best == max(moving, key=lambda i: scores[i])
