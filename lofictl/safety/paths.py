"""The one path rule for every file a recipe or a model names.

A name is looked up in a few base folders and must, once symbolic links are followed, lie inside
one of the allowed roots (the project; for a model's weights, the model folder; for plugins, also
the folders the user lists in $LOFICTL_PLUGIN_PATH). Absolute paths are refused unless they lie
inside an allowed root that the user listed (`absolute_ok`), `~`, `~user` and `$VARIABLE` are
refused (not expanded, and never made as a folder of that name), and odd names
(NUL bytes, empty, far too long) are refused with a message instead of an OSError.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

from lofictl.errors import LofictlError

MAX_PATH_CHARS = 1024


class PathRefused(LofictlError):
    """A path that breaks the rule; the caller adds file, line and field."""


def inside(path: Path, root: Path) -> bool:
    """`path` is `root` or below it (both already resolved)."""
    return path == root or path.is_relative_to(root)


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop, or a name the OS refuses
        raise PathRefused(f"{str(path)!r} cannot be followed ({getattr(exc, 'strerror', None) or exc})") from None


def confine(
    value: object,
    *,
    bases: Sequence[Path],
    roots: Sequence[Path],
    must_exist: bool = True,
    absolute_ok: bool = False,
    what: str = "file",
) -> Path:
    """The first existing candidate `base / value` inside a root (or the last one, if none exists).

    `roots` are resolved folders; the first is named in messages (the project, usually).
    """
    if not isinstance(value, str) or not value.strip():
        raise PathRefused(f"a {what} path must be a non-empty text, not {value!r}")
    if "\0" in value or len(value) > MAX_PATH_CHARS:
        raise PathRefused(
            f"{value[:80]!r}… is not a usable path" if len(value) > 80 else f"{value!r} is not a usable path"
        )
    unexpanded = _unexpanded(value)
    if unexpanded is not None:
        raise PathRefused(
            f"{value!r}: lofictl does not expand {unexpanded} (it would make a folder literally named "
            "so); write the path relative to the project, like build/NAME"
        )
    raw = Path(value)
    roots = [Path(r) for r in roots]
    if raw.is_absolute():
        if not absolute_ok:
            raise PathRefused(f"{value!r} is an absolute path; write it relative to the project ({roots[0]})")
        candidates = [_resolved(raw)]
    else:
        candidates = [_resolved(Path(base) / raw) for base in dict.fromkeys(bases)]
    for candidate in candidates:
        if not any(inside(candidate, root) for root in roots):
            where = roots[0] if len(roots) == 1 else ", ".join(str(r) for r in roots)
            raise PathRefused(
                f"{value!r} leads outside {'the project folder ' if len(roots) == 1 else ''}{where}"
                + ("" if len(roots) == 1 else " (the places allowed)")
            )
    for candidate in candidates:
        try:
            if candidate.exists():
                return candidate
        except OSError:
            continue
    if must_exist:
        tried = " or ".join(str(c) for c in candidates)
        raise PathRefused(f"{value!r} not found (looked for {tried})")
    return candidates[-1]


_VARIABLE = re.compile(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?|%[A-Za-z_][A-Za-z0-9_]*%")


def _unexpanded(value: str) -> str | None:
    """What in `value` a shell would expand and lofictl does not: `~` or `~user` leading it, an
    environment variable ($HOME, ${HOME}, %USERPROFILE%). None when there is nothing of the kind."""
    first = value.replace("\\", "/").split("/", 1)[0]
    if first.startswith("~"):
        return f"{first} (a home folder)"
    match = _VARIABLE.search(value)
    return f"{match[0]} (an environment variable)" if match else None


def plain_file_in(folder: Path, name: object, what: str) -> Path:
    """A file named by a bare name inside `folder` (model.json's `weights.file`)."""
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise PathRefused(f"{what} must be a plain file name inside {folder}, not {name!r}")
    path = _resolved(folder / name)
    if not inside(path, _resolved(folder)):
        raise PathRefused(f"{what} {name!r} leads outside {folder}")
    return path


def env_folders(variable: str) -> list[Path]:
    """The folders listed in an environment variable (os.pathsep-separated), resolved."""
    folders = []
    for entry in os.environ.get(variable, "").split(os.pathsep):
        if entry.strip():
            folders.append(_resolved(Path(entry.strip()).expanduser()))
    return folders
