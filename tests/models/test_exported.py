"""The samplers' kept programs (models/nn/exported.py): a program loaded from the folder samples
exactly the tokens the freshly traced one does, and a damaged, foreign or stale file is never
trusted. (That a second process traces nothing is tests/models/test_compilation_cache.py's.)"""

from __future__ import annotations

import numpy as np
import pytest

from lofictl.compose import score, theory
from lofictl.models import generate
from lofictl.models.nn import exported
from support import REPO

SHIPPED = {"chords": REPO / "models" / "lofi-chords", "melody": REPO / "models" / "lofi-melody"}
KEY = theory.parse_key("A minor")
TIMELINE = [score.ChordEvent(i * 4.0, 4.0, s) for i, s in enumerate(["Am7", "Dm7", "G7", "Cmaj7"])]


@pytest.fixture(autouse=True, scope="module")
def compiled_once():
    """JAX's compilation cache in the tests' shared folder (conftest), as a build turns it on: the
    same program compiled again (a new process, here a forgotten one) is then served, not compiled."""
    from lofictl.models import nn

    nn.use_compilation_cache(nn.compilation_cache_dir())


def _compose() -> tuple:
    """What compose asks of both models: a looped progression (sampled, then scored) and a melody."""
    chords = generate.generate_chords(SHIPPED["chords"], KEY, 16, 4, seed=11, temperature=0.9, loop_bars=2)
    melody = generate.generate_melody(SHIPPED["melody"], KEY, TIMELINE, 16, seed=11, temperature=0.9)
    return chords, [(n.pitch, n.start, n.duration) for n in melody]


def _programs() -> list[exported.Program]:
    chords, melody = generate.load_model(SHIPPED["chords"]), generate.load_model(SHIPPED["melody"])
    return [chords.sampler.run, chords.sampler.score, melody.sampler.run]  # type: ignore[attr-defined]


def _as_a_new_process() -> None:
    """Forget the programs this process already holds, as a fresh process would not have them."""
    for program in _programs():
        program._calls.clear()


def test_a_kept_program_samples_exactly_the_tokens_of_a_traced_one(tmp_path, monkeypatch):
    from lofictl.models import nn

    monkeypatch.setattr(nn, "_PROGRAMS", [])  # no folder: the plain jit
    plain = _compose()
    assert not list(tmp_path.iterdir())

    monkeypatch.setattr(nn, "_PROGRAMS", [tmp_path])
    _as_a_new_process()
    counts = dict(exported.COUNTS)
    traced = _compose()
    assert exported.COUNTS["traced"] - counts["traced"] == 3 and exported.COUNTS["loaded"] == counts["loaded"]
    kept = sorted(p.name.rsplit("-", 2)[0] for p in tmp_path.glob("*-export"))
    assert kept == ["chord-run", "chord-score", "melody-run"]

    _as_a_new_process()
    counts = dict(exported.COUNTS)
    loaded = _compose()
    assert exported.COUNTS["loaded"] - counts["loaded"] == 3 and exported.COUNTS["traced"] == counts["traced"]
    assert plain == traced == loaded
    assert len(plain[0]) > 1 and len(plain[1]) > 4  # music, not an empty answer that would match anyway


@pytest.fixture
def chord_call(tmp_path):
    """A Program of the chord sampler kept in tmp_path, and one call's arguments."""
    model = generate.load_model(SHIPPED["chords"])
    program = exported.Program(
        model.sampler._run,  # type: ignore[attr-defined]
        "chord-run",
        "fingerprint-a",
        lambda: tmp_path,
        static_argnames=("n_steps", "batch"),
    )
    cond = {
        "total_ticks": np.int32(1536),
        "final_ticks": np.int32(384),
        "grid_ticks": np.int32(192),
        "bar_ticks": np.int32(384),
        "mode": np.int32(0),
        "tonic_mask": np.arange(generate.tokens.N_CHORD) == 5,
        "temperature": np.float32(1.0),
        "top_k": np.int32(0),
        "top_p": np.float32(1.0),
    }
    args = (model.params, generate._key(4, "chords"), cond)
    expected = [np.asarray(a) for a in program.jitted(*args, n_steps=32, batch=2)]
    return program, args, expected


