"""One error type for everything a user can cause; the CLI prints it in one line and exits 2.

The message reads `file:line: field.path: what is wrong`, with whichever parts are known.
Code deep in a stage that knows only the field raises with `field=`; the recipe loader, which
knows where each field sits in the YAML, fills in file and line (see `recipe.locate`).
"""

from __future__ import annotations

from pathlib import Path

EXIT_USER_ERROR = 2
MAX_MESSAGE_CHARS = 600  # an error echoing a 10 MB value shows its start and end, not 10 MB


def one_line(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Text as one printable line: control characters escaped, the middle cut when too long."""
    text = str(text)
    keep = limit // 2 - 20
    left_out = len(text) - 2 * keep if len(text) > limit else 0
    parts = [text[:keep], text[-keep:]] if left_out else [text]  # cut first: a huge value costs nothing
    parts = ["".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in part)
             for part in parts]
    return f"{parts[0]} …({left_out:,} characters left out)… {parts[1]}" if left_out else parts[0]


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

    def located(self, file: str | Path | None, line: int | None) -> "LofictlError":
        """The same error with a position filled in where it had none."""
        return LofictlError(self.message, file=self.file or file, line=self.line or line, field=self.field)

    def under(self, prefix: tuple) -> "LofictlError":
        """The same error with its field placed below `prefix` (a field relative to a track's
        `generate:` becomes tracks.NAME.generate.FIELD), unless it already starts there."""
        dotted = ".".join(str(part) for part in prefix)
        if self.field and (self.field == dotted or self.field.startswith(dotted + ".") or self.field.startswith("tracks.")):
            return self
        field = f"{dotted}.{self.field}" if self.field else dotted
        return LofictlError(self.message, file=self.file, line=self.line, field=field)

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = one_line(self.file, 200) + (f":{self.line}" if self.line else "") + ": "
        field = f"{one_line(self.field, 200)}: " if self.field else ""
        return f"{where}{field}{one_line(self.message)}"
