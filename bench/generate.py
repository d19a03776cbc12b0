"""A synthetic access repository the size of a large company's, for the benchmarks.

``generate(root, grants=N)`` writes ``<root>/policy/{tailjit.yaml,policy.hujson,grants/}``:

* a base policy of about 1 MiB laid out as people write them: commented
  sections (``groups``, ``tagOwners``, ``hosts``, ``acls``, ``ssh``, ``grants``,
  ``nodeAttrs``, ``tests``), tabs, trailing commas, a few
  thousand engineers spread over hundreds of team groups;
* 100 targets, each a group in the base policy with a few permanent members;
* ``N`` grant files active at `NOW`, of which a few started within the last
  hour, plus a few that expired within the last hour — so that a reconcile at
  `NOW` against the policy rendered at `PREVIOUS` has real work to do: grants to
  add and grants to revoke, as the scheduled run does.

Everything is drawn from a seeded generator: the same arguments give the same bytes.

Run ``python bench/generate.py DIR --grants 10000`` to get a repository to try tailjit on.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

#: The moment the benchmarks reconcile at, and the run before it.
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
PREVIOUS = NOW - timedelta(hours=1)
DOMAIN = "acme.example"
MiB = 1 << 20
#: Share of the active grants that started since `PREVIOUS` (and as many again expired since then).
CHURN = 0.02

_FIRST = ("alex", "bo", "chen", "dana", "eli", "fatima", "gus", "hana", "ivan", "jo", "kofi", "lena", "mo",
          "nadia", "omar", "pia", "quinn", "ravi", "sara", "tom", "uma", "vik", "wen", "xia", "yusuf", "zoe")
_LAST = ("adams", "baker", "cruz", "diaz", "evans", "fox", "garcia", "hughes", "ito", "jones", "kim", "lopez",
         "meyer", "nguyen", "okafor", "patel", "quist", "rossi", "smith", "tanaka", "ueda", "vogel", "wang")
_SERVICES = ("api", "billing", "search", "ledger", "auth", "ingest", "reports", "mail", "cdn", "ml", "etl",
             "kafka", "redis", "postgres", "vault", "ci", "metrics", "logs", "gateway", "payments")
_ENVS = ("prod", "staging", "dev", "dr", "sandbox")


@dataclass(frozen=True)
class Generated:
    """What `generate` wrote."""

    root: Path
    config: Path
    active: int
    expired: int
    targets: int
    policy_bytes: int
    users: int

    @property
    def grant_files(self) -> int:
        return self.active + self.expired


def users(count: int) -> list[str]:
    """``count`` distinct logins such as ``dana.kim17@acme.example``."""
    return [f"{_FIRST[i % len(_FIRST)]}.{_LAST[(i // len(_FIRST)) % len(_LAST)]}{i}@{DOMAIN}"
            for i in range(count)]


def target_names(count: int) -> list[str]:
    return [f"{_SERVICES[i % len(_SERVICES)]}-{_ENVS[(i // len(_SERVICES)) % len(_ENVS)]}-{i:03d}"
            for i in range(count)]


def generate(root: Path, *, grants: int, targets: int = 100, policy_bytes: int = MiB, engineers: int = 5000,
             seed: int = 1) -> Generated:
    """Write an access repository under ``root`` (which must not hold one already)."""
    rng = random.Random(seed)
    logins = users(engineers)
    names = target_names(targets)
    policy_dir = root / "policy"
    policy_dir.mkdir(parents=True, exist_ok=False)
    (policy_dir / "tailjit.yaml").write_text(config_text(names))
    policy = base_policy(names, logins, policy_bytes, rng)
    (policy_dir / "policy.hujson").write_text(policy)
    expired = round(grants * CHURN)
    for i in range(grants + expired):
        target = names[rng.randrange(len(names))]
        folder = policy_dir / "grants" / target
        folder.mkdir(parents=True, exist_ok=True)
        user = logins[rng.randrange(len(logins))]
        window = _expired_window(rng) if i >= grants else _active_window(rng, i < grants * CHURN)
        (folder / f"{user.split('@')[0]}-{i:06d}.yaml").write_text(grant_text(user, target, i, *window))
    return Generated(root=root, config=policy_dir / "tailjit.yaml", active=grants, expired=expired,
                     targets=targets, policy_bytes=len(policy.encode()), users=engineers)


def _active_window(rng: random.Random, recent: bool) -> tuple[datetime | None, datetime]:
    """A window holding `NOW`; ``recent`` ones start after `PREVIOUS`. Half give no start (active until expiry)."""
    if recent:
        start: datetime | None = NOW - timedelta(minutes=rng.randrange(0, 59))
    elif rng.random() < 0.5:
        start = None
    else:
        start = PREVIOUS - timedelta(minutes=rng.randrange(1, 3 * 24 * 60))
    return start, NOW + timedelta(minutes=rng.randrange(5, 3 * 24 * 60))


def _expired_window(rng: random.Random) -> tuple[datetime | None, datetime]:
    """A window that held `PREVIOUS` and ended before `NOW`."""
    end = NOW - timedelta(minutes=rng.randrange(1, 59))
    return end - timedelta(hours=rng.randrange(2, 48)), end


def grant_text(user: str, target: str, number: int, start: datetime | None, expires: datetime) -> str:
    ticket = f"INC-{10000 + number}"
    lines = [f"user: {user}", f"target: {target}", f"reason: Investigate {ticket} on {target}",
             f"ticket: {ticket}"]
    if start is not None:
        lines.append(f"start: {_iso(start)}")
    lines.append(f"expires: {_iso(expires)}")
    return "\n".join(lines) + "\n"


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def config_text(names: list[str]) -> str:
    out = ["# Synthetic access repository for the tailjit benchmarks.", 'tailnet: "-"', "targets:"]
    for name in names:
        out += [f"  {name}:", f"    group: group:jit-{name}", f"    label: {name} access", "    max_duration: 7d",
                f'    approvers: ["@acme/{name.split("-")[0]}-leads"]']
    return "\n".join(out) + "\n"


# --- the base policy --------------------------------------------------------------------------------


def base_policy(names: list[str], logins: list[str], size: int, rng: random.Random) -> str:
    """A HuJSON policy of about ``size`` bytes: the target groups, then every section grown in turn."""
    teams: list[str] = []  # defined so far: rules only name groups and tags the policy defines
    tags: list[str] = []
    sections: dict[str, Callable[[int], str]] = {
        "groups": lambda i: _team_group(_define(teams, f"group:team-{i:03d}"), logins, rng),
        "tagOwners": lambda i: f'"{_define(tags, _tag(i))}": ["{rng.choice(teams)}", "autogroup:admin"],',
        "hosts": lambda i: f'"{rng.choice(_SERVICES)}-{i:05d}": "100.{64 + i // 65536 % 64}.{i // 256 % 256}.'
                           f'{i % 256}", // rack {rng.randrange(1, 90)}',
        "acls": lambda i: _acl(i, teams, tags, rng),
        "ssh": lambda i: _ssh(i, teams, tags, rng),
        "grants": lambda i: _grant_rule(teams, tags, rng),
        "nodeAttrs": lambda i: f'{{"target": ["{rng.choice(tags)}"], "attr": ["funnel"]}},',
        "tests": lambda i: _test(logins, tags, rng),
    }
    weights = {"groups": 8, "tagOwners": 1, "hosts": 2, "acls": 6, "ssh": 2, "grants": 3, "nodeAttrs": 1, "tests": 2}
    entries: dict[str, list[str]] = {name: [] for name in sections}
    targets = [_target_group(name, logins, rng) for name in names]
    total = sum(len(e) for e in targets)
    while total < size:
        for name, weight in weights.items():
            for _ in range(weight):
                entry = sections[name](len(entries[name]))
                entries[name].append(entry)
                total += len(entry) + 3
    return _assemble(entries, targets)


def _define(names: list[str], name: str) -> str:
    names.append(name)
    return name


def _tag(i: int) -> str:
    per_service = len(_ENVS)
    if i < len(_SERVICES) * per_service:
        return f"tag:{_SERVICES[i // per_service]}-{_ENVS[i % per_service]}"
    return f"tag:node-{i:05d}"


def _assemble(entries: dict[str, list[str]], targets: list[str]) -> str:
    out = ["// ACME Corp tailnet policy.",
           "// Owned by the network team; every change goes through review. Temporary access is granted",
           "// by tailjit: do not edit the jit groups' members by hand.", "{"]
    for name, items in entries.items():
        out += ["", f"\t// {'-' * 60} {name}", f"\t// {_SECTION_NOTES[name]}"]
        opener, closer = ("[", "]") if name in ("acls", "ssh", "grants", "nodeAttrs", "tests") else ("{", "}")
        out.append(f'\t"{name}": {opener}')
        if name == "groups":
            out.append("\t\t// Just-in-time targets (tailjit).")
            out += [f"\t\t{t}" for t in targets]
            out.append("\t\t// Teams, from the HR sync.")
        for i, item in enumerate(items):
            if i % 50 == 0 and i:
                out.append(f"\t\t// {name} {i}–{i + 49}")
            out.append(f"\t\t{item}")
        out.append(f"\t{closer},")
    out.append("}")
    return "\n".join(out) + "\n"


_SECTION_NOTES = {
    "groups": "Who is who. Team groups are synced nightly; jit groups hold only their permanent members.",
    "tagOwners": "Who may tag a device.",
    "hosts": "Named addresses, for rules and tests.",
    "acls": "Classic access rules (frozen: new rules go to grants).",
    "ssh": "Tailscale SSH: who may log in as whom, and with which check period.",
    "grants": "Access rules in the grants syntax.",
    "nodeAttrs": "Device attributes.",
    "tests": "Assertions the tailnet checks on every policy change.",
}


def _target_group(name: str, logins: list[str], rng: random.Random) -> str:
    permanent = rng.sample(logins, rng.randrange(0, 4))
    if not permanent:
        return f'"group:jit-{name}": [],'
    lines = [f'"group:jit-{name}": [']
    lines += [f'\t\t\t"{login}", // on-call lead' for login in permanent]
    return "\n".join(lines) + "\n\t\t],"


def _team_group(name: str, logins: list[str], rng: random.Random) -> str:
    members = rng.sample(logins, rng.randrange(5, 40))
    body = "".join(f'\n\t\t\t"{m}",' for m in members)
    return f'"{name}": [{body}\n\t\t],'


def _acl(i: int, teams: list[str], tags: list[str], rng: random.Random) -> str:
    dst = ", ".join(f'"{t}:{rng.choice((22, 443, 5432, 6379, 8080))}"' for t in (rng.choice(tags) for _ in range(3)))
    return (f'{{"action": "accept", "src": ["{rng.choice(teams)}", "{rng.choice(teams)}"], "dst": [{dst}]}}, '
            f"// CHG-{i:05d}")


def _ssh(i: int, teams: list[str], tags: list[str], rng: random.Random) -> str:
    return (f'{{\n\t\t\t"action": "check", "checkPeriod": "12h",\n\t\t\t"src": ["{rng.choice(teams)}"],'
            f'\n\t\t\t"dst": ["{rng.choice(tags)}"], "users": ["root", "autogroup:nonroot"],\n\t\t}},')


def _grant_rule(teams: list[str], tags: list[str], rng: random.Random) -> str:
    return (f'{{"src": ["{rng.choice(teams)}"], "dst": ["{rng.choice(tags)}"], '
            f'"ip": ["tcp:443", "tcp:{rng.randrange(1024, 65535)}"]}},')


def _test(logins: list[str], tags: list[str], rng: random.Random) -> str:
    return f'{{"src": "{rng.choice(logins)}", "deny": ["{rng.choice(tags)}:9"]}}, // no rule opens port 9'


def main() -> None:
    parser = argparse.ArgumentParser(description="Write a synthetic tailjit access repository.")
    parser.add_argument("root", type=Path, help="directory to create")
    parser.add_argument("--grants", type=int, default=10_000, help="active grant files (default 10000)")
    parser.add_argument("--targets", type=int, default=100)
    parser.add_argument("--policy-bytes", type=int, default=MiB)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    made = generate(args.root, grants=args.grants, targets=args.targets, policy_bytes=args.policy_bytes,
                    seed=args.seed)
    print(f"{made.root}: {made.grant_files} grant files ({made.active} active at {_iso(NOW)}), "
          f"{made.targets} targets, base policy {made.policy_bytes} bytes")


if __name__ == "__main__":
    main()
