"""Read YAML safely and remember the line of every key, so errors can say where to look."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import LofictlError

FieldPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Positions:
    """Line numbers (1-based) of the keys and list items of one YAML document."""

    lines: dict[FieldPath, int]

    def line_of(self, path: FieldPath) -> int | None:
        """The line of the deepest part of `path` the file spells out (a default has no line)."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)


def _walk(node: yaml.Node, path: FieldPath, lines: dict[FieldPath, int], file: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen:
                raise LofictlError(f"key {key!r} appears twice (first on line {seen[key]})",
                                   file=file, line=line, field=path + (key,) if path else key)
            seen[key] = line
            lines[path + (key,)] = line
            _walk(value_node, path + (key,), lines, file)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[path + (index,)] = item.start_mark.line + 1
            _walk(item, path + (index,), lines, file)


def parse_yaml(text: str, file: str | Path) -> tuple[Any, Positions]:
    """Parse one YAML document with the safe loader; YAML mistakes become LofictlError."""
    file = str(file)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is None:
            raise LofictlError("the file is empty", file=file)
        lines: dict[FieldPath, int] = {(): node.start_mark.line + 1}
        _walk(node, (), lines, file)
        loader = yaml.SafeLoader(text)
        try:
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "not valid YAML"
        if "\t" in problem or "tab" in problem.lower() or _line_has_tab(text, line):
            problem = "a tab is used for indentation; YAML needs spaces"
        raise LofictlError(f"YAML syntax error: {problem}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise LofictlError(f"YAML syntax error: {exc}", file=file) from None
    return data, Positions(lines)


def _line_has_tab(text: str, line: int | None) -> bool:
    if not line:
        return False
    rows = text.splitlines()
    return 0 < line <= len(rows) and rows[line - 1].lstrip(" ").startswith("\t")


def read_yaml(path: Path) -> tuple[Any, Positions]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LofictlError("no such file", file=path) from None
    except IsADirectoryError:
        raise LofictlError("is a folder, not a recipe file", file=path) from None
    except UnicodeDecodeError:
        raise LofictlError("not a text file (a recipe is UTF-8 YAML)", file=path) from None
    except OSError as exc:
        raise LofictlError(f"cannot read: {exc.strerror}", file=path) from None
    return parse_yaml(text, path)
