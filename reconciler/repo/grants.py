"""Grant files → `Grant` values, and their evaluation at a moment in time.

A grant file is ``<grants dir>/<target>/<name>.yaml``::

    user: alice@example.com     # a Tailscale login
    target: prod                # must equal the folder
    reason: Investigate INC-1234
    ticket: INC-1234            # optional
    duration: 4h                # starts when the file is merged to main …
    # expires: 2026-11-25T02:00:00Z   # … or an absolute, zone-aware end
    # start: 2026-11-25T00:00:00Z     # optional: a scheduled window
    # break_glass: true               # optional: emergency access (the target must allow it)

Loading never stops at the first bad file: every problem is collected as a
`GrantError` (``path:line``), so that on main one broken file cannot block the
revocation of everybody else's expired access.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from reconciler.core.config import Config, Target
from reconciler.core.durations import parse_duration, parse_time
from reconciler.core.grants import FILE_NAME, LOGIN, MAX_REASON, Grant
from reconciler.errors import GrantError
from reconciler.repo import yamlfile
from reconciler.repo.yamlfile import YMap, YScalar

_KEYS = {"user", "target", "reason", "ticket", "duration", "expires", "start", "break_glass"}
#: Files in the grants folder that are not grants and are not reported.
IGNORED_NAMES = {".gitkeep", "README.md"}
@dataclass(frozen=True)
class LoadedGrants:
    grants: tuple[Grant, ...]
    errors: tuple[GrantError, ...]


def load_grants(config: Config) -> LoadedGrants:
    """Read every file below the grants folder. Never raises for a bad file."""
    grants: list[Grant] = []
    errors: list[GrantError] = []
    root = config.grants_dir
    if not root.is_dir():
        return LoadedGrants((), ())
    base = config.relative(root)
    for parts, entry in _entries(os.fspath(root)):
        rel = "/".join((base, *parts))
        if isinstance(entry, OSError):
            errors.append(GrantError(f"cannot read this folder: {entry.strerror}", path=rel))
            continue
        try:
            grants.append(_load_one(entry, rel, parts, config.targets))
        except GrantError as e:
            errors.append(e)
    return LoadedGrants(tuple(grants), tuple(errors))


def _entries(root: str) -> Iterator[tuple[tuple[str, ...], os.DirEntry[str] | OSError]]:
    """Everything below ``root`` but folders, in sorted path order, with its path as parts below ``root``;
    a folder that cannot be listed comes as the error.

    Symbolic links are listed, never followed. The walk keeps its own stack,
    so however deep a folder tree someone commits, it cannot exhaust Python's.
    """
    stack: list[tuple[tuple[str, ...], str]] = [((), root)]
    while stack:
        parts, folder = stack.pop()
        try:
            with os.scandir(folder) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError as e:
            yield parts, e
            continue
        below: list[tuple[tuple[str, ...], str]] = []
        for entry in entries:
            if entry.name in IGNORED_NAMES:
                continue
            here = (*parts, entry.name)
            if entry.is_dir(follow_symlinks=False):
                below.append((here, entry.path))
            else:
                yield here, entry
        stack.extend(reversed(below))


def _load_one(entry: os.DirEntry[str], rel: str, parts: tuple[str, ...], targets: Mapping[str, Target]) -> Grant:
    if entry.is_symlink():
        raise GrantError("grant files may not be symbolic links", path=rel)
    if len(parts) != 2:
        raise GrantError("a grant file belongs in <grants>/<target>/<name>.yaml", path=rel,
                         hint="move it into the folder of the target it grants")
    folder, name = parts
    if not FILE_NAME.fullmatch(name):
        raise GrantError(f"file name {name!r} is not allowed: use letters, digits and . _ @ + - and end in .yaml",
                         path=rel)
    if folder not in targets:
        raise GrantError(f"unknown target {folder!r}; targets in tailjit.yaml: {', '.join(sorted(targets))}",
                         path=rel)
    if not entry.is_file(follow_symlinks=False):
        raise GrantError("not a regular file", path=rel)
    try:
        with open(entry.path, "rb") as f:
            # A huge file is refused without reading all of it. (read(n) would allocate n bytes up
            # front: asking for the limit each time costs more than the 10,000 reads themselves.)
            size = os.fstat(f.fileno()).st_size
            data = f.read() if size <= yamlfile.MAX_BYTES else f.read(yamlfile.MAX_BYTES + 1)
        doc = yamlfile.load(data)
    except yamlfile.YAMLFileError as e:
        raise GrantError(e.message, path=rel, line=e.line) from None
    except OSError as e:
        raise GrantError(f"cannot read: {e.strerror}", path=rel) from None
    return parse_grant(doc, rel, folder)


def parse_grant(doc: yamlfile.Node | None, rel: str, folder: str) -> Grant:
    """Check one parsed grant document; ``folder`` is the target its path names."""
    if not isinstance(doc, YMap):
        raise GrantError("a grant file is a mapping with user, target, reason and duration or expires",
                         path=rel, line=getattr(doc, "line", 1))
    for key in doc:
        if key not in _KEYS:
            raise GrantError(f"unknown key {key!r}; expected: {', '.join(sorted(_KEYS))}",
                             path=rel, line=doc.line_of(key))

    values: dict[str, str] = {}
    not_single: set[str] = set()
    for key, node in doc.entries.items():
        if isinstance(node, YScalar):
            if not yamlfile.is_null(node):
                values[key] = node.value
        else:
            not_single.add(key)

    def text(key: str, required: bool) -> str | None:
        if key in not_single:
            raise GrantError(f"{key!r} must be a single value", path=rel, line=doc.line_of(key))
        value = values.get(key)
        if value is None and required:
            raise GrantError(f"missing {key!r}", path=rel, line=doc.line)
        return value

    user = text("user", True) or ""
    if not LOGIN.fullmatch(user):
        raise GrantError(_bad_user(user), path=rel, line=doc.line_of("user"))
    target = text("target", True) or ""
    if target != folder:
        raise GrantError(f"target {target!r} does not match the folder {folder!r} the file is in",
                         path=rel, line=doc.line_of("target"))
    reason = (text("reason", True) or "").strip()
    if not reason:
        raise GrantError("'reason' must say why access is needed", path=rel, line=doc.line_of("reason"))
    if len(reason) > MAX_REASON:
        raise GrantError(f"'reason' is {len(reason)} characters; the limit is {MAX_REASON}",
                         path=rel, line=doc.line_of("reason"))
    duration_text = text("duration", False)
    expires_text = text("expires", False)
    start_text = text("start", False)
    if (duration_text is None) == (expires_text is None):
        raise GrantError("give exactly one of 'duration' (e.g. 4h) or 'expires' (e.g. 2026-11-25T02:00:00Z)",
                         path=rel, line=doc.line)
    duration = expires = start = None
    try:
        if duration_text is not None:
            duration = parse_duration(duration_text)
    except ValueError as e:
        raise GrantError(str(e), path=rel, line=doc.line_of("duration")) from None
    for key, raw in (("expires", expires_text), ("start", start_text)):
        if raw is None:
            continue
        try:
            when = parse_time(raw)
        except ValueError as e:
            raise GrantError(f"{key}: {e}", path=rel, line=doc.line_of(key)) from None
        if key == "expires":
            expires = when
        else:
            start = when
    if start is not None and expires is not None and expires <= start:
        raise GrantError("'expires' is not after 'start'", path=rel, line=doc.line_of("expires"))
    break_glass = text("break_glass", False)
    if break_glass not in (None, "true", "false"):
        raise GrantError(f"'break_glass' is true or false, not {break_glass[:40]!r}", path=rel,
                         line=doc.line_of("break_glass"))
    return Grant(path=rel, user=user, target=target, reason=reason, ticket=text("ticket", False),
                 duration=duration, expires=expires, start=start, line=doc.line, break_glass=break_glass == "true")


def _bad_user(user: str) -> str:
    lowered = user.lower()
    if "*" in user:
        kind = "a wildcard"
    elif lowered.startswith(("group:", "tag:", "autogroup:")):
        kind = f"a {lowered.split(':')[0]}"
    elif "@" not in user:
        kind = "not a login"
    else:
        kind = "not a login (only letters, digits and . _ % + - before the @)"
    return (f"'user' must be one Tailscale login such as alice@example.com or alice@github; "
            f"{user[:80]!r} is {kind}")


