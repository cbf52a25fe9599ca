"""`python -m lofictl` and the `lofictl` program: quiet on Ctrl-C from the first moment."""


def main() -> None:
    from lofictl.safety.interrupts import quiet_startup

    quiet_startup()  # before the imports below, which take seconds on a busy machine
    from lofictl.cli import app

    try:
        app(prog_name="lofictl")
    finally:
        # The command is over, its outputs committed or left untouched. Python's teardown puts the
        # default handlers back, so a Ctrl-C now (JAX's threads can take a while to stop) would
        # kill the process with no word; ignoring it lets the exit code already chosen stand.
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":
    main()
