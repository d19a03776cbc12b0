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

import difflib
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from reconciler.core.config import Config, Target
from reconciler.core.durations import format_duration, format_time, parse_duration, parse_time
from reconciler.core.grants import FILE_NAME, LOGIN, MAX_REASON, Grant
from reconciler.errors import GrantError
from reconciler.repo import yamlfile
from reconciler.repo.yamlfile import YList, YMap, YScalar

_KEYS = {"user", "target", "reason", "ticket", "duration", "expires", "start", "break_glass"}
#: Files in the grants folder that are not grants and are not reported.
IGNORED_NAMES = {".gitkeep", "README.md"}


@dataclass(frozen=True)
class LoadedGrants:
    grants: tuple[Grant, ...]
    errors: tuple[GrantError, ...]


#: How many grant files are read between two calls of `load_grants`'s progress callback.
PROGRESS_EVERY = 250


def load_grants(config: Config, *, progress: Callable[[int, int | None], None] | None = None) -> LoadedGrants:
    """Read every file below the grants folder. Never raises for a bad file.

    ``progress(files read, None)`` is called every `PROGRESS_EVERY` files, and ``(n, n)`` at the end.
    """
    grants: list[Grant] = []
    errors: list[GrantError] = []
    root = config.grants_dir
    if not root.is_dir():
        return LoadedGrants((), ())
    base = config.relative(root)
    for count, (parts, entry) in enumerate(_entries(os.fspath(root)), 1):
        if progress is not None and count % PROGRESS_EVERY == 0:
            progress(count, None)
        rel = "/".join((base, *parts))
        if isinstance(entry, OSError):
            errors.append(GrantError(f"cannot read this folder: {entry.strerror}", path=rel))
            continue
        try:
            found = _load_one(entry, rel, parts, config.targets)
        except Exception as e:  # one hostile file is that file's error, never the run's
            found = [GrantError(f"cannot be read ({type(e).__name__}: {str(e)[:200]}); granting nothing", path=rel)]
        if isinstance(found, Grant):
            grants.append(found)
        else:
            errors.extend(found)
    if progress is not None:
        done = len(grants) + len({e.path for e in errors})
        progress(done, done)
    return LoadedGrants(tuple(grants), tuple(errors))


def grant_names(config: Config) -> frozenset[str] | None:
    """The names (``prod/alice.yaml``, as member notes write them) of every file in the grants folder, valid
    or not; None when the folder does not exist or cannot be listed in full, so that the revoke-only
    fallback never takes a missing folder for "every grant file is gone"."""
    root = config.grants_dir
    if not root.is_dir():
        return None
    names = set()
    for parts, entry in _entries(os.fspath(root)):
        if isinstance(entry, OSError):
            return None
        names.add("/".join(parts))
    return frozenset(names)


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
            if entry.is_dir(follow_symlinks=False) and entry.name.endswith(".yaml"):
                yield here, entry  # a folder named like a grant file: reported, not walked
            elif entry.is_dir(follow_symlinks=False):
                below.append((here, entry.path))
            else:
                yield here, entry
        stack.extend(reversed(below))


