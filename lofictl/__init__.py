"""lofictl: reproducible lo-fi tracks from YAML recipes."""

__version__ = "0.1.0"


def _quiet_from_the_first_line() -> None:
    """Running as the `lofictl` program (not imported as a library): a Ctrl-C or SIGTERM while
    Python is still importing (seconds on a busy machine) leaves quietly; nothing is written yet.
    lofictl.__main__ and each command's guard take over from here."""
    import os
    import signal
    import sys

    program = sys.argv[:1] == ["-m"] or os.path.basename(sys.argv[0] if sys.argv else "") == "lofictl"
    if program and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda signum, frame: os._exit(128 + signum))


_quiet_from_the_first_line()
