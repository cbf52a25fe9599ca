"""`cache info|prune|clear`: the stage cache in the project's .lofictl-cache."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from lofictl.cli.common import app, esc, out, user_errors
from lofictl.errors import LofictlError

cache_app = typer.Typer(help="The stage cache (.lofictl-cache in the project).", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


CACHE_OPTION_HELP = "A cache folder elsewhere (the one given to build or album --cache)."


def _cache_for(project: Path, cache_dir: Path | None = None):
    from lofictl.pipeline.cache import CACHE_DIR_NAME, Cache

    return Cache(cache_dir.resolve() if cache_dir else project.resolve() / CACHE_DIR_NAME)


@cache_app.command("info")
@user_errors
def cache_info(
    project: Path = typer.Option(Path("."), "--project", help="The project folder."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache", help=CACHE_OPTION_HELP),
) -> None:
    """Where the cache is, how big, and the cap it is pruned to after every build."""
    import os

    from lofictl.models.nn import JAX_CACHE_ENV, compilation_cache_dir, compilation_cache_files

    cache = _cache_for(project, cache_dir)
    info = cache.info()
    cap = cache_cap()
    source = "LOFICTL_CACHE_MAX" if os.environ.get("LOFICTL_CACHE_MAX", "").strip() else "the default"
    limit = "no cap" if cap is None else f"pruned to {cap / 1e9:.1f} GB after every build ({source})"
    out.print(
        f"{esc(info['path'])}: {info['stages']} stage entries, {info['objects']} objects, "
        f"{info['bytes'] / 1e6:.1f} MB; {limit}"
    )
    jax_dir = compilation_cache_dir(cache.root)
    files = compilation_cache_files(jax_dir)
    programs = [p for p in files if p.name.endswith("-cache")]
    traced = [p for p in files if p.name.endswith("-export")]  # models.nn.exported
    size = sum(p.stat().st_size for p in files)
    where = f" (from {JAX_CACHE_ENV})" if os.environ.get(JAX_CACHE_ENV, "").strip() else ""
    out.print(
        f"{esc(jax_dir)}{where}: JAX's compiled sampling programs, {len(programs)} programs "
        f"and {len(traced)} traced samplers, {size / 1e6:.1f} MB"
    )


@cache_app.command("prune")
@user_errors
def cache_prune(
    max_size: str = typer.Option(
        ..., "--max", help="Keep at most this much, e.g. 2GB, 500MB, 1.5GiB.", show_default=False
    ),
    project: Path = typer.Option(Path("."), "--project", help="The project folder."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache", help=CACHE_OPTION_HELP),
) -> None:
    """Shrink the cache to a size, dropping the least recently used stages first.

    Every build and album prunes like this to $LOFICTL_CACHE_MAX (default 4GB; 'off' for no cap).
    """
    from lofictl.pipeline.cache import parse_size

    try:
        limit = parse_size(max_size)
    except ValueError as exc:
        raise LofictlError(str(exc), field="--max") from None
    cache = _cache_for(project, cache_dir)
    report = cache.prune(limit)
    out.print(
        f"{cache.root}: removed {report['entries_removed']} stage entries and {report['objects_removed']} "
        f"objects ({report['bytes_freed'] / 1e6:.1f} MB); {report['bytes_kept'] / 1e6:.1f} MB kept"
    )


DEFAULT_CACHE_MAX = "4GB"  # a laptop's share: two 10-minute builds, or dozens of short ones
NO_CAP = {"off", "none", "unlimited"}


def cache_cap() -> int | None:
    """The cache's size cap in bytes: $LOFICTL_CACHE_MAX (e.g. 2GB; 'off' for none), else 4 GB."""
    import os

    from lofictl.pipeline.cache import parse_size

    text = os.environ.get("LOFICTL_CACHE_MAX", "").strip() or DEFAULT_CACHE_MAX
    if text.lower() in NO_CAP:
        return None
    try:
        return parse_size(text)
    except ValueError as exc:
        raise LofictlError(f"{exc}, or 'off'", field="LOFICTL_CACHE_MAX") from None


def auto_prune(root: Path) -> None:
    """After a build or album: prune the cache to its cap, least recently used stages first."""
    from lofictl.pipeline.cache import Cache

    cap = cache_cap()
    if cap is not None:
        Cache(root).prune(cap)


@cache_app.command("clear")
@user_errors
def cache_clear(
    project: Path = typer.Option(Path("."), "--project", help="The project folder."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache", help=CACHE_OPTION_HELP),
) -> None:
    """Delete the cache and JAX's compiled programs (builds still work; the next one runs every
    stage and compiles the sampler again)."""
    from lofictl.models.nn import clear_compilation_cache, compilation_cache_dir

    cache = _cache_for(project, cache_dir)
    info = cache.info()
    jax_dir = compilation_cache_dir(cache.root)
    freed = clear_compilation_cache(jax_dir)  # before the folder goes: it may be elsewhere ($LOFICTL_JAX_CACHE)
    cache.clear()
    out.print(f"removed {esc(info['path'])} ({info['bytes'] / 1e6:.1f} MB) and {esc(jax_dir)} ({freed / 1e6:.1f} MB)")
