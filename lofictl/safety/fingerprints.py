"""What a stage's code contributes to its key.

Two fingerprints, for two jobs:

- `STAGE_VERSIONS`: one number per stage, part of the stage's inputs (`code.version`), so it is in
  the stage key and in the lock. Change what a stage makes and you bump its number; the test
  tests/build/test_stage_versions.py fails (naming the constant) when a stage's output on a small fixture
  changes while its number did not. Moving code between files changes no number, so a pure
  restructuring leaves every lock as it was, and `verify`/`diff` name a bumped number as the cause.
- `source_digest(stage)`: sha256 of the source files the stage runs (its entry modules, everything
  they import inside lofictl, and the build runner). It salts the local cache key only (see
  cache.Cache), never the lock: an uncommitted edit to render.py re-runs the stems and what
  depends on them on the developer's machine, instead of restoring audio the new code would not
  make, while the lock still compares the same.
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

PACKAGE = "lofictl"
PACKAGE_DIR = Path(__file__).resolve().parents[1]

# Bump a stage's number whenever its outputs change for the same inputs.
STAGE_VERSIONS: dict[str, int] = {
    # chords, melody, bass, drums → score.json (2: voicings, humanize, tempo map; 3: loops, POP909
    # models; 4: the reharmoniser's styles, colour by function, song forms, melody phrases: motifs
    # developed, cadences, restatements varied, chords under the melody, one feel for every part
    # (swing_unit), drums played by lane and role, phrase moves)
    "compose": 4,
    "midi": 3,  # score → MIDI files and the piano roll (2: tempo map, piano-roll rows; 3: last row ends with the music)
    "stem": 3,  # FluidSynth, effects, gain/pan, ducking → one float32 stem (2: tempo map; 3: sampler preset)
    "dry": 2,  # FluidSynth alone → the dry stem for DAWs (2: tempo map)
    "overlays": 1,  # ambience files and generators → overlay layers
    "bus": 2,  # sends → the shared reverb bus (2: follows the stems)
    "mix": 2,  # stems → the master (chain, loudness, true peak) (2: follows the stems)
    "export": 3,  # encodings, delivery stems, DAW projects (2: FLAC in .dawproject, tempo automation;
    # 3: 24-bit master and delivery stems by default, a delivered stem carries its own stage's provenance)
}

# The modules each stage runs (what they import inside lofictl is added); the runner's own files
# (not all they import: the runner imports every stage) go into every stage's digest.
RUNNER = (
    "lofictl.build.runner",
    "lofictl.build.stages",
    "lofictl.build.record",
    "lofictl.build.plan",
    "lofictl.build.inputs",
    "lofictl.build.lock",
    "lofictl.build.cache",
)
STAGE_MODULES: dict[str, tuple[str, ...]] = {
    "compose": ("lofictl.compose.arrangement",),
    "midi": ("lofictl.export.midi", "lofictl.export.pianoroll"),
    "stem": ("lofictl.sound.stems", "lofictl.sound.stream"),
    "dry": ("lofictl.sound.stems", "lofictl.sound.stream"),
    "overlays": ("lofictl.sound.stems", "lofictl.sound.stream", "lofictl.sound.ambience"),
    "bus": ("lofictl.sound.master", "lofictl.sound.stream"),
    "mix": ("lofictl.sound.master", "lofictl.sound.loudness", "lofictl.sound.stream"),
    "export": (
        "lofictl.sound.stream",
        "lofictl.sound.loudness",
        "lofictl.export.daw",
        "lofictl.export.sidecar",
        "lofictl.export.reaper",
        "lofictl.export.dawproject",
        "lofictl.export.encode",  # the masters' encodings, pulled under the true-peak ceiling
        "lofictl.export.tags",
    ),
}


# An album's own stages (after its tracks' builds), keyed and cached the same way.
ALBUM_STAGE_VERSIONS: dict[str, int] = {
    "album-cover": 1,  # the cover drawn from the tracks' notes
    "album-encode": 2,  # one track's tagged FLAC/MP3/WAV (2: a 1000-pixel copy of the cover inside)
    "album-mix": 1,  # the continuous mix at the loudness target
    "album-video": 1,  # cover + mix → MP4
}
ALBUM_STAGE_MODULES: dict[str, tuple[str, ...]] = {
    "album-cover": ("lofictl.album.cover", "lofictl.album.tasks"),
    "album-encode": ("lofictl.album.tasks", "lofictl.export.encode", "lofictl.export.tags"),
    "album-mix": ("lofictl.album.tasks", "lofictl.sound.sequence"),
    "album-video": ("lofictl.album.tasks", "lofictl.album.video"),
}


def version_of(stage: str) -> int:
    return STAGE_VERSIONS[stage] if stage in STAGE_VERSIONS else ALBUM_STAGE_VERSIONS[stage]


def code_inputs(stage: str) -> dict:
    """The part of a stage's inputs that stands for its code."""
    return {"code.version": version_of(stage)}


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


def _imports(name: str, path: Path) -> set[str]:
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
    return {m for m in found if m.split(".")[0] == PACKAGE and module_file(m) is not None}


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
        todo.extend(_imports(name, path))
    return tuple(sorted(set(seen.values())))


@functools.cache
def source_digest(stage: str) -> str:
    digest = hashlib.sha256()
    runner = [module_file(name) for name in RUNNER]  # its own source, not all it imports
    modules = STAGE_MODULES[stage] if stage in STAGE_MODULES else ALBUM_STAGE_MODULES[stage]
    for path in sorted(set(closure(modules)) | {p for p in runner if p is not None}):
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()
