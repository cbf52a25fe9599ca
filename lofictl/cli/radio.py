"""`lofictl radio`: play a station, show its tracks, keep one, and read its ratings.

`lofictl radio STATION` is `lofictl radio play STATION` (the group routes a first argument that
is not a command name to `play`).
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperGroup

from lofictl.cli.common import add_group, stdout_console
from lofictl.errors import LofictlError, one_line


class _DefaultToPlay(TyperGroup):
    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["play", *args]  # `lofictl radio STATION` and `lofictl radio --port 9000 STATION`
        return super().parse_args(ctx, args)


radio_app = typer.Typer(
    cls=_DefaultToPlay,
    no_args_is_help=True,
    help="An endless, reproducible station: `lofictl radio STATION.yaml` serves a player and an "
    "MP3 stream; stats, keep and tracks work on its file.",
)


def _load(station: Path):
    from lofictl.radio.station import load_station

    return load_station(station)


@radio_app.command("play")
def play(
    station: Path = typer.Argument(..., help="The station file, e.g. recipes/station.yaml.", show_default=False),
    host: Optional[str] = typer.Option(
        None, "--host", help="Address to listen on (default: the station's, 127.0.0.1)."
    ),
    port: Optional[int] = typer.Option(
        None, "--port", "-p", min=0, max=65535, help="Port (default: the station's, 8000)."
    ),
    icecast: Optional[str] = typer.Option(
        None,
        "--icecast",
        metavar="URL",
        # no word longer than the help column of an 80-column terminal, which cuts it with "…"
        help="Also feed an Icecast mount at URL: icecast:// followed by source@HOST:PORT/MOUNT, the source "
        "password in LOFICTL_ICECAST_PASSWORD (a password in the URL works too, but shows in `ps`).",
    ),
    start: Optional[int] = typer.Option(
        None, "--start", min=0, help="First track number (default: after the last one this station made)."
    ),
    speed: float = typer.Option(
        1.0, "--speed", min=0.1, max=200, hidden=True, help="Clock speed of the stream (tests and soak runs)."
    ),
) -> None:
    """Serve the station: the player page and the MP3 stream at http://HOST:PORT, until Ctrl-C.

    Exits 0 when stopped (Ctrl-C, SIGTERM) and 1 when the station stopped on its own (an encoder
    that keeps dying, a database that fails): a supervisor restarts it."""
    import os

    from lofictl.radio.encoder import PASSWORD_ENV
    from lofictl.radio.run import RadioStation
    from lofictl.radio.schedule import check_track_number

    if start is not None:
        check_track_number(start, "--start")
    loaded = _load(station)
    radio = RadioStation(
        loaded,
        host=host,
        port=port,
        icecast=icecast,
        icecast_password=os.environ.get(PASSWORD_ENV),
        start=start,
        speed=speed,
    )
    stop_requested = []

    def on_signal(signum, frame):  # noqa: ARG001 - the signal module's signature
        stop_requested.append(signum)
        raise KeyboardInterrupt

    # Both, explicitly: a station started in the background of a shell has SIGINT ignored.
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        radio.start()
        while not radio.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        for sig in previous:  # a second signal must not cut the clean stop short
            signal.signal(sig, signal.SIG_IGN)
        radio.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(
        f"stopped {one_line(loaded.station.title)}: "
        f"{radio.producer.built if radio.producer is not None else 0} tracks made",
        file=sys.stderr,
    )
    if radio.failure is not None:
        raise typer.Exit(1)


@radio_app.command("tracks")
def tracks(
    station: Path = typer.Argument(..., help="The station file.", show_default=False),
    first: int = typer.Option(0, "--from", min=0, help="First track number."),
    count: int = typer.Option(10, "--count", "-n", min=1, max=10000, help="How many."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON on stdout."),
) -> None:
    """The station's tracks N, N+1, ...: recipe, key, tempo, seed (nothing is built)."""
    from rich.table import Table

    from lofictl.radio.schedule import Schedule, check_track_number

    check_track_number(first, "--from")
    check_track_number(first + count - 1, f"--from {first} --count {count} reaches track")
    loaded = _load(station)
    schedule = Schedule(loaded)
    plans = [schedule.plan(n).summary() for n in range(first, first + count)]
    if json_out:
        sys.stdout.write(json.dumps(plans, indent=2) + "\n")
        return
    table = Table(title=f"{loaded.station.title}: tracks {first}-{first + count - 1}", header_style="bold")
    for column in ("#", "recipe", "key", "camelot", "BPM", "seed", "drums", "presets"):
        table.add_column(column)
    for plan in plans:
        table.add_row(
            str(plan["number"]),
            plan["recipe"],
            plan["key"],
            plan["camelot"],
            f"{plan['tempo']:g}",
            str(plan["seed"]),
            ", ".join(plan["patterns"].values()),
            ", ".join(plan["presets"].values()),
        )
    stdout_console().print(table)


