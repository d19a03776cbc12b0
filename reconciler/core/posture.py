"""The posture lock (``lock: posture``): its names, and which device attributes to set and delete. Pure.

A target with the lock gives access only to devices that carry the custom
posture attribute ``custom:tailjit_<target> = granted``, which tailjit sets on
every device of a granted user with ``expiry`` = the grant's end. Tailscale
stops counting an attribute at its expiry, so access ends on time even when
tailjit never runs again. That the base policy requires the attribute is
checked by `reconciler.core.lockcheck`; the attributes are written by
`reconciler.posture`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

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
