"""One error type for everything a user can cause; the CLI prints it in one line and exits 2.

The message reads `file:line: field.path: what is wrong`, with whichever parts are known.
Code deep in a stage that knows only the field raises with `field=`; the recipe loader, which
knows where each field sits in the YAML, fills in file and line (see `recipe.locate`).
"""

from __future__ import annotations

from pathlib import Path

EXIT_USER_ERROR = 2


class LofictlError(Exception):
    def __init__(self, message: str, *, file: str | Path | None = None, line: int | None = None,
                 field: str | tuple | None = None):
        super().__init__(message)
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        if isinstance(field, tuple):
            field = ".".join(str(part) for part in field)
        self.field = field

    def __reduce__(self):
        # Keyword-only fields survive the trip between processes (Dask workers, process pools).
        return (_rebuild, (self.message, self.file, self.line, self.field))

    def located(self, file: str | Path | None, line: int | None) -> "LofictlError":
        """The same error with a position filled in where it had none."""
        return LofictlError(self.message, file=self.file or file, line=self.line or line, field=self.field)

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "") + ": "
        field = f"{self.field}: " if self.field else ""
        return f"{where}{field}{self.message}"


def _rebuild(message: str, file: str | None, line: int | None, field: str | None) -> LofictlError:
    return LofictlError(message, file=file, line=line, field=field)
