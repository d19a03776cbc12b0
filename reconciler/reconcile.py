"""The reconcile loop: read live, plan, check, validate remotely, write with If-Match; and its revoke-only fallback.

The backend is injected; nothing here reads the clock, the environment or
the repository. A write that loses a race (`PreconditionFailed`) is re-planned
against the new live text, a bounded number of times, so a concurrent edit is
never overwritten blindly and never lost.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from reconciler.backends.base import Backend, PreconditionFailed, Validation
from reconciler.core.config import Safety, Target
from reconciler.core.plan import Plan, make_plan
from reconciler.core.policy import Policy
from reconciler.core.revoke import RevokePlan, revoke_plan, tests_naming, without_tests
from reconciler.errors import ConflictError, RefusedPolicy

MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Outcome:
    plan: Plan
    written: bool = False
    etag: str | None = None
    attempts: int = 1
    validation: Validation | None = None
    backup: Path | None = None


def reconcile(backend: Backend, rendered: bytes | Policy, targets: Mapping[str, Target], safety: Safety, *,
              force: bool = False, dry_run: bool = False,
              backup: Callable[[bytes], Path] | None = None,
              max_attempts: int = MAX_ATTEMPTS, on_plan: Callable[[Plan], None] | None = None,
              before_write: Callable[[Plan], None] | None = None) -> Outcome:
    """Bring the live policy to ``rendered`` (or, on drift, patch its target groups in place).

    ``on_plan`` is told each plan as it is made, so that a caller can show the plan a failed write tried.
    ``before_write`` is told the plan about to be written, just before the write (`reconciler.posture`
    marks devices there before a member joins a locked group).
    """
    for attempt in range(1, max_attempts + 1):
        live = backend.get()
        plan = make_plan(live.text, rendered, targets, force=force)
        if on_plan is not None:
            on_plan(plan)
        if not plan.has_changes:
            return Outcome(plan, attempts=attempt)
        if not force:
            plan.raise_if_unsafe(safety)
        validation = backend.validate(plan.proposed, plan.proposed_policy)
        if not validation.ok:
            raise RefusedPolicy(f"{backend.name} refused the desired policy:\n  " + "\n  ".join(validation.errors),
                               hint="fix the base policy (tailjit validate, tailjit render) and try again")
        if dry_run:
            return Outcome(plan, attempts=attempt, validation=validation)
        saved = backup(live.text) if backup is not None and force and live.text else None
        if before_write is not None:
            before_write(plan)
        try:
            etag = backend.put(plan.proposed, if_match=live.etag)
        except PreconditionFailed:
            continue
        return Outcome(plan, written=True, etag=etag, attempts=attempt, validation=validation, backup=saved)
    raise ConflictError(f"{backend.name} changed between read and write {max_attempts} times in a row",
                        hint="another writer is active; the next scheduled run will try again")


@dataclass(frozen=True)
class RevokeOutcome:
    """What the revoke-only fallback did: its plan, and whether it was written."""

    plan: RevokePlan
    written: bool = False
    attempts: int = 1
    validation: Validation | None = None
    #: policy tests removed because they asserted the access being revoked (`without_tests`), as shown
    dropped_tests: tuple[str, ...] = ()


def revoke_only(backend: Backend, now: datetime, *, existing: Collection[str] | None = None,
                dry_run: bool = False, max_attempts: int = MAX_ATTEMPTS) -> RevokeOutcome:
    """Remove expired members (and, given ``existing``, those whose grant file is gone) from the live policy.

    Needs nothing but the backend and the time: this is what runs when the full reconcile cannot. It never
    adds anyone, and writes with If-Match like `reconcile` (a lost race is read and planned again). When the
    tailnet refuses it because a policy test asserts the very access being revoked, those tests are removed
    with it (`without_tests`) and named in the outcome: a test cannot keep expired access alive.
    """
    for attempt in range(1, max_attempts + 1):
        live = backend.get()
        plan = revoke_plan(live.text, now, existing=existing)
        if not plan.has_changes:
            return RevokeOutcome(plan, attempts=attempt)
        validation = backend.validate(plan.proposed, plan.proposed_policy)
        dropped: tuple[str, ...] = ()
        if not validation.ok:
            retry, dropped = without_tests(plan)
            if dropped:  # a policy test asserting access that has ended: the test goes, the access too
                validation = backend.validate(retry.proposed, retry.proposed_policy)
                plan = retry
        if not validation.ok:
            raise RefusedPolicy(f"{backend.name} refused even the revocation of expired access:\n  "
                                + "\n  ".join(validation.errors), hint=_refusal_hint(plan))
        if dry_run:
            return RevokeOutcome(plan, attempts=attempt, validation=validation, dropped_tests=dropped)
        try:
            backend.put(plan.proposed, if_match=live.etag)
        except PreconditionFailed:
            continue
        except RefusedPolicy as e:
            raise RefusedPolicy(e.message.replace("refused the policy", "refused even the revocation of "
                                                  "expired access"), hint=_refusal_hint(plan)) from None
        return RevokeOutcome(plan, written=True, attempts=attempt, validation=validation, dropped_tests=dropped)
    raise ConflictError(f"{backend.name} changed between read and write {max_attempts} times in a row",
                        hint="another writer is active; the next run will try the revocation again")


def _refusal_hint(plan: RevokePlan) -> str:
    tests = tests_naming(plan.proposed_policy, plan.users)
    if tests:
        return ("these policy tests need a member whose access has ended; change them to test a permanent "
                "member (or drop them) in the base policy and in the live policy:\n  " + "\n  ".join(tests))
    return "fix what the tailnet names above in the live policy; the revocation is tried again on the next run"
