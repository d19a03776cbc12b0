"""``lock: posture`` on apply: the attributes Tailscale expires by itself, set and deleted around the policy write.

Order of one run (`reconciler.cli.reconcile`, `reconciler.watch`):

1. `LockRun.grant`: every device of each user with an active grant on a locked target gets
   ``custom:tailjit_<target> = granted`` with ``expiry`` = the grant's end, unless it holds it already. A
   device added during a grant is marked on the next run. When the write adds a member to a locked group, this
   runs just before the write (`Marking.before_write`); otherwise after it, so that a slow devices API never
   delays a revocation of the run.
2. The reconcile loop writes the policy (members added and removed).
3. `LockRun.revoke`, after the write: the devices of each member the plan revoked from a locked group lose the
   attribute.

Access needs both the membership and the attribute (the policy requires the posture), so a failure between
two steps leaves access closed: a member added with no attribute gets nothing, and an attribute left after the
member went grants nothing (and expires by itself at the grant's end). A failure to set or delete one
attribute is reported and never stops the others, the policy write, or a revocation.

Calls: one devices listing per run at most, and only when a locked target has an active grant or a revocation;
then one attribute read per device of those users (the listing does not carry attributes: see
`reconciler.backends.devices`). A converged run writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from reconciler.backends import tailscale_backend
from reconciler.backends.base import Backend
from reconciler.core.config import Target
from reconciler.core.grants import GrantStatus
from reconciler.core.plan import ChangeKind, Plan
from reconciler.core.posture import (
    GRANTED,
    Attribute,
    AttributeAction,
    AttributeChange,
    Device,
    LockResult,
    Wanted,
    attribute_changes,
    devices_of,
    wanted_attributes,
)
from reconciler.errors import TailjitError

if TYPE_CHECKING:
    from reconciler.backends.devices import TailscaleDevices
from reconciler.reconcile import Outcome


def revoked_pairs(plan: Plan, targets: Mapping[str, Target]) -> list[tuple[str, str]]:
    """``(login, target)`` for each member ``plan`` revokes from a locked target's group."""
    locked = {t.group: t.name for t in targets.values() if t.posture_locked}
    return [(c.user, locked[c.group]) for c in plan.changes_of(ChangeKind.REVOKE) if c.group in locked]


class LockRun:
    """One run's view of the devices: the listing is read at most once, each device's attributes once."""

    def __init__(self, client: TailscaleDevices, targets: Mapping[str, Target]) -> None:
        self.client = client
        self.targets = targets
        self._devices: list[Device] | None = None
        self._attributes: dict[str, dict[str, Attribute]] = {}

    def adds_member(self, plan: Plan) -> bool:
        """Whether ``plan`` adds a login to a locked target's group."""
        locked = {t.group for t in self.targets.values() if t.posture_locked}
        return any(c.group in locked and c.kind in (ChangeKind.GRANT, ChangeKind.ADD) for c in plan.member_changes)

    def grant(self, statuses: Iterable[GrantStatus], *, dry_run: bool = False) -> LockResult:
        """Mark the devices of every active grant on a locked target (step 1)."""
        wanted = wanted_attributes(statuses, self.targets)
        if not wanted:
            return LockResult()
        return self._converge(wanted, [], dry_run=dry_run)

    def revoke(self, plan: Plan, statuses: Iterable[GrantStatus], *, dry_run: bool = False) -> LockResult:
        """Unmark the devices of every member ``plan`` revoked from a locked group (step 3). A user who still
        holds an active grant on the target keeps the attribute."""
        return self.revoke_members(revoked_pairs(plan, self.targets), statuses, dry_run=dry_run)

    def revoke_members(self, pairs: Iterable[tuple[str, str]], statuses: Iterable[GrantStatus] = (), *,
                       dry_run: bool = False) -> LockResult:
        """Delete ``custom:tailjit_<target>`` from the devices of each ``(login, target)`` pair that holds it,
        unless an active grant in ``statuses`` still wants it. For a revocation written some other way (the
        revoke-only fallback): call it after the write, with the pairs removed; a member note's grant
        (``prod/alice.yaml``) names its target first (`target_of_grant`). Needs no locked target in the config:
        a device that does not hold the attribute is left alone."""
        pairs = list(pairs)
        if not pairs:
            return LockResult()
        return self._converge(wanted_attributes(statuses, self.targets), pairs, dry_run=dry_run, only_deletes=True)

    def preview(self, plan: Plan, statuses: Iterable[GrantStatus]) -> LockResult:
        """Both steps' changes, reading only (``plan``, ``apply --dry-run``)."""
        statuses = tuple(statuses)
        return self.grant(statuses, dry_run=True) + self.revoke(plan, statuses, dry_run=True)

    def _converge(self, wanted: Mapping[tuple[str, str], Wanted], pairs: list[tuple[str, str]], *,
                  dry_run: bool, only_deletes: bool = False) -> LockResult:
        users = {login for login, _ in pairs} if only_deletes else {login for login, _ in wanted}
        try:
            devices = devices_of(self._listing(), users)
            current = {d.id: self._read(d) for d in devices}
        except TailjitError as e:
            return LockResult(errors=(e,))
        changes = attribute_changes(wanted, pairs, devices, current)
        if only_deletes:
            changes = tuple(c for c in changes if c.action is AttributeAction.DELETE)
        if dry_run:
            return LockResult(changes)
        done: list[AttributeChange] = []
        errors: list[TailjitError] = []
        for change in changes:
            try:
                if change.action is AttributeAction.SET:
                    assert change.until is not None
                    self.client.set(change.device, change.key, GRANTED, change.until, change.comment)
                    self._attributes[change.device.id][change.key] = Attribute(GRANTED, change.until)
                else:
                    self.client.delete(change.device, change.key)
                    self._attributes[change.device.id].pop(change.key, None)
            except TailjitError as e:
                errors.append(e)
                continue
            done.append(change)
        return LockResult(changes, tuple(done), tuple(errors))

    def _listing(self) -> list[Device]:
        if self._devices is None:
            self._devices = self.client.list()
        return self._devices

    def _read(self, device: Device) -> dict[str, Attribute]:
        if device.id not in self._attributes:
            self._attributes[device.id] = self.client.attributes(device)
        return self._attributes[device.id]