def _call(program, args) -> tuple[list, dict]:
    program._calls.clear()
    counts = dict(exported.COUNTS)
    out = [np.asarray(a) for a in program(*args, n_steps=32, batch=2)]
    return out, {k: exported.COUNTS[k] - counts[k] for k in counts}


def _same(a: list, b: list) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_a_torn_damaged_or_foreign_file_is_traced_again_and_rewritten(chord_call, tmp_path):
    program, args, expected = chord_call
    out, counts = _call(program, args)
    assert _same(out, expected) and counts == {"traced": 1, "loaded": 0}
    (path,) = tmp_path.glob("chord-run-*-export")
    whole = path.read_bytes()

    damaged = bytearray(whole)
    damaged[len(damaged) // 2] ^= 0xFF
    head = len(exported.MAGIC) + 65
    wrong_digest = whole[:head] + b"0" * 64 + whole[head + 64 :]
    for bad in (whole[: len(whole) // 2], bytes(damaged), wrong_digest, b"", b"not a program"):
        path.write_bytes(bad)
        out, counts = _call(program, args)
        assert _same(out, expected) and counts == {"traced": 1, "loaded": 0}, bad[:40]
        assert path.read_bytes() == whole  # written anew, whole
    out, counts = _call(program, args)
    assert _same(out, expected) and counts == {"traced": 0, "loaded": 1}


def test_another_model_shape_or_program_never_meets_a_kept_program(chord_call, tmp_path):
    program, args, expected = chord_call
    _call(program, args)
    (first,) = tmp_path.glob("*-export")

    static = {"static_argnames": ("n_steps", "batch")}
    other_model = exported.Program(program.jitted, "chord-run", "fingerprint-b", lambda: tmp_path, **static)
    other_name = exported.Program(program.jitted, "chord-score", "fingerprint-a", lambda: tmp_path, **static)
    for other in (other_model, other_name):
        _, counts = _call(other, args)
        assert counts == {"traced": 1, "loaded": 0}
    longer = dict(args[2], tonic_mask=np.ones(generate.tokens.N_CHORD + 1, bool))  # another shape
    signature = exported._signature(args, {"n_steps": 32, "batch": 2})
    assert program.key(exported._signature((*args[:2], longer), {"n_steps": 32, "batch": 2})) != program.key(signature)
    assert program.key(exported._signature(args, {"n_steps": 64, "batch": 2})) != program.key(signature)
    assert len(list(tmp_path.glob("*-export"))) == 3

    # A whole file of another program (another model's) put under this one's name: not trusted.
    (score_file,) = tmp_path.glob("chord-score-*-export")
    first.write_bytes(score_file.read_bytes())
    out, counts = _call(program, args)
    assert counts == {"traced": 1, "loaded": 0} and _same(out, expected)


def test_the_key_names_the_code_and_jax(chord_call, monkeypatch):
    program, args, _ = chord_call
    signature = exported._signature(args, {"n_steps": 32, "batch": 2})
    before = program.key(signature)
    monkeypatch.setattr(exported, "code_digest", lambda: "edited")
    assert program.key(signature) != before
    monkeypatch.undo()
    platform = dict(exported._platform())
    monkeypatch.setattr(exported, "_platform", lambda: {**platform, "jaxlib": "0.0.1"})
    assert program.key(signature) != before


def test_a_folder_that_cannot_be_written_only_costs_the_saving(chord_call, tmp_path):
    program, args, expected = chord_call
    (tmp_path / "a-file").write_text("not a folder")
    unwritable = exported.Program(
        program.jitted,
        "chord-run",
        "fingerprint-a",
        lambda: tmp_path / "a-file" / "jax",
        static_argnames=("n_steps", "batch"),
    )
    for _ in range(2):
        out, counts = _call(unwritable, args)
        assert _same(out, expected) and counts == {"traced": 1, "loaded": 0}
