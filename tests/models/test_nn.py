"""Checkpoint files and the jit+scan sampler's pieces."""

import json
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lofictl.digests import sha256_file
from lofictl.errors import LofictlError
from lofictl.models import tokens
from lofictl.models.nn import checkpoint, sample
from lofictl.models.train import corpus, loop
from support import REPO, SMALL_NET


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Untrained checkpoints of two melody layouts and a chord model."""
    root = tmp_path_factory.mktemp("models")
    pieces = corpus.synthetic_pieces(4)
    for arch in ("three-embeddings", "one-embedding"):
        loop.write_untrained(pieces, loop.TrainConfig(kind="melody", arch=arch, **SMALL_NET), root / arch)
    loop.write_untrained(pieces, loop.TrainConfig(kind="chords", arch=loop.CHORD_ARCH, **SMALL_NET), root / "chords")
    return root


def _copy(src, dst):
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_checkpoint_round_trip(models):
    meta, params = checkpoint.load(models / "three-embeddings", "melody")
    assert meta["kind"] == "melody" and meta["arch"] == "three-embeddings"
    assert meta["weights"]["sha256"] == sha256_file(models / "three-embeddings" / checkpoint.WEIGHTS)
    leaves = jax.tree_util.tree_leaves(params)
    assert leaves and all(isinstance(leaf, np.ndarray) for leaf in leaves)
    # model.json carries the vocabularies needed to sample, nothing lives elsewhere
    assert set(meta["vocab"]) == {"melody", "factors", "chords"}


def test_missing_folder(tmp_path):
    with pytest.raises(LofictlError, match="does not exist") as info:
        checkpoint.load(tmp_path / "nope")
    assert info.value.field == "model"


def test_folder_without_model_json(tmp_path):
    with pytest.raises(LofictlError, match="no model.json"):
        checkpoint.load(tmp_path)


def test_model_json_not_json(models, tmp_path):
    bad = _copy(models / "chords", tmp_path / "bad")
    (bad / checkpoint.META).write_text("{ not json")
    with pytest.raises(LofictlError, match="not valid JSON"):
        checkpoint.load(bad)


def test_truncated_weights_fail_the_sha256(models, tmp_path):
    bad = _copy(models / "chords", tmp_path / "bad")
    data = (bad / checkpoint.WEIGHTS).read_bytes()
    (bad / checkpoint.WEIGHTS).write_bytes(data[: len(data) // 2])
    with pytest.raises(LofictlError, match="does not match the sha256"):
        checkpoint.load(bad)


def _replace_weights(folder, data: bytes):
    (folder / checkpoint.WEIGHTS).write_bytes(data)
    meta = json.loads((folder / checkpoint.META).read_text())
    meta["weights"]["sha256"] = sha256_file(folder / checkpoint.WEIGHTS)
    (folder / checkpoint.META).write_text(json.dumps(meta))


def test_corrupt_weights_with_a_matching_sha256(models, tmp_path):
    bad = _copy(models / "chords", tmp_path / "bad")
    data = (bad / checkpoint.WEIGHTS).read_bytes()
    _replace_weights(bad, data[: len(data) // 3])
    with pytest.raises(LofictlError, match="not a readable msgpack"):
        checkpoint.load(bad)


def test_weights_of_another_layout(models, tmp_path):
    bad = _copy(models / "three-embeddings", tmp_path / "bad")
    _replace_weights(bad, (models / "one-embedding" / checkpoint.WEIGHTS).read_bytes())
    with pytest.raises(LofictlError, match="does not fit the three-embeddings layout"):
        checkpoint.load(bad)


def test_model_of_another_kind(models):
    with pytest.raises(LofictlError, match="holds a chords model"):
        checkpoint.load(models / "chords", "melody")


def test_filter_logits_top_k_top_p_temperature():
    logits = jnp.log(jnp.array([[0.5, 0.3, 0.15, 0.05]]))
    keep = lambda out: (np.asarray(out)[0] > sample.NEG / 2).tolist()
    assert keep(sample.filter_logits(logits, 1.0, 0, 1.0)) == [True] * 4
    assert keep(sample.filter_logits(logits, 1.0, 1, 1.0)) == [True, False, False, False]
    assert keep(sample.filter_logits(logits, 1.0, 2, 1.0)) == [True, True, False, False]
    assert keep(sample.filter_logits(logits, 1.0, 0, 0.7)) == [True, True, False, False]
    assert keep(sample.filter_logits(logits, 1.0, 0, 0.01)) == [True, False, False, False]
    hot = np.asarray(sample.filter_logits(logits, 2.0, 0, 1.0))
    assert np.allclose(hot, np.asarray(logits) / 2)


def test_loop_penalty_discourages_repeating_an_ngram():
    # history ... 10 11 12 13 | 10 11 12 → 13 would repeat the 4-gram
    history = jnp.array([[-1] * 9 + [10, 11, 12, 13, 10, 11, 12]])
    penalty = np.asarray(sample.loop_penalty(history, 4, 2.0))[0]
    assert penalty[13] == -2.0
    assert np.count_nonzero(penalty) == 1
    fresh = jnp.array([[-1] * 13 + [10, 11, 12]])
    assert not np.asarray(sample.loop_penalty(fresh, 4, 2.0)).any()


def test_sampler_compiles_once_for_different_settings(models):
    from lofictl.compose import score, theory
    from lofictl.models import generate

    key = theory.parse_key("C major")
    chords = [score.ChordEvent(0, 4, "C"), score.ChordEvent(4, 4, "G7")]
    for temperature, top_p in ((1.0, 1.0), (0.7, 0.9), (1.3, 0.5)):
        generate.generate_melody(
            models / "three-embeddings", key, chords, 8, seed=1, temperature=temperature, top_p=top_p
        )
    assert generate.load_model(models / "three-embeddings").sampler.run._cache_size() == 1


def test_same_seed_same_tokens_across_processes(models):
    script = textwrap.dedent(f"""
        from pathlib import Path
        from lofictl.models import generate
        from lofictl.compose import score, theory
        key = theory.parse_key("D minor")
        chords = [score.ChordEvent(0, 4, "Dm9"), score.ChordEvent(4, 4, "G13")]
        notes = generate.generate_melody(Path({str(models / "three-embeddings")!r}), key, chords, 8, seed=42)
        print([(n.start, n.duration, n.pitch, n.velocity) for n in notes])
        print(generate.generate_chords(Path({str(models / "chords")!r}), key, 16, 4, seed=42))
    """)
    runs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert all(run.returncode == 0 for run in runs)
    assert outputs[0] == outputs[1] and outputs[0].count("\n") == 2


def test_single_steps_equal_the_sequence_pass():
    """The sampler's one-step path and training's scanned path are the same network."""
    from lofictl.models.nn import modules

    model = modules.TokenLSTM(
        heads=(tokens.N_PITCH, tokens.N_DURATION, tokens.N_VELOCITY),
        hidden=8,
        layers=2,
        embed=4,
        chord_vocab=tokens.N_CHORD,
    )
    inputs = modules.dummy_inputs(model, 2, 5)
    inputs["tokens"] = jax.random.randint(jax.random.key(1), (2, 5, 3), 0, 5)
    inputs["chord"] = jax.random.randint(jax.random.key(2), (2, 5), 0, tokens.N_CHORD)
    params = jax.jit(model.init)(jax.random.key(0), inputs, modules.zero_carry(model, 2))
    apply = jax.jit(model.apply)
    full, _ = apply(params, inputs, modules.zero_carry(model, 2))
    carry, steps = modules.zero_carry(model, 2), []
    for t in range(5):
        one = {k: (v[:, t : t + 1] if v.ndim >= 2 else v) for k, v in inputs.items()}
        logits, carry = apply(params, one, carry)
        steps.append(logits[0])
    assert np.allclose(np.concatenate(steps, axis=1), full[0], atol=1e-5)


def test_register_home_is_the_first_notes_and_rests_leave_it():
    register = (jnp.zeros(1), jnp.zeros(1), jnp.zeros(1))
    note = lambda rel: jnp.array([2 + rel - tokens.PITCH_LOW])  # noqa: E731 - a pitch token
    for rel in [7] * 4 + [None] + [3] * (sample.ANCHOR_NOTES - 4):
        register = sample._follow_register(register, jnp.array([tokens.REST]) if rel is None else note(rel))
    recent, home, count = (float(x[0]) for x in register)
    assert count == sample.ANCHOR_NOTES
    assert home == pytest.approx((4 * 7 + (sample.ANCHOR_NOTES - 4) * 3) / sample.ANCHOR_NOTES)
    for _ in range(20):  # later notes move the running mean, never home
        register = sample._follow_register(register, note(15))
    assert float(register[1][0]) == pytest.approx(home) and float(register[0][0]) > 12


def test_anchor_tilts_back_towards_home_and_echo_favours_what_came_four_bars_before(models):
    from lofictl.models import generate

    model = generate.load_model(models / "three-embeddings")
    sampler = model.sampler
    cond = {
        "scale_mask": jnp.ones(12),
        "range_mask": jnp.zeros(tokens.N_PITCH),
        "scale_strength": 0.0,
        "loop_strength": 0.0,
        "anchor_strength": 10.0,
        "echo_ticks": jnp.int32(192),
        "echo_strength": 1.5,
    }
    history = -jnp.ones((1, sampler.window), jnp.int32)
    pcs = jnp.zeros((1, 12))
    up, down = 2 + 12 - tokens.PITCH_LOW, 2 + 0 - tokens.PITCH_LOW  # an octave above the tonic, the tonic
    drifted_high = (jnp.array([9.0]), jnp.array([0.0]), jnp.array([40.0]))
    bias = sampler._bias(history, pcs, drifted_high, cond)[0]
    assert bias[up] < 0 < bias[down]  # further away costs, back home pays
    settled = (jnp.array([0.0]), jnp.array([0.0]), jnp.array([40.0]))
    assert float(jnp.abs(sampler._bias(history, pcs, settled, cond)[0]).max()) == 0.0
    young = (jnp.array([9.0]), jnp.array([0.0]), jnp.array([3.0]))  # home not yet known: no tilt
    assert float(jnp.abs(sampler._bias(history, pcs, young, cond)[0]).max()) == 0.0
    empty = -jnp.ones((1, sampler.echo_window), jnp.int32)
    ticks = empty.at[0, -1].set(300 - 192)
    echo = (ticks, jnp.zeros_like(empty).at[0, -1].set(up), jnp.zeros_like(empty).at[0, -1].set(6))
    pitch_bias, duration_bias = sampler._echo(echo, jnp.array([300]), cond)
    assert float(pitch_bias[0, up]) == 1.5 and float(pitch_bias[0].sum()) == 1.5
    assert float(duration_bias[0, 6]) == pytest.approx(1.5 * sample.RHYTHM_ECHO)
    pitch_bias, duration_bias = sampler._echo(echo, jnp.array([301]), cond)  # nothing began at 301 - 192
    assert float(pitch_bias.sum()) == 0.0 and float(duration_bias.sum()) == 0.0


@pytest.mark.parametrize("arch", ["three-embeddings", "one-embedding", "chords"])
def test_the_layout_worked_out_without_tracing_is_what_init_makes(models, arch):
    """checkpoint.load checks weights against modules.param_shapes, not a traced init: the two
    must agree name for name and shape for shape, or a good checkpoint would be refused."""
    from lofictl.models.nn import modules

    config = checkpoint.read_meta(models / arch)["config"]
    template = checkpoint.param_template(config)
    traced = {
        "/".join(str(getattr(k, "key", k)) for k in path): tuple(leaf.shape)
        for path, leaf in jax.tree_util.tree_flatten_with_path(template)[0]
    }
    assert modules.param_shapes(config) == traced
    shipped = checkpoint.read_meta(REPO / "models" / ("lofi-chords" if arch == "chords" else "lofi-melody"))["config"]
    shipped_template = checkpoint.param_template(shipped)  # the shipped models' sizes, phrases, chords
    assert modules.param_shapes(shipped) == {
        "/".join(str(getattr(k, "key", k)) for k in path): tuple(leaf.shape)
        for path, leaf in jax.tree_util.tree_flatten_with_path(shipped_template)[0]
    }
    _, params = checkpoint.load(models / arch)
    assert jax.tree_util.tree_structure(params) == jax.tree_util.tree_structure(template)
