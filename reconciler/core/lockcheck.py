"""Whether a base policy enforces the posture lock, and the pattern that makes it (``lock: posture``). Pure.

A target with ``lock: posture`` lets in only devices carrying the attribute
tailjit sets for a grant (`reconciler.core.posture`), if the base policy says so:

- ``"postures": {"posture:tailjit-<target>": ["custom:tailjit_<target> == 'granted'"]}``, and
- ``"srcPosture": ["posture:tailjit-<target>"]`` on every ``acls`` and ``grants`` rule whose ``src``
  names the target's group (a rule without ``srcPosture`` gets ``defaultSrcPosture``).

Whether several postures listed in one ``srcPosture`` must all hold or any
one is enough is not settled by a primary source, so each posture a locked
rule lists must itself carry the condition: either way, no device without the
attribute gets in. Tailscale documents ``srcPosture`` for ``acls`` and
``grants``; its ``ssh`` rules are not documented to take it (Tailscale's Go
client, tailscale-client-go-v2 ``policyfile.go``, has ``SourcePosture`` on
``ACLEntry`` and ``Grant`` but not on ``ACLSSH``). An ``ssh`` rule naming the
group is therefore reported as not covered, unless it carries the posture.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler import hujson
from reconciler.core.config import Target
from reconciler.core.posture import condition, posture_name


class Level(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class LockProblem:
    """A place in the base policy where a locked target's group gets in without the posture."""

    line: int
    message: str
    level: Level = Level.ERROR


def check_lock(tree: hujson.Value, targets: Mapping[str, Target]) -> list[LockProblem]:
    """Every rule of ``tree`` (the base policy) that lets a locked target's group in without its posture.

    Lines come from the tree, so the caller reports ``path:line``. Nothing for a policy without locked targets.
    """
    locked = [t for t in targets.values() if t.posture_locked]
    if not locked:
        return []
    data = tree.to_python()
    if not isinstance(data, dict):
        return []
    found: list[tuple[tuple[str, ...], str, Level]] = []
    postures = data.get("postures") if isinstance(data.get("postures"), dict) else {}
    assert isinstance(postures, dict)
    for target in sorted(locked, key=lambda t: t.name):
        name, wanted = posture_name(target.name), condition(target.name)
        conditions = postures.get(name)
        if conditions is not None and not isinstance(conditions, list):
            found.append((("postures", name), f"{name} must be a list of conditions: [\"{wanted}\"]", Level.ERROR))
        elif not isinstance(conditions, list):
            where: tuple[str, ...] = ("postures",) if "postures" in data else ()
            found.append((where, f"target {target.name!r} has lock: posture, but \"postures\" does not define "
                                 f"{name}: add \"postures\": {{\"{name}\": [\"{wanted}\"]}}", Level.ERROR))
        elif not any(_same_condition(c, wanted) for c in conditions):
            found.append((("postures", name), f"{name} lacks the condition \"{wanted}\": add it to its list",
                          Level.ERROR))
        found += _rules(data, postures, target)
    found += _permanent_members(data, sorted(locked, key=lambda t: t.name))
    return _locate(tree, found)


def lock_policy(text: bytes, targets: Iterable[Target]) -> bytes:
    """``text`` (a base policy) with the posture pattern for each of ``targets``: the posture defined with its
    condition, and the posture required (``srcPosture``) on each ``acls`` and ``grants`` rule whose ``src``
    names the target's group, then formatted (`hujson.format`). Comments are kept; ``ssh`` rules are left as
    they are (see the module docstring). What `check_lock` then still reports needs a person's decision."""
    targets = list(targets)
    tree = hujson.parse(text)
    data = tree.to_python()
    ops: list[dict[str, Any]] = []
    postures = data.get("postures")
    if not isinstance(postures, dict) and targets:
        ops.append({"op": "add", "path": "/postures", "value": {}})
    for target in targets:
        name, wanted = posture_name(target.name), condition(target.name)
        conditions = postures.get(name) if isinstance(postures, dict) else None
        if not isinstance(conditions, list):
            ops.append({"op": "add", "path": f"/postures/{name}", "value": [wanted]})
        elif not any(_same_condition(c, wanted) for c in conditions):
            ops.append({"op": "add", "path": f"/postures/{name}/-", "value": wanted})
        for section in ("acls", "grants"):
            rules = data.get(section)
            for i, rule in enumerate(rules if isinstance(rules, list) else ()):
                if not isinstance(rule, dict) or target.group not in _strings(rule.get("src")):
                    continue
                listed = rule.get("srcPosture")
                if not isinstance(listed, list):
                    ops.append({"op": "add", "path": f"/{section}/{i}/srcPosture", "value": [name]})
                elif name not in listed:
                    ops.append({"op": "add", "path": f"/{section}/{i}/srcPosture/-", "value": name})
    if ops:
        tree.patch(json.dumps(ops).encode())
    tree.format()
    return tree.pack()


