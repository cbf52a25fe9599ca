"""Which folder a build may replace, and the order in which outputs and lock are committed.

The rule (`check_replaceable`): a build replaces a folder only when it is empty or owned, that
is, it holds a `build.json` lofictl wrote (a recipe's or an album's lock) and nothing but the
files that build.json lists (empty folders aside), made from the same recipe (its path in the
project). It never replaces the project root, the recipe's folder, the home folder, `/`, or any
ancestor of them, a mount point, a symbolic link, something that is not a folder, or a folder
below a file (`check_place`). A station's work folder obeys the same places and holds only what
a station writes there, marked with its station file (`check_work_folder`).

The commit (`commit`), with the outputs already complete in a staging folder beside the target:

    1. write the new lock to `.<lock>.tmp-PID` beside the lock     fails → nothing changed
    2. check the rule again (the folder may have changed during the build)
    3. rename the target → `.<name>.old-PID`                      fails → nothing changed
    4. rename the staging folder → the target                      fails → old put back
    5. rename the lock temp → the lock                             fails → old outputs put back
    6. delete `.<name>.old-PID`

A process killed between two steps leaves hidden folders that the next build's `recover` reads
as a journal: an old folder with no target means "put it back" (and drop the lock temp); an old
folder beside a target and a lock temp means step 5 is due (done when the temp equals the new
build.json); anything else is leftover and goes. So outputs and lock always agree.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from lofictl.errors import LofictlError

OWNER_FILE = "build.json"
# The format keys a build.json may carry: a recipe build's lock, an album's lock.
OWNER_KEYS = ("lofictl_lock", "lofictl_album_lock")
_STAGING, _OLD = "tmp", "old"


def _prefix(path: Path, kind: str) -> str:
    """`.NAME.kind-`, with NAME cut to 200 bytes so that a long name still leaves room for a PID."""
    name = path.name.encode("utf-8")[:200].decode("utf-8", errors="ignore")
    return f".{name}.{kind}-"


def _hidden(path: Path, kind: str, pid: int | None = None) -> Path:
    return path.with_name(f"{_prefix(path, kind)}{os.getpid() if pid is None else pid}")


def _siblings(path: Path, kind: str) -> list[tuple[Path, int]]:
    """Hidden `.NAME.kind-PID` siblings of `path` (listed, not globbed: NAME may hold `[`)."""
    prefix = _prefix(path, kind)
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return []
    found = []
    for entry in entries:
        pid = entry.name[len(prefix) :]
        if entry.name.startswith(prefix) and pid.isdigit():
            found.append((entry, int(pid)))
    return sorted(found, key=lambda item: item[1])


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- the rule -----------------------------------------------------------------------------------


def protected_folders(**folders: Path | None) -> list[tuple[Path, str]]:
    """Folders a build never replaces (nor any ancestor of them), each with the words for it:
    the ones given (`project=..., recipes=...`: "the project folder"), home and `/`."""
    named = {"the root folder": Path("/"), "your home folder": Path.home()}
    named.update({f"the {label} folder": Path(path) for label, path in folders.items() if path is not None})
    result = []
    for label, folder in named.items():
        try:
            result.append((folder.resolve(), label))
        except OSError:
            result.append((folder.absolute(), label))
    return result


def _owner_record(folder: Path) -> dict | None:
    """The folder's build.json when it is a lofictl build's record (None: not one of ours)."""
    try:
        data = json.loads((Path(folder) / OWNER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not any(isinstance(data.get(key), int) for key in OWNER_KEYS):
        return None
    outputs = data.get("outputs")
    if not isinstance(outputs, dict) or not all(isinstance(rel, str) for rel in outputs):
        return None
    return data


def manifest(folder: Path) -> set[str] | None:
    """The files a lofictl build wrote into `folder`, from its build.json (None: not one of ours)."""
    record = _owner_record(folder)
    return None if record is None else _owned_files(record)


def _owned_files(record: dict) -> set[str]:
    return set(record["outputs"]) | {OWNER_FILE}


def _made_from(record: dict) -> tuple[str | None, str | None]:
    """(the project-relative path, the file name) of the recipe (or album) a build record was
    made from; the path is missing from records written before it was kept."""
    for key in ("recipe", "album"):
        source = record.get(key)
        if isinstance(source, dict) and isinstance(source.get("file"), str):
            path = source.get("path")
            return (path if isinstance(path, str) else None), source["file"]
    return None, None


def _same_source(record: dict, source: str) -> bool:
    """Was the record made from `source` (a project-relative path)? Compared by path, or by file
    name for an older record that has no path."""
    path, name = _made_from(record)
    if path is not None:
        return path == source
    return name is None or name == Path(source).name


def _files_in(folder: Path, limit: int = 100_000) -> list[str]:
    """Every non-folder entry below `folder` (symlinks not followed), relative, POSIX style."""
    found = []
    for base, dirs, files in os.walk(folder, followlinks=False):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(base, d))]:
            found.append(Path(os.path.relpath(os.path.join(base, name), folder)).as_posix())
            if len(found) > limit:
                return found
    return sorted(found)


def check_place(folder: Path, protected: Sequence[tuple[Path, str]]) -> Path | None:
    """The checks on where a folder lofictl writes may be, whatever it holds: not a symbolic
    link, a protected folder or an ancestor of one, a file, or a mount point. Returns the
    resolved folder, or None when nothing is there yet."""
    folder = Path(folder)
    if folder.is_symlink():
        raise LofictlError(
            f"{folder} is a symbolic link; lofictl replaces only folders it made "
            "(point the output at the real folder); nothing was changed"
        )
    try:
        target = folder.resolve()
    except OSError as exc:
        raise LofictlError(f"{folder} cannot be used as an output folder ({exc.strerror or exc})") from None
    for guarded, label in protected:
        if target == guarded or guarded.is_relative_to(target):
            relation = "is" if target == guarded else "holds"
            raise LofictlError(
                f"{folder} {relation} {label}; lofictl replaces (or clears) the whole folder it "
                "writes, so it must be a folder of its own (like build/NAME); nothing was changed"
            )
    if not os.path.lexists(target):
        for parent in target.parents:
            if os.path.lexists(parent) and not parent.is_dir():
                raise LofictlError(
                    f"{folder} cannot be made: {parent} is a file, not a folder; choose another "
                    "folder (nothing was changed)"
                )
        return None
    if not target.is_dir():
        raise LofictlError(
            f"{folder} is a file, not a folder; lofictl will not replace it (move or delete it, "
            "or choose another output folder); nothing was changed"
        )
    if os.path.ismount(target):
        raise LofictlError(
            f"{folder} is a mount point; a build swaps whole folders, so write into a folder "
            f"inside it (like {folder}/NAME); nothing was changed"
        )
    return target


def check_replaceable(folder: Path, protected: Sequence[tuple[Path, str]], recipe_file: str | None = None) -> None:
    """Raise LofictlError unless a build may replace `folder` (see the module docstring). With
    `recipe_file` (the recipe's or album's path relative to its project), a folder another
    recipe's build owns is refused too: two recipes that make the same build folder (`x.yaml`
    and `recipes/x.yaml`, or one output.dir) would otherwise take turns replacing each other's
    outputs."""
    target = check_place(folder, protected)
    if target is None:
        return
    present = _files_in(target)
    if not present:
        return  # empty (or only empty folders)
    record = _owner_record(target)
    if record is None:
        raise LofictlError(
            f"{folder} holds files no lofictl build wrote ({_shown(present)}); a build replaces its whole "
            "output folder, so choose an empty or new folder (nothing was changed)"
        )
    owned = _owned_files(record)
    foreign = [rel for rel in present if rel not in owned]
    if foreign:
        raise LofictlError(
            f"{folder} holds files the last build did not write ({_shown(foreign)}); move them out "
            "first: a build replaces its whole output folder (nothing was changed)"
        )
    if recipe_file is not None and not _same_source(record, recipe_file):
        path, name = _made_from(record)
        raise LofictlError(
            f"{folder} holds the build of {path or name}, not of {recipe_file} (both make this "
            f"build folder); give one of them its own output.dir or another file name, or delete "
            "the folder if that build is no longer wanted (nothing was changed)"
        )


def _shown(files: Sequence[str]) -> str:
    """The first few of a list of files, for a message."""
    return ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")


# --- work folders --------------------------------------------------------------------------------

WORK_MARKER = "lofictl-work.json"


def check_work_folder(
    folder: Path, protected: Sequence[tuple[Path, str]], owner: str, layout: re.Pattern, unmarked_ok: bool = False
) -> None:
    """Raise LofictlError unless a long-running command (a station) may work in `folder`,
    deleting and rewriting what its `layout` names there. The places refused are a build's
    (`check_place`); what is there must be nothing, or only files `layout` matches (relative,
    POSIX style) under a marker written for the same `owner` (a station file's path). Without a
    marker such files are taken as the owner's only where `unmarked_ok` says so (the default
    folder, where a lofictl that wrote no marker worked): elsewhere a user's `bed.wav` is theirs."""
    target = check_place(folder, protected)
    if target is None:
        return
    present = _files_in(target)
    ours = WORK_MARKER in present or unmarked_ok  # else every file there is the user's
    foreign = [rel for rel in present if rel != WORK_MARKER and not layout.fullmatch(rel)] if ours else present
    if foreign:
        raise LofictlError(
            f"{folder} holds files lofictl did not write there ({_shown(foreign)}); the work folder is "
            "lofictl's scratch space (tracks in it are deleted and rewritten), so give it a folder "
            "of its own, like build/radio/NAME (nothing was changed)"
        )
    if WORK_MARKER in present:
        try:
            record = json.loads((target / WORK_MARKER).read_text(encoding="utf-8"))
            marked = record.get("owner") if isinstance(record, dict) else None
        except (OSError, ValueError):
            marked = None
        if marked != owner:
            raise LofictlError(
                f"{folder} is the work folder of {marked or 'something else'}, not of {owner}; give "
                "each station its own work folder (nothing was changed)"
            )


