"""Reading a recipe: YAML with line numbers into the schema, the checks across fields, `--set`.

`load_recipe(path)` returns a `LoadedRecipe`: the validated `Recipe`, where it lives, and the
line of every field, so any later stage can report `file:line: field: message`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from lofictl.errors import LofictlError, LofictlErrors, all_errors, did_you_mean, raise_all
from lofictl.recipe.limits import MAX_BARS, MAX_SECONDS
from lofictl.recipe.messages import clean_loc, dotted_path, model_at, parse_dotted, validation_errors
from lofictl.recipe.schema import FORMAT_VERSION, MelodyTrack, Recipe, Section
from lofictl.recipe.yamlfile import FieldPath, Positions, parse_yaml, read_yaml
from lofictl.safety.names import build_name
from lofictl.safety.paths import PathRefused, confine

# --- reading and checking ---------------------------------------------------------------------


@dataclass(frozen=True)
class LoadedRecipe:
    recipe: Recipe
    path: Path
    positions: Positions
    overrides: tuple[str, ...] = ()  # --set path=value, already applied to `recipe`
    # sha256 of the text when the recipe was parsed from text not (yet) on disk, e.g. a radio
    # station's track: the lock records it instead of hashing the file.
    source_sha256: str | None = None
    # errors in a field an override set name the `--set` (an album names its own `set:` line)
    name_overrides: bool = True

    @property
    def file_stem(self) -> str:
        """The recipe file name without .yaml (names the lock file beside it)."""
        return self.path.name.removesuffix(".yaml").removesuffix(".yml")

    @property
    def name(self) -> str:
        """The build name: the file name as a safe slug (else the title's), see safety.names."""
        return build_name(self.file_stem, self.recipe.title)

    @property
    def project_root(self) -> Path:
        return project_root_for(self.path)

    @property
    def project_file(self) -> str:
        """The recipe's path relative to its project (POSIX): what the lock names it by."""
        return project_file(self.path)

    @property
    def named_overrides(self) -> tuple[str, ...]:
        """The overrides an error in their field names (none when the caller blames its own)."""
        return self.overrides if self.name_overrides else ()

    def error(self, message: str, field: FieldPath) -> LofictlError:
        error = LofictlError(message, file=self.path, line=self.positions.line_of(field), field=dotted_path(field))
        return blame_overrides([error], self.named_overrides)[0]

    def locate(self, exc: LofictlError) -> LofictlError:
        """Fill in file and line of an error raised with only a field path."""
        if isinstance(exc, LofictlErrors):
            return LofictlErrors([self.locate(error) for error in exc.errors])
        if exc.file:
            return exc
        blamed = blame_overrides([exc], self.named_overrides)[0]
        if blamed is not exc:  # a value --set gave: no recipe line to point at
            return blamed.located(self.path, None)
        path = tuple(parse_dotted(exc.field)) if exc.field else ()
        return exc.located(self.path, self.positions.line_of(path))

    def resolve_path(self, value: str, field: FieldPath, *, must_exist: bool = True) -> Path:
        return resolve_project_path(self, value, field, must_exist=must_exist)

    @property
    def output_dir(self) -> Path:
        out = self.recipe.output.dir or f"build/{self.name}"
        return resolve_project_path(self, out, ("output", "dir"), must_exist=False, beside_recipe=False)


def project_root_for(recipe_path: Path) -> Path:
    """The project a recipe (or album) belongs to: its folder, or the parent of a `recipes/` or
    `albums/` folder."""
    folder = recipe_path.resolve().parent
    return folder.parent if folder.name in ("recipes", "albums") else folder


def project_file(path: Path) -> str:
    """A recipe's (or album's) path relative to its project, POSIX style."""
    resolved = Path(path).resolve()
    return resolved.relative_to(project_root_for(resolved)).as_posix()


def resolve_project_path(
    loaded: LoadedRecipe, value: str, field: FieldPath, *, must_exist: bool, beside_recipe: bool = True
) -> Path:
    """A recipe path, looked up beside the recipe first and then from the project root.

    Paths may not leave the project (no absolute paths, no `..` above the root, no symbolic link
    out of it), so a recipe shared in git cannot read or write outside the project it came with.
    """
    root = loaded.project_root
    bases = [loaded.path.resolve().parent, root] if beside_recipe else [root]
    try:
        return confine(value, bases=bases, roots=[root], must_exist=must_exist)
    except PathRefused as exc:
        raise loaded.error(exc.message, field) from None


def load_recipe(path: Path, overrides: list[str] | None = None, *, name_overrides: bool = True) -> LoadedRecipe:
    """The recipe at `path` with `--set` overrides applied (`name_overrides`: an error in a value
    they gave says so instead of pointing at the recipe line they replaced)."""
    data, positions = read_yaml(path)
    return validate_data(data, positions, path, overrides or [], name_overrides=name_overrides)


def parse_recipe_text(text: str, path: Path) -> LoadedRecipe:
    """A recipe from text, as if it were the file at `path` (which need not exist)."""
    import dataclasses
    import hashlib

    data, positions = parse_yaml(text, path)
    loaded = validate_data(data, positions, path, [])
    return dataclasses.replace(loaded, source_sha256=hashlib.sha256(text.encode("utf-8")).hexdigest())


def read_recipe_problems(path: Path) -> tuple[LoadedRecipe | None, list[LofictlError]]:
    """For `validate`: every problem found in the recipe, the cross-field ones included, instead
    of stopping at the first; and the recipe to check resources with (with the fields that failed
    set aside), or None where the failures leave nothing to check."""
    problems: list[LofictlError] = []
    try:
        data, positions = read_yaml(path)
        loaded = validate_data(data, positions, path, [], problems)
    except LofictlError as exc:
        return None, problems + all_errors(exc)
    return loaded, problems


def validate_data(
    data: Any,
    positions: Positions,
    path: Path,
    overrides: list[str],
    problems: list[LofictlError] | None = None,
    *,
    name_overrides: bool = True,
) -> LoadedRecipe:
    """The validated recipe; cross-field problems are raised, or added to `problems` if given."""
    if not isinstance(data, dict):
        raise LofictlError("a recipe is a mapping of keys such as title, tempo and tracks", file=path, line=1)
    if "station" in data and "lofictl" not in data:
        raise LofictlError(
            f"this is a radio station file, not a recipe; play it with `lofictl radio {path}`",
            file=path,
            line=positions.line_of(("station",)),
            field="station",
        )
    data = apply_overrides(data, overrides, path)
    if "lofictl" in data and data["lofictl"] != FORMAT_VERSION and isinstance(data["lofictl"], int):
        newer = "a newer" if data["lofictl"] > FORMAT_VERSION else "an unknown"
        raise LofictlError(
            f"format version {data['lofictl']} is {newer} version; this lofictl reads version {FORMAT_VERSION}",
            file=path,
            line=positions.line_of(("lofictl",)),
            field="lofictl",
        )
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        errors = blame_overrides(validation_errors(exc, positions, path, data), overrides if name_overrides else ())
        stand_in = _stand_in(data, exc) if problems is not None else None
        if stand_in is None or problems is None:
            raise (errors[0] if len(errors) == 1 else LofictlErrors(errors)) from None
        # Go on with the failed fields set aside, so the later checks can report too.
        problems.extend(errors)
        loaded = LoadedRecipe(stand_in, path, positions, tuple(overrides), name_overrides=name_overrides)
        # (check_arrangement's errors come from loaded.error, which names a --set already)
        problems.extend(e for e in check_arrangement(loaded) if str(e) not in {str(x) for x in errors})
        return loaded
    loaded = LoadedRecipe(recipe, path, positions, tuple(overrides), name_overrides=name_overrides)
    if problems is None:
        raise_all(check_arrangement(loaded))
    else:
        problems.extend(check_arrangement(loaded))
    return loaded


def check_arrangement(loaded: LoadedRecipe) -> list[LofictlError]:
    """Checks that involve several fields at once (sections, references between tracks): every
    problem found, in the order of the file."""
    recipe = loaded.recipe
    names = list(recipe.tracks)
    problems: list[LofictlError] = []
    if recipe.sections is None and recipe.length is None:
        problems.append(
            loaded.error("give a length (like '64 bars' or '2m30s'), a form or a list of sections", ("length",))
        )
    if recipe.form is not None and recipe.sections is not None and not _sections_of_form(recipe):
        problems.append(loaded.error("give either form or sections, not both", ("form",)))
    if recipe.sections:
        seen: list[str] = []
        for index, section in enumerate(recipe.sections):
            where = ("sections", index)
            if section.name in seen:
                problems.append(loaded.error(f"section name {section.name!r} is used twice", where + ("name",)))
            if section.repeat is not None:
                if section.repeat == section.name:
                    problems.append(loaded.error(f"section {section.name!r} cannot repeat itself", where + ("repeat",)))
                elif section.repeat not in seen:
                    hint = did_you_mean(section.repeat, seen)
                    problems.append(
                        loaded.error(
                            f"repeats {section.repeat!r}, which is not an earlier section"
                            f"{hint or ' (earlier: ' + (', '.join(seen) or 'none') + ')'}",
                            where + ("repeat",),
                        )
                    )
                else:
                    if section.loop is not None:
                        problems.append(
                            loaded.error(
                                f"a repeat plays {section.repeat!r} again, chords and all; set "
                                f"loop on {section.repeat!r} instead",
                                where + ("loop",),
                            )
                        )
                    original = next(s for s in recipe.sections if s.name == section.repeat)
                    if section.bars != original.bars:
                        problems.append(
                            loaded.error(
                                f"a repeat plays {original.name!r} again, which has "
                                f"{original.bars} bars (this section says {section.bars})",
                                where + ("bars",),
                            )
                        )
            for position, member in enumerate(section.tracks or []):
                if member not in recipe.tracks:
                    problems.append(
                        loaded.error(
                            f"no track named {member!r}{did_you_mean(member, names)} (tracks: {', '.join(names)})",
                            where + ("tracks", position),
                        )
                    )
            seen.append(section.name)
            if section.loop is not None and not any(
                t.part == "chords" and t.generate is not None for t in recipe.tracks.values()
            ):
                problems.append(
                    loaded.error(
                        "loop sets how generated chords repeat, and no chords track generates "
                        "(give one a generate: model)",
                        where + ("loop",),
                    )
                )
        if recipe.length is not None and not problems:
            problems.extend(_check_filled_length(loaded))
    if not problems:  # the arrangement is sound, so its length can be measured
        problems.extend(_check_limits(loaded))
    leaders = [name for name, track in recipe.tracks.items() if track.part in ("chords", "midi")]
    if recipe.harmony is not None and recipe.harmony not in leaders:
        problems.append(
            loaded.error(
                f"{recipe.harmony!r} is not a chords track or a MIDI clip"
                f"{did_you_mean(recipe.harmony, leaders)} (those here: "
                f"{', '.join(leaders) or 'none'})",
                ("harmony",),
            )
        )
    for name, track in recipe.tracks.items():
        follow = getattr(track, "follow", None)
        if track.part in ("melody", "bass"):
            if follow is not None and follow not in leaders:
                problems.append(
                    loaded.error(
                        f"follows {follow!r}, which is not a chords track or a MIDI clip"
                        f"{did_you_mean(follow, leaders)}",
                        ("tracks", name, "follow"),
                    )
                )
            elif not leaders:
                problems.append(
                    loaded.error(
                        f"a {track.part} track needs chords to follow: add a chords track "
                        "with a progression, or a MIDI clip (part: midi) of your own chords",
                        ("tracks", name, "part"),
                    )
                )
        if track.part == "chords" and track.progression is not None and "loop" in track.model_fields_set:
            problems.append(
                loaded.error(
                    "loop applies to generated chords (generate:); a written progression "
                    "already cycles through each section",
                    ("tracks", name, "loop"),
                )
            )
        if isinstance(track, MelodyTrack) and track.low >= track.high:
            problems.append(loaded.error("low must be below high", ("tracks", name, "low")))
    return sorted(problems, key=lambda error: error.line or 0)


def _sections_of_form(recipe) -> bool:
    """Whether the recipe's sections are the ones its form stands for (the schema filled them in)."""
    from lofictl.compose.form import form_sections, parse_form

    parts = {name: track.part for name, track in recipe.tracks.items()}
    return recipe.sections == [Section(**s) for s in form_sections(parse_form(recipe.form), parts)]


_STAND_INS = {"lofictl": FORMAT_VERSION, "title": "-", "seed": 0, "tempo": 120.0, "form": "A8"}


def _stand_in(data: dict, exc: ValidationError) -> Recipe | None:
    """The recipe with each field that failed its schema dropped (fields with a default) or
    replaced by a valid stand-in, so the checks across fields can still run; None if the
    failures are where those checks look (the sections, or a track's part)."""
    import copy

    data = copy.deepcopy(data)
    for _ in range(6):
        for error in exc.errors():
            path = clean_loc(error["loc"])
            if not path:
                return None
            if len(path) == 1 and path[0] in _STAND_INS:
                data[path[0]] = _STAND_INS[path[0]]
                continue
            if path[-1] == "progression" and len(path) == 3:  # a chords track needs one
                data["tracks"][path[1]]["progression"] = "C"
                continue
            if path[0] == "sections" or path[-1] == "part" or error["type"].startswith("union_tag"):
                return None
            model = model_at(path[:-1], data)
            field = model.model_fields.get(path[-1]) if model is not None and isinstance(path[-1], str) else None
            node: Any = data
            for part in path[:-1]:
                if isinstance(node, dict) and part in node:
                    node = node[part]
                elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                    node = node[part]
                else:
                    node = None
            if field is None or field.is_required() or not isinstance(node, dict) or path[-1] not in node:
                return None
            del node[path[-1]]
        try:
            return Recipe.model_validate(data)
        except ValidationError as again:
            exc = again
    return None


def _has(node: dict | list, key: str | int) -> bool:
    return key in node if isinstance(node, dict) else isinstance(key, int) and 0 <= key < len(node)


def _check_limits(loaded: LoadedRecipe) -> list[LofictlError]:
    """At most MAX_BARS bars and MAX_SECONDS of music, at the sections' tempos."""
    recipe = loaded.recipe
    where = ("sections",) if recipe.sections else ("length",)
    if recipe.total_bars > MAX_BARS:
        return [loaded.error(f"the track is {recipe.total_bars} bars long; at most {MAX_BARS} are allowed", where)]
    if recipe.sections:
        from lofictl.compose import form

        seconds = form.plan_seconds(recipe, form.planned_sections(recipe))
    else:
        seconds = recipe.total_bars * recipe.seconds_per_bar
    if seconds > MAX_SECONDS:
        return [
            loaded.error(
                f"the track would last {seconds / 3600:.1f} hours; at most {MAX_SECONDS // 3600} are allowed", where
            )
        ]
    return []


def _check_filled_length(loaded: LoadedRecipe) -> list[LofictlError]:
    """A length with sections fills the arrangement out (compose.form); it cannot be shorter."""
    from lofictl.compose import form

    recipe = loaded.recipe
    length, sections = recipe.length, recipe.sections
    if length is None or not sections:  # nothing to fill
        return []
    written = [(section, 1) for section in sections]
    bars = sum(section.bars for section, _ in written)
    if length.bars is not None:
        short, asked, have = length.bars < bars, f"{length.bars} bars", f"{bars} bars"
    else:
        assert length.seconds is not None  # a Length is bars or seconds (recipe.schema)
        seconds = form.plan_seconds(recipe, written)
        short = length.seconds < seconds - 1e-6
        asked, have = clock(length.seconds), f"{bars} bars, {clock(seconds)}"
    if short:
        return [
            loaded.error(
                f"length {asked} is shorter than the sections ({have}); a length fills the "
                "arrangement out by playing it again, it does not cut it: remove length or "
                "shorten the sections",
                ("length",),
            )
        ]
    filled = sum(section.bars for section, _ in form.planned_sections(recipe))
    if filled > MAX_BARS:
        return [loaded.error(f"filling {asked} takes {filled} bars; at most {MAX_BARS}", ("length",))]
    return []


def clock(seconds: float) -> str:
    """4.5s, 2m05.0s, 1h02m05.0s."""
    hours, rest = divmod(seconds, 3600)
    minutes, rest = divmod(rest, 60)
    if hours:
        return f"{int(hours)}h{int(minutes):02d}m{rest:04.1f}s"
    return f"{int(minutes)}m{rest:04.1f}s" if minutes else f"{rest:.1f}s"


# --- overrides: --set path=value ---------------------------------------------------------------


def blame_overrides(errors: list[LofictlError], overrides: list[str] | tuple[str, ...]) -> list[LofictlError]:
    """Errors in a field that `--set` gave name the `--set`, not the recipe line the value replaced."""
    given = {tuple(parse_dotted(item.partition("=")[0].strip())): item for item in overrides}
    out: list[LofictlError] = []
    for error in (e for err in errors for e in all_errors(err)):
        field = tuple(parse_dotted(error.field)) if error.field else ()
        prefixes = [p for p in given if p and field[: len(p)] == p]
        if not prefixes:
            out.append(error)
            continue
        item = given[max(prefixes, key=len)]
        out.append(LofictlError(f"{error.message} (from --set {item})", file=error.file, field=error.field))
    return out


def apply_overrides(data: dict, overrides: list[str], path: Path) -> dict:
    """Apply `--set a.b.c=value` (value read as YAML) to a copy of the raw recipe data."""
    import copy

    import yaml

    data = copy.deepcopy(data)
    for item in overrides:
        dotted, sep, text = item.partition("=")
        if not sep or not dotted.strip():
            raise LofictlError(f"--set {item!r}: write it as path=value, e.g. --set tempo=80")
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError:
            value = text
        keys = parse_dotted(dotted.strip())
        node: Any = data
        for depth, key in enumerate(keys[:-1]):
            if isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
                node = node[key]
            elif isinstance(node, dict):
                node = node.setdefault(key, {})
            else:
                raise LofictlError(f"--set {dotted}: {dotted_path(keys[: depth + 1])} is not a mapping or list")
        last = keys[-1]
        if isinstance(node, list):
            if not isinstance(last, int) or not 0 <= last < len(node):
                raise LofictlError(f"--set {dotted}: index {last} is outside the list")
            node[last] = value
        elif isinstance(node, dict):
            node[last] = value
        else:
            raise LofictlError(f"--set {dotted}: cannot set a key inside a plain value")
    return data
