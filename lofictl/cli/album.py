"""`album`: build an album file's tracks, tagged files, mix, CUE, chapters and video."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from lofictl.cli.cache import auto_prune
from lofictl.cli.common import app, console, out, user_errors


@app.command()
@user_errors
def album(
    album_file: Path = typer.Argument(..., help="An album file (YAML, lofictl_album: 1).", show_default=False),
    jobs: int = typer.Option(
        1,
        "--jobs",
        "-j",
        min=1,
        max=64,
        help="Tracks built on a Dask LocalCluster with this many worker processes (1: in this process).",
    ),
    scheduler: Optional[str] = typer.Option(
        None,
        "--scheduler",
        help="An existing Dask cluster, e.g. "
        "tcp://10.0.0.5:8786; its workers must see the project at the same "
        "path, and share the cache (--cache).",
    ),
    cache_dir: Optional[str] = typer.Option(
        None,
        "--cache",
        help="The stage cache: a folder (default: "
        ".lofictl-cache in the project; a shared one for a cluster), or an "
        "fsspec URL (s3://..., file://...) shared behind the local cache.",
    ),
    out_dir: Optional[Path] = typer.Option(
        None, "--out", "-o", help="Output folder (default: the album's output.dir); the lock file is then not updated."
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Build everything afresh (an empty cache)."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress lines."),
) -> None:
    """Build an album: every track, tagged files with cover art, the continuous mix, CUE, chapters, video."""
    from lofictl.album.run import build_album

    result = build_album(
        album_file,
        jobs=jobs,
        scheduler=scheduler,
        out_dir=out_dir,
        use_cache=not no_cache,
        cache_dir=cache_dir,
        quiet=quiet or json_out,
    )
    from lofictl.cluster.shared_cache import is_url
    from lofictl.pipeline.cache import CACHE_DIR_NAME
    from lofictl.recipe.load import project_root_for

    local = cache_dir if cache_dir and not is_url(cache_dir) else project_root_for(album_file) / CACHE_DIR_NAME
    auto_prune(Path(local).resolve())
    for warning in result.warnings:
        console.print(f"[yellow]warning:[/] {escape(warning)}")
    if json_out:
        sys.stdout.write(json.dumps(result.summary(), indent=2, sort_keys=True) + "\n")
        return
    from rich.table import Table

    table = Table(title=f"{escape(result.title)} → {result.out_dir}", header_style="bold")
    table.add_column("output")
    table.add_column("size", justify="right")
    for rel, info in result.lock["outputs"].items():
        table.add_row(escape(rel), f"{info['bytes'] / 1024:,.0f} KiB")
    out.print(table)
    minutes, seconds = divmod(round(result.duration_s), 60)
    out.print(
        f"{result.tracks} tracks, {minutes}:{seconds:02d} of music; built in {result.elapsed_s:.1f} s ({result.runner})"
    )
    if result.lock_path:
        out.print(f"lock: {result.lock_path}")
