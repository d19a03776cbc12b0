"""The reconcile loop: read live, plan, check, validate remotely, write with If-Match.

The backend is injected; nothing here reads the clock, the environment or
the repository. A write that loses a race (`PreconditionFailed`) is re-planned
against the new live text, a bounded number of times, so a concurrent edit is
never overwritten blindly and never lost.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from reconciler.backends.base import Backend, PreconditionFailed, Validation
from reconciler.core.config import Safety, Target
from reconciler.core.plan import Plan, make_plan
from reconciler.core.policy import Policy
from reconciler.errors import BackendError, ConflictError

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
              max_attempts: int = MAX_ATTEMPTS, on_plan: Callable[[Plan], None] | None = None) -> Outcome:
    """Bring the live policy to ``rendered`` (or, on drift, patch its target groups in place).

    ``on_plan`` is told each plan as it is made, so that a caller can show the plan a failed write tried.
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
            raise BackendError(f"{backend.name} refused the desired policy:\n  " + "\n  ".join(validation.errors),
                               hint="fix the base policy (tailjit validate, tailjit render) and try again")
        if dry_run:
            return Outcome(plan, attempts=attempt, validation=validation)
        saved = backup(live.text) if backup is not None and force and live.text else None
        try:
            etag = backend.put(plan.proposed, if_match=live.etag)
        except PreconditionFailed:
            continue
        return Outcome(plan, written=True, etag=etag, attempts=attempt, validation=validation, backup=saved)
    raise ConflictError(f"{backend.name} changed between read and write {max_attempts} times in a row",
                        hint="another writer is active; the next scheduled run will try again")
