"""Sampling programs traced once and kept: `jax.export` between processes.

JAX's compilation cache (.lofictl-cache/jax) spares a build the compile, but every fresh process
still traced the Flax samplers in Python and lowered them before the cache could be asked (about
0.2 s a program, three programs a build). A `Program` keeps what tracing makes, the lowered
StableHLO, in the same folder as `<name>-<key>-export`, and a later process deserializes and
calls it: no Flax code runs, and the compile is served by JAX's cache as before. The first
process runs the exported program too, so every process runs the same one. With no folder (no
stage cache, eval, training) it is a plain `jax.jit`; the two give the same numbers
(tests/models/test_exported.py). Calling an exported program makes JAX load SciPy's LAPACK once
(0.24 s), which a build that renders audio loads anyway.

The key names everything the program depends on: the model (its whole model.json, whose weights
sha256 is inside), the sampler's source files, the argument shapes and dtypes and static
arguments, and the versions and settings of JAX. A file is trusted only whole and only for its
key: it carries the key and the sha256 of its payload (a flatbuffer, never a pickle); a torn,
damaged, renamed or foreign file is ignored and written anew. Writes are atomic; an unwritable
folder only costs the saving.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from pathlib import Path

import jax
import jax.api_util

from lofictl.digests import canonical_json, sha256_bytes
from lofictl.safety.atomic import write_bytes
from lofictl.safety.fingerprints import closure

SUFFIX = "-export"
MAGIC = b"lofictl exported sampler 1\n"  # then the key and the sha256 of the payload, a line each
COUNTS = {"traced": 0, "loaded": 0}  # programs traced and programs loaded in this process (tests read it)


@functools.cache
def code_digest() -> str:
    """sha256 of the source files a traced sampler runs (the samplers, the Flax modules, the
    token tables, and this file): an edit to any of them never meets an old program."""
    digest = hashlib.sha256()
    for path in closure(("lofictl.models.nn.sample", "lofictl.models.nn.exported")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@functools.cache
def _platform() -> dict:
    """What else decides the traced program: versions, the backend, and the settings that change
    how JAX traces (dtypes, random bits, precision)."""
    import flax
    import jaxlib

    settings = ("jax_enable_x64", "jax_default_prng_impl", "jax_threefry_partitionable", "jax_default_matmul_precision")
    return {
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "flax": flax.__version__,
        "backend": jax.default_backend(),
        **{name: str(getattr(jax.config, name)) for name in settings},
    }


@functools.cache
def _can_serialize() -> bool:
    """jax.export writes flatbuffers through the `flatbuffers` package (a lofictl dependency; an
    older environment without it samples with the plain jit)."""
    import importlib.util

    return importlib.util.find_spec("flatbuffers") is not None


def _signature(args: tuple, static: dict) -> tuple:
    """(argument tree, shapes and dtypes, static arguments) of a call; the tree and avals are
    spelled as an exported program spells its own (positional and keyword arguments)."""
    leaves, tree = jax.tree.flatten((args, {}))
    typeof = getattr(jax, "typeof", None) or jax.api_util.shaped_abstractify  # jax.typeof is recent
    avals = tuple(
        (tuple(aval.shape), str(aval.dtype), bool(getattr(aval, "weak_type", False)))
        for aval in (typeof(leaf) for leaf in leaves)
    )
    return str(tree), avals, tuple(sorted(static.items()))


def _read(path: Path, key: str, signature: tuple):
    """The exported program in `path` if the file is whole and made for this key and call, else None.
    The file: MAGIC, the key, the payload's sha256 (a line each), the payload."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    header = MAGIC + key.encode() + b"\n"
    digest, payload = data[len(header) : len(header) + 64], data[len(header) + 65 :]
    if not data.startswith(header) or data[len(header) + 64 : len(header) + 65] != b"\n":
        return None
    if digest != sha256_bytes(payload).encode():
        return None
    try:
        exp = jax.export.deserialize(bytearray(payload))
    except Exception:  # whole, but not a program this JAX can read
        return None
    avals = tuple((tuple(a.shape), str(a.dtype), bool(a.weak_type)) for a in exp.in_avals)
    if (str(exp.in_tree), avals) != signature[:2]:
        return None
    return exp


def _write(path: Path, key: str, exp) -> None:
    payload = bytes(exp.serialize())
    try:
        write_bytes(path, MAGIC + key.encode() + b"\n" + sha256_bytes(payload).encode() + b"\n" + payload)
    except OSError:
        pass  # a read-only or full folder: the next process traces again


def _held(jitted) -> int:
    """How many programs a `jax.jit` function holds (its `_cache_size`, not in JAX's type stubs)."""
    return jitted._cache_size()


class Program:
    """`jax.jit(fun, static_argnames=...)`, whose lowered program is kept in `folder()` (when it
    names one) under a key that includes `fingerprint` (the model's identity)."""

    def __init__(self, fun: Callable, name: str, fingerprint: str, folder: Callable[[], Path | None], **jit_kwargs):
        self.name = name
        self.fingerprint = fingerprint
        self.folder = folder
        self.jitted = jax.jit(fun, **jit_kwargs)
        self._calls: dict[tuple, Callable] = {}  # (folder, signature) → the exported program, jitted

    def __call__(self, *args, **static):
        folder = self.folder()
        if folder is None or not _can_serialize():
            return self.jitted(*args, **static)
        signature = _signature(args, static)
        call = self._calls.get((folder, signature))
        if call is None:
            call = self._calls[(folder, signature)] = jax.jit(self._exported(folder, signature, args, static).call)
        return call(*args)

    def _cache_size(self) -> int:
        """Programs this process holds for distinct calls, as jax.jit's `_cache_size` counts them
        (the plain jit's and the kept ones'): a setting that is traced makes none."""
        return _held(self.jitted) + sum(_held(call) for call in self._calls.values())

    def key(self, signature: tuple) -> str:
        return sha256_bytes(
            canonical_json(
                {
                    "name": self.name,
                    "model": self.fingerprint,
                    "code": code_digest(),
                    "platform": _platform(),
                    "signature": repr(signature),
                }
            ).encode()
        )

    def _exported(self, folder: Path, signature: tuple, args: tuple, static: dict):
        key = self.key(signature)
        path = folder / f"{self.name}-{key}{SUFFIX}"
        exp = _read(path, key, signature)
        if exp is not None:
            COUNTS["loaded"] += 1
            return exp
        COUNTS["traced"] += 1
        exp = jax.export.export(self.jitted)(*args, **static)
        _write(path, key, exp)
        return exp
