"""End to end through the real CLI, against the fake Tailscale API in each of its modes (`MODES`).

The behaviours a real tailnet may have where no primary source settles which one it has (a server storing
canonical text or another layout, an untouched default policy and its ``ts-default`` ETag, a validate route
refusing comments or answering errors with 200): tailjit must converge, report drift, adopt an existing
policy, revoke on time and stop on a refused policy in every one of them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reconciler import hujson
from reconciler.core.policy import Policy, canonical, canonical_policy, split_header
from tests.support.access import BASE_POLICY, AccessRepo
from tests.support.fake_tailscale import DEFAULT_ETAG, MODES, FakeTailscale, serve
from tests.support.tailscale_repo import ALICE, API_KEY, AT, rendered, use_tailscale

ACL = "/api/v2/tailnet/-/acl"
AFTER_ALICE = "2026-11-24T15:00:00Z"
BOB = ALICE.replace("alice", "bob").replace("INC-1234", "INC-1300")


@pytest.fixture(params=sorted(MODES))
def mode(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


def start(repo: AccessRepo, monkeypatch: pytest.MonkeyPatch, mode: str, initial: bytes) -> Iterator[FakeTailscale]:
    with serve() as fake:
        use_tailscale(repo, fake, monkeypatch)
        fake.add_api_key(API_KEY)
        monkeypatch.setenv("TS_API_KEY", API_KEY)
        fake.set_policy(fake.stored(initial))
        MODES[mode](fake)
        yield fake


@pytest.fixture
def managed(repo: AccessRepo, monkeypatch: pytest.MonkeyPatch, mode: str) -> Iterator[FakeTailscale]:
    """A tailnet as tailjit left it with no grant active; in the default modes, the untouched default policy
    that is what git holds (the first apply adopts it)."""
    written = canonical_policy(Policy(rendered(repo))).text
    initial = canonical(BASE_POLICY.encode()) if mode.startswith("default") else written
    yield from start(repo, monkeypatch, mode, initial)


def members(fake: FakeTailscale, group: str = "group:prod") -> list[str]:
    return list(hujson.parse(fake.policy).to_python()["groups"][group])


def writes(fake: FakeTailscale) -> list[str]:
    return [r.headers.get("if-match", "") for r in fake.received if r.method == "POST" and r.path == ACL]


def assert_converged_run_costs_one_get(repo: AccessRepo, fake: FakeTailscale, at: str = AT) -> None:
    fake.requests.clear()
    fake.received.clear()
    again = repo.run("apply", "--at", at)
    assert again.code == 0, again.err
    assert "No changes" in again.out
    assert fake.count("GET", ACL) == 1 and fake.count("POST") == 0, dict(fake.requests)


def test_converge(repo: AccessRepo, managed: FakeTailscale, mode: str) -> None:
    repo.grant("prod", "alice.yaml", ALICE)
    first = repo.run("apply", "--at", AT)
    assert first.code == 0, first.err
    assert "alice@example.com" in members(managed)
    if mode == "default":
        assert writes(managed) == [DEFAULT_ETAG], "the write over the untouched default names it"
    assert_converged_run_costs_one_get(repo, managed)


def test_drift(repo: AccessRepo, managed: FakeTailscale) -> None:
    repo.grant("prod", "alice.yaml", ALICE)
    assert repo.run("apply", "--at", AT).code == 0
    managed.set_policy(managed.policy.replace(b'"tag:prod:22"', b'"tag:prod:2222"'))  # an edit in the console
    repo.grant("prod", "bob.yaml", BOB)
    result = repo.run("apply", "--at", AT)
    assert result.code == 1 and "Drift" in result.out and "edits made outside git" in result.err
    assert b'"tag:prod:2222"' in managed.policy, "the outside edit is kept"
    assert "bob@example.com" in members(managed), "access changes still happen"


def test_adoption(repo: AccessRepo, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    console = canonical(BASE_POLICY.encode().replace(b"// prod access", b"// prod access (from the console)"))
    for fake in start(repo, monkeypatch, mode, console):
        refused = repo.run("plan", "--at", AT)
        assert refused.code == 0 and "Not managed by tailjit yet" in refused.out and "tailjit import" in refused.out
        imported = repo.run("import")
        assert imported.code == 0, imported.err
        assert (repo.root / "policy" / "policy.hujson").read_bytes() == console
        adopted = repo.run("apply", "--at", AT)
        assert adopted.code == 0, adopted.err
        assert "Adopting" in adopted.out
        if mode == "default":
            assert writes(fake) == [DEFAULT_ETAG]
        assert split_header(fake.policy)[0] is not None, "the header is written"
        assert canonical(split_header(fake.policy)[1]) == console, "and nothing else changes"
        assert_converged_run_costs_one_get(repo, fake)


def test_revoke(repo: AccessRepo, managed: FakeTailscale) -> None:
    repo.grant("prod", "alice.yaml", ALICE)
    assert repo.run("apply", "--at", AT).code == 0
    assert "alice@example.com" in members(managed)
    result = repo.run("apply", "--at", AFTER_ALICE)
    assert result.code == 0, result.err
    assert "revoke" in result.out and "alice@example.com" not in members(managed)
    assert members(managed) == ["dana@example.com"], "the permanent member stays"
    assert_converged_run_costs_one_get(repo, managed, AFTER_ALICE)


def test_refused_policy_is_not_written(repo: AccessRepo, managed: FakeTailscale) -> None:
    assert repo.run("apply", "--at", AT).code == 0
    policy = repo.root / "policy" / "policy.hujson"
    policy.write_text(policy.read_text().replace(
        '\t"acls": [', '\t"tests": [{"src": "dana@example.com", "accept": ["tag:staging:80"]}],\n\t"acls": ['))
    before = managed.policy
    managed.received.clear()
    result = repo.run("apply", "--at", AT)
    assert result.code == 1
    assert 'dana@example.com: address "tag:staging:80": want: Accept, got: Drop' in result.err
    assert managed.policy == before and not writes(managed)
