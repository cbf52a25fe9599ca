"""Several recipes in one command (an album), one after another or in parallel processes."""

from __future__ import annotations

from pathlib import Path

from .build import BuildResult, build_recipe, lock_path_for
from .errors import LofictlError
from .recipe import load_recipe
from .safety.interrupts import worker_pool


def _build_one(args: tuple) -> BuildResult:
    path, overrides, out_dir, midi_only, jobs, use_cache, quiet = args
    return build_recipe(load_recipe(path, overrides), out_dir=out_dir, midi_only=midi_only, jobs=jobs,
                        quiet=quiet, use_cache=use_cache)


def build_many(paths: list[Path], *, overrides: list[str], out_dir: Path | None, midi_only: bool, jobs: int,
               use_cache: bool, quiet: bool) -> list[BuildResult]:
    """Check every recipe first (a typo in the tenth should not cost nine builds), then build."""
    loaded = [load_recipe(path, overrides) for path in paths]
    targets: dict[Path, Path] = {}
    locks: dict[Path, Path] = {}
    for item in loaded:
        target = out_dir.resolve() if out_dir is not None else item.output_dir
        if target in targets:
            raise LofictlError(f"{item.path} and {targets[target]} both write to {target}; give one of them "
                               "another output.dir", file=item.path, field="output.dir")
        targets[target] = item.path
        lock = lock_path_for(item)
        if lock in locks:
            raise LofictlError(f"{item.path} and {locks[lock]} would both write the lock {lock.name}; rename one",
                               file=item.path)
        locks[lock] = item.path
    if len(loaded) == 1 or jobs == 1:
        return [build_recipe(item, out_dir=out_dir, midi_only=midi_only, jobs=jobs, quiet=quiet,
                             use_cache=use_cache) for item in loaded]
    # Recipes in parallel, each rendering its stems serially: the pool is the parallelism.
    work = [(item.path, overrides, out_dir, midi_only, 1, use_cache, True) for item in loaded]
    with worker_pool(min(jobs, len(work))) as pool:
        return list(pool.map(_build_one, work))
