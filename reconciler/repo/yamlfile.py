"""Strict YAML reading for tailjit.yaml and grant files, with line numbers.

Grant files are written by requesters and read by the reconciler with
production credentials, so the reader is deliberately narrow:

* the document is composed (not constructed), so YAML 1.1 surprises never
  happen: ``user: no`` stays the string ``"no"`` and ``expires: 2026-11-25``
  stays a string we parse ourselves, strictly;
* aliases (so any reuse of an anchored node), merge keys (``<<``), custom
  tags (``!…``) and ``!!binary`` are refused, as are a key given twice,
  non-string keys, files over `MAX_BYTES`, text that is not UTF-8, and nesting
  deeper than `MAX_DEPTH` (no "billion laughs", no stack overflow). An anchor
  that is never used, and the standard ``!!str``-style tags, are read as plain
  values;
* every value remembers the line it came from, for ``path:line`` errors.
"""

from __future__ import annotations

import functools
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

Scalar = str
Node = Union["YMap", "YList", "YScalar"]


class YAMLFileError(Exception):
    """A file is not the YAML we accept. ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.hint = hint


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
    """A mapping with string keys in file order; ``key_lines`` maps each key to its line (the same keys in the
    same order)."""

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
        raise syntax_error(text, e) from None
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
    # Printable ASCII and newlines only: an ASCII character is printable exactly when it is ' ' to '~'.
    if not text.isascii() or not text.replace("\n", " ").isprintable():
        return None
    lines = _SIMPLE_LINES.findall(text)  # anchored at both ends of a line: at most one match each
    return lines if len(lines) == text.count("\n") + 1 else None


#: ``YScalar`` from a (value, line, quoted) tuple without the named tuple's Python-level ``__new__``: the
#: simple reader makes 50,000 of them for 10,000 grant files.
_scalar = functools.partial(tuple.__new__, YScalar)


def _load_simple(lines: list[tuple[str, str, str]]) -> YMap | None:
    """The document `_simple_lines` read, as the composer reads it: a top-level mapping of scalars."""
    entries: dict[str, Node] = {}
    key_lines: dict[str, int] = {}
    for number, (key, quoted, plain) in enumerate(lines, 1):
        if not key:
            continue
        if key in entries:
            raise YAMLFileError(f"key {key!r} appears twice", number,
                                hint=f"keep one {key!r} line (the first is on line {key_lines[key]})")
        entries[key] = _scalar((quoted[1:-1], number, True) if quoted else (plain.rstrip(" "), number, False))
        key_lines[key] = number
    if not entries:
        return None
    return YMap(entries, key_lines, next(iter(key_lines.values())))


#: ``key value`` with no colon, and ``key:value`` with no space: the two slips PyYAML reports a line late.
_NO_COLON = re.compile(r"^([ ]*)([A-Za-z_][A-Za-z0-9_-]*)[ \t]+([^:#\s].*?)[ \t]*$")
_NO_SPACE = re.compile(r"^([ ]*)([A-Za-z_][A-Za-z0-9_-]*):([^\s/].*?)[ \t]*$")
_TAB_INDENT = re.compile(r"^[ ]*\t")
#: PyYAML's problems as a person reads them: (problem, message, hint); the context mark is used when
#: it says where the broken construct began (an unclosed quote or bracket).
_PROBLEMS = (
    ("found unexpected end of stream", "a quoted value is not closed",
     "end the value with the same quote it starts with"),
    ("found a tab character", "indented with a tab", "indent with spaces: YAML does not allow tabs there"),
    ("did not find expected ',' or ']'", "a '[' list is not closed", "end the list with ']' on the same line"),
    ("did not find expected ',' or '}'", "a '{' mapping is not closed", "end it with '}'"),
    ("mapping values are not allowed", "unexpected ':'",
     "keys of one mapping start in the same column; quote a value that contains ': '"),
    ("could not find expected ':'", "a line has no ':' after its key", "write key: value"),
)


def syntax_error(text: str, error: yaml.MarkedYAMLError) -> YAMLFileError:
    """PyYAML's error as a message at the line at fault, with what to do.

    PyYAML notices a missing ``:`` only on the next line (or at the end of the
    file); the nearest line at or above where it stopped that reads
    ``key value`` or ``key:value`` is the one to fix.
    """
    mark_line = error.problem_mark.line + 1 if error.problem_mark is not None else None
    lines = text.splitlines()
    last = min(mark_line or len(lines), len(lines))
    for number in range(last, 0, -1):
        line = lines[number - 1]
        if _TAB_INDENT.match(line):
            return YAMLFileError("indented with a tab", number, hint="indent with spaces: YAML does not allow tabs")
        if line.lstrip().startswith(("#", "-")) or not line.strip():
            continue
        missing = _NO_COLON.match(line)
        if missing and not _SCALAR_START.match(missing.group(2)):
            _, key, value = missing.groups()
            return YAMLFileError(f"no ':' after {key!r}", number, hint=f"write {key}: {value}")
        tight = _NO_SPACE.match(line)
        if tight:
            _, key, value = tight.groups()
            return YAMLFileError(f"no space after '{key}:'", number, hint=f"write {key}: {value}")
        if ":" in line and number != mark_line:
            break  # a well-formed key line above where PyYAML stopped: the slip is not above it
    problem = error.problem or error.context or "unreadable"
    for found, message, hint in _PROBLEMS:
        if problem.startswith(found):
            where = error.context_mark if found.startswith(("found unexpected", "did not")) else None
            line_no = where.line + 1 if where is not None else mark_line
            return YAMLFileError(message, line_no, hint=hint)
    return YAMLFileError(f"not valid YAML: {problem}", mark_line,
                         hint="check this line and the one above it (indentation, quotes, ':' after each key)")


#: Words that start YAML values, never keys (``true yes``): not a missing colon.
_SCALAR_START = re.compile(r"(?i)true|false|null|yes|no|on|off")


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
                raise YAMLFileError(f"key {key_node.value!r} appears twice", key_line,
                                    hint=f"keep one {key_node.value!r} line (the first is on line "
                                         f"{lines[key_node.value]})")
            entries[key_node.value] = _convert(value_node, depth + 1, seen)
            lines[key_node.value] = key_line
        return YMap(entries, lines, line)
    raise YAMLFileError(f"unexpected YAML node {type(node).__name__}", line)


#: The plain scalars YAML reads as null.
NULLS = frozenset(("", "~", "null", "Null", "NULL"))


def is_null(node: Node | None) -> bool:
    return node is None or (isinstance(node, YScalar) and not node.quoted and node.value in NULLS)
