"""Strict YAML reading for tailjit.yaml and grant files, with line numbers.

Grant files are written by requesters and read by the reconciler with
production credentials, so the reader is deliberately narrow:

* the document is composed (not constructed), so YAML 1.1 surprises never
  happen: ``user: no`` stays the string ``"no"`` and ``expires: 2026-11-25``
  stays a string we parse ourselves, strictly;
* anchors, aliases and tags are refused, as are files over a size limit and
  nesting deeper than a few levels (no "billion laughs", no stack overflow);
* every value remembers the line it came from, for ``path:line`` errors.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import NamedTuple, Union

import yaml

MAX_BYTES = 256 * 1024
MAX_DEPTH = 16
#: Grant files are a handful of ``key: value`` lines. PyYAML's pure-Python composer takes about 0.3 ms for
#: each (3 s for 10,000 grant files, most of a reconcile), so documents of this narrow shape are read directly:
#: top-level ``key: value`` lines and comments in printable ASCII, values plain or quoted without escapes
#: or inner quotes. On those the result (nodes, lines, errors) is the one the composer gives; anything else
#: goes through the composer. One match of `_SIMPLE_LINES` is one line: a comment or blank line (no key),
#: or a key with its value quoted (quotes kept, so that ``""`` is not a missing value) or plain.
_SIMPLE_LINES = re.compile(r"""^(?:
    [ ]* (?:\#[ -~]*)?
  | ([A-Za-z_][A-Za-z0-9_]*):
    (?:[ ]+ (?: ("[^"\\\n]*" | '[^'\n]*')
              | ([A-Za-z0-9_./+=~()] (?:[^:\#\n ]++ | [ ]++(?!\#) | :(?=[^ \n]) | (?<=[^ ])\#)*+) ))?
    [ ]* (?:[ ]\#[ -~]*)?
)$""", re.VERBOSE | re.MULTILINE)
_NOT_PRINTABLE_ASCII = re.compile(r"[^\n -~]")

Scalar = str
Node = Union["YMap", "YList", "YScalar"]


class YAMLFileError(Exception):
    """A file is not the YAML we accept. ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class YScalar(NamedTuple):  # a tuple rather than a frozen dataclass: 10,000 grant files make 50,000 of them
    value: str
    line: int
    quoted: bool  # written with quotes: never null, never a number


@dataclass(frozen=True)
class YList:
    items: tuple[Node, ...]
    line: int

    def __iter__(self) -> Iterator[Node]:
        return iter(self.items)


@dataclass(frozen=True)
class YMap:
    """A mapping with string keys in file order; ``key_lines`` maps each key to its line."""

    entries: Mapping[str, Node]
    key_lines: Mapping[str, int]
    line: int

    def get(self, key: str) -> Node | None:
        return self.entries.get(key)

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)


def load(data: bytes) -> Node | None:
    """Parse one YAML document into Y* nodes. ``None`` for an empty document."""
    if len(data) > MAX_BYTES:
        raise YAMLFileError(f"file is too large: the limit is {MAX_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise YAMLFileError(f"not UTF-8 text (byte {e.start})") from None
    lines = _simple_lines(text)
    if lines is not None:
        return _load_simple(lines)
    try:
        node = yaml.compose(text, Loader=_composer_for(text))
    except yaml.MarkedYAMLError as e:
        line = e.problem_mark.line + 1 if e.problem_mark is not None else None
        raise YAMLFileError(f"not valid YAML: {e.problem or e.context}", line) from None
    except yaml.YAMLError as e:
        raise YAMLFileError(f"not valid YAML: {e}") from None
    except RecursionError:
        raise YAMLFileError(f"nested too deeply (limit {MAX_DEPTH})") from None
    if node is None:
        return None
    return _convert(node, 0, set())


#: libyaml's composer, when PyYAML was built with it: ten times faster on a tailjit.yaml of 100 targets.
_C_COMPOSER: type[yaml.SafeLoader] | None = getattr(yaml, "CSafeLoader", None)
#: libyaml's composer recurses in C, where nesting cannot be caught as it is in Python (RecursionError):
#: a document that opens more brackets than this goes to the Python composer.
_C_MAX_BRACKETS = 1000


def _composer_for(text: str) -> type[yaml.SafeLoader]:
    if _C_COMPOSER is not None and text.count("[") + text.count("{") <= _C_MAX_BRACKETS:
        return _C_COMPOSER
    return yaml.SafeLoader


def _simple_lines(text: str) -> list[tuple[str, str, str]] | None:
    """``(key, quoted, plain)`` for each line of a document of the narrow shape; None for any other."""
    if _NOT_PRINTABLE_ASCII.search(text):
        return None
    lines = _SIMPLE_LINES.findall(text)  # anchored at both ends of a line: at most one match each
    return lines if len(lines) == text.count("\n") + 1 else None


def _load_simple(lines: list[tuple[str, str, str]]) -> YMap | None:
    """The document `_simple_lines` read, as the composer reads it: a top-level mapping of scalars."""
    entries: dict[str, Node] = {}
    key_lines: dict[str, int] = {}
    for number, (key, quoted, plain) in enumerate(lines, 1):
        if not key:
            continue
        if key in entries:
            raise YAMLFileError(f"key {key!r} appears twice", number)
        entries[key] = YScalar(quoted[1:-1], number, True) if quoted else YScalar(plain.rstrip(" "), number, False)
        key_lines[key] = number
    if not entries:
        return None
    return YMap(entries, key_lines, next(iter(key_lines.values())))


def _convert(node: yaml.Node, depth: int, seen: set[int]) -> Node:
    line = node.start_mark.line + 1
    if depth > MAX_DEPTH:
        raise YAMLFileError(f"nested too deeply (limit {MAX_DEPTH})", line)
    if id(node) in seen:  # the composer resolves an alias to the anchored node itself
        raise YAMLFileError("YAML anchors and aliases are not allowed", line)
    seen.add(id(node))
    if isinstance(node, yaml.ScalarNode):
        if node.tag.startswith("!") or node.tag == "tag:yaml.org,2002:binary":
            raise YAMLFileError(f"YAML tag {node.tag!r} is not allowed", line)
        return YScalar(node.value, line, quoted=node.style in ("'", '"'))
    if isinstance(node, yaml.SequenceNode):
        return YList(tuple(_convert(item, depth + 1, seen) for item in node.value), line)
    if isinstance(node, yaml.MappingNode):
        entries: dict[str, Node] = {}
        lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode):
                raise YAMLFileError("mapping keys must be plain strings", key_line)
            if key_node.value == "<<":
                raise YAMLFileError("YAML merge keys (<<) are not allowed", key_line)
            if key_node.value in entries:
                raise YAMLFileError(f"key {key_node.value!r} appears twice", key_line)
            entries[key_node.value] = _convert(value_node, depth + 1, seen)
            lines[key_node.value] = key_line
        return YMap(entries, lines, line)
    raise YAMLFileError(f"unexpected YAML node {type(node).__name__}", line)


def is_null(node: Node | None) -> bool:
    return node is None or (isinstance(node, YScalar) and not node.quoted
                            and node.value in ("", "~", "null", "Null", "NULL"))
