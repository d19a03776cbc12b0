"""Canonical drift detection, header placement, ``tailjit fmt``, ``tailjit import`` and adoption (file backend)."""

from __future__ import annotations

import pytest

from reconciler import hujson
from reconciler.core.plan import make_plan
from reconciler.core.policy import HEADER_PREFIX, Policy, canonical, canonical_policy, split_header
from reconciler.core.render import render
from reconciler.errors import PolicyError
from reconciler.repo.adopt import import_live, import_policy
from tests.support.access import BASE_POLICY, AccessRepo
from tests.support.policies import TARGETS, active

BASE = BASE_POLICY.encode()
LOCK = b"// This tailnet's ACLs are maintained in https://github.com/acme/access\n"


def written(base: bytes, *users: str) -> bytes:
    """What tailjit writes for ``base`` with ``users`` granted prod: canonical text under the header."""
    return canonical_policy(Policy(render(base, TARGETS, [active(u) for u in users]))).text


def respaced(text: bytes) -> bytes:
    """``text`` as a server that re-indents with spaces and uses CRLF line ends might hand it back."""
    return text.replace(b"\t", b"    ").replace(b"\n", b"\r\n")


def test_what_tailjit_writes_is_canonical_and_its_header_digests_the_canonical_body() -> None:
    text = written(BASE, "alice@example.com")
    digest, body = split_header(text)
    assert canonical(body) == body
    assert canonical(text) == text, "a server formatting the whole text (header included) changes nothing"
    assert digest is not None and make_plan(text, render(BASE, TARGETS, [active("alice@example.com")]),
                                            TARGETS).has_changes is False


def test_a_server_that_reformats_is_not_drift_and_converged_means_no_write() -> None:
    live = respaced(written(BASE, "alice@example.com"))
    plan = make_plan(live, render(BASE, TARGETS, [active("alice@example.com")]), TARGETS)
    assert not plan.drift and not plan.has_changes and plan.proposed == live


def test_a_reformatted_live_policy_still_gets_grants_and_revocations() -> None:
    live = respaced(written(BASE, "alice@example.com"))
    plan = make_plan(live, render(BASE, TARGETS, [active("bob@example.com")]), TARGETS)
    assert not plan.drift
    assert [(c.user, str(c.kind)) for c in plan.member_changes] == [("bob@example.com", "grant"),
                                                                   ("alice@example.com", "revoke")]
    assert canonical(split_header(plan.proposed)[1]) == split_header(plan.proposed)[1]


@pytest.mark.parametrize(("before", "after"), [
    (b'"tag:prod:22"', b'"tag:prod:23"'),        # a value
    (b"// prod access", b"// prod access (edited)"),  # a comment
])
def test_a_change_of_content_or_comment_is_drift_even_when_reformatted(before: bytes, after: bytes) -> None:
    live = respaced(written(BASE).replace(before, after))
    plan = make_plan(live, render(BASE, TARGETS, []), TARGETS)
    assert plan.drift and not plan.unmanaged
    assert after.decode() in plan.drift_diff


def test_header_goes_after_a_gitops_lock_comment_on_line_one() -> None:
    base = LOCK + BASE
    text = written(base, "alice@example.com")
    lines = text.splitlines(keepends=True)
    assert lines[0] == LOCK and lines[1].startswith(HEADER_PREFIX), "the lock keeps line 1"
    assert split_header(text)[1] == canonical(render(base, TARGETS, [active("alice@example.com")]).replace(
        lines[1], b""))
    assert not make_plan(respaced(text), render(base, TARGETS, [active("alice@example.com")]), TARGETS).has_changes
    assert import_policy(text) == base, "import keeps the lock, drops the header"


def test_import_leaves_out_the_header_and_every_member_tailjit_added() -> None:
    live = written(BASE, "alice@example.com", "zed@example.com")
    imported = import_live(live)
    assert imported.text == BASE
    assert imported.removed == (("group:prod", "alice@example.com"), ("group:prod", "zed@example.com"))
    assert "dana@example.com" in hujson.parse(imported.text).to_python()["groups"]["group:prod"], "permanent stays"


