"""lofictl: reproducible lo-fi tracks from YAML recipes.

The Python API (`lofictl.api`) is reachable from here without importing anything heavy:

    import lofictl
    result = lofictl.build("recipes/rainy_night.yaml", set={"tempo": 72}, out="out/")

Its names are looked up on first use (module `__getattr__`), so `import lofictl` stays quick and
imports no JAX, SciPy or matplotlib.
"""

import sys

__version__ = "0.1.0"

# The API's names, loaded from lofictl.api on first use.
_API = (
    "Build",
    "build",
    "Checked",
    "Diff",
    "Loudness",
    "Output",
    "StageChange",
    "Verification",
    "build_all",
    "check",
    "diff",
    "load_recipe",
    "validate",
    "verify",
)
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        from lofictl import api

        return getattr(api, name)
    raise AttributeError(f"module 'lofictl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def _quiet_from_the_first_line() -> None:
    """Running as the `lofictl` program (not imported as a library): a Ctrl-C or SIGTERM while
    Python is still importing (seconds on a busy machine) leaves quietly; nothing is written yet.
    lofictl.__main__ and each command's guard take over from here."""
    import os
    import signal

    program = sys.argv[:1] == ["-m"] or os.path.basename(sys.argv[0] if sys.argv else "") == "lofictl"
    if program and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda signum, frame: os._exit(128 + signum))


_quiet_from_the_first_line()
