"""Local checks of a policy's meaning that Tailscale would also make.

The file backend runs these in ``validate`` so that a demo or a test run
catches what the tailnet would refuse: a group used but never defined.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

from reconciler.core.policy import Policy
from reconciler.errors import PolicyError

_GROUP_FIELDS = {
    "acls": ("src", "dst", "users"),
    "ssh": ("src", "dst", "users"),
    "grants": ("src", "dst"),
}


def check_policy(policy: Policy | Any) -> tuple[str, ...]:
    """What the tailnet would refuse in ``policy`` (a `Policy`, or its plain data): a syntax error, or groups
    used but not defined."""
    if isinstance(policy, Policy):
        try:
            policy = policy.data
        except PolicyError as e:
            return (f"line {e.line}: {e.message}" if e.line else e.message,)
    return tuple(undefined_groups(policy))


def undefined_groups(policy: Any) -> list[str]:
    """Messages for every ``group:NAME`` referenced in rules or tagOwners but not defined in ``groups``."""
    if not isinstance(policy, dict):
        return ["the policy is not a JSON object"]
    groups = policy.get("groups")
    defined = set(groups) if isinstance(groups, dict) else set()
    problems: list[str] = []
    for where, name in _references(policy):
        if name not in defined:
            problems.append(f"{where} uses {name}, which \"groups\" does not define")
    return problems


def _references(policy: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for section, fields in _GROUP_FIELDS.items():
        rules = policy.get(section)
        if not isinstance(rules, list):
            continue
        for i, rule in enumerate(rules):
            if not isinstance(rule, dict):
                continue
            for field in fields:
                for item in rule.get(field) or ():
                    name = _group_of(item)
                    if name:
                        yield f"{section}[{i}].{field}", name
    for section in ("tagOwners", "groups"):  # both map a name to a list that may hold groups
        entries = policy.get(section)
        if not isinstance(entries, dict):
            continue
        for name, members in entries.items():
            for item in members if isinstance(members, list) else ():
                group = _group_of(item)
                if group:
                    yield f"{section}[{name!r}]", group

def _group_of(item: object) -> str | None:
    if not isinstance(item, str) or not item.startswith("group:"):
        return None
    return ":".join(item.split(":")[:2])  # "group:prod:22" in an acl dst names group:prod


def temporary_access_warnings(base: Any, target_groups: Collection[str], temporary: Collection[str]) -> list[str]:
    """What in the base policy (plain data) makes access depend on, or outlive, a grant:

    * a ``tests`` entry whose ``src`` is a user granted temporarily (one of ``temporary``) and a permanent
      member of no group: it passes only while the grant lasts, and at expiry the tailnet refuses the policy;
    * a target group in ``tagOwners``: a tag a temporary member applies to a device stays after the grant;
    * a target group in ``autoApprovers``: routes and exit nodes a temporary member advertises stay approved.
    """
    if not isinstance(base, dict):
        return []
    groups = base.get("groups")
    permanent = {m.lower() for members in (groups.values() if isinstance(groups, dict) else ())
                 if isinstance(members, list) for m in members if isinstance(m, str)}
    granted = {u.lower() for u in temporary} - permanent
    warnings = []
    tests = base.get("tests")
    for number, entry in enumerate(tests if isinstance(tests, list) else ()):
        src = entry.get("src") if isinstance(entry, dict) else None
        if isinstance(src, str) and src.lower() in granted:
            warnings.append(f"tests[{number}] checks {src}, who has access only through a grant: it will fail "
                            "when the grant ends, and the tailnet then refuses the revocation; test a permanent "
                            "member instead")
    wanted = set(target_groups)
    for section, consequence in (("tagOwners", "a tag a temporary member puts on a device stays after the grant "
                                               "ends"),
                                 ("autoApprovers", "routes or exit nodes a temporary member advertises stay "
                                                   "approved after the grant ends")):
        for path, group in _strings(base.get(section), section):
            if group in wanted:
                warnings.append(f"{path} lists target group {group}: {consequence}")
    return warnings


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}[{key!r}]")
