"""The command line: a thin Typer layer over plain functions.

Every LofictlError becomes one line on stderr and exit code 2; heavy libraries (JAX,
FluidSynth, Pedalboard) are imported inside commands so `lofictl --help` stays quick.
"""

import importlib

from lofictl.cli.common import app, console, esc, out, user_errors  # noqa: F401  (the app and its helpers)

# One module per command group. Each registers its commands on `app` when imported, so this
# order is the order `lofictl --help` lists them in.
for _group in ("build", "compose", "cache", "export", "album", "sound", "analyze"):
    importlib.import_module(f"lofictl.cli.{_group}")

from lofictl.cli.build import _print_summary  # noqa: E402, F401  (the build summary, for tests)


def _register_extras() -> None:
    """Commands whose code lives with their feature: `new` (wizard) and `train` (models)."""
    from lofictl.models import evaluate, quality
    from lofictl.recipe import wizard

    app.command("new")(user_errors(wizard.new_command))
    app.command("eval")(user_errors(quality.eval_command))
    app.command("eval-midi")(user_errors(evaluate.eval_midi_command))
    app.command("eval-index")(user_errors(evaluate.eval_index_command))
    try:
        from lofictl.models.train.command import train_app
    except ImportError:  # pragma: no cover - the models package is part of lofictl
        return
    for command in train_app.registered_commands:
        command.callback = user_errors(command.callback)
    app.add_typer(train_app, name="train")


def _register_radio() -> None:
    from lofictl.radio.command import radio_app

    for command in radio_app.registered_commands:
        command.callback = user_errors(command.callback)
    app.add_typer(radio_app, name="radio")


def _register_audition() -> None:
    from lofictl.audition.command import audition_app, listen_app

    for group, name in ((audition_app, "audition"), (listen_app, "listen-test")):
        for command in group.registered_commands:
            if command.callback is not None:
                command.callback = user_errors(command.callback)
        app.add_typer(group, name=name)


_register_extras()
_register_radio()
_register_audition()
