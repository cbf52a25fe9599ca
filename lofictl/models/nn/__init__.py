"""Flax models, the jit+scan sampler and checkpoint files."""

from __future__ import annotations

import os
from pathlib import Path


def compilation_cache_dir() -> Path:
    """Where compiled sampling programs are kept between runs: $LOFICTL_JAX_CACHE, or the
    user's cache folder ($XDG_CACHE_HOME or ~/.cache) / lofictl / jax."""
    if os.environ.get("LOFICTL_JAX_CACHE"):
        return Path(os.environ["LOFICTL_JAX_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "lofictl" / "jax"


def use_compilation_cache(jax) -> None:
    """JAX's persistent compilation cache: a cold build reuses the sampler compiled by an earlier
    process (about 2 s saved) instead of compiling it again. The same program runs either way,
    so the samples are the same bytes. An unwritable folder only costs the saving."""
    folder = compilation_cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)
