"""Several recipes in one command, one after another or as tasks on Dask (a LocalCluster with
--jobs N, or an existing scheduler with --scheduler). Each task builds one recipe exactly as a
single build would, so the bytes do not depend on where it ran."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lofictl.errors import LofictlError
from lofictl.pipeline.cache import CACHE_DIR_NAME, Cache
from lofictl.pipeline.runner import BuildResult, build_recipe, lock_path_for
from lofictl.recipe.load import LoadedRecipe, load_recipe


def chosen_cache(loaded: LoadedRecipe, cache_dir: str | None, use_cache: bool) -> Cache | None:
    """The cache `--cache` names: a folder, or an fsspec URL behind the project's own cache;
    None for the project's own (`.lofictl-cache`), which the runner opens itself."""
    if cache_dir is None or not use_cache:
        return None
    from lofictl.cluster.shared_cache import open_cache

    return open_cache(loaded.project_root / CACHE_DIR_NAME, cache_dir)


@dataclass(frozen=True)
class BuildJob:
    """One recipe to build as a task on a worker: plain values, so it ships to another process."""

    recipe: Path  # absolute: the worker's current folder may differ
    overrides: tuple[str, ...]
    out_dir: Path | None
    midi_only: bool
    use_cache: bool
    cache_dir: str | None = None  # --cache: an absolute folder or a URL the workers share

    def run(self) -> BuildResult:
        # Stems render serially and quietly inside a task: the workers are the parallelism.
        loaded = load_recipe(self.recipe, list(self.overrides))
        return build_recipe(
            loaded,
            out_dir=self.out_dir,
            midi_only=self.midi_only,
            jobs=1,
            quiet=True,
            use_cache=self.use_cache,
            cache=chosen_cache(loaded, self.cache_dir, self.use_cache),
        )


def build_many(
    paths: list[Path],
    *,
    overrides: list[str],
    out_dir: Path | None,
    midi_only: bool,
    jobs: int | None,
    use_cache: bool,
    quiet: bool,
    scheduler: str | None = None,
    cache_dir: str | None = None,
) -> list[BuildResult]:
    """Check every recipe first (a typo in the tenth should not cost nine builds), then build.

    jobs None: recipes one after another, each with a thread per CPU for its stems and encoders.
    """
    from lofictl.cluster import cpu_threads, open_runner

    if jobs is None and scheduler is None:
        jobs, recipe_jobs = cpu_threads(), 1
    else:
        recipe_jobs = jobs or 1

    loaded = [load_recipe(path, overrides) for path in paths]
    targets: dict[Path, Path] = {}
    locks: dict[Path, Path] = {}
    for item in loaded:
        target = out_dir.resolve() if out_dir is not None else item.output_dir
        if target in targets:
            raise LofictlError(
                f"{item.path} and {targets[target]} both write to {target}; give one of them another output.dir",
                file=item.path,
                field="output.dir",
            )
        targets[target] = item.path
        lock = lock_path_for(item)
        if lock in locks:
            raise LofictlError(
                f"{item.path} and {locks[lock]} would both write the lock {lock.name}; rename one", file=item.path
            )
        locks[lock] = item.path
    if scheduler is None and (len(loaded) == 1 or recipe_jobs == 1):
        threads = jobs if jobs is not None else cpu_threads()  # set above: no scheduler, so a count
        return [
            build_recipe(
                item,
                out_dir=out_dir,
                midi_only=midi_only,
                jobs=threads,
                quiet=quiet,
                use_cache=use_cache,
                cache=chosen_cache(item, cache_dir, use_cache),
            )
            for item in loaded
        ]
    work = [
        BuildJob(item.path.resolve(), tuple(overrides), out_dir, midi_only, use_cache, cache_dir) for item in loaded
    ]
    with open_runner(jobs=min(recipe_jobs, len(work)), scheduler=scheduler) as runner:
        futures = [
            runner.submit(BuildJob.run, job, key=f"lofictl-build-{i:03d}-{job.recipe.stem}")
            for i, job in enumerate(work)
        ]
        return [future.result() for future in futures]
