"""Configuration values: targets, safety limits, and the settings of one access repository.

Paths inside are absolute; `Config.relative` shows them relative to the repository root.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

TARGET_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
GROUP_NAME = re.compile(r"group:[A-Za-z0-9][A-Za-z0-9._-]{0,126}")
#: A grant may never last longer than this, whatever a target says.
MAX_DURATION_CEILING = timedelta(days=90)
#: `Config.expiring_before` unless the config says otherwise.
DEFAULT_EXPIRING_BEFORE = timedelta(minutes=30)
#: What ``lock:`` of a target accepts: ``none`` (group membership only) or ``posture`` (also a device
#: posture attribute with an expiry that Tailscale enforces; see `reconciler.core.posture`).
LOCKS = ("none", "posture")
#: `Config.warn_key_days` unless the config says otherwise; API access tokens last at most `MAX_KEY_DAYS`.
DEFAULT_WARN_KEY_DAYS = 14
MAX_KEY_DAYS = 90
#: The kinds of notification sink ``notify:`` accepts.
SINK_KINDS = ("webhook", "slack")
#: A GitHub user (@name), team (@org/team) or an email address of a GitHub account, as CODEOWNERS writes them.
OWNER = re.compile(r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:/[A-Za-z0-9][A-Za-z0-9._-]*)?"
                   r"|[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
#: A GitHub login: letters, digits and single hyphens, at most 39 characters.
GITHUB_LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
#: The prefix of an ``identities`` key naming a GitHub login (``github:alice-gh``).
GITHUB_PREFIX = "github:"
#: A requester pattern that is not a login: every login of one domain (``*@example.com``).
DOMAIN_PATTERN = re.compile(r"\*@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
                            r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*")


def login_matches(patterns: tuple[str, ...], login: str) -> bool:
    """Whether ``login`` is one of ``patterns`` (logins, or ``*@domain`` for a whole domain); case-insensitive."""
    lowered = login.lower()
    for pattern in patterns:
        wanted = pattern.lower()
        if wanted.startswith("*@") and lowered.endswith(wanted[1:]) and lowered.count("@") == 1:
            return True
        if wanted == lowered:
            return True
    return False


@dataclass(frozen=True)
class BreakGlass:
    """A target's emergency access: an ``allowed`` user may be granted with no approval, for a shorter while.

    The pull request needs the ``break-glass`` label and the grant file ``break_glass: true``; a review
    issue is opened after the fact.
    """

    max_duration: timedelta
    #: Tailscale logins or ``*@domain`` patterns, matched against the grant's user
    allowed: tuple[str, ...]


def backend_problem(spec: str) -> str | None:
    """Why ``spec`` names no backend (None when it is ``tailscale`` or ``file:PATH``)."""
    if spec == "tailscale" or (spec.startswith("file:") and spec != "file:"):
        return None
    if spec == "file:":
        return "backend 'file:' needs a path, e.g. file:.tailjit/tailnet.hujson"
    return f"unknown backend {spec!r}: use 'tailscale' or 'file:PATH'"


def base_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be the API's base URL (None when it is an http(s) URL with a host)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return f"{url!r} has no scheme: write https://{url.lstrip('/')}"
    if scheme.lower() not in ("http", "https"):
        return f"{url!r} is not an http(s) URL"
    authority = rest.split("/", 1)[0]
    if "@" in authority:
        return "the URL carries a user name or password (user:password@host): tailjit refuses credentials there"
    if not authority:
        return f"{url!r} names no host"
    return None


@dataclass(frozen=True)
class Target:
    """A Tailscale group whose members may be granted temporarily."""

    name: str
    group: str
    max_duration: timedelta
    label: str = ""
    approvers: tuple[str, ...] = ()
    #: distinct approving reviewers a pull request granting this target needs (`tailjit approvals`)
    approvals: int = 1
    #: who may be granted: Tailscale logins or ``*@domain`` patterns; empty means anyone
    requesters: tuple[str, ...] = ()
    #: a regular expression the grant's reason must match (searched, so anchor it to match the whole reason)
    reason_pattern: re.Pattern[str] | None = None
    #: the duration ``tailjit request`` asks for when ``--for`` is not given
    default_duration: timedelta | None = None
    break_glass: BreakGlass | None = None
    #: ``posture``: access also needs the device attribute tailjit sets with the grant's end as its expiry
    lock: str = "none"

    @property
    def posture_locked(self) -> bool:
        return self.lock == "posture"

    def request_problems(self, user: str, reason: str) -> list[tuple[str, str]]:
        """What the target's request rules (``requesters``, ``reason_pattern``) say against a grant, as
        ``(key at fault, message)``."""
        found = []
        if self.requesters and not login_matches(self.requesters, user):
            found.append(("user", f"{user} may not be granted {self.name!r}: its requesters are "
                                  f"{', '.join(self.requesters)}"))
        if self.reason_pattern is not None and self.reason_pattern.search(reason) is None:
            found.append(("reason", f"the reason does not match target {self.name!r}'s reason_pattern "
                                    f"{self.reason_pattern.pattern!r}"))
        return found


@dataclass(frozen=True)
class Safety:
    """Limits a plan must stay within unless ``--force`` (see `Plan.raise_if_unsafe`)."""

    #: share of existing permanent group members a plan may remove
    max_removed_members: float = 0.3
    #: share of the base policy's entries (acl rules, ssh rules, tagOwners, …) a plan may change or delete
    max_changed_entries: float = 0.3
    #: below this many existing members / entries the shares are not enforced
    min_existing: int = 10


@dataclass(frozen=True)
class AwsSecret:
    """An AWS Secrets Manager secret holding the Tailscale credential."""

    name: str
    key: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class Sink:
    """Where notifications go. The URL and the signing secret are read from the environment variables
    named here, at send time, and are never shown (see `reconciler.notify`)."""

    kind: str
    url_env: str
    secret_env: str | None = None
    #: the most seconds one delivery may take, retries included
    timeout: float = 5.0
    #: extra attempts after a timeout, a failed connection or a 5xx
    retries: int = 2
    #: the line of ``tailjit.yaml`` declaring it, for messages
    line: int = 0

    @property
    def label(self) -> str:
        """How messages name the sink: its kind and variable, never its value."""
        return f"{self.kind} sink ({self.url_env})"


@dataclass(frozen=True)
class Config:
    path: Path
    root: Path
    policy_path: Path
    grants_dir: Path
    targets: Mapping[str, Target]
    tailnet: str = "-"
    backend: str = "tailscale"
    base_url: str | None = None
    audience: str | None = None
    aws_secret: AwsSecret | None = None
    identities: Mapping[str, str] = field(default_factory=dict)
    safety: Safety = field(default_factory=Safety)
    #: code owners of everything that is not a grant (base policy, config, workflows): see `codeowners`
    owners: tuple[str, ...] = ()
    #: where events (granted, revoked, …) are sent; empty: nowhere
    notify: tuple[Sink, ...] = ()
    #: ``apply --watch`` announces an active grant's end this long before it
    expiring_before: timedelta = DEFAULT_EXPIRING_BEFORE
    #: the reviewed branch: with the ``tailscale`` backend, apply grants only from its clean checkout
    branch: str = "main"
    #: warn when the API access token in use expires in fewer than this many days (0: never)
    warn_key_days: int = DEFAULT_WARN_KEY_DAYS

    def github_identity(self, github_login: str) -> str | None:
        """The Tailscale login that ``identities`` gives GitHub user ``github_login`` (``github:LOGIN`` keys)."""
        wanted = (GITHUB_PREFIX + github_login).lower()
        return next((v for k, v in self.identities.items() if k.lower() == wanted), None)

    def relative(self, path: Path) -> str:
        """``path`` relative to the repository root, with forward slashes, for messages."""
        try:
            return path.resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(path)
