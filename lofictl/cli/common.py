"""The Typer app, its consoles and `user_errors`, which every command wears: a LofictlError becomes
one line on stderr and exit code 2."""

from __future__ import annotations

import functools
import sys
from typing import Callable

import typer
from rich.console import Console
from rich.markup import escape

from lofictl import __version__
from lofictl.errors import EXIT_USER_ERROR, LofictlError

# soft_wrap: a message is one line however long its path (a terminal wraps it, rich does not).
console = Console(stderr=True, highlight=False, soft_wrap=True)


def esc(value: object) -> str:
    """User text (titles, keys, paths, messages) as rich shows it literally: `[/]` is not markup."""
    return escape(str(value))


PIPED_WIDTH = 4096  # piped output is for files and other programs: never cut a table to fit 80 columns


def stdout_console() -> Console:
    """The console for results on stdout: a terminal's width, or (piped) wide enough for any table."""
    return Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else PIPED_WIDTH)


out = stdout_console()

# typer (0.26+) shows a flag's type as "<bool>", as if it took a value; a flag takes none.
_option_type = typer.core.TyperOption.display_type_rich
typer.core.TyperOption.display_type_rich = lambda self, ctx: None if self.is_flag else _option_type(self, ctx)  # type: ignore[method-assign]

app = typer.Typer(
    name="lofictl",
    help="Reproducible lo-fi tracks from YAML recipes: compose, render stems, mix and master.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def user_errors(command: Callable) -> Callable:
    """Turn a LofictlError into `error: file:line: field: message` and exit code 2, and an
    interrupt (Ctrl-C, SIGTERM: remembered however a library wraps it) into one line and 130/143."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from lofictl.safety import interrupts

        try:
            with interrupts.guard():
                return command(*args, **kwargs)
        except typer.Exit:
            raise
        except BaseException as exc:
            if interrupts.pending() or isinstance(exc, KeyboardInterrupt):
                console.print("[yellow]interrupted:[/] stopped; earlier outputs and locks are unchanged")
                # Leave without interpreter teardown: JAX's threads can crash it (SIGSEGV) after a stop.
                interrupts.quiet_exit(interrupts.exit_code())
            if isinstance(exc, LofictlError):  # several mistakes: a line each
                for line in str(exc).splitlines() or [""]:
                    console.print(f"[bold red]error:[/] {esc(line)}", soft_wrap=True, markup=True, highlight=False)
                raise typer.Exit(EXIT_USER_ERROR) from None
            if isinstance(exc, OSError):  # the environment (a full disk, a read-only folder), not the recipe
                from lofictl.pipeline.runner import describe_os_error

                console.print(f"[bold red]error:[/] {esc(describe_os_error(exc))}", soft_wrap=True)
                raise typer.Exit(EXIT_USER_ERROR) from None
            raise

    return wrapper


def add_group(group: typer.Typer, name: str) -> None:
    """Register a command group (`lofictl train ...`, `lofictl radio ...`), each of its commands
    wearing `user_errors`."""
    for command in group.registered_commands:
        if command.callback is not None:
            command.callback = user_errors(command.callback)
    app.add_typer(group, name=name)


def _version(value: bool) -> None:
    if value:
        out.print(f"lofictl {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """lofictl builds a finished lo-fi track from a recipe: MIDI, stems, master, lock file."""
