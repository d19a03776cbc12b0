"""The posture lock (``lock: posture``): names, and the check that the base policy enforces it. Pure.

A target with the lock gives access only to devices that carry the custom
posture attribute ``custom:tailjit_<target> = granted``, which tailjit sets on
every device of a granted user with ``expiry`` = the grant's end. Tailscale
stops counting an attribute at its expiry, so access ends on time even when
tailjit never runs again. For that, the base policy must say so:

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
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reconciler import hujson
from reconciler.core.config import Target
from reconciler.core.durations import format_time
from reconciler.core.grants import GrantStatus, State
from reconciler.errors import TailjitError

#: Custom posture attribute keys: ``custom:`` then letters, digits, ``_``; at most 50 characters in all.
ATTRIBUTE_PREFIX = "custom:tailjit_"
MAX_ATTRIBUTE_KEY = 50
#: The value tailjit sets; the policy's condition compares with it.
GRANTED = "granted"
#: The longest target name whose attribute key fits in `MAX_ATTRIBUTE_KEY`.
MAX_LOCKED_NAME = MAX_ATTRIBUTE_KEY - len(ATTRIBUTE_PREFIX)
#: Tailscale limits an attribute's comment to 200 characters.
MAX_COMMENT = 200


def attribute_key(target: str) -> str:
    """``custom:tailjit_prod``: the attribute of target ``target`` (``-`` becomes ``_``: keys have no ``-``)."""
    return ATTRIBUTE_PREFIX + target.replace("-", "_")


def posture_name(target: str) -> str:
    """``posture:tailjit-prod``: the posture the target's rules must require."""
    return f"posture:tailjit-{target}"


def condition(target: str) -> str:
    """``custom:tailjit_prod == 'granted'``: the posture's condition."""
    return f"{attribute_key(target)} == '{GRANTED}'"


def lock_problem(target: Target, others: Mapping[str, Target]) -> str | None:
    """Why ``target`` cannot have ``lock: posture`` (its attribute key too long or shared); None if it can."""
    if len(target.name) > MAX_LOCKED_NAME:
        return (f"target {target.name!r} is {len(target.name)} characters; with lock: posture it may have at most "
                f"{MAX_LOCKED_NAME}, so that its attribute {attribute_key(target.name)!r} fits Tailscale's "
                f"{MAX_ATTRIBUTE_KEY}-character limit")
    for other in others.values():
        if other.name != target.name and other.posture_locked and \
                attribute_key(other.name).lower() == attribute_key(target.name).lower():
            return (f"targets {other.name!r} and {target.name!r} would share the attribute "
                    f"{attribute_key(target.name)!r} (Tailscale compares keys without case, and '-' becomes '_')")
    return None


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


# -- the attributes: who should carry them, and what to change ---------------------------------------------


@dataclass(frozen=True)
class Device:
    """A device of the tailnet as the devices listing gives it (``nodeId``, ``user`` = the owner's login)."""

    id: str
    user: str
    name: str
    #: a tagged device is owned by its tags, not by ``user``: group membership does not reach it
    tagged: bool = False
    #: shared in from another tailnet: not ours to mark
    external: bool = False

    @property
    def markable(self) -> bool:
        return not self.tagged and not self.external


@dataclass(frozen=True)
class Attribute:
    """One custom attribute as a device holds it."""

    value: object
    expiry: datetime | None = None


@dataclass(frozen=True)
class Wanted:
    """The attribute a granted user's devices must carry for one target: until the grant's end."""

    user: str
    target: str
    until: datetime
    grant: str

    @property
    def comment(self) -> str:
        return f"tailjit: {self.grant} until {format_time(self.until)}"[:MAX_COMMENT]


class AttributeAction(enum.StrEnum):
    SET = "set"
    DELETE = "delete"