@radio_app.command("keep")
def keep(
    station: Path = typer.Argument(..., help="The station file.", show_default=False),
    number: int = typer.Argument(..., help="The track number (shown on the page and in the log).", show_default=False),
    force: bool = typer.Option(False, "--force", help="Replace a different file of the same name."),
) -> None:
    """Write recipes/<recipe>-N.yaml: the recipe that rebuilds track N byte for byte."""
    from lofictl.radio.keep import keep_track
    from lofictl.radio.schedule import check_track_number

    check_track_number(number)
    loaded = _load(station)
    path = keep_track(loaded, number, force=force)
    shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
    print(f"wrote {shown}\nbuild it (stems, MIDI, piano roll) with:  lofictl build {shown}")


@radio_app.command("stats")
def stats(
    station: Path = typer.Argument(..., help="The station file.", show_default=False),
    by: str = typer.Option(
        ",".join(("recipe", "tempo", "key", "pattern", "preset")),
        "--by",
        help="Comma-separated: recipe, tempo, key, pattern, preset.",
    ),
    plot_path: Optional[Path] = typer.Option(
        None, "--plot", help="Where to write the plot (default: <work_dir>/stats.png)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON on stdout instead of tables."),
) -> None:
    """What listeners like and skip: per recipe, tempo, key, drum pattern and preset; a table and a plot."""
    from rich.table import Table

    from lofictl.radio import stats as st
    from lofictl.radio.db import Ratings

    dimensions = [d.strip() for d in by.split(",") if d.strip()]
    for dimension in dimensions:
        if dimension not in st.DIMENSIONS:
            raise LofictlError(f"--by {dimension!r}: choose from {', '.join(st.DIMENSIONS)}")
    loaded = _load(station)
    ratings = Ratings(loaded.database_path, loaded.name, read_only=True)
    try:
        rows = [row for row in ratings.track_rows() if row["plays"]]
        failed = ratings.failures()
    finally:
        ratings.close()
    summaries = {dimension: st.summarize(rows, dimension) for dimension in dimensions}
    if json_out:
        sys.stdout.write(json.dumps({"tracks_played": len(rows), "failed": failed, "by": summaries}, indent=2) + "\n")
        return
    console = stdout_console()
    if not rows:
        console.print(f"no plays recorded yet in {loaded.database_path}")
        return
    console.print(
        f"{loaded.station.title}: {len(rows)} tracks played, {sum(r['likes'] for r in rows)} likes, "
        f"{sum(r['skips'] for r in rows)} skips, {failed} failed to build"
    )
    for dimension, groups in summaries.items():
        table = Table(title=f"by {dimension}", header_style="bold", title_justify="left")
        for column in (
            dimension,
            "tracks",
            "plays",
            "likes",
            "skips",
            "likes/play",
            "skips/play",
            "skipped at",
            "listened",
        ):
            table.add_column(column, justify="left" if column == dimension else "right")
        for g in groups:
            table.add_row(
                str(g[dimension]),
                str(g["tracks"]),
                str(g["plays"]),
                str(g["likes"]),
                str(g["skips"]),
                f"{g['like_rate']:.2f}",
                f"{g['skip_rate']:.2f}",
                "–" if g["mean_skip_s"] is None else f"{g['mean_skip_s']:.0f} s",
                f"{g['listened_s'] / 60:.1f} min",
            )
        console.print(table)
    target = plot_path or loaded.work_dir / "stats.png"
    st.plot(summaries, target, f"{loaded.station.title}: what listeners keep")
    console.print(f"plot: {target}")


add_group(radio_app, "radio")
