"""`lofictl audition` (variants side by side, keep one) and `lofictl listen-test` (a blind test).

`lofictl audition RECIPE` is `lofictl audition run RECIPE`, and `lofictl listen-test TEST` is
`lofictl listen-test run TEST` (each group routes a first argument that is not a command name to
`run`, as `lofictl radio STATION` does).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperGroup

from lofictl.audition.server import DEFAULT_PORT


class _DefaultToRun(TyperGroup):
    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


audition_app = typer.Typer(
    cls=_DefaultToRun,
    no_args_is_help=True,
    help="Hear variants of one recipe side by side (`lofictl audition RECIPE -n 8`), loudness-matched, "
    "and keep the one you like (`lofictl audition keep RECIPE N`).",
)


@audition_app.command("run")
def run(
    recipe: Path = typer.Argument(..., help="The recipe, e.g. recipes/rainy_night.yaml.", show_default=False),
    seeds: Optional[int] = typer.Option(
        None,
        "-n",
        "--seeds",
        min=1,
        max=36,
        help="How many seeds (the recipe's own first; default 4, or 1 with --vary).",
    ),
    vary: list[str] = typer.Option(
        [], "--vary", help="A field and its values, FIELD=a,b,c (repeatable; combined with each other and the seeds)."
    ),
    set_: list[str] = typer.Option([], "--set", help="Override a field in every variant, as for build."),
    jobs: Optional[int] = typer.Option(
        None, "--jobs", "-j", min=1, max=64, help="Build the variants on a Dask LocalCluster of this many workers."
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Run every stage; don't read or write the cache."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(DEFAULT_PORT, "--port", "-p", min=0, max=65535, help="Port."),
    no_serve: bool = typer.Option(False, "--no-serve", help="Build the variants and stop (serve later with `page`)."),
) -> None:
    """Build the variants into build/audition/NAME/ and serve the audition page until Ctrl-C.

    Variants are the seeds crossed with every combination of the --vary values; each is the
    recipe plus --set overrides, built from the very text `keep` writes, so keeping one and
    building it makes the same bytes."""
    from lofictl.audition import variants as va
    from lofictl.audition.server import bind
    from lofictl.recipe.load import load_recipe

    loaded = load_recipe(recipe, set_)
    parsed = va.parse_vary(vary)
    count = seeds if seeds is not None else (1 if parsed else 4)
    plan = va.plan_variants(loaded, count, parsed)
    server = None if no_serve else bind(_Pending(), host, port, _log)  # a busy port is said before any build
    try:
        folder, built = va.build_variants(loaded, plan, jobs=jobs, use_cache=not no_cache, log=_log)
        for b in built:
            level = "silent" if b.lufs is None else f"{b.lufs:.1f} LUFS"
            _log(f"  variant {b.variant.number}: {va._words(b.variant)} ({level}, {b.seconds:.1f} s)")
        _log(f"variants in {folder}; keep one with: lofictl audition keep {recipe} N")
        if server is not None:
            _serve(server, _audition_page(recipe))
    finally:
        if server is not None:
            server.server_close()


class _Pending:
    """The page while nothing is built yet (the socket is taken first)."""

    page = "audition"

    def media(self):
        return {}

    def state(self, listener):
        from lofictl.radio.server import RequestError

        raise RequestError(503, "the variants are still building")

    def post(self, path, body, listener):
        from lofictl.radio.server import RequestError

        raise RequestError(503, "the variants are still building")


def _audition_page(recipe: Path):
    from lofictl.audition.pages import AuditionPage

    return AuditionPage(recipe)


def _serve(server, page) -> None:
    from lofictl.audition.server import serve_until_stopped

    server.page = page
    host, port = server.server_address[:2]
    serve_until_stopped(server, f"http://{host}:{port}", _log)


@audition_app.command("page")
def page(
    recipe: Path = typer.Argument(..., help="The recipe whose last audition to serve.", show_default=False),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(DEFAULT_PORT, "--port", "-p", min=0, max=65535, help="Port."),
) -> None:
    """Serve the page of the recipe's last audition again (nothing is built)."""
    from lofictl.audition.server import bind

    audition = _audition_page(recipe)
    server = bind(audition, host, port, _log)
    try:
        _serve(server, audition)
    finally:
        server.server_close()


@audition_app.command("keep")
def keep(
    recipe: Path = typer.Argument(..., help="The recipe that was auditioned.", show_default=False),
    number: int = typer.Argument(..., help="The variant's number (on the page).", show_default=False),
    force: bool = typer.Option(False, "--force", help="Replace a different file of the same name."),
) -> None:
    """Write recipes/<recipe>-vN.yaml: the recipe that builds variant N byte for byte."""
    from lofictl.audition.variants import keep_variant

    path = keep_variant(recipe, number, force=force)
    shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
    print(f"wrote {shown}\nbuild it with:  lofictl build {shown}")