@dataclass(frozen=True)
class AttributeChange:
    """Set or delete ``custom:tailjit_<target>`` on one device."""

    device: Device
    target: str
    action: AttributeAction
    until: datetime | None = None
    comment: str = ""

    @property
    def key(self) -> str:
        return attribute_key(self.target)

    @property
    def data(self) -> dict[str, str | None]:
        return {"action": str(self.action), "device": self.device.name, "device_id": self.device.id,
                "user": self.device.user, "target": self.target, "attribute": self.key,
                "value": GRANTED if self.action is AttributeAction.SET else None,
                "expiry": None if self.until is None else format_time(self.until), "comment": self.comment or None}

    def __str__(self) -> str:
        if self.action is AttributeAction.SET:
            return (f"+ set    {self.key}={GRANTED} on {self.device.name} ({self.device.user}) "
                    f"until {format_time(self.until) if self.until else '-'}")
        return f"- delete {self.key} on {self.device.name} ({self.device.user})"


@dataclass(frozen=True)
class LockResult:
    """What one step planned (``changes``), what it wrote (``done``), and what failed."""

    changes: tuple[AttributeChange, ...] = ()
    done: tuple[AttributeChange, ...] = ()
    errors: tuple[TailjitError, ...] = ()

    def __add__(self, other: LockResult) -> LockResult:
        return LockResult(self.changes + other.changes, self.done + other.done, self.errors + other.errors)


def wanted_attributes(statuses: Iterable[GrantStatus], targets: Mapping[str, Target]) -> dict[tuple[str, str], Wanted]:
    """``(login, target) -> Wanted`` for every active grant on a locked target; the latest end wins when a user
    holds several grants on one target (their access lasts as long as the longest)."""
    found: dict[tuple[str, str], Wanted] = {}
    for status in statuses:
        target = targets.get(status.grant.target)
        if status.state is not State.ACTIVE or status.end is None or target is None or not target.posture_locked:
            continue
        key = (status.grant.user.lower(), target.name)
        if key not in found or status.end > found[key].until:
            found[key] = Wanted(status.grant.user, target.name, status.end, status.grant.name)
    return found


def devices_of(devices: Iterable[Device], users: Iterable[str]) -> list[Device]:
    """The markable devices whose owner is one of ``users`` (logins compared without case)."""
    wanted = {u.lower() for u in users}
    return [d for d in devices if d.markable and d.user.lower() in wanted]


def attribute_changes(wanted: Mapping[tuple[str, str], Wanted], revoked: Iterable[tuple[str, str]],
                      devices: Sequence[Device],
                      current: Mapping[str, Mapping[str, Attribute]]) -> tuple[AttributeChange, ...]:
    """What to set (every markable device of a granted user that lacks the attribute or holds another expiry)
    and delete (devices of ``revoked`` ``(login, target)`` pairs, no longer wanted, that hold it).

    ``current`` maps a device id to its attributes; a device missing from it is taken to hold none.
    Sets come first, then deletes; each in device order.
    """
    sets: list[AttributeChange] = []
    deletes: list[AttributeChange] = []
    by_user: dict[str, list[Device]] = {}
    for device in devices:
        if device.markable:
            by_user.setdefault(device.user.lower(), []).append(device)
    for (login, target), want in sorted(wanted.items()):
        key = attribute_key(target)
        for device in by_user.get(login, ()):
            held = current.get(device.id, {}).get(key)
            if held is None or held.value != GRANTED or held.expiry is None or \
                    held.expiry.replace(microsecond=0) != want.until.replace(microsecond=0):
                sets.append(AttributeChange(device, target, AttributeAction.SET, want.until, want.comment))
    for login, target in sorted({(u.lower(), t) for u, t in revoked}):
        if (login, target) in wanted:
            continue
        key = attribute_key(target)
        for device in by_user.get(login, ()):
            if key in current.get(device.id, {}):
                deletes.append(AttributeChange(device, target, AttributeAction.DELETE))
    return (*sets, *deletes)


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
