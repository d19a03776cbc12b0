"""Policy texts parsed once per process, and shared read-only.

One ``tailjit apply`` reads the same policy text more than once: render
writes the desired text, the plan reads it back beside the live one, and the
file backend's validation reads it once more. At 10,000 grants the desired
text is 2 MiB and each parse of it costs about a tenth of a second, so a
text is parsed once and its tree, and the plain data made from the tree,
are kept for the next reader. `remember` lets render hand over the tree it
has just packed, so the text it writes is never parsed at all.

What this module returns is shared: read it, never change it. To edit a
policy, parse a tree of your own with `hujson.parse`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from reconciler import hujson

#: How many texts are kept: a reconcile reads the live and the desired text, a drift plan one more.
SIZE = 3


class Parsed:
    """A parsed policy text: its tree, and its plain data made on first use."""

    __slots__ = ("_data", "_has_data", "tree")

    def __init__(self, tree: hujson.Value) -> None:
        self.tree = tree
        self._data: Any = None
        self._has_data = False

    @property
    def data(self) -> Any:
        if not self._has_data:
            self._data = self.tree.to_python()
            self._has_data = True
        return self._data


_cache: OrderedDict[bytes, Parsed] = OrderedDict()
_lock = threading.Lock()


def parsed(text: bytes) -> Parsed:
    """``text`` parsed, from the cache when it was seen before. Raises `hujson.HuJSONError` (never cached)."""
    with _lock:
        found = _cache.get(text)
        if found is not None:
            _cache.move_to_end(text)
            return found
    entry = Parsed(hujson.parse(text))
    _keep(text, entry)
    return entry


def remember(text: bytes, tree: hujson.Value) -> None:
    """Keep ``tree`` as the parse of ``text``: the caller made ``text`` with ``tree.pack()`` and is done with it."""
    _keep(text, Parsed(tree))


def clear() -> None:
    with _lock:
        _cache.clear()


def _keep(text: bytes, entry: Parsed) -> None:
    with _lock:
        _cache[text] = entry
        _cache.move_to_end(text)
        while len(_cache) > SIZE:
            _cache.popitem(last=False)
