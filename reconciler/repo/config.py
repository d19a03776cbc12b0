"""``policy/tailjit.yaml`` → `Config`, and finding it the way git finds ``.git``.

Paths inside the config are relative to the repository root, which is the
config file's parent's parent (``<root>/policy/tailjit.yaml``).
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from reconciler.core.config import (
    DEFAULT_EXPIRING_BEFORE,
    DEFAULT_WARN_KEY_DAYS,
    GITHUB_LOGIN,
    GITHUB_PREFIX,
    GROUP_NAME,
    LOCKS,
    MAX_DURATION_CEILING,
    MAX_KEY_DAYS,
    OWNER,
    SINK_KINDS,
    TARGET_NAME,
    AwsSecret,
    Config,
    Safety,
    Sink,
    Target,
    backend_problem,
    base_url_problem,
)
from reconciler.core.durations import format_duration, parse_duration
from reconciler.core.grants import LOGIN
from reconciler.core.posture import lock_problem
from reconciler.errors import ConfigError, ConfigErrors
from reconciler.repo import yamlfile
from reconciler.repo.fields import value_line
from reconciler.repo.rules import RulesReader
from reconciler.repo.yamlfile import YList, YMap, YScalar

DEFAULT_CONFIG = Path("policy/tailjit.yaml")
_DISCOVERY_HINT = "run tailjit inside an access repository, pass --config PATH, or create one with: tailjit init"
_TOP_KEYS = {"tailnet", "backend", "base_url", "audience", "policy", "grants", "credentials",
             "targets", "identities", "safety", "owners", "notify", "expiring_before", "branch",
             "warn_key_days"}
_TARGET_KEYS = {"group", "label", "max_duration", "approvers", "approvals", "requesters", "reason_pattern",
                "default_duration", "break_glass", "lock"}
_SAFETY_KEYS = {"max_removed_members", "max_changed_entries", "min_existing"}
_SINK_KEYS = {"type", "url_env", "secret_env", "timeout", "retries"}
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
MAX_SINKS = 20
MAX_SINK_TIMEOUT = 60.0
MAX_SINK_RETRIES = 5


def find_config(start: Path) -> Path:
    """The ``policy/tailjit.yaml`` of the access repository ``start`` is in: in ``start`` or the nearest folder
    above it that has one, never past the top of a git repository (as git finds ``.git``).

    Found in the current folder, the path is relative (``policy/tailjit.yaml``, as messages have always shown
    it); found elsewhere, it is absolute. Raises `ConfigError` naming where the search began and ended.
    """
    here = start.absolute()
    for folder in (here, *here.parents):
        candidate = folder / DEFAULT_CONFIG
        if candidate.is_file():
            return DEFAULT_CONFIG if folder == Path.cwd() else candidate
        if (folder / ".git").exists():
            where = (f"{here}, the top of its git repository" if folder == here
                     else f"{here} or any folder above it up to the top of its git repository, {folder}")
            raise ConfigError(f"no {DEFAULT_CONFIG} in {where}", hint=_DISCOVERY_HINT)
    raise ConfigError(f"no {DEFAULT_CONFIG} in {here} or any folder above it", hint=_DISCOVERY_HINT)




def load_config(path: Path) -> Config:
    """Read and check ``tailjit.yaml``. Raises `ConfigError` naming ``path:line``; `ConfigErrors` when there is
    more than one problem (each setting, and each target, is checked on its own, so every one is reported)."""
    shown = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        resolved = "" if path.is_absolute() else f" (resolved to {path.absolute()})"
        raise ConfigError(f"{shown}: no such file{resolved}", hint=_DISCOVERY_HINT) from None
    except OSError as e:
        raise ConfigError(f"cannot read {shown}: {e.strerror}") from None
    try:
        doc = yamlfile.load(data)
    except yamlfile.YAMLFileError as e:
        raise ConfigError(e.message, path=shown, line=e.line, hint=e.hint) from None
    if not isinstance(doc, YMap):
        raise ConfigError("expected a mapping of settings (tailnet, targets, …)", path=shown, line=1,
                          hint="start from the example: targets: {prod: {group: 'group:prod', max_duration: 8h}}")
    reader = _Reader(shown)
    reader.unknown_keys(doc, _TOP_KEYS, "setting")
    root = path.resolve().parent.parent
    attempt = reader.attempt
    config = Config(
        path=path,
        root=root,
        policy_path=root / attempt(lambda: reader.str_(doc, "policy", "policy/policy.hujson"), ""),
        grants_dir=root / attempt(lambda: reader.str_(doc, "grants", "policy/grants"), ""),
        targets=reader.targets(doc),
        tailnet=attempt(lambda: reader.str_(doc, "tailnet", "-"), "-"),
        backend=attempt(lambda: reader.checked(doc, "backend", backend_problem), None) or "tailscale",
        base_url=attempt(lambda: reader.checked(doc, "base_url", base_url_problem), None),
        audience=attempt(lambda: reader.opt_str(doc, "audience"), None),
        aws_secret=attempt(lambda: reader.aws_secret(doc), None),
        identities=attempt(lambda: reader.identities(doc), {}),
        safety=attempt(lambda: reader.safety(doc), Safety()),
        owners=attempt(lambda: reader.str_list(doc, "owners"), ()),
        notify=attempt(lambda: reader.sinks(doc), ()),
        expiring_before=attempt(lambda: reader.expiring_before(doc), DEFAULT_EXPIRING_BEFORE),
        branch=attempt(lambda: reader.checked(doc, "branch", _branch_problem), None) or "main",
        warn_key_days=attempt(lambda: reader.warn_key_days(doc), DEFAULT_WARN_KEY_DAYS),
    )
    if len(reader.problems) == 1:
        raise reader.problems[0]
    if reader.problems:
        raise ConfigErrors(sorted(reader.problems, key=lambda p: p.line or 0))
    return config




def _branch_problem(name: str) -> str | None:
    if not name.strip() or any(c.isspace() or not c.isprintable() for c in name) or name.startswith("-"):
        return f"{name[:80]!r} is not a branch name"
    return None


class _Reader(RulesReader):
    """Reads the settings of tailjit.yaml (see `FieldReader` for how problems are collected)."""

    def targets(self, doc: YMap) -> dict[str, Target]:
        node = doc.get("targets")
        if not isinstance(node, YMap) or not list(node):
            self.problems.append(self.error("'targets' must map at least one target name to its group and limits",
                                            doc.line_of("targets") if node is not None else 1,
                                            hint="e.g. targets: {prod: {group: 'group:prod', max_duration: 8h}}"))
            return {}
        targets: dict[str, Target] = {}
        groups: dict[str, str] = {}
        for name in node:
            found = self.attempt(lambda: self.target_entry(node, name, groups, targets), None)  # noqa: B023
            if found is not None:
                targets[name] = found
        return targets

    def target_entry(self, node: YMap, name: str, groups: dict[str, str], targets: dict[str, Target]) -> Target:
        """One entry under ``targets``; ``groups`` (group → target) catches two targets managing one group,
        ``targets`` (those read so far) a posture lock that names another."""
        line = node.line_of(name)
        if not TARGET_NAME.fullmatch(name):
            raise self.error(f"target name {name!r} must be lower-case letters, digits, '-' or '_'", line)
        spec = node.get(name)
        if not isinstance(spec, YMap):
            raise self.error(f"target {name!r} must be a mapping with 'group' and 'max_duration'", line)
        self.unknown_keys(spec, _TARGET_KEYS, f"key in target {name!r}:")
        group = self.opt_str(spec, "group")
        if group is not None and group.startswith("group:") and "@" in group:
            raise self.error(f"target {name!r} manages {group[:120]}, a group synced from the identity provider "
                             "(SCIM groups are named group:NAME@DOMAIN): its members are managed there, not in "
                             "the policy file, so tailjit cannot grant it", value_line(spec, "group"),
                             hint="give the target a group defined in the base policy's \"groups\" (e.g. "
                                  "group:prod-jit) and grant that group the same access as the synced one")
        if group is None or not GROUP_NAME.fullmatch(group):
            raise self.error(f"target {name!r} needs 'group: group:NAME' naming a Tailscale group",
                             spec.line_of("group"))
        if group in groups:
            raise self.error(f"targets {groups[group]!r} and {name!r} both manage {group}",
                             spec.line_of("group"))
        groups[group] = name
        target = self.target(name, group, spec)
        problem = lock_problem(target, {**targets, name: target}) if target.posture_locked else None
        if problem is not None:
            raise self.error(problem, value_line(spec, "lock"))
        return target

    def target(self, name: str, group: str, spec: YMap) -> Target:
        max_duration = self.duration(spec, "max_duration", f"target {name!r}")
        if max_duration is None:
            raise self.error(f"target {name!r} needs 'max_duration' (e.g. 8h): how long one grant may last",
                             spec.line)
        approvers = self.str_list(spec, "approvers")
        for approver in approvers:
            if not OWNER.fullmatch(approver):
                raise self.error(f"targets.{name}.approvers: {approver!r} is not a GitHub user (@name), team "
                                 f"(@org/team) or email", spec.line_of("approvers"),
                                 hint="write approvers as CODEOWNERS does: @user or @org/team")
        default_duration = self.duration(spec, "default_duration", f"target {name!r}")
        if default_duration is not None and default_duration > max_duration:
            raise self.error(f"default_duration {format_duration(default_duration)} of target {name!r} is longer "
                             f"than its max_duration {format_duration(max_duration)}", spec.line_of("default_duration"))
        return Target(name=name, group=group, max_duration=max_duration, label=self.str_(spec, "label", ""),
                      approvers=approvers, approvals=self.approvals(name, spec),
                      requesters=self.login_patterns(spec, "requesters", f"targets.{name}.requesters"),
                      reason_pattern=self.pattern(name, spec), default_duration=default_duration,
                      break_glass=self.break_glass(name, spec, max_duration), lock=self.lock(name, spec))

    def lock(self, name: str, spec: YMap) -> str:
        value = spec.get("lock")
        if yamlfile.is_null(value):
            return "none"
        raw = value.value if isinstance(value, YScalar) else None
        if raw not in LOCKS:
            shown = "a list or mapping" if raw is None else repr(raw[:40])
            raise self.error(f"'lock' of target {name!r} must be 'none' or 'posture', not {shown}",
                             value_line(spec, "lock"),
                             hint="lock: posture adds a device posture attribute that Tailscale expires by itself "
                                  "(see docs/posture-lock.md)")
        return raw

    def identities(self, doc: YMap) -> dict[str, str]:
        node = doc.get("identities")
        if yamlfile.is_null(node):
            return {}
        if not isinstance(node, YMap):
            raise self.error("'identities' must map request identities to Tailscale logins",
                             doc.line_of("identities"))
        out: dict[str, str] = {}
        for key in node:
            value = node.get(key)
            if not isinstance(value, YScalar):
                raise self.error(f"identity {key!r} must map to a Tailscale login", node.line_of(key))
            if key.lower().startswith(GITHUB_PREFIX):
                if not GITHUB_LOGIN.fullmatch(key[len(GITHUB_PREFIX):]):
                    raise self.error(f"identity {key!r}: {key[len(GITHUB_PREFIX):]!r} is not a GitHub login "
                                     "(letters, digits and hyphens, at most 39)", node.line_of(key))
                if not LOGIN.fullmatch(value.value):
                    raise self.error(f"identity {key!r} must map to a Tailscale login such as alice@example.com, "
                                     f"not {value.value[:80]!r}", node.line_of(key))
                twin = next((k for k in out if k.lower() == key.lower()), None)
                if twin is not None:
                    raise self.error(f"identities {twin!r} and {key!r} name the same GitHub login (GitHub logins "
                                     "ignore case)", node.line_of(key))
            out[key] = value.value
        return out

    def aws_secret(self, doc: YMap) -> AwsSecret | None:
        node = doc.get("credentials")
        if yamlfile.is_null(node):
            return None
        if not isinstance(node, YMap):
            raise self.error("'credentials' must be a mapping, e.g. {aws_secret: NAME}",
                             doc.line_of("credentials"))
        self.unknown_keys(node, {"aws_secret", "key", "region"}, "key in 'credentials':")
        name = self.opt_str(node, "aws_secret")
        if name is None:
            raise self.error("'credentials' needs 'aws_secret: NAME' (an AWS Secrets Manager secret)", node.line)
        return AwsSecret(name=name, key=self.opt_str(node, "key"), region=self.opt_str(node, "region"))

    def safety(self, doc: YMap) -> Safety:
        node = doc.get("safety")
        if yamlfile.is_null(node):
            return Safety()
        if not isinstance(node, YMap):
            raise self.error("'safety' must be a mapping", doc.line_of("safety"))
        self.unknown_keys(node, _SAFETY_KEYS, "key in 'safety':")
        defaults = Safety()
        return Safety(
            max_removed_members=self.share(node, "max_removed_members", defaults.max_removed_members),
            max_changed_entries=self.share(node, "max_changed_entries", defaults.max_changed_entries),
            min_existing=int(self.number(node, "min_existing", defaults.min_existing, integer=True)),
        )

    def sinks(self, doc: YMap) -> tuple[Sink, ...]:
        node = doc.get("notify")
        if yamlfile.is_null(node):
            return ()
        example = "e.g. notify: [{type: slack, url_env: SLACK_WEBHOOK_URL}]"
        if not isinstance(node, YList):
            raise self.error("'notify' must be a list of sinks", doc.line_of("notify"), hint=example)
        if len(node.items) > MAX_SINKS:
            raise self.error(f"'notify' lists {len(node.items)} sinks; at most {MAX_SINKS} are allowed",
                             doc.line_of("notify"))
        return tuple(self.sink(item, number) for number, item in enumerate(node, 1))

    def sink(self, node: yamlfile.Node, number: int) -> Sink:
        if not isinstance(node, YMap):
            raise self.error(f"notify sink {number} must be a mapping with 'type' and 'url_env'", node.line,
                             hint="e.g. - type: webhook\n    url_env: TAILJIT_WEBHOOK_URL\n"
                                  "    secret_env: TAILJIT_WEBHOOK_SECRET")
        self.unknown_keys(node, _SINK_KEYS, f"key in notify sink {number}:")
        kind = self.opt_str(node, "type")
        if kind not in SINK_KINDS:
            raise self.error(f"notify sink {number} needs 'type: webhook' or 'type: slack'", node.line_of("type"))
        url_env = self.env_name(node, "url_env", number, required=True)
        assert url_env is not None
        secret_env = self.env_name(node, "secret_env", number, required=kind == "webhook")
        if kind == "slack" and secret_env is not None:
            raise self.error(f"notify sink {number}: a Slack incoming webhook is not signed; drop 'secret_env' "
                             "(the webhook URL itself is the secret)", node.line_of("secret_env"))
        defaults = Sink(kind, url_env)
        timeout = self.number(node, "timeout", defaults.timeout, integer=False)
        if not 0 < timeout <= MAX_SINK_TIMEOUT:
            raise self.error(f"'timeout' is in seconds, more than 0 and at most {MAX_SINK_TIMEOUT:g}",
                             node.line_of("timeout"))
        retries = int(self.number(node, "retries", defaults.retries, integer=True))
        if retries > MAX_SINK_RETRIES:
            raise self.error(f"'retries' may be at most {MAX_SINK_RETRIES}", node.line_of("retries"))
        return Sink(kind, url_env, secret_env, timeout=timeout, retries=retries, line=node.line)

    def env_name(self, node: YMap, key: str, number: int, *, required: bool) -> str | None:
        """The name of an environment variable. The value of a bad one is never repeated: it may be the secret."""
        line = node.line_of(key)
        value = node.get(key)
        if yamlfile.is_null(value):
            if required:
                raise self.error(f"notify sink {number} needs '{key}': the name of the environment variable "
                                 f"holding its {'URL' if key == 'url_env' else 'signing secret'}", node.line,
                                 hint=f"e.g. {key}: " + ("TAILJIT_WEBHOOK_URL" if key == "url_env"
                                                         else "TAILJIT_WEBHOOK_SECRET"))
            return None
        if not isinstance(value, YScalar) or not ENV_NAME.fullmatch(value.value):
            raise self.error(f"'{key}' of notify sink {number} must be the name of an environment variable "
                             "(letters, digits and '_'), not a URL or secret itself", line,
                             hint="keep URLs and secrets out of tailjit.yaml: set them in the environment "
                                  "(e.g. as CI secrets) and name the variable here")
        return value.value

    def warn_key_days(self, doc: YMap) -> int:
        raw = self.opt_str(doc, "warn_key_days")
        if raw is None:
            return DEFAULT_WARN_KEY_DAYS
        if not raw.isdigit() or int(raw) > MAX_KEY_DAYS:
            raise self.error(f"'warn_key_days' must be a whole number of days from 0 (never warn) to {MAX_KEY_DAYS}, "
                             f"not {raw[:40]!r}", value_line(doc, "warn_key_days"))
        return int(raw)

    def expiring_before(self, doc: YMap) -> timedelta:
        raw = self.opt_str(doc, "expiring_before")
        if raw is None:
            return DEFAULT_EXPIRING_BEFORE
        try:
            value = parse_duration(raw)
        except ValueError as e:
            raise self.error(str(e), doc.line_of("expiring_before")) from None
        if value > MAX_DURATION_CEILING:
            raise self.error(f"expiring_before {raw} exceeds the 90d ceiling", doc.line_of("expiring_before"))
        return value

