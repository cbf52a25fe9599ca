"""Flax models, the jit+scan sampler and checkpoint files."""

from __future__ import annotations

import os
from pathlib import Path

JAX_CACHE_ENV = "LOFICTL_JAX_CACHE"
JAX_CACHE_DIR = "jax"  # inside the project's stage cache (.lofictl-cache/jax)
_PROGRAMS: list[Path] = []  # the folder use_compilation_cache turned on last: exported samplers go there too


def programs_dir() -> Path | None:
    """Where the samplers keep their exported programs (models.nn.exported): the folder of JAX's
    compilation cache once compose has turned it on in this process, else None (plain jit)."""
    return _PROGRAMS[-1] if _PROGRAMS else None


def compilation_cache_dir(cache_root: Path | None = None) -> Path | None:
    """Where compiled sampling programs are kept between runs: $LOFICTL_JAX_CACHE, else the
    folder `jax` in the stage cache `cache_root` (the project's .lofictl-cache), else None."""
    if os.environ.get(JAX_CACHE_ENV, "").strip():
        return Path(os.environ[JAX_CACHE_ENV].strip())
    return None if cache_root is None else Path(cache_root) / JAX_CACHE_DIR


def use_compilation_cache(folder: Path | None) -> None:
    """JAX's persistent compilation cache in `folder` (nothing when None): a build's compose
    stage reuses the sampling programs an earlier process compiled instead of compiling them
    again. Every program is kept, however quick to compile or small (the sampler is several
    small CPU programs), and the same program runs either way, so the samples are the same bytes.
    Called when compose runs, never at import (a cached build imports no JAX). Safe to call again
    with another folder (a process that builds in two projects); an unwritable folder only costs
    the saving. The samplers keep their traced programs in the same folder (programs_dir)."""
    if folder is None:
        return
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    folder = Path(folder).resolve()
    if getattr(jax.config, "jax_compilation_cache_dir", None) == str(folder):
        _PROGRAMS[:] = [folder]
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return
    _PROGRAMS[:] = [folder]
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)  # no minimum, and no override
    compilation_cache.set_cache_dir(str(folder))
    compilation_cache.reset_cache()  # the cache opens its folder once: open the new one


def compilation_cache_files(folder: Path | None) -> list[Path]:
    """The files JAX's compilation cache keeps in `folder` (entries `<key>-cache`, their `-atime`)
    and the samplers' exported programs (`-export`, models.nn.exported)."""
    if folder is None or not Path(folder).is_dir():
        return []
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.name.endswith(("-cache", "-atime", "-export")))


def clear_compilation_cache(folder: Path | None) -> int:
    """Delete what JAX's compilation cache keeps in `folder` (only its own files: the folder may be
    one the user named in $LOFICTL_JAX_CACHE); returns the bytes freed."""
    freed = 0
    for path in compilation_cache_files(folder):
        try:
            size = path.stat().st_size
            path.unlink()
            freed += size
        except OSError:
            pass
    return freed
