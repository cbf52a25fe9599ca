"""model.json read and checked without JAX: every field a build or a sampler uses has its type.

A damaged or hand-edited description (a list where the vocabulary should be, a weights file
named `../../x`) is one LofictlError naming the file and the field, never a traceback later.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lofictl.errors import LofictlError
from lofictl.safety.paths import PathRefused, plain_file_in

FORMAT = "lofictl-model"
VERSION = 1
WEIGHTS = "weights.msgpack"
META = "model.json"
KINDS = ("melody", "chords")
MAX_META_BYTES = 64 << 20


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Weights(_Open):
    file: str = WEIGHTS
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class MelodyVocabJson(_Open):
    layout: str
    heads: list[int]
    tables: list[list[list[int]]]


class Vocab(_Open):
    melody: MelodyVocabJson | None = None


class ModelMeta(_Open):
    format: str
    version: int
    kind: str
    arch: str
    config: dict[str, Any]
    vocab: Vocab
    weights: Weights


def read_meta(model_dir: Path) -> dict:
    """model.json as a dict, after every check (folder, format, version, kind, field types)."""
    model_dir = Path(model_dir)
    if not model_dir.exists():
        raise LofictlError(
            f"model folder {model_dir} does not exist (train one with `lofictl train`, "
            f"or use models/lofi-chords or models/lofi-melody)",
            field="model",
        )
    if not model_dir.is_dir():
        raise LofictlError(
            f"model {model_dir} is not a folder (a model is a folder with {META} and {WEIGHTS})", field="model"
        )
    path = model_dir / META
    if not path.is_file():
        raise LofictlError(f"{model_dir} has no {META}: not a lofictl model folder", field="model")
    try:
        if path.stat().st_size > MAX_META_BYTES:
            raise LofictlError(f"{path} is larger than a model description can be", field="model")
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        raise LofictlError(
            f"{path} is not valid JSON ({str(e)[:120]}); the checkpoint is damaged, retrain it", field="model"
        ) from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise LofictlError(f"{path} is not a lofictl model description (format {FORMAT!r} expected)", field="model")
    if meta.get("version") != VERSION:
        raise LofictlError(
            f"{path} has checkpoint version {meta.get('version')!r}; this lofictl reads version {VERSION}",
            field="model",
        )
    for key in ("kind", "arch", "config", "vocab", "weights"):
        if key not in meta:
            raise LofictlError(f"{path} lacks {key!r}; the checkpoint is incomplete, retrain it", field="model")
    try:
        checked = ModelMeta.model_validate(meta)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise LofictlError(
            f"{path}: {where}: {error['msg'].lower()}; the checkpoint is damaged, retrain it", field="model"
        ) from None
    if checked.kind not in KINDS:
        raise LofictlError(f"{path} is a {checked.kind!r} model; lofictl knows {', '.join(KINDS)}", field="model")
    if checked.kind == "melody" and checked.vocab.melody is None:
        raise LofictlError(f"{path}: vocab.melody is missing; the checkpoint is damaged, retrain it", field="model")
    weights_path(model_dir, meta)
    return meta


def weights_path(model_dir: Path, meta: dict) -> Path:
    """The weights file model.json names: a plain file name inside the model folder."""
    try:
        return plain_file_in(Path(model_dir), meta["weights"].get("file", WEIGHTS), "weights.file")
    except PathRefused as exc:
        raise LofictlError(f"{Path(model_dir) / META}: {exc.message}", field="model") from None


def check_sampling_meta(model_dir: Path, meta: dict):
    """What sampling needs from model.json, checked without JAX: the chord vocabulary's version,
    and for a melody model its vocabulary (returned, as tokens.MelodyVocab; None for chords),
    whose heads must be the config's."""
    from lofictl.models import tokens

    model_dir = Path(model_dir)
    version = meta["vocab"].get("chords", {}).get("version", 1)
    if version != tokens.CHORD_VOCAB_VERSION:
        raise LofictlError(
            f"{model_dir} was trained with chord vocabulary version {version}; this lofictl uses "
            f"version {tokens.CHORD_VOCAB_VERSION} (POP909's qualities and slash basses): retrain it "
            f"with the command in its {META}",
            field="model",
        )
    if meta["kind"] != "melody":
        return None
    try:
        vocab = tokens.MelodyVocab.from_json(meta["vocab"]["melody"])
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise LofictlError(
            f"{model_dir / META}: vocab.melody cannot be read ({exc}); the checkpoint is damaged, retrain it",
            field="model",
        ) from None
    try:
        heads = tuple(int(h) for h in meta["config"]["heads"])
    except (KeyError, TypeError, ValueError) as exc:
        raise LofictlError(f"{model_dir / META} has an unusable config ({exc})", field="model") from None
    if tuple(vocab.heads) != heads:
        raise LofictlError(f"{model_dir / META}: vocabulary and config disagree on the heads", field="model")
    return vocab


def model_summary(model_dir: Path, part: str | None = None, file_sha256: Callable[[Path], str] | None = None) -> dict:
    """What a lock records about a model folder: its kind, layout and hashes, checked without
    loading JAX (builds stay quick). The weights must match the sha256 model.json records
    (`lofictl validate` loads them fully); `file_sha256` may be a cache's memoised hash."""
    from lofictl.digests import sha256_file

    model_dir = Path(model_dir)
    meta = read_meta(model_dir)
    weights = weights_path(model_dir, meta)
    recorded, kind, arch = meta["weights"]["sha256"], meta["kind"], meta["arch"]
    if part is not None and kind != part:
        raise LofictlError(f"{model_dir} holds a {kind} model ({arch}); a {part} model is needed here")
    if not weights.is_file():
        raise LofictlError(f"{model_dir} has no weights file {weights.name}")
    digest = (file_sha256 or sha256_file)(weights)
    if digest != recorded:
        raise LofictlError(f"{weights} does not match the sha256 in {META} (truncated, damaged or replaced)")
    return {"kind": kind, "arch": arch, "sha256": digest, "model_json_sha256": sha256_file(model_dir / META)}
