"""Checkpoint folders: `weights.msgpack` (the parameter pytree, flax msgpack) + `model.json`
(kind, layout, config, vocabularies, training command, data summary, metrics, sha256 of the
weights). `train_state.msgpack` (optimizer state, step) sits beside them while training so a
run can resume. Safe formats only: msgpack holds arrays and numbers, never code.

Every way a folder can be wrong is a LofictlError that names the folder and says what to do.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jax
import numpy as np
from flax import serialization

from lofictl.errors import LofictlError
from lofictl.models.nn import modules
from lofictl.models.nn.meta import FORMAT, KINDS, META, VERSION, WEIGHTS, read_meta, weights_path  # noqa: F401  (model.json is read by nn.meta alone)
from lofictl.safety import atomic

STATE = "train_state.msgpack"


def _to_numpy(tree):
    return jax.tree_util.tree_map(lambda a: np.asarray(a, dtype=np.asarray(a).dtype), tree)


def save(out_dir: Path, params, meta: dict) -> dict:
    """Write weights then model.json (with the weights' sha256); returns the metadata written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = serialization.to_bytes(_to_numpy(params))
    atomic.write_bytes(out_dir / WEIGHTS, data)
    meta = dict(
        meta,
        format=FORMAT,
        version=VERSION,
        weights={"file": WEIGHTS, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)},
    )
    atomic.write_bytes(out_dir / META, (json.dumps(meta, indent=1, sort_keys=True) + "\n").encode())
    return meta


def param_template(config: dict):
    """Shapes and dtypes of a config's parameters, without computing any."""
    model = modules.build(config)
    return jax.eval_shape(
        lambda: model.init(jax.random.key(0), modules.dummy_inputs(model), modules.zero_carry(model, 1))
    )


def load(model_dir: Path, kind: str | None = None) -> tuple[dict, dict]:
    """(metadata, params) from a model folder, checked against its sha256 and its layout."""
    model_dir = Path(model_dir)
    meta = read_meta(model_dir)
    if kind is not None and meta["kind"] != kind:
        raise LofictlError(
            f"{model_dir} holds a {meta['kind']} model ({meta['arch']}); a {kind} model is needed here", field="model"
        )
    path = weights_path(model_dir, meta)
    if not path.is_file():
        raise LofictlError(f"{model_dir} has no weights file {path.name}", field="model")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != meta["weights"].get("sha256"):
        raise LofictlError(
            f"{path} does not match the sha256 in {META} (truncated, damaged or replaced); "
            f"retrain or restore the checkpoint",
            field="model",
        )
    try:
        shapes = modules.param_shapes(meta["config"])  # not param_template: no tracing the model
        if any(n < 0 for shape in shapes.values() for n in shape):
            raise ValueError("a negative size")
    except (KeyError, TypeError, ValueError) as e:
        raise LofictlError(f"{model_dir / META} has an unusable config ({e})", field="model") from None
    try:
        state = serialization.msgpack_restore(data)
    except Exception as e:  # msgpack raises several unrelated types on bad bytes
        raise LofictlError(
            f"{path} is not a readable msgpack weights file ({type(e).__name__}); retrain or restore the checkpoint",
            field="model",
        ) from None
    check_shapes(shapes, state, f"{path} does not fit the {meta['arch']} layout in {META}")
    # The state has exactly the parameters' names and shapes: it is the parameter tree (nested
    # dicts, as init makes and from_state_dict would rebuild it).
    params = jax.tree_util.tree_map(lambda a: np.asarray(a), state)
    return meta, params


def check_layout(template, state, message: str) -> None:
    """Raise unless `state` (a restored state dict) has exactly the template's names and shapes."""
    want = serialization.to_state_dict(template)
    flat_want = {
        "/".join(str(getattr(k, "key", k)) for k in path): tuple(np.shape(leaf))
        for path, leaf in jax.tree_util.tree_flatten_with_path(want)[0]
    }
    check_shapes(flat_want, state, message)


def check_shapes(flat_want: dict[str, tuple], state, message: str) -> None:
    """Raise unless `state` (a restored state dict) has exactly these paths and shapes."""
    if not isinstance(state, dict):
        raise LofictlError(message, field="model")
    try:
        flat_got = {
            "/".join(str(getattr(k, "key", k)) for k in path): leaf
            for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]
        }
    except Exception:
        raise LofictlError(message, field="model") from None
    if set(flat_want) != set(flat_got):
        missing = sorted(set(flat_want) - set(flat_got))[:3]
        extra = sorted(set(flat_got) - set(flat_want))[:3]
        raise LofictlError(f"{message} (missing {missing}, unexpected {extra})", field="model")
    for name, shape in flat_want.items():
        got = flat_got[name]
        if tuple(np.shape(got)) != tuple(shape):
            raise LofictlError(
                f"{message} ({name}: shape {tuple(np.shape(got))}, expected {tuple(shape)})", field="model"
            )


def save_train_state(out_dir: Path, state: dict) -> None:
    """params, opt_state, step and early-stopping counters, for `--resume`."""
    atomic.write_bytes(Path(out_dir) / STATE, serialization.to_bytes(_to_numpy(state)))


def load_train_state(out_dir: Path, template: dict) -> dict:
    path = Path(out_dir) / STATE
    if not path.is_file():
        raise LofictlError(f"cannot resume: {path} does not exist (train without --resume first)", field="resume")
    try:
        state = serialization.msgpack_restore(path.read_bytes())
    except Exception as e:  # msgpack raises several unrelated types on bad bytes
        raise LofictlError(f"cannot resume: {path} is damaged ({type(e).__name__})", field="resume") from None
    check_layout(template, state, f"cannot resume: {path} was written by a different model configuration")
    return serialization.from_state_dict(template, state)
