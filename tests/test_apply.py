"""The reconcile loop against a file tailnet that another writer changes under our feet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.backends.base import LivePolicy, Validation
from reconciler.backends.file import FileBackend
from reconciler.core.config import Safety, Target
from reconciler.core.grants import Grant, GrantStatus, State
from reconciler.core.render import render
from reconciler.errors import BackendError, ConflictError
from reconciler.reconcile import reconcile
from tests.support.access import BASE_POLICY

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
TARGETS = {"prod": Target("prod", "group:prod", timedelta(hours=8)),
           "staging": Target("staging", "group:staging", timedelta(days=7))}


def grant(user: str) -> GrantStatus:
    g = Grant(path=f"policy/grants/prod/{user[:3]}.yaml", user=user, target="prod", reason="r",
              expires=NOW + timedelta(hours=1))
    return GrantStatus(g, State.ACTIVE, NOW, NOW + timedelta(hours=1))


class RacingFile(FileBackend):
    """A file tailnet where another writer edits the file right after each of our first ``races`` reads."""

    def __init__(self, path: Path, edit: bytes, races: int) -> None:
        super().__init__(path)
        self.edit, self.races, self.reads, self.writes = edit, races, 0, 0

    def get(self) -> LivePolicy:
        live = super().get()
        self.reads += 1
        if self.reads <= self.races:
            self.path.write_bytes(self.path.read_bytes() + self.edit + str(self.reads).encode() + b"\n")
        return live

    def put(self, text: bytes, if_match: str) -> str:
        self.writes += 1
        return super().put(text, if_match)


def test_concurrent_change_is_replanned_and_not_lost(tmp_path: Path) -> None:
    path = tmp_path / "tailnet.hujson"
    path.write_bytes(render(BASE_POLICY.encode(), TARGETS, []))
    backend = RacingFile(path, b"// other writer ", races=1)
    outcome = reconcile(backend, render(BASE_POLICY.encode(), TARGETS, [grant("alice@example.com")]), TARGETS,
                        Safety())
    assert outcome.written and outcome.attempts == 2 and backend.writes == 2
    final = path.read_bytes()
    assert b"// other writer 1" in final, "the other writer's change survives"
    assert b'"alice@example.com", // tailjit' in final, "and so does ours"
    assert outcome.plan.drift, "an edit outside git is reported as drift"


def test_gives_up_after_bounded_conflicts(tmp_path: Path) -> None:
    path = tmp_path / "tailnet.hujson"
    path.write_bytes(render(BASE_POLICY.encode(), TARGETS, []))
    backend = RacingFile(path, b"// busy ", races=99)
    with pytest.raises(ConflictError, match=r"changed between read and write 3 times"):
        reconcile(backend, render(BASE_POLICY.encode(), TARGETS, [grant("alice@example.com")]), TARGETS, Safety())
    assert b"alice" not in path.read_bytes()


class Refusing(FileBackend):
    def validate(self, text: bytes, policy: object = None) -> Validation:
        return Validation(errors=("test(s) failed: dana@example.com: expected accept to tag:prod:5432",))


def test_remote_validation_errors_stop_the_write(tmp_path: Path) -> None:
    path = tmp_path / "tailnet.hujson"
    with pytest.raises(BackendError, match=r"dana@example\.com: expected accept"):
        reconcile(Refusing(path), render(BASE_POLICY.encode(), TARGETS, []), TARGETS, Safety())
    assert not path.exists()
