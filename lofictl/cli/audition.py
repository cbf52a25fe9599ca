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
from lofictl.cli.common import add_group, stdout_console


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
    from lofictl.recipe.load import load_recipe

    loaded = load_recipe(recipe, set_)
    parsed = va.parse_vary(vary)
    count = seeds if seeds is not None else (1 if parsed else 4)
    plan = va.plan_variants(loaded, count, parsed)
    server = None if no_serve else _serve_pending("audition", host, port)  # a busy port is said before any build
    try:
        folder, built = va.build_variants(loaded, plan, jobs=jobs, use_cache=not no_cache, log=_log)
        for b in built:
            level = "silent" if b.lufs is None else f"{b.lufs:.1f} LUFS"
            _log(f"  variant {b.variant.number}: {va._words(b.variant)} ({level}, {b.seconds:.1f} s)")
        _log(f"variants in {folder}; keep one with: lofictl audition keep {recipe} N")
        if server is not None:
            _serve(server, _audition_page(recipe), serving=True)
    finally:
        _close(server)


class _Pending:
    """The page while nothing is built yet (the socket is taken first): its script asks again."""

    def __init__(self, page: str):
        self.page = page

    def media(self):
        return {}

    def state(self, listener):
        from lofictl.radio.server import RequestError

        raise RequestError(503, "still building; the page fills in when it is done")

    def post(self, path, body, listener):
        from lofictl.radio.server import RequestError

        raise RequestError(503, "still building; the page fills in when it is done")


def _audition_page(recipe: Path):
    from lofictl.audition.pages import AuditionPage

    return AuditionPage(recipe)


def _serve_pending(page: str, host: str, port: int):
    """The socket, taken first, and a page that says "building" until the real one is ready."""
    from lofictl.audition.server import bind, serve

    server = bind(_Pending(page), host, port, _log)
    serve(server)
    _log(f"the page at http://{host}:{server.server_address[1]} fills in when the build is done")
    return server


def _close(server) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()


def _serve(server, page, *, serving: bool = False) -> None:
    from lofictl.audition.server import serve_until_stopped

    server.page = page
    host, port = server.server_address[:2]
    serve_until_stopped(server, f"http://{host}:{port}", _log, serving=serving)


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


listen_app = typer.Typer(
    cls=_DefaultToRun,
    no_args_is_help=True,
    help="A blind listening test: `lofictl listen-test TEST.yaml` serves it (A/B or MUSHRA), "
    "`lofictl listen-test results TEST.yaml` ranks the systems. Protocol: ITU-R BS.1534-3 "
    "(MUSHRA: hidden reference, 3.5 kHz low anchor, post-screening) and the same excerpt rules for A/B.",
)