def _load_one(entry: os.DirEntry[str], rel: str, parts: tuple[str, ...],
              targets: Mapping[str, Target]) -> Grant | list[GrantError]:
    if entry.is_symlink():
        return [GrantError("grant files may not be symbolic links", path=rel,
                           hint="replace the link with the file itself")]
    if len(parts) != 2:
        return [GrantError("a grant file belongs in <grants>/<target>/<name>.yaml", path=rel,
                           hint="move it into the folder of the target it grants")]
    folder, name = parts
    if entry.is_dir(follow_symlinks=False):
        return [GrantError("a folder named like a grant file", path=rel,
                           hint="a grant is a file <grants>/<target>/<name>.yaml: move what is in this folder out "
                                "of it and remove the folder")]
    if not entry.is_file(follow_symlinks=False):
        return [GrantError("not a regular file", path=rel, hint="grant files are plain files; remove this entry")]
    if not FILE_NAME.fullmatch(name):
        return [GrantError(f"file name {name!r} is not allowed", path=rel,
                           hint="rename it: letters, digits and . _ @ + - only, ending in .yaml")]
    if folder not in targets:
        return [GrantError(f"unknown target {folder!r}; targets in tailjit.yaml: {', '.join(sorted(targets))}",
                           path=rel, hint="move the file into the folder of a configured target, or add the "
                                          "target under 'targets' in tailjit.yaml")]
    try:
        doc = yamlfile.load(_read_at_most(entry.path, yamlfile.MAX_BYTES + 1))
    except yamlfile.YAMLFileError as e:
        return [GrantError(e.message, path=rel, line=e.line, hint=e.hint)]
    except OSError as e:
        return [GrantError(f"cannot read: {e.strerror}", path=rel)]
    return read_grant(doc, rel, folder, targets[folder])


