"""Merge times kept between runs: ``.tailjit/merge-times.json``.

When a file reached the branch is a fact about commits, and commits never
change: once a walk has found the birth of every file in the grants folder
at commit T, a later run whose first-parent history passes through T walks
only the commits after it and takes the rest from this record.

The record is only ever an answer about the commit it names. It is used when
the walk from today's tip reaches that exact commit on first parents, for
the same grants folder and the same shallow-clone boundary; otherwise (a
rewritten or force-pushed branch, another folder, a deepened clone) the walk
goes on to the start of history. A missing, unreadable, truncated,
oversized or ill-typed record is ignored the same way, and so is one that
does not cover a file the walk brings to it: a bad record costs a full walk,
never a wrong time. It is written atomically (a temporary file in the same
folder, then a rename); failing to write it is not an error, since it only
saves time.

Like the working copy it sits in, the record is trusted: whoever can write
it could as well write a grant file into the checkout tailjit reads.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pygit2

NAME = "merge-times.json"
FORMAT = "tailjit merge times 1"
#: A record larger than this is not read (10,000 grants take about 1 MiB).
MAX_BYTES = 64 << 20
#: Commit times beyond this many seconds either side of 1970 are not a real merge's.
MAX_TIME = 1 << 40
_HEX = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")

#: Where a file was born: the commit and its committer time.
Born = tuple[pygit2.Oid, datetime]


@dataclass(frozen=True)
class Record:
    """A walk's answer for every file below ``folder`` at commit ``tip``: its birth, or None where unknown
    (history cut by a shallow clone's ``boundary``)."""

    folder: str
    tip: pygit2.Oid
    boundary: frozenset[pygit2.Oid]
    births: Mapping[str, Born | None]


class Unusable(Exception):
    """Why a record file cannot be used."""


def load(path: Path) -> Record:
    """The record at ``path``; raises `Unusable` (saying why) for anything but a well-formed record."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise Unusable("there is none") from None
    except OSError as e:
        raise Unusable(f"it cannot be read ({e.strerror})") from None
    if len(data) > MAX_BYTES:
        raise Unusable(f"it is larger than {MAX_BYTES >> 20} MiB")
    try:
        found = json.loads(data)
    except (ValueError, RecursionError):
        raise Unusable("it is not JSON (truncated?)") from None
    try:
        return _record(found)
    except (KeyError, TypeError, ValueError) as e:
        raise Unusable(f"it is not a record of merge times ({e})") from None


def _record(found: Any) -> Record:
    if not isinstance(found, dict) or found.get("format") != FORMAT:
        raise ValueError(f"not {FORMAT!r}")
    folder, births, unknown, boundary = found["folder"], found["births"], found["unknown"], found["boundary"]
    if not isinstance(folder, str) or not isinstance(births, dict) or not isinstance(unknown, list) or (
            not isinstance(boundary, list)):
        raise TypeError("a field of the wrong type")
    out: dict[str, Born | None] = {}
    for name, value in births.items():
        if not (isinstance(value, list) and len(value) == 2 and type(value[1]) is int
                and -MAX_TIME < value[1] < MAX_TIME):
            raise ValueError(f"the birth of {name!r}")
        out[_name(name)] = (_oid(value[0]), datetime.fromtimestamp(value[1], UTC))
    for name in unknown:
        out[_name(name)] = None
    return Record(folder, _oid(found["tip"]), frozenset(_oid(b) for b in boundary), out)


def _name(name: Any) -> str:
    if not isinstance(name, str) or not name or "\0" in name:
        raise ValueError(f"the path {name!r}")
    return name


def _oid(text: Any) -> pygit2.Oid:
    if not isinstance(text, str) or _HEX.fullmatch(text) is None:
        raise ValueError(f"the commit id {text!r}")
    return pygit2.Oid(hex=text)


def save(path: Path, record: Record) -> bool:
    """Write ``record`` to ``path`` atomically (its folder made, with a ``.gitignore`` of everything); False if
    it could not be written."""
    data = {
        "format": FORMAT, "folder": record.folder, "tip": str(record.tip),
        "boundary": sorted(str(b) for b in record.boundary),
        "births": {name: [str(b[0]), int(b[1].timestamp())] for name, b in sorted(record.births.items())
                   if b is not None},
        "unknown": sorted(name for name, b in record.births.items() if b is None),
    }
    temp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        ignore = path.parent / ".gitignore"
        if not ignore.exists():
            ignore.write_text("*\n")
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(data, separators=(",", ":")))  # json.dump to a file would encode in Python
        os.replace(temp, path)
        temp = None
        return True
    except OSError:
        return False
    finally:
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)
