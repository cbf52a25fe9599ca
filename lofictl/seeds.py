"""Named child seeds: every random choice derives from the recipe's master seed by *name*.

Deriving by name (never by iteration order) means adding a track does not change the seeds of
the others. sha256 is used instead of `hash()`, which is salted per process for strings.
"""

from __future__ import annotations

import hashlib

import numpy as np


def derive_seed(master: int, *names: str | int) -> int:
    """A 32-bit seed from the master seed and a path of names, stable across processes."""
    text = "/".join([str(master), *(str(name) for name in names)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


def rng(master: int, *names: str | int) -> np.random.Generator:
    """A NumPy generator for one named purpose."""
    return np.random.default_rng(np.random.SeedSequence(derive_seed(master, *names)))