def _read_at_most(path: str, limit: int) -> bytes:
    """The file's bytes, or its first ``limit`` when it is longer: a huge file is refused without reading all
    of it. A file descriptor and a read of the size `os.fstat` gives (read(n) would allocate n bytes up front:
    asking for the limit each time costs more than the 10,000 reads themselves), without the buffered file
    object `open` makes: a third of the time of reading 10,000 small files."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        data = os.read(fd, min(size, limit))
        while len(data) < limit:  # a file that grew since fstat, or a short read: on to the end
            more = os.read(fd, limit - len(data))
            if not more:
                break
            data += more
        return data
    finally:
        os.close(fd)


def parse_grant(doc: yamlfile.Node | None, rel: str, folder: str) -> Grant:
    """`read_grant` for one file whose first problem is all a caller needs: raises it as a `GrantError`."""
    found = read_grant(doc, rel, folder)
    if isinstance(found, list):
        raise found[0]
    return found


def read_grant(doc: yamlfile.Node | None, rel: str, folder: str,
               target: Target | None = None) -> Grant | list[GrantError]:
    """Check one parsed grant document; ``folder`` is the target its path names.

    Returns the `Grant`, or every problem of the file, each at the line of the
    key or value at fault. With ``target``, a file that has other problems
    also hears about a duration over the target's limit (a valid file hears
    that from `evaluate`).
    """
    if not isinstance(doc, YMap):
        return [GrantError("a grant file is a mapping with user, target, reason and duration or expires",
                           path=rel, line=getattr(doc, "line", 1), hint=_EXAMPLE_HINT)]
    problems: list[GrantError] = []

    def fail(message: str, key: str | None, hint: str | None = None) -> None:
        problems.append(GrantError(message, path=rel, line=_line(doc, key), hint=hint))

    entries = doc.entries
    for key in () if _KEYS.issuperset(entries) else entries:
        if key not in _KEYS:
            close = difflib.get_close_matches(key, _KEYS, n=1)
            fail(f"unknown key {key!r}", key,
                 hint=f"did you mean {close[0]!r}?" if close else f"the keys are: {', '.join(sorted(_KEYS))}")
    values: dict[str, str] = {}
    for key, node in entries.items():
        if key not in _KEYS:
            continue
        if not isinstance(node, YScalar):
            fail(f"{key!r} must be a single value, not a {'list' if isinstance(node, YList) else 'mapping'}",
                 key, hint=f"write it on one line: {key}: VALUE")
        elif not node.quoted and node.value in yamlfile.NULLS:  # `yamlfile.is_null`, for 50,000 values
            if key in _REQUIRED or node.quoted:
                fail(f"{key!r} is empty", key, hint=_VALUE_HINTS[key])
        else:
            values[key] = node.value
    for key in _REQUIRED:
        if key not in entries:
            fail(f"missing {key!r}", None, hint=f"add a line {key}: … ({_VALUE_HINTS[key]})")

    user = values.get("user")
    if user is not None and not LOGIN.fullmatch(user):
        fail(_bad_user(user), "user", hint="grant one person at a time, by their Tailscale login")
    written_target = values.get("target")
    if written_target is not None and written_target != folder:
        fail(f"target {written_target!r} does not match the folder {folder!r} the file is in", "target",
             hint=f"write target: {folder}, or move the file to the folder {written_target!r}")
    reason = values.get("reason", "").strip()
    if "reason" in values and not reason:
        fail("'reason' is empty", "reason", hint=_VALUE_HINTS["reason"])
    if len(reason) > MAX_REASON:
        fail(f"'reason' is {len(reason)} characters; the limit is {MAX_REASON}", "reason",
             hint="say it in a sentence and link the ticket under 'ticket'")
    duration_text, expires_text, start_text = values.get("duration"), values.get("expires"), values.get("start")
    if duration_text is not None and expires_text is not None:
        later = max(("duration", "expires"), key=lambda k: doc.line_of(k))
        fail("give only one of 'duration' and 'expires'", later,
             hint="a duration counts from the merge (or 'start'); 'expires' is an end time: keep one")
    elif duration_text is None and expires_text is None and not any(
            k in entries for k in ("duration", "expires")):
        fail("missing 'duration' or 'expires'", None,
             hint="add duration: 4h (counted from the merge) or expires: 2026-11-25T02:00:00Z")
    duration = expires = start = None
    if duration_text is not None:
        try:
            duration = parse_duration(duration_text)
        except ValueError as e:
            fail(str(e), "duration")
    for key, raw in (("expires", expires_text), ("start", start_text)):
        if raw is None:
            continue
        try:
            when = parse_time(raw)
        except ValueError as e:
            fail(f"{key}: {e}", key)
            continue
        if key == "expires":
            expires = when
        else:
            start = when
    if start is not None and expires is not None and expires <= start:
        fail(f"'expires' ({format_time(expires)}) is not after 'start' ({format_time(start)})", "expires",
             hint="'expires' is when access ends; it must come after 'start'")
    break_glass = values.get("break_glass")
    if break_glass not in (None, "true", "false"):
        fail(f"'break_glass' is true or false, not {break_glass[:40]!r}", "break_glass",
             hint="write break_glass: true, or leave the line out")
    if problems:
        if target is not None and duration is not None and duration > target.max_duration:
            fail(f"duration {duration_text} is longer than target {target.name!r} allows "
                 f"({format_duration(target.max_duration)})", "duration",
                 hint=f"ask for at most {format_duration(target.max_duration)}")
        return sorted(problems, key=lambda p: p.line or 0)
    assert user is not None and written_target is not None
    return Grant(path=rel, user=user, target=written_target, reason=reason, ticket=values.get("ticket"),
                 duration=duration, expires=expires, start=start, line=doc.line,
                 break_glass=break_glass == "true", lines=tuple(doc.key_lines.items()),
                 duration_text=duration_text)


_REQUIRED = ("user", "target", "reason")
_VALUE_HINTS = {
    "user": "the Tailscale login to grant, e.g. user: alice@example.com",
    "target": "the target, which is also the file's folder, e.g. target: prod",
    "reason": "say why access is needed, e.g. reason: Investigate INC-1234",
    "ticket": "an incident or ticket reference, or leave the line out",
    "duration": "how long, counted from the merge, e.g. duration: 4h",
    "expires": "when access ends, e.g. expires: 2026-11-25T02:00:00Z",
    "start": "when access starts, e.g. start: 2026-11-25T00:00:00Z, or leave the line out",
    "break_glass": "write break_glass: true for emergency access, or leave the line out",
}
_EXAMPLE_HINT = "e.g. user: alice@example.com / target: prod / reason: INC-1234 / duration: 4h, one per line"


def _line(doc: YMap, key: str | None) -> int:
    """The line of ``key``'s value (the key's when the value is empty), or the document's first line."""
    if key is None:
        return doc.line
    node = doc.get(key)
    if isinstance(node, YScalar) and node.value:
        return node.line
    return doc.line_of(key)


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


