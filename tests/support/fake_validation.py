"""What the fake Tailscale API answers to ``POST …/acl/validate``: syntax, undefined groups, the policy's tests.

The ``tests`` are run minimally: a test's ``src`` user, the groups that list
it directly, ``*`` and ``autogroup:member`` are matched against ``acls`` whose
``dst`` is ``host:port`` (ports ``*``, lists and ranges). Enough to make a test
fail when a grant or a base-policy edit drops access, as Tailscale would.
"""

from __future__ import annotations

from typing import Any

from reconciler import hujson
from reconciler.core.policycheck import undefined_groups


def validate(text: bytes) -> tuple[int, dict[str, Any]]:
    """``(status, answer)`` as Tailscale's validate endpoint gives them."""
    try:
        policy = hujson.parse(text).to_python()
    except hujson.HuJSONError as e:
        return 400, {"message": str(e)}
    problems = undefined_groups(policy)
    if problems:
        return 400, {"message": "; ".join(problems)}
    failures = run_tests(policy)
    if failures:
        return 200, {"message": "test(s) failed", "data": failures}
    return 200, {}


def run_tests(policy: dict[str, Any]) -> list[dict[str, Any]]:
    """The policy's ``tests`` against its ``acls``: direct group membership, ``host:port`` destinations."""
    groups = policy.get("groups") or {}
    failures = []
    for test in policy.get("tests") or ():
        user = test.get("src", "")
        principals = {user, "*", "autogroup:member"} | {g for g, members in groups.items() if user in members}
        errors = [f'address "{dst}": want: Accept, got: Drop'
                  for dst in test.get("accept") or () if not _allowed(policy, principals, dst)]
        errors += [f'address "{dst}": want: Drop, got: Accept'
                   for dst in test.get("deny") or () if _allowed(policy, principals, dst)]
        if errors:
            failures.append({"user": user, "errors": errors})
    return failures


def _allowed(policy: dict[str, Any], principals: set[str], dst: str) -> bool:
    host, _, port = dst.rpartition(":")
    for rule in policy.get("acls") or ():
        if rule.get("action") != "accept" or not principals & set(rule.get("src") or ()):
            continue
        for target in rule.get("dst") or ():
            rule_host, _, ports = target.rpartition(":")
            if rule_host in (host, "*") and _port_in(port, ports):
                return True
    return False


def _port_in(port: str, ports: str) -> bool:
    if ports == "*":
        return True
    for part in ports.split(","):
        low, _, high = part.partition("-")
        if port.isdigit() and low.isdigit() and int(low) <= int(port) <= int(high or low):
            return True
    return False