@listen_app.command("run")
def listen_run(
    test: Path = typer.Argument(..., help="The test file, e.g. tests.yaml.", show_default=False),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(DEFAULT_PORT, "--port", "-p", min=0, max=65535, help="Port."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Run every stage; don't read or write the cache."),
    no_serve: bool = typer.Option(False, "--no-serve", help="Prepare the excerpts and stop."),
) -> None:
    """Build the systems, cut every excerpt at one loudness, and serve the blind test until Ctrl-C.

    Each item is the same excerpt of every system, built with the item's seed, faded in and out
    (20 ms) and brought to the test's loudness (BS.1770); recipe systems must play the same
    SoundFonts. The page hides which is which (hashed names), orders trials, sides and stimuli by
    the test's seed and the listener's id (issued by the server as a cookie), and stores each
    answer in SQLite (build/listen-test/NAME/answers.sqlite unless the file says otherwise)."""
    from lofictl.audition.db import Answers
    from lofictl.audition.listentest import load_test, prepare, trials_for
    from lofictl.audition.pages import ListenPage

    loaded = load_test(test)
    server = None if no_serve else _serve_pending("listen", host, port)
    try:
        plan = prepare(loaded, use_cache=not no_cache, log=_log)
        trials = len(trials_for(loaded, plan, "count"))
        _log(f"{len(plan['stimuli'])} excerpts in {loaded.folder / 'excerpts'}; {trials} trials per listener")
        if server is not None:
            answers = Answers(loaded.database_path, loaded.project_file)
            try:
                _serve(server, ListenPage(loaded, plan, answers), serving=True)
            finally:
                answers.close()
    finally:
        _close(server)


@listen_app.command("results")
def listen_results(
    test: Path = typer.Argument(..., help="The test file.", show_default=False),
    json_out: bool = typer.Option(False, "--json", help="Print JSON on stdout instead of a table."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of the bootstrap resampling."),
) -> None:
    """Per-system preference with 95 % bootstrap intervals over listeners.

    A/B: Bradley-Terry strengths (MM algorithm; they sum to 1, a system's share of the
    preference). MUSHRA: mean scores, the hidden reference and the anchor as rows of their own,
    after BS.1534-3 post-screening: a listener who rates the hidden reference below 90 in more
    than 15 % of their trials is left out (and named)."""
    import json

    from rich.table import Table

    from lofictl.audition import stats
    from lofictl.audition.db import Answers
    from lofictl.audition.listentest import load_test

    loaded = load_test(test)
    answers = Answers(loaded.database_path, loaded.project_file, read_only=True)
    names = {s.name for s in loaded.test.systems}
    try:
        if loaded.test.design == "ab":
            votes = answers.votes()
            kept_votes = [v for v in votes if v.winner in names and v.loser in names]
            left_out = len(votes) - len(kept_votes)
            result = stats.pairwise(kept_votes, [s.name for s in loaded.test.systems], seed=seed)
        else:
            scores = answers.all_scores()
            # the hidden reference and the anchor are the reference's: they count while it is still the reference
            kept_scores = [
                s
                for s in scores
                if (s.role == "system" and s.system in loaded.judged)
                or (s.role != "system" and s.system == loaded.test.reference)
            ]
            left_out = len(scores) - len(kept_scores)
            result = stats.mushra(kept_scores, loaded.judged, seed=seed)
    finally:
        answers.close()
    result["left_out_answers"] = left_out
    result["title"] = loaded.test.title
    if json_out:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
        return
    console = stdout_console()
    excluded = f", {len(result['excluded'])} excluded by post-screening" if result["excluded"] else ""
    count = result["listeners"]
    console.print(f"{loaded.test.title}: {count} listener{'' if count == 1 else 's'}{excluded}")
    if not result["listeners"]:
        console.print("no answers yet")
        return
    table = Table(header_style="bold", title_justify="left")
    if loaded.test.design == "ab":
        table.title = "Bradley-Terry preference (sums to 100 %), 95 % bootstrap interval over listeners"
        for column in ("#", "system", "preference", "95 % interval", "wins", "comparisons"):
            table.add_column(column, justify="left" if column == "system" else "right")
        for rank, row in enumerate(result["systems"], 1):
            table.add_row(
                str(rank),
                row["system"],
                f"{100 * row['strength']:.1f} %",
                "one listener: no interval"
                if row["low"] is None
                else f"{100 * row['low']:.1f}–{100 * row['high']:.1f} %",
                str(row["wins"]),
                str(row["comparisons"]),
            )
    else:
        table.title = "MUSHRA mean score (0-100), 95 % bootstrap interval over listeners"
        for column in ("#", "system", "mean", "95 % interval", "ratings"):
            table.add_column(column, justify="left" if column == "system" else "right")
        for rank, row in enumerate(result["systems"], 1):
            mean = "–" if row["mean"] is None else f"{row['mean']:.1f}"
            interval = "one listener: no interval" if row["low"] is None else f"{row['low']:.1f}–{row['high']:.1f}"
            table.add_row(str(rank), row["system"], mean, interval, str(row["ratings"]))
    console.print(table)
    if left_out:
        console.print(f"left out: {left_out} answers about systems this test file no longer has")
    for listener in result["excluded"]:
        console.print(f"left out: listener {listener} (hidden reference under 90 in more than 15 % of trials)")


add_group(audition_app, "audition")
add_group(listen_app, "listen-test")