def test_import_of_a_one_line_array_with_block_notes() -> None:
    base = b'{"groups": {"group:prod": ["dana@example.com" /* lead */]}}\n'
    live = render(base, {"prod": TARGETS["prod"]}, [active("alice@example.com")])
    assert b"/* tailjit: prod/alice.yaml" in live
    imported = import_policy(live)
    assert hujson.parse(imported).to_python() == {"groups": {"group:prod": ["dana@example.com"]}}
    assert b"/* lead */" in imported and b"tailjit" not in imported and canonical(imported) == imported


def test_import_keeps_a_console_policy_as_it_is_in_canonical_form() -> None:
    console = b'{\r\n  // from the admin console\r\n  "acls": [{"action": "accept", "src": ["*"], "dst": ["*:*"]}]}'
    imported = import_policy(console)
    assert imported == canonical(console) and b"// from the admin console" in imported


def test_import_of_a_broken_live_policy_says_where() -> None:
    with pytest.raises(PolicyError, match=r"live policy:2"):
        import_policy(b"{\n  oops\n}")


def test_live_without_header_equal_to_git_is_adopted() -> None:
    live = respaced(canonical(BASE))
    plan = make_plan(live, render(BASE, TARGETS, []), TARGETS)
    assert plan.adopted and not plan.drift and plan.has_changes
    assert split_header(plan.proposed)[0] is not None, "the write adds the header"


def test_live_without_header_that_differs_is_unmanaged_drift() -> None:
    live = BASE.replace(b'"tag:prod:22"', b'"tag:prod:2222"')
    plan = make_plan(live, render(BASE, TARGETS, []), TARGETS)
    assert plan.drift and plan.unmanaged and not plan.adopted


# -- through the CLI, with the file backend ----------------------------------------------------------------


def test_fmt_check_then_fmt(repo: AccessRepo) -> None:
    policy = repo.root / "policy" / "policy.hujson"
    policy.write_bytes(BASE.replace(b'\t"tagOwners": {"tag:prod": ["group:sre"]}',
                                    b'\t"tagOwners":   {   "tag:prod": ["group:sre"]  }'))
    checked = repo.run("fmt", "--check")
    assert checked.code == 1 and "not in canonical form" in checked.err and "run tailjit fmt" in checked.err
    assert '+\t"tagOwners": {"tag:prod": ["group:sre"]},' in checked.out
    validated = repo.run("validate")
    assert validated.code == 0 and "warning" in validated.err and "tailjit fmt" in validated.err
    assert repo.run("fmt").code == 0
    assert policy.read_bytes() == BASE
    again = repo.run("fmt", "--check")
    assert again.code == 0 and "is canonical" in again.out
    assert "tailjit fmt" not in repo.run("validate").err


def test_fmt_of_a_broken_base_policy_says_where_and_changes_nothing(repo: AccessRepo) -> None:
    policy = repo.root / "policy" / "policy.hujson"
    policy.write_bytes(b"{\n\t\"groups\": {\n\t\toops\n}\n")
    result = repo.run("fmt")
    assert result.code == 1 and "policy/policy.hujson:3:" in result.err
    assert policy.read_bytes() == b"{\n\t\"groups\": {\n\t\toops\n}\n"


def test_import_writes_the_live_policy_into_the_base_then_apply_adopts(repo: AccessRepo) -> None:
    console = canonical(BASE.replace(b"// prod access", b"// prod access, set up in the console"))
    repo.tailnet.write_bytes(console)
    drift = repo.run("apply", "--at", "2026-11-24T12:00:00Z")
    assert drift.code == 1 and "tailjit import" in drift.err and "Not managed by tailjit yet" in drift.out
    repo.tailnet.write_bytes(console)
    imported = repo.run("import")
    assert imported.code == 0 and "Wrote the live policy" in imported.out
    assert (repo.root / "policy" / "policy.hujson").read_bytes() == console
    adopted = repo.run("apply", "--at", "2026-11-24T12:00:00Z")
    assert adopted.code == 0, adopted.err
    assert "Adopting" in adopted.out
    assert split_header(repo.tailnet.read_bytes()) == (split_header(repo.tailnet.read_bytes())[0], console)
    assert repo.run("plan", "--at", "2026-11-24T12:00:00Z", "--detailed-exitcode").code == 0
    assert "nothing written" in repo.run("import").out


def test_import_of_an_empty_tailnet_is_an_error(repo: AccessRepo) -> None:
    repo.tailnet.write_bytes(b"")
    result = repo.run("import")
    assert result.code == 1 and "holds no policy" in result.err
    assert (repo.root / "policy" / "policy.hujson").read_bytes() == BASE
