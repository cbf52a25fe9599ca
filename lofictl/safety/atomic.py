"""Writing a file so that a reader sees the old whole file or the new whole file, never half of one.

Every file lofictl writes in place (a model's weights and model.json, the cache's records and
objects, the wizard's recipe, a REAPER or DAWproject file, an eval report, a kept radio track)
goes through here: the bytes go to a hidden temporary file beside the target, which is renamed
over it (a rename within one folder is atomic). An error or Ctrl-C removes the temporary file
and leaves the old target as it was. The temporary file is made with the usual permissions
(0666 less the umask), like the file it replaces.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """A fresh temporary path beside `path` for the block to write; renamed over `path` when the
    block ends, deleted when it raises (the parent folder is made if missing)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_bytes(path: str | Path, data: bytes) -> None:
    with replacing(path) as temporary:
        temporary.write_bytes(data)


def write_text(path: str | Path, text: str) -> None:
    """UTF-8, newlines as given (no translation), so the bytes are the same on every system."""
    with replacing(path) as temporary:
        temporary.write_text(text, encoding="utf-8", newline="")