def mark_work_folder(folder: Path, owner: str) -> None:
    """Write the marker `check_work_folder` reads: this folder is `owner`'s."""
    from lofictl.safety import atomic

    atomic.write_text(Path(folder) / WORK_MARKER, json.dumps({"lofictl_work": 1, "owner": owner}) + "\n")


# --- staging, commit and recovery ---------------------------------------------------------------


@dataclass
class LockUpdate:
    path: Path
    text: str


def recover(target: Path, lock: Path | None = None) -> None:
    """Finish or undo what a killed build left beside `target` (and its lock); see the docstring."""
    olds = [(p, pid) for p, pid in _siblings(target, _OLD) if not pid_alive(pid)]
    lock_temps = {pid: p for p, pid in _siblings(lock, _STAGING)} if lock is not None else {}
    for old, pid in olds:
        temp = lock_temps.pop(pid, None)
        if not os.path.lexists(target):
            old.rename(target)  # killed between steps 3 and 4: the old outputs go back
            if temp is not None:
                temp.unlink(missing_ok=True)
            continue
        if temp is not None:  # killed between steps 4 and 5: the lock is due
            assert lock is not None  # its staging file was found beside it
            try:
                same = temp.read_text(encoding="utf-8") == (target / OWNER_FILE).read_text(encoding="utf-8")
            except OSError:
                same = False
            if same:
                os.replace(temp, lock)
            else:
                temp.unlink(missing_ok=True)
        shutil.rmtree(old, ignore_errors=True)
    for pid, temp in lock_temps.items():
        if not pid_alive(pid):
            temp.unlink(missing_ok=True)
    for staging, pid in _siblings(target, _STAGING):
        if not pid_alive(pid):
            shutil.rmtree(staging, ignore_errors=True)


