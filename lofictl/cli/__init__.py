"""The command line: a thin Typer layer over plain functions.

Every LofictlError becomes one line on stderr and exit code 2; heavy libraries (JAX,
FluidSynth, Pedalboard) are imported inside commands so `lofictl --help` stays quick.
"""

import importlib

from lofictl.cli.common import app, console, esc, out, user_errors  # noqa: F401  (the app and its helpers)

# One module per command group. Each registers its commands on `app` when imported, so this
# order is the order `lofictl --help` lists them in; `train`, `radio`, `audition` and `listen-test`
# are groups of their own.
for _group in (
    "build",
    "compose",
    "cache",
    "export",
    "album",
    "sound",
    "analyze",
    "new",
    "eval",
    "train",
    "radio",
    "audition",
):
    importlib.import_module(f"lofictl.cli.{_group}")

from lofictl.cli.build import _print_summary  # noqa: E402, F401  (the build summary, for tests)
