"""One error type for everything a user can cause; the CLI prints it in one line and exits 2.

The message reads `file:line: field.path: what is wrong`, with whichever parts are known.
Code deep in a stage that knows only the field raises with `field=`; the recipe loader, which
knows where each field sits in the YAML, fills in file and line (see `recipe.locate`).
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterable
from pathlib import Path

EXIT_USER_ERROR = 2
MAX_MESSAGE_CHARS = 600  # an error echoing a 10 MB value shows its start and end, not 10 MB
SUGGESTION_CUTOFF = 0.6  # difflib's similarity ratio; one for every "did you mean" lofictl prints


def suggestions(word: object, options: Iterable[object], n: int = 1) -> list[str]:
    """Up to `n` of `options` that `word` was probably meant to be, best first: the same name in
    another case, the closest spellings, then names that contain the word (3+ letters)."""
    word, choices = str(word), list(dict.fromkeys(str(option) for option in options))
    found = [c for c in choices if c.lower() == word.lower() and c != word]
    found += difflib.get_close_matches(word, choices, n=n, cutoff=SUGGESTION_CUTOFF)
    if len(word) >= 3:
        found += [c for c in choices if word.lower() in c.lower() and c != word]
    return list(dict.fromkeys(found))[:n]


def did_you_mean(word: object, options: Iterable[object]) -> str:
    """ "; did you mean 'x'?" to end an error message, or "" when nothing is close."""
    close = suggestions(word, options)
    return f"; did you mean {close[0]!r}?" if close else ""


def one_line(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Text as one printable line: control characters escaped, the middle cut when too long."""
    text = str(text)
    keep = limit // 2 - 20
    left_out = len(text) - 2 * keep if len(text) > limit else 0
    parts = [text[:keep], text[-keep:]] if left_out else [text]  # cut first: a huge value costs nothing
    parts = [
        "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in part)
        for part in parts
    ]
    return f"{parts[0]} …({left_out:,} characters left out)… {parts[1]}" if left_out else parts[0]


class LofictlError(Exception):
    def __init__(
        self, message: str, *, file: str | Path | None = None, line: int | None = None, field: str | tuple | None = None
    ):
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

    def under(self, prefix: tuple) -> "LofictlError":
        """The same error with its field placed below `prefix` (a field relative to a track's
        `generate:` becomes tracks.NAME.generate.FIELD), unless it already starts there."""
        dotted = ".".join(str(part) for part in prefix)
        if self.field and (
            self.field == dotted or self.field.startswith(dotted + ".") or self.field.startswith("tracks.")
        ):
            return self
        field = f"{dotted}.{self.field}" if self.field else dotted
        return LofictlError(self.message, file=self.file, line=self.line, field=field)

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = one_line(self.file, 200) + (f":{self.line}" if self.line else "") + ": "
        field = f"{one_line(self.field, 200)}: " if self.field else ""
        return f"{where}{field}{one_line(self.message)}"


def _rebuild(message: str, file: str | None, line: int | None, field: str | None) -> LofictlError:
    return LofictlError(message, file=file, line=line, field=field)


class LofictlErrors(LofictlError):
    """Several mistakes found in one pass (a recipe with three bad fields reports all three)."""

    def __init__(self, errors: list[LofictlError]):
        flat = [item for error in errors for item in all_errors(error)]
        super().__init__(flat[0].message, file=flat[0].file, line=flat[0].line, field=flat[0].field)
        self.errors = flat

    def located(self, file: str | Path | None, line: int | None) -> "LofictlError":
        return LofictlErrors([error.located(file, line) for error in self.errors])

    def under(self, prefix: tuple) -> "LofictlError":
        return LofictlErrors([error.under(prefix) for error in self.errors])

    def __str__(self) -> str:
        return "\n".join(str(error) for error in self.errors)


def all_errors(error: LofictlError) -> list[LofictlError]:
    """The single errors inside an error (itself, unless it holds several)."""
    return list(error.errors) if isinstance(error, LofictlErrors) else [error]


def raise_all(errors: list[LofictlError]) -> None:
    """Raise nothing, the one error, or all of them together."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise LofictlErrors(errors)


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)
