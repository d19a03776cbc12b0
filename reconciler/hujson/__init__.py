"""HuJSON (JSON with comments and trailing commas), byte-exact like github.com/tailscale/hujson.

The syntax tree mirrors the Go library's: every byte of the input is kept, so
``parse(x).pack() == x``. The package has one module per layer of the reference:

- ``tree``: ``Value``, ``Literal``, ``Member``, ``Object``, ``Array``, ``HuJSONError`` and
  the helpers the layers share (Go string rules, tree walks, extra, clone, to_python);
- ``parse``: bytes to a tree, with the reference's error messages;
- ``pack``: a tree back to bytes;
- ``standard``: ``is_standard``, ``standardize`` and ``minimize``;
- ``format``: the reference's opinionated formatting (``align``: its last pass alone;
  ``format_member``: one member's value, where the rest is formatted already);
- ``find``: RFC 6901 JSON pointers;
- ``patch``: RFC 6902 JSON patch, comments included.

Everything is iterative: nesting depth is limited only by memory, never by Python's
recursion limit.

Import the public API from here (``from reconciler import hujson``); the modules
above are internal. ``tree``'s docstring explains how ``Value``'s methods reach their
layer without an import cycle.
"""

from __future__ import annotations

from . import find, pack, patch  # noqa: F401 - every layer loads with the package; Value's methods use them
from .format import align, format, format_member
from .parse import parse
from .standard import minimize, standardize
from .tree import Array, HuJSONError, Literal, Member, Object, Value

__all__ = [
    "Array",
    "HuJSONError",
    "Literal",
    "Member",
    "Object",
    "Value",
    "align",
    "format",
    "format_member",
    "minimize",
    "parse",
    "standardize",
]
