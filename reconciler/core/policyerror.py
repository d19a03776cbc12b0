"""HuJSON syntax errors as a person reads them: once located, at the line to fix, with what to do. Pure.

The parser's message follows the reference word for word, location included
(``hujson: line 17, column 3: invalid character '"' after object value``) and
points at the token after a missing comma. A person wants the line where the
comma goes, which is the end of the value before it, past any comments.
"""

from __future__ import annotations

import re

from reconciler import hujson
from reconciler.errors import PolicyError

_LOCATION = re.compile(r"^hujson: line \d+, column \d+: ")
_AFTER_VALUE = re.compile(r"invalid character (.+) after (object|array) value \(expecting ',' or '[}\]]'\)")
_AFTER_NAME = re.compile(r"invalid character (.+) after object name")
_EOF = re.compile(r"parsing (.+): unexpected EOF")
#: Strings, comments and single non-blank bytes: the last match that is not a comment ends the previous value.
_TOKEN = re.compile(rb'"(?:[^"\\\n]|\\.)*"?|//[^\n]*|/\*.*?(?:\*/|\Z)|\S', re.DOTALL)


def syntax_error(text: bytes, error: hujson.HuJSONError, path: str) -> PolicyError:
    """``error`` from parsing ``text`` (the file at ``path``) as one `PolicyError` at the line to fix."""
    what = _LOCATION.sub("", str(error))
    line = error.line
    if error.offset is None:
        return PolicyError(what, path=path, line=line)
    after = _AFTER_VALUE.fullmatch(what)
    if after is not None:
        end = _end_of_previous_value(text, error.offset)
        found, kind = after.groups()  # found: the next token's first character, as the parser quotes it
        closer = "}" if kind == "object" else "]"
        if end is None:
            return PolicyError(f"expected ',' or '{closer}' before {found}", path=path, line=line)
        value_line = text.count(b"\n", 0, end) + 1
        where = "on the same line" if value_line == line else f"on line {line}"
        return PolicyError(f"missing ',' after this value (the next one starts {where})",
                           path=path, line=value_line,
                           hint=f"add ',' at the end of the value on line {value_line}, or close the "
                                f"{kind} with '{closer}'")
    name = _AFTER_NAME.fullmatch(what)
    if name is not None:
        return PolicyError(f"missing ':' after this name (found {name.group(1)})", path=path, line=line,
                           hint='write "name": value')
    eof = _EOF.fullmatch(what)
    if eof is not None:
        return PolicyError(f"the file ends too early ({eof.group(1)})", path=path,
                           line=line, hint="close every '{' and '[' (and every /* comment)")
    return PolicyError(what, path=path, line=line)


def _end_of_previous_value(text: bytes, offset: int) -> int | None:
    """The offset of the last byte of the value before ``offset`` (comments and blanks skipped), or None."""
    last = None
    for match in _TOKEN.finditer(text, 0, offset):
        if not match.group().startswith((b"//", b"/*")):
            last = match.end() - 1
    return last
