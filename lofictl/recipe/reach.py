"""Which stages each recipe field reaches: a mark on every field of the schema (recipe.schema).

A field is written `name: Annotated[type, reaches(STEM, EXPORT)] = Field(...)`: the stages whose
key holds it (their inputs in pipeline.inputs are read from these marks), so a new field that
reaches no stage, or a stage that does not read a field marked for it, fails
tests/recipe/test_reach.py. A model may mark all its own fields at once (`__reaches__`); the
fields of a sub-model (a track's `humanize`, an overlay's `duck`) reach what the field holding
it reaches, unless marked themselves. `reaches(why=...)` marks a field that reaches no stage's
key on purpose, saying why.

The marks are pydantic metadata: they do not show in the JSON Schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lofictl import stage_names


@dataclass(frozen=True)
class Reaches:
    stages: frozenset[str]
    why: str = ""  # for a field that reaches no stage: why not


def reaches(*stages: str, why: str = "") -> Reaches:
    unknown = [stage for stage in stages if stage not in stage_names.ALL]
    assert not unknown, f"no such stage: {unknown}"
    assert stages or why, "a field that reaches no stage says why"
    return Reaches(frozenset(stages), why)


def mark_of(model: type, field: str) -> Reaches | None:
    """The field's own mark, or its model's (`__reaches__`); None when neither marks it."""
    info = model.model_fields[field]  # type: ignore[attr-defined]
    own = next((m for m in info.metadata if isinstance(m, Reaches)), None)
    return own if own is not None else getattr(model, "__reaches__", None)


def stages_of(model: type, field: str) -> frozenset[str]:
    mark = mark_of(model, field)
    return mark.stages if mark is not None else frozenset()


def fields_reaching(model: type, stage: str) -> tuple[str, ...]:
    """A model's fields marked with `stage`, in the schema's order."""
    return tuple(name for name in model.model_fields if stage in stages_of(model, name))  # type: ignore[attr-defined]


def picked(model: Any, stage: str, dumped: dict | None = None) -> dict[str, Any]:
    """A model's fields that reach `stage`, as JSON values (the form the lock records)."""
    dumped = model.model_dump(mode="json") if dumped is None else dumped
    return {name: dumped[name] for name in fields_reaching(type(model), stage)}
