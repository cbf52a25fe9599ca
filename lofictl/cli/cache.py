"""`cache info|prune|clear`: the stage cache in the project's .lofictl-cache."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from lofictl.cli.common import app, esc, out, user_errors
from lofictl.errors import LofictlError

cache_app = typer.Typer(help="The stage cache (.lofictl-cache in the project).", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


def _cache_for(project: Path):
    from lofictl.build.cache import CACHE_DIR_NAME, Cache

    return Cache(project.resolve() / CACHE_DIR_NAME)


@cache_app.command("info")
@user_errors
def cache_info(project: Path = typer.Option(Path("."), "--project", help="The project folder.")) -> None:
    """Where the cache is and how big."""
    info = _cache_for(project).info()
    out.print(
        f"{esc(info['path'])}: {info['stages']} stage entries, {info['objects']} objects, {info['bytes'] / 1e6:.1f} MB"
    )


@cache_app.command("prune")
@user_errors
def cache_prune(
    max_size: str = typer.Option(
        ..., "--max", help="Keep at most this much, e.g. 2GB, 500MB, 1.5GiB.", show_default=False
    ),
    project: Path = typer.Option(Path("."), "--project", help="The project folder."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache", help="A cache folder elsewhere (a shared one)."),
) -> None:
    """Shrink the cache to a size, dropping the least recently used stages first.

    Set LOFICTL_CACHE_MAX (e.g. 2GB) to prune like this after every build and album.
    """
    from lofictl.build.cache import Cache, parse_size

    try:
        limit = parse_size(max_size)
    except ValueError as exc:
        raise LofictlError(str(exc), field="--max") from None
    cache = Cache(cache_dir.resolve()) if cache_dir else _cache_for(project)
    report = cache.prune(limit)
    out.print(
        f"{cache.root}: removed {report['entries_removed']} stage entries and {report['objects_removed']} "
        f"objects ({report['bytes_freed'] / 1e6:.1f} MB); {report['bytes_kept'] / 1e6:.1f} MB kept"
    )


def auto_prune(root: Path) -> None:
    """After a build: prune to $LOFICTL_CACHE_MAX when it is set."""
    import os

    from lofictl.build.cache import Cache, parse_size

    limit = os.environ.get("LOFICTL_CACHE_MAX")
    if not limit:
        return
    try:
        Cache(root).prune(parse_size(limit))
    except ValueError as exc:
        raise LofictlError(str(exc), field="LOFICTL_CACHE_MAX") from None


@cache_app.command("clear")
@user_errors
def cache_clear(project: Path = typer.Option(Path("."), "--project", help="The project folder.")) -> None:
    """Delete the cache (builds still work; the next one runs every stage)."""
    cache = _cache_for(project)
    info = cache.info()
    cache.clear()
    out.print(f"removed {esc(info['path'])} ({info['bytes'] / 1e6:.1f} MB)")
