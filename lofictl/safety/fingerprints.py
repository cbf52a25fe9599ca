"""What a stage's code contributes to its key.

Two fingerprints, for two jobs, both read from the stage's row (pipeline.stages.STAGES; an album's
own stages from the tables below):

- the stage's `version`: one number, part of the stage's inputs (`code.version`), so it is in the
  stage key and in the lock. Change what a stage makes and you bump its number; the test
  tests/pipeline/test_stage_versions.py fails (naming the row) when a stage's output on a small
  fixture changes while its number did not. Moving code between files changes no number, so a
  pure restructuring leaves every lock as it was, and `verify`/`diff` name a bumped number as the cause.
- `source_digest(stage)`: sha256 of the source files the stage runs (the row's `modules`,
  everything they import inside lofictl, and the build runner). It salts the local cache key only
  (see cache.Cache), never the lock: an uncommitted edit to render.py re-runs the stems and what
  depends on them on the developer's machine, instead of restoring audio the new code would not
  make, while the lock still compares the same.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import re
from pathlib import Path

PACKAGE = "lofictl"
PACKAGE_DIR = Path(__file__).resolve().parents[1]

# The runner's own files (not all they import: the runner imports every stage) go into every
# stage's digest, with the stage's own modules and what they import inside lofictl.
RUNNER = (
    "lofictl.pipeline.runner",
    "lofictl.pipeline.stages",
    "lofictl.pipeline.record",
    "lofictl.pipeline.plan",
    "lofictl.pipeline.inputs",
    "lofictl.pipeline.lock",
    "lofictl.pipeline.cache",
)

# An album's own stages (after its tracks' builds), keyed and cached the same way.
ALBUM_STAGE_VERSIONS: dict[str, int] = {
    "album-cover": 1,  # the cover drawn from the tracks' notes
    # one track's tagged FLAC/MP3/WAV (2: a 1000-pixel copy of the cover inside; 3: the MP3's gain
    # chosen once, from the master's true peak)
    "album-encode": 3,
    "album-mix": 1,  # the continuous mix at the loudness target
    "album-video": 1,  # cover + mix → MP4
}
ALBUM_STAGE_MODULES: dict[str, tuple[str, ...]] = {
    "album-cover": ("lofictl.album.cover", "lofictl.album.tasks"),
    "album-encode": ("lofictl.album.tasks", "lofictl.export.encode", "lofictl.export.tags"),
    "album-mix": ("lofictl.album.tasks", "lofictl.sound.sequence"),
    "album-video": ("lofictl.album.tasks", "lofictl.album.video"),
}


# name → (version, modules) of every stage of a build, declared by the stage table
# (pipeline.stages.STAGES) when it is imported: read from its rows, never written here. Not an
# import of the table: the closure below follows every import, and the table imports every stage.
_DECLARED: dict[str, tuple[int, tuple[str, ...]]] = {}


def declare(stages) -> None:
    """Take the code versions and modules of the build's stages from their rows (pipeline.stages)."""
    _DECLARED.clear()
    _DECLARED.update({stage.name: (stage.version, stage.modules) for stage in stages})
    source_digest.cache_clear()


def _code(stage: str) -> tuple[int, tuple[str, ...]]:
    if stage in ALBUM_STAGE_VERSIONS:
        return ALBUM_STAGE_VERSIONS[stage], ALBUM_STAGE_MODULES[stage]
    if stage not in _DECLARED:  # the table declares its rows when imported (by name: see _DECLARED)
        importlib.import_module("lofictl.pipeline.stages")
    return _DECLARED[stage]


def version_of(stage: str) -> int:
    """A stage's code version: its row's in pipeline.stages.STAGES, or an album stage's."""
    return _code(stage)[0]


def modules_of(stage: str) -> tuple[str, ...]:
    """The modules a stage runs: its row's in pipeline.stages.STAGES, or an album stage's."""
    return _code(stage)[1]


def code_inputs(stage: str) -> dict:
    """The part of a stage's inputs that stands for its code."""
    return {"code.version": version_of(stage)}


@functools.cache
def module_file(name: str) -> Path | None:
    """The source file of a lofictl module (a .py file or a package's __init__.py), or None."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = PACKAGE_DIR.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


_IMPORT = re.compile(
    r"^[ \t]*(?:from[ \t]+(?P<dots>\.*)(?P<module>[\w.]*)[ \t]+import[ \t]+"
    r"(?P<names>\([^)]*\)|[^#\n]+)|import[ \t]+(?P<plain>[\w., \t]+))",
    re.M,
)


@functools.cache  # every stage's closure reads the same files: each is read once per process
def _imports(name: str, path: Path) -> frozenset[str]:
    """lofictl modules named by any import statement in a file (function-level ones included).

    A regular expression, not the parser: ten times quicker, and a docstring line that happens
    to read like an import can only add a file, never hide one.
    """
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for match in _IMPORT.finditer(path.read_text(encoding="utf-8")):
        if match["plain"] is not None:
            found.update(part.split(" as ")[0].strip() for part in match["plain"].split(","))
            continue
        level = len(match["dots"])
        if level:
            base = package.rsplit(".", level - 1)[0] if level > 1 else package
            module = f"{base}.{match['module']}" if match["module"] else base
        else:
            module = match["module"]
        found.add(module)
        names = match["names"].strip("() \t\n")
        found.update(f"{module}.{part.split(' as ')[0].strip()}" for part in names.split(",") if part.strip())
    return frozenset(m for m in found if m.split(".")[0] == PACKAGE and module_file(m) is not None)


@functools.cache
def closure(entries: tuple[str, ...]) -> tuple[Path, ...]:
    """The source files of `entries` and of every lofictl module they import, transitively."""
    todo, seen = list(entries), {}
    while todo:
        name = todo.pop()
        path = module_file(name)
        if path is None or name in seen:
            continue
        seen[name] = path
        parents = name.split(".")
        for depth in range(1, len(parents)):  # importing a.b.c runs a/__init__ and a/b/__init__
            todo.append(".".join(parents[:depth]))
        if name != PACKAGE:  # lofictl/__init__ loads the Python API on first use: no stage runs it
            todo.extend(_imports(name, path))
    return tuple(sorted(set(seen.values())))


@functools.cache
def _file_digest(path: Path) -> bytes:
    """sha256 of one source file, read once per process: the stages share most of their files."""
    return hashlib.sha256(path.read_bytes()).digest()


def _digest(paths) -> str:
    digest = hashlib.sha256()
    for path in sorted(set(paths)):
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0")
        digest.update(_file_digest(path))
    return digest.hexdigest()


@functools.cache
def source_digest(stage: str) -> str:
    runner = [module_file(name) for name in RUNNER]  # its own source, not all it imports
    return _digest(set(closure(modules_of(stage))) | {p for p in runner if p is not None})


@functools.cache
def modules_digest(*modules: str) -> str:
    """sha256 of the source of `modules` and every lofictl module they import (a memo's salt)."""
    return _digest(closure(modules))
