"""Where external plugins (VST3, Audio Units) may come from.

A plugin is native code. It is loaded only from inside the project, or from a folder the user
lists in $LOFICTL_PLUGIN_PATH (os.pathsep-separated, e.g. `~/.vst3:/usr/lib/vst3`); a recipe
from git cannot point at `/anywhere/Evil.vst3`. `lofictl validate` checks the path and the file
type and loads nothing; a build loads the plugin when it renders, and the lock records the
sha256 of the plugin's files.
"""

from __future__ import annotations

from pathlib import Path

from lofictl.errors import LofictlError
from lofictl.safety.paths import PathRefused, confine, env_folders

PLUGIN_PATH_VARIABLE = "LOFICTL_PLUGIN_PATH"
SUFFIXES = {"VST3": (".vst3",), "AudioUnit": (".component",), "load_plugin": (".vst3", ".component")}


def allowed_folders(project_root: Path) -> list[Path]:
    return [Path(project_root).resolve(), *env_folders(PLUGIN_PATH_VARIABLE)]


def resolve_plugin(value: object, kind: str, *, recipe_dir: Path, project_root: Path) -> Path:
    """The plugin file or bundle a recipe names, if it is in an allowed place and of a plugin type."""
    roots = allowed_folders(project_root)
    try:
        path = confine(
            value, bases=[recipe_dir, project_root, *roots[1:]], roots=roots, absolute_ok=True, what="plugin"
        )
    except PathRefused as exc:
        raise LofictlError(
            f"{exc.message}; plugins load only from the project or from folders listed in ${PLUGIN_PATH_VARIABLE}"
        ) from None
    suffixes = SUFFIXES.get(kind, SUFFIXES["load_plugin"])
    if path.suffix.lower() not in suffixes:
        raise LofictlError(f"{path.name} is not a {' or '.join(suffixes)} plugin")
    if not (path.is_dir() or path.is_file()):
        raise LofictlError(f"{path} is neither a plugin file nor a plugin bundle")
    return path
