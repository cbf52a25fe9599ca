"""An album file → the list of tracks to build, each a pure (recipe, seed, overrides), in order.

Everything is checked here, before any audio is made: every recipe loads with its overrides,
its SoundFonts, presets, effects and models resolve, names are unique, the order names every
track once, the cover is an image. A mistake in the tenth track costs a second, not nine builds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from lofictl.album.schema import AlbumTrack, LoadedAlbum
from lofictl.digests import sha256_file
from lofictl.errors import LofictlError, all_errors, did_you_mean, raise_all
from lofictl.recipe.load import LoadedRecipe, load_recipe
from lofictl.seeds import derive_seed, rng


@dataclass(frozen=True)
class TrackSpec:
    """One track of the album: everything its build depends on, and how it is presented."""

    name: str
    title: str
    recipe: Path  # absolute
    recipe_sha: str
    overrides: tuple[str, ...]  # --set items, in a fixed order
    seed: int  # the recipe's master seed for this track
    tempo: float
    key: str
    isrc: str | None
    entry: int  # index of the album's tracks entry it comes from (for error lines)

    def build_command(self, project_root: Path, album_name: str) -> str:
        """The single-track command that rebuilds this track exactly, stems and all.

        --out keeps the recipe's own build folder and lock as they are.
        """
        import shlex

        sets = " ".join(f"--set {shlex.quote(item)}" for item in self.overrides)
        recipe = shlex.quote(self.recipe.relative_to(project_root).as_posix())
        return f"lofictl build {recipe} {sets} --out {shlex.quote(f'build/{album_name}-tracks/{self.name}')}"


def _set_items(values: dict) -> list[str]:
    """{'tempo': 80} → ['tempo=80']: values spelt as JSON, which YAML reads back unchanged."""
    return [f"{key}={json.dumps(value, sort_keys=True, ensure_ascii=False)}" for key, value in values.items()]


def _reset_seeds(loaded: LoadedRecipe, explicit: set[str]) -> list[str]:
    """Overrides that let every explicit seed in a recipe follow the master seed instead.

    "N tracks from this recipe" should give N different tracks; a recipe that pins its melody's
    seed would otherwise give the same melody N times.
    """
    recipe = loaded.recipe
    items = []
    for name, track in recipe.tracks.items():
        if track.seed is not None:
            items.append(f"tracks.{name}.seed")
        generate = getattr(track, "generate", None)
        if generate is not None and generate.seed is not None:
            items.append(f"tracks.{name}.generate.seed")
    for index, section in enumerate(recipe.sections or []):
        if section.seed is not None:
            items.append(f"sections.{index}.seed")
    return [f"{item}=null" for item in items if item not in explicit]


def _load_track_recipe(
    album: LoadedAlbum, index: int, entry: AlbumTrack, path: Path, overrides: list[str]
) -> LoadedRecipe:
    """The recipe with its overrides; a bad override is reported at the album's `set` line."""
    from lofictl.pipeline.runner import prepare

    where = ("tracks", index)
    set_keys = list(entry.set)
    try:
        loaded = load_recipe(path, overrides, name_overrides=False)  # a bad value is blamed on `set:` below
        prepare(loaded)
    except LofictlError as exc:
        blamed = next(
            (key for key in set_keys if exc.field and (exc.field == key or exc.field.startswith(key + "."))), None
        )
        if blamed is not None or (exc.file is None and set_keys):
            key = blamed or set_keys[0]
            raise album.error(f"{exc.message} (in {path.name})", where + ("set", key)) from None
        raise
    return loaded


def plan_album(album: LoadedAlbum) -> list[TrackSpec]:
    """Every track, checked, named, titled and seeded, in the album's order."""
    spec = album.album
    common = [
        f"master.loudness_lufs={spec.loudness_lufs}",
        f"master.true_peak_db={spec.true_peak_db}",
        f"output.sample_rate={spec.output.sample_rate}",
    ]
    tracks: list[TrackSpec] = []
    names: dict[str, int] = {}
    problems: list[LofictlError] = []
    for index, entry in enumerate(spec.tracks):
        try:  # every entry is checked, so one run names every track's problem
            where = ("tracks", index)
            path = album.resolve_path(entry.recipe, where + ("recipe",))
            if path.is_dir() or path.suffix.lower() not in (".yaml", ".yml"):
                raise album.error(f"{entry.recipe!r} is not a recipe file (.yaml)", where + ("recipe",))
            base = entry.name or path.name.removesuffix(".yaml").removesuffix(".yml")
            user_sets = _set_items(entry.set)
            first = _load_track_recipe(album, index, entry, path, user_sets)
            recipe_sha = sha256_file(path)
            for n in range(1, entry.count + 1):
                name = base if entry.count == 1 else f"{base}-{n}"
                if name in names:
                    raise album.error(
                        f"two tracks are named {name!r} (entries {names[name] + 1} and {index + 1}); "
                        "give one of them a name",
                        where + ("name",) if entry.name else where,
                    )
                names[name] = index
                if entry.count > 1:
                    seed = derive_seed(spec.seed, "track", base, n)
                    resets = [] if entry.keep_seeds else _reset_seeds(first, set(entry.set))
                    overrides = [f"seed={seed}", *resets, *user_sets, *common]
                elif entry.seed is not None:
                    seed = entry.seed
                    overrides = [f"seed={seed}", *user_sets, *common]
                else:
                    seed = first.recipe.seed
                    overrides = [*user_sets, *common]
                loaded = first if overrides == user_sets else _load_track_recipe(album, index, entry, path, overrides)
                title = entry.title or loaded.recipe.title
                if entry.count > 1:
                    title = title.replace("{n}", str(n)) if "{n}" in title else f"{title} {n}"
                tracks.append(
                    TrackSpec(
                        name,
                        title,
                        path,
                        recipe_sha,
                        tuple(overrides),
                        seed,
                        loaded.recipe.tempo,
                        loaded.recipe.key,
                        entry.isrc,
                        index,
                    )
                )
        except LofictlError as exc:
            problems.extend(all_errors(exc))
    raise_all(problems)
    return _ordered(album, tracks)


def _ordered(album: LoadedAlbum, tracks: list[TrackSpec]) -> list[TrackSpec]:
    order = album.album.order
    if order == "listed":
        return tracks
    if order == "tempo":
        return sorted(tracks, key=lambda t: t.tempo)  # stable: equal tempos keep the listed order
    if order == "shuffle":
        permutation = rng(album.album.seed, "order").permutation(len(tracks))
        return [tracks[i] for i in permutation]
    by_name = {t.name: t for t in tracks}
    seen: set[str] = set()
    for position, name in enumerate(order):
        if name not in by_name:
            raise album.error(
                f"no track named {name!r}{did_you_mean(name, list(by_name))} (tracks: {', '.join(by_name)})",
                ("order", position),
            )
        if name in seen:
            raise album.error(f"{name!r} is listed twice", ("order", position))
        seen.add(name)
    missing = [name for name in by_name if name not in seen]
    if missing:
        raise album.error(f"the order leaves out {', '.join(missing)}; list every track once", ("order",))
    return [by_name[name] for name in order]
