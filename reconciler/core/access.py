"""Who has access now: each target group's members in the live policy, told apart. Pure: texts in, values out.

The live policy is the truth of who is in a group. Each member is one of:

* ``permanent``: listed in the base policy's group;
* ``temporary``: carries tailjit's member note (``tailjit: prod/alice.yaml
  until …``) naming a grant file that is in the repository; the note gives
  the end;
* ``drift``: the repository does not account for it: a member note whose
  grant file is not there (deleted, or written by hand), or a member that is
  neither in the base policy nor has a note tailjit can read (added in the
  admin console). The next apply removes these.

A temporary member whose end has passed is still listed, with a problem:
it is revoked by the next apply.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reconciler.core.config import Target
from reconciler.core.durations import format_time
from reconciler.core.plan import member_notes
from reconciler.core.policy import MemberNote, Policy, split_header

KINDS = ("permanent", "temporary", "drift")


@dataclass(frozen=True)
class Member:
    target: str
    group: str
    user: str
    kind: str
    until: datetime | None = None
    #: the grant file below the grants folder (``prod/alice.yaml``), from the member note
    file: str | None = None
    problem: str | None = None

    @property
    def data(self) -> dict[str, Any]:
        return {"target": self.target, "group": self.group, "user": self.user, "kind": self.kind,
                "until": format_time(self.until) if self.until else None, "file": self.file,
                "problem": self.problem}


def who_has_access(live: bytes, base: bytes, targets: Mapping[str, Target], grant_files: Collection[str],
                   now: datetime) -> list[Member]:
    """Every member of every target group in ``live``, by target then in the group's order.

    ``grant_files`` are the names of the repository's grant files below the grants folder (``prod/alice.yaml``).
    """
    if not live.strip():
        return []
    policy = Policy(live, path="live policy")
    _, base_body = split_header(base)
    base_groups = group_lists(Policy(base_body, path="base policy").data)
    live_groups = group_lists(policy.data)
    found: list[Member] = []
    for target in targets.values():
        logins = list(dict.fromkeys(live_groups.get(target.group, [])))
        notes = member_notes(policy.tree, policy.data, [(target.group, login) for login in logins])
        permanent = {login.lower() for login in base_groups.get(target.group, [])}
        for login in logins:
            found.append(_member(target, login, notes.get((target.group, login)), login.lower() in permanent,
                                 grant_files, now))
    return found


def _member(target: Target, login: str, note: MemberNote | None, permanent: bool, grant_files: Collection[str],
            now: datetime) -> Member:
    if permanent:
        return Member(target.name, target.group, login, "permanent")
    if note is None:
        return Member(target.name, target.group, login, "drift",
                      problem="not in the base policy and no grant file: added outside git")
    if note.grant not in grant_files:
        return Member(target.name, target.group, login, "drift", note.until, note.grant,
                      problem="its grant file is not in the repository")
    problem = "expired; the next apply revokes it" if note.until <= now else None
    return Member(target.name, target.group, login, "temporary", note.until, note.grant, problem)


def group_lists(data: Any) -> dict[str, list[str]]:
    """``groups`` of a policy's plain data: each group's string members (empty when there is none)."""
    groups = data.get("groups") if isinstance(data, dict) else None
    if not isinstance(groups, dict):
        return {}
    return {k: [m for m in v if isinstance(m, str)] for k, v in groups.items() if isinstance(v, list)}
