"""Read YAML safely and remember the line of every key, so errors can say where to look."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lofictl.errors import LofictlError

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


MAX_TEXT_CHARS = 1 << 20  # a recipe is a page or two of text; 1 MB is far more than any needs
MAX_DEPTH = 40  # mappings and lists inside each other
MAX_VALUES = 200_000  # after aliases are expanded: an alias bomb is refused before it is built


def _flow_depth_check(text: str, file: str) -> None:
    """Refuse `[[[[…]]]]` nested past MAX_DEPTH before PyYAML sees it (its scanner is quadratic
    in the nesting: 10,000 levels take a minute before failing). Quoted text and comments are
    skipped; a quote opens a string only where YAML lets a value start."""
    depth, line, quote, previous = 0, 1, None, "\n"
    index, length = 0, len(text)
    while index < length:
        ch = text[index]
        if ch == "\n":
            line += 1
        if quote is not None:
            if ch == "\\" and quote == '"':
                index += 1
            elif ch == quote:
                if quote == "'" and text[index + 1 : index + 2] == "'":
                    index += 1
                else:
                    quote = None
        elif ch == "#" and previous in " \t\n":
            newline = text.find("\n", index)
            index = length if newline < 0 else newline
            continue
        elif ch in "'\"" and previous in "\n:-[{,?":
            quote = ch
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise LofictlError(
                    f"values are nested more than {MAX_DEPTH} deep; a recipe needs a few levels", file=file, line=line
                )
        elif ch in "]}":
            depth = max(0, depth - 1)
        if ch not in " \t":
            previous = ch
        index += 1


def _expanded_size(root: yaml.Node, file: str) -> None:
    """Count the values the document expands to, each alias counted as a full copy (memoised
    per node, so it costs the size of the file, not of the expansion)."""
    sizes: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        ident = id(node)
        if ident in sizes:
            continue
        children = (
            [n for pair in node.value for n in pair]
            if isinstance(node, yaml.MappingNode)
            else list(node.value)
            if isinstance(node, yaml.SequenceNode)
            else []
        )
        if done:
            visiting.discard(ident)
            total = 1 + sum(sizes[id(child)] for child in children)
            if total > MAX_VALUES:
                raise LofictlError(
                    f"the file expands to more than {MAX_VALUES:,} values (aliases repeating "
                    "aliases); a recipe needs far fewer",
                    file=file,
                    line=node.start_mark.line + 1,
                )
            sizes[ident] = total
            continue
        if ident in visiting:
            raise LofictlError("an alias refers to the value it is part of", file=file, line=node.start_mark.line + 1)
        visiting.add(ident)
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)


def _walk(node: yaml.Node, path: FieldPath, lines: dict[FieldPath, int], file: str) -> None:
    if len(path) > MAX_DEPTH:
        raise LofictlError(
            f"values are nested more than {MAX_DEPTH} deep; a recipe needs a few levels",
            file=file,
            line=node.start_mark.line + 1,
        )
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise LofictlError(
                    "a key must be a plain name, not a list or mapping", file=file, line=key_node.start_mark.line + 1
                )
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen:
                raise LofictlError(
                    f"key {key!r} appears twice (first on line {seen[key]})",
                    file=file,
                    line=line,
                    field=path + (key,) if path else key,
                )
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
    if len(text) > MAX_TEXT_CHARS:
        raise LofictlError(
            f"the file is {len(text):,} characters long; a recipe is at most {MAX_TEXT_CHARS:,}", file=file
        )
    if "\0" in text:
        raise LofictlError(
            "the file holds NUL characters: not a text file", file=file, line=text.count("\n", 0, text.index("\0")) + 1
        )
    _flow_depth_check(text, file)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is None:
            raise LofictlError("the file is empty", file=file)
        _expanded_size(node, file)
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
    except ValueError as exc:  # e.g. an integer of more digits than Python converts (4300)
        long_number = re.search(r"\d{1000,}", text)
        line = text.count("\n", 0, long_number.start()) + 1 if long_number else None
        raise LofictlError(f"a value cannot be read: {str(exc).split(';')[0]}", file=file, line=line) from None
    except RecursionError:  # block indentation nested past what the parser can follow
        raise LofictlError(
            f"values are nested too deeply (more than {MAX_DEPTH} levels are never needed)", file=file
        ) from None
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
