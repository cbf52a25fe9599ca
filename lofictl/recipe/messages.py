"""Turning pydantic's validation errors into one readable line each: `file:line: field: message`,
with the allowed range and a "did you mean" where one helps."""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from lofictl.errors import LofictlError, did_you_mean, suggestions
from lofictl.recipe.schema import PARTS, Recipe
from lofictl.recipe.yamlfile import FieldPath, Positions

# --- turning pydantic errors into one readable line --------------------------------------------


def dotted_path(path: Sequence[str | int]) -> str:
    return ".".join(str(part) for part in path)


def parse_dotted(text: str) -> list[str | int]:
    return [int(part) if part.isdigit() else part for part in text.split(".")]


def model_at(path: FieldPath, data: Any, root: type[BaseModel] | None = None) -> type[BaseModel] | None:
    """The pydantic model a field path points into, so unknown keys can suggest real ones.

    `data` is the raw recipe, walked alongside, so a track's `part` picks its model.
    """
    annotation: Any = root or Recipe
    for part in path:
        model = _as_model(annotation, data)
        if model is not None and part in model.model_fields:
            annotation = model.model_fields[part].annotation
        else:  # a dict key or list index: step into the value type
            annotation = _container_value(annotation)
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            data = None
    return _as_model(annotation, data)


def _as_model(annotation: Any, data: Any) -> type[BaseModel] | None:
    annotation = _strip(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (Union, types.UnionType):  # Optional[X] and X | None
        models = [m for m in (_as_model(arg, data) for arg in typing.get_args(annotation)) if m]
        tag = data.get("part") if isinstance(data, dict) else None
        for model in models:  # a discriminated union: the part names the model
            field = model.model_fields.get("part")
            if field is not None and tag in typing.get_args(field.annotation):
                return model
        return models[0] if models else None
    return None


def _strip(annotation: Any) -> Any:
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _container_value(annotation: Any) -> Any:
    annotation = _strip(annotation)
    for candidate in [annotation, *typing.get_args(annotation)]:
        candidate = _strip(candidate)
        origin = typing.get_origin(candidate)
        if origin in (list, tuple):
            return typing.get_args(candidate)[0]
        if origin is dict:
            return typing.get_args(candidate)[1]
    return annotation


def clean_loc(loc: tuple, data_is_track_union: bool = True) -> FieldPath:
    """Drop pydantic's union tags ('chords', 'function-after[...]') that are not in the file."""
    cleaned: list[str | int] = []
    for index, part in enumerate(loc):
        if isinstance(part, str) and ("[" in part or part.startswith("function-")):
            continue
        # tracks.<name>.<part tag>.field: the tag repeats the part name
        if len(cleaned) == 2 and cleaned[0] == "tracks" and part in PARTS and index == 2:
            continue
        cleaned.append(part)
    return tuple(cleaned)


def _range_text(path: FieldPath, data: Any, root: type[BaseModel] | None = None) -> str | None:
    """'from 20 to 300' for a field with both bounds, from the schema's own constraints."""
    if not path:
        return None
    model = model_at(path[:-1], data, root)
    if model is None or path[-1] not in model.model_fields:
        return None
    low = high = None
    for meta in model.model_fields[path[-1]].metadata:
        for attr in ("ge", "gt"):
            if getattr(meta, attr, None) is not None:
                low = (attr, getattr(meta, attr))
        for attr in ("le", "lt"):
            if getattr(meta, attr, None) is not None:
                high = (attr, getattr(meta, attr))
    if low and high:
        left = "from" if low[0] == "ge" else "above"
        right = "to" if high[0] == "le" else "below"
        return f"{left} {low[1]} {right} {high[1]}"
    return None


def validation_error(
    exc: ValidationError, positions: Positions, file: Path, data: Any, root: type[BaseModel] | None = None
) -> LofictlError:
    """pydantic's errors as one line, `file:line: field: message` (the first in the file), for a
    recipe or any schema written in the same style (`root`, default Recipe: a station file or an
    album file uses its own)."""
    return validation_errors(exc, positions, file, data, root)[0]


def validation_errors(
    exc: ValidationError, positions: Positions, file: Path, data: Any, root: type[BaseModel] | None = None
) -> list[LofictlError]:
    """Every schema error as one line each, in the order of the file (an unknown key before the
    other complaints on its line: a misspelt key also makes the real one "missing")."""

    def order(error: ErrorDetails) -> tuple[int, bool, int]:
        return (positions.line_of(clean_loc(error["loc"])) or 0, error["type"] != "extra_forbidden", len(error["loc"]))

    errors = exc.errors()
    misspelt: set[FieldPath] = set()  # 'titel' (unknown) makes 'title' missing: report only the first
    for error in errors:
        if error["type"] == "extra_forbidden":
            path = clean_loc(error["loc"])
            model = model_at(path[:-1], data, root)
            close = suggestions(path[-1], list(model.model_fields) if model else [])
            misspelt.update(path[:-1] + (name,) for name in close)
    lines: list[LofictlError] = []
    for error in sorted(errors, key=order):
        if error["type"] == "missing" and clean_loc(error["loc"]) in misspelt:
            continue
        line = _error_line(error, positions, file, data, root)
        if str(line) not in {str(seen) for seen in lines}:
            lines.append(line)
    return lines


def _error_line(
    error: ErrorDetails, positions: Positions, file: Path, data: Any, root: type[BaseModel] | None = None
) -> LofictlError:
    path = clean_loc(error["loc"])
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        model = model_at(path[:-1], data, root)
        options = list(model.model_fields) if model else []
        message = f"unknown key {path[-1]!r}{did_you_mean(str(path[-1]), options)}"
        if options and not did_you_mean(str(path[-1]), options):
            message += f" (allowed here: {', '.join(options)})"
    elif kind == "missing":
        message = "is required here"
        if path and path[-1] == "part":
            message = f"is required: one of {', '.join(PARTS)}"
    elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        allowed = _range_text(path, data, root)
        message = (
            f"must be {allowed} (got {value!r})"
            if allowed
            else error["msg"].replace("Input should", "must") + f" (got {value!r})"
        )
    elif kind == "literal_error":
        message = f"must be {error['ctx']['expected']} (got {value!r})"
    elif kind == "union_tag_invalid":
        message = f"part must be one of {', '.join(PARTS)} (got {error['ctx'].get('tag')!r})"
        path = path + ("part",)
    elif kind == "union_tag_not_found":
        message = f"needs a part: one of {', '.join(PARTS)}"
    elif kind in ("value_error", "assertion_error"):
        message = str(error["ctx"].get("error", error["msg"])) if error.get("ctx") else error["msg"]
        message = message.removeprefix("Value error, ")
    else:
        message = error["msg"].replace("Input should be", "must be")
        if value is not None and not isinstance(value, (dict, list)):
            message += f" (got {value!r})"
    return LofictlError(message, file=file, line=positions.line_of(path), field=dotted_path(path) or None)