def staging_folder(target: Path) -> Path:
    """A fresh hidden sibling of `target` (same file system, so the final rename is atomic)."""
    staging = _hidden(target, _STAGING)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    return staging


def _undo(what: str, exc: OSError, *steps) -> LofictlError:
    for step in steps:
        try:
            step()
        except OSError:
            pass
    return LofictlError(f"{what}: {exc.strerror or exc}; the previous outputs and lock are unchanged")


def commit(staging: Path, target: Path, protected: Sequence[tuple[Path, str]], lock: LockUpdate | None) -> None:
    """Swap the finished `staging` folder in for `target` and write the lock, in the order above."""
    lock_temp = None
    if lock is not None:
        lock_temp = _hidden(lock.path, _STAGING)
        try:
            lock_temp.write_text(lock.text, encoding="utf-8")
        except OSError as exc:
            _undo("", exc, lambda: lock_temp.unlink(missing_ok=True))
            raise LofictlError(
                f"cannot write the lock file {lock.path} ({exc.strerror or exc}); "
                "the previous outputs and lock are unchanged"
            ) from None
    drop_temp = (lambda: lock_temp.unlink(missing_ok=True)) if lock_temp is not None else (lambda: None)
    try:
        check_replaceable(target, protected)
    except LofictlError:
        drop_temp()
        raise
    old = _hidden(target, _OLD)
    had_old = os.path.lexists(target)
    if had_old:
        try:
            target.rename(old)
        except OSError as exc:
            raise _undo(f"cannot move {target} aside", exc, drop_temp) from None
    try:
        staging.rename(target)
    except OSError as exc:
        raise _undo(
            f"cannot move the new outputs into {target}",
            exc,
            drop_temp,
            *((lambda: old.rename(target)),) if had_old else (),
        ) from None
    if lock is not None:
        assert lock_temp is not None  # written above
        try:
            os.replace(lock_temp, lock.path)
        except OSError as exc:

            def put_back() -> None:
                target.rename(staging)
                if had_old:
                    old.rename(target)

            raise _undo(f"cannot write the lock file {lock.path}", exc, put_back, drop_temp) from None
    if had_old:
        shutil.rmtree(old, ignore_errors=True)
        if os.path.lexists(old):
            from lofictl.errors import warn

            warn(f"could not delete the previous outputs in {old}; the next build removes them")