def _rules(data: dict[str, Any], postures: dict[str, Any],
           target: Target) -> Iterator[tuple[tuple[str, ...], str, Level]]:
    name, wanted = posture_name(target.name), condition(target.name)
    default = data.get("defaultSrcPosture")
    for section in ("acls", "grants", "ssh"):
        rules = data.get(section)
        for i, rule in enumerate(rules if isinstance(rules, list) else ()):
            if not isinstance(rule, dict) or target.group not in _strings(rule.get("src")):
                continue
            own = "srcPosture" in rule
            listed = _strings(rule.get("srcPosture") if own else (None if section == "ssh" else default))
            if listed and all(_carries(postures.get(p), wanted) for p in listed):
                continue
            where = (section, str(i))
            if section == "ssh":
                yield where, (f"ssh[{i}] lets {target.group} use Tailscale SSH without {name}: Tailscale documents "
                              f"srcPosture for acls and grants only, so SSH through {target.group} is not covered "
                              "by the lock (its access still ends when tailjit removes the member)"), Level.WARNING
                continue
            weak = [p for p in listed if not _carries(postures.get(p), wanted)]
            if not own or not listed:
                fix = f"add \"srcPosture\": [\"{name}\"]" + (
                    " (the defaultSrcPosture does not require it)" if listed else "")
            elif all(p.startswith(posture_name("")) for p in weak):
                fix = (f"its srcPosture also lists {', '.join(weak)} (several locked groups in one rule): split it "
                       "into one rule per locked group, each with its own posture")
            else:
                fix = (f"its srcPosture lists {', '.join(weak)}, which do(es) not require \"{wanted}\": "
                       f"list only {name} (or postures that include its condition)")
            yield where, f"{section}[{i}] lets {target.group} in without {name}: {fix}", Level.ERROR


def _carries(conditions: object, wanted: str) -> bool:
    return isinstance(conditions, list) and any(_same_condition(c, wanted) for c in conditions)


def _same_condition(written: object, wanted: str) -> bool:
    if not isinstance(written, str):
        return False
    return re.sub(r"\s+", "", written.replace('"', "'")) == re.sub(r"\s+", "", wanted)


def _strings(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _locate(tree: hujson.Value, found: list[tuple[tuple[str, ...], str, Level]]) -> list[LockProblem]:
    """Each problem with the line of the value its path names (line 1 for the empty path), packing once."""
    marks: dict[int, hujson.Value] = {}
    originals: dict[int, hujson.Literal | hujson.Object | hujson.Array] = {}
    places: list[int | None] = []
    for path, _, _ in found:
        value = _walk(tree, path)
        if value is None or not path:
            places.append(None)
            continue
        key = id(value)
        if key not in marks:
            marks[key] = value
            originals[key] = value.value
            value.value = hujson.Literal(b'"\x00tailjit-mark-' + str(len(marks)).encode() + b'\x00"')
        places.append(key)
    try:
        text = tree.pack() if marks else b""
    finally:
        for key, value in marks.items():
            value.value = originals[key]
    lines: dict[int, int] = {}
    for number, key in enumerate(marks, 1):
        at = text.index(b"\x00tailjit-mark-" + str(number).encode() + b"\x00")
        lines[key] = text[:at].count(b"\n") + 1
    return [LockProblem(1 if key is None else lines[key], message, level)
            for (_, message, level), key in zip(found, places, strict=True)]


def _walk(tree: hujson.Value, path: tuple[str, ...]) -> hujson.Value | None:
    value: hujson.Value | None = tree
    for step in path:
        if value is None:
            return None
        inner = value.value
        if isinstance(inner, hujson.Object):
            member = inner.get(step)
            value = None if member is None else member.value
        elif isinstance(inner, hujson.Array) and step.isdigit() and int(step) < len(inner.elements):
            value = inner.elements[int(step)]
        else:
            return None
    return value


def _permanent_members(data: dict[str, Any], targets: Sequence[Target]) -> Iterator[tuple[tuple[str, ...], str, Level]]:
    """A warning for each locked group with permanent members: tailjit sets the attribute only for grants, so
    rules requiring the posture no longer let a permanent member in."""
    groups = data.get("groups")
    for target in targets:
        members = _strings(groups.get(target.group)) if isinstance(groups, dict) else []
        if members:
            yield (("groups", target.group),
                   f"{target.group} has permanent members ({', '.join(members[:3])}{', …' if len(members) > 3 else ''}"
                   f"); with lock: posture, rules requiring {posture_name(target.name)} let them in only while a "
                   "grant marks their devices: give standing access through another group", Level.WARNING)
