"""`python -m lofictl` and the `lofictl` program: quiet on Ctrl-C from the first moment."""


def main() -> None:
    from .safety.interrupts import quiet_startup

    quiet_startup()  # before the imports below, which take seconds on a busy machine
    from .cli import app

    app(prog_name="lofictl")


if __name__ == "__main__":
    main()