class Marking:
    """The attribute steps of one run around the reconcile loop: pass `before_write` to `reconcile`, then call
    `after` with its outcome. ``result`` holds what was done so far (also when the loop raised)."""

    def __init__(self, lock: LockRun | None, statuses: Iterable[GrantStatus], *, dry_run: bool = False) -> None:
        self.lock = lock
        self.statuses = tuple(statuses)
        self.dry_run = dry_run
        self.result = LockResult()
        self._marked = False

    def before_write(self, plan: Plan) -> None:
        """Mark now when ``plan`` adds a member to a locked group: the attribute must be there first."""
        if self.lock is None or self._marked or not self.lock.adds_member(plan):
            return
        self._marked = True
        self.result += self.lock.grant(self.statuses, dry_run=self.dry_run)

    def after(self, outcome: Outcome) -> LockResult:
        """Mark (if not done before the write), then unmark what the write revoked."""
        if self.lock is None:
            return self.result
        if not self._marked:
            self._marked = True
            self.result += self.lock.grant(self.statuses, dry_run=self.dry_run)
        if outcome.written or self.dry_run:
            self.result += self.lock.revoke(outcome.plan, self.statuses, dry_run=self.dry_run)
        return self.result


def target_of_grant(grant: str) -> str:
    """The target a member note's grant names: ``prod`` of ``prod/alice.yaml``."""
    return grant.split("/", 1)[0]


def unmark_revoked(backend: Backend, targets: Mapping[str, Target] | None, revoked: Iterable[tuple[str, str]], *,
                   dry_run: bool = False) -> LockResult:
    """After the revoke-only fallback removed ``revoked`` members (``(login, grant)`` as their notes name the
    grant: ``prod/alice.yaml``), delete their devices' attributes. With the config's ``targets`` only for locked
    targets (none: nothing is read); without a readable config (None) for every target a note names, since the
    fallback cannot tell which are locked: a device that does not hold the attribute is left alone."""
    pairs = [(login, target_of_grant(grant)) for login, grant in revoked]
    if targets is not None:
        locked = {t.name for t in targets.values() if t.posture_locked}
        pairs = [(login, target) for login, target in pairs if target in locked]
    lock = open_lock(backend, targets or {}, always=True) if pairs else None
    return LockResult() if lock is None else lock.revoke_members(pairs, dry_run=dry_run)


def open_lock(backend: Backend, targets: Mapping[str, Target], *, always: bool = False) -> LockRun | None:
    """A run of the lock for ``targets`` through ``backend``'s tailnet; None when no target is locked (unless
    ``always``: the revoke-only fallback, which may run without a readable config, passes it and calls
    `LockRun.revoke_members`) or the backend has no devices (the file backend: the lock is then only checked,
    by ``validate``)."""
    api = tailscale_backend(backend)
    if api is None:
        return None
    if not always and not any(t.posture_locked for t in targets.values()):
        return None
    from reconciler.backends.devices import TailscaleDevices  # the device API: only for a locked target

    return LockRun(TailscaleDevices(api), targets)
