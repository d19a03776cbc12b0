"""``policy/tailjit.yaml`` → `Config`, and finding it the way git finds ``.git``.

Paths inside the config are relative to the repository root, which is the
config file's parent's parent (``<root>/policy/tailjit.yaml``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from reconciler.core.config import (
    GROUP_NAME,
    MAX_DURATION_CEILING,
    TARGET_NAME,
    AwsSecret,
    Config,
    Safety,
    Target,
    backend_problem,
    base_url_problem,
)
from reconciler.core.durations import parse_duration
from reconciler.errors import ConfigError
from reconciler.repo import yamlfile
from reconciler.repo.yamlfile import YList, YMap, YScalar

DEFAULT_CONFIG = Path("policy/tailjit.yaml")
_DISCOVERY_HINT = "run tailjit inside an access repository, pass --config PATH, or create one with: tailjit init"
_TOP_KEYS = {"tailnet", "backend", "base_url", "audience", "policy", "grants", "credentials",
             "targets", "identities", "safety", "owners"}
_TARGET_KEYS = {"group", "label", "max_duration", "approvers"}
_SAFETY_KEYS = {"max_removed_members", "max_changed_entries", "min_existing"}


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
    """Read and check ``tailjit.yaml``. Raises `ConfigError` naming ``path:line``."""
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
        raise ConfigError(e.message, path=shown, line=e.line) from None
    if not isinstance(doc, YMap):
        raise ConfigError("expected a mapping of settings (tailnet, targets, …)", path=shown, line=1)
    reader = _Reader(shown)
    reader.unknown_keys(doc, _TOP_KEYS, "setting")
    root = path.resolve().parent.parent
    targets = reader.targets(doc)
    return Config(
        path=path,
        root=root,
        policy_path=root / reader.str_(doc, "policy", "policy/policy.hujson"),
        grants_dir=root / reader.str_(doc, "grants", "policy/grants"),
        targets=targets,
        tailnet=reader.str_(doc, "tailnet", "-"),
        backend=reader.checked(doc, "backend", backend_problem) or "tailscale",
        base_url=reader.checked(doc, "base_url", base_url_problem),
        audience=reader.opt_str(doc, "audience"),
        aws_secret=reader.aws_secret(doc),
        identities=reader.identities(doc),
        safety=reader.safety(doc),
        owners=reader.str_list(doc, "owners"),
    )


class _Reader:
    def __init__(self, path: str) -> None:
        self.path = path

    def error(self, message: str, line: int, hint: str | None = None) -> ConfigError:
        return ConfigError(message, path=self.path, line=line, hint=hint)

    def unknown_keys(self, node: YMap, allowed: set[str], what: str) -> None:
        for key in node:
            if key not in allowed:
                raise self.error(f"unknown {what} {key!r}; expected one of: {', '.join(sorted(allowed))}",
                                 node.line_of(key))

    def opt_str(self, node: YMap, key: str) -> str | None:
        value = node.get(key)
        if yamlfile.is_null(value):
            return None
        if not isinstance(value, YScalar):
            raise self.error(f"{key!r} must be a string", node.line_of(key))
        return value.value

    def checked(self, node: YMap, key: str, problem: Callable[[str], str | None]) -> str | None:
        """The string at ``key`` (None when absent), refused at its line when ``problem`` finds one."""
        value = self.opt_str(node, key)
        found = None if value is None else problem(value)
        if found is not None:
            raise self.error(f"{key!r}: {found}", _value_line(node, key))
        return value

    def str_(self, node: YMap, key: str, default: str) -> str:
        value = self.opt_str(node, key)
        return default if value is None else value

    def targets(self, doc: YMap) -> dict[str, Target]:
        node = doc.get("targets")
        if not isinstance(node, YMap) or not list(node):
            raise self.error("'targets' must map at least one target name to its group and limits",
                             doc.line_of("targets") if node is not None else 1,
                             hint="e.g. targets: {prod: {group: 'group:prod', max_duration: 8h}}")
        targets: dict[str, Target] = {}
        groups: dict[str, str] = {}
        for name in node:
            line = node.line_of(name)
            if not TARGET_NAME.fullmatch(name):
                raise self.error(f"target name {name!r} must be lower-case letters, digits, '-' or '_'", line)
            spec = node.get(name)
            if not isinstance(spec, YMap):
                raise self.error(f"target {name!r} must be a mapping with 'group' and 'max_duration'", line)
            self.unknown_keys(spec, _TARGET_KEYS, f"key in target {name!r}:")
            group = self.opt_str(spec, "group")
            if group is None or not GROUP_NAME.fullmatch(group):
                raise self.error(f"target {name!r} needs 'group: group:NAME' naming a Tailscale group",
                                 spec.line_of("group"))
            if group in groups:
                raise self.error(f"targets {groups[group]!r} and {name!r} both manage {group}",
                                 spec.line_of("group"))
            groups[group] = name
            raw_max = self.opt_str(spec, "max_duration")
            if raw_max is None:
                raise self.error(f"target {name!r} needs 'max_duration' (e.g. 8h): how long one grant may last",
                                 spec.line)
            try:
                max_duration = parse_duration(raw_max)
            except ValueError as e:
                raise self.error(str(e), spec.line_of("max_duration")) from None
            if max_duration > MAX_DURATION_CEILING:
                raise self.error(f"max_duration {raw_max} of target {name!r} exceeds the 90d ceiling",
                                 spec.line_of("max_duration"))
            targets[name] = Target(name=name, group=group, max_duration=max_duration,
                                   label=self.str_(spec, "label", ""),
                                   approvers=self.str_list(spec, "approvers"))
        return targets

    def str_list(self, node: YMap, key: str) -> tuple[str, ...]:
        value = node.get(key)
        if yamlfile.is_null(value):
            return ()
        if not isinstance(value, YList) or not all(isinstance(i, YScalar) for i in value):
            raise self.error(f"{key!r} must be a list of strings", node.line_of(key))
        return tuple(i.value for i in value if isinstance(i, YScalar))

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

    def share(self, node: YMap, key: str, default: float) -> float:
        value = self.number(node, key, default, integer=False)
        if not 0 <= value <= 1:
            raise self.error(f"{key!r} is a share between 0 and 1 (0.3 = 30%)", node.line_of(key))
        return value

    def number(self, node: YMap, key: str, default: float, *, integer: bool) -> float:
        raw = self.opt_str(node, key)
        if raw is None:
            return default
        try:
            value = int(raw) if integer else float(raw)
        except ValueError:
            raise self.error(f"{key!r} must be a {'whole ' if integer else ''}number", node.line_of(key)) from None
        if value < 0:
            raise self.error(f"{key!r} must not be negative", node.line_of(key))
        return value


def _value_line(node: YMap, key: str) -> int:
    """The line of ``key``'s value (a value may sit on the line after its key)."""
    value = node.get(key)
    return value.line if isinstance(value, YScalar | YList | YMap) else node.line_of(key)
