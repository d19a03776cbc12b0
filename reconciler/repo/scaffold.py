"""The files of a new access repository, as ``tailjit init`` writes them.

`plan_files` says what goes where (text only, nothing written); `write_files` writes it, refusing to
overwrite anything unless told to. The workflows come from the templates shipped in the package
(``reconciler/templates/workflows``), with the tailjit action pinned as the user chose.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from reconciler import __version__, hujson
from reconciler.core.config import GROUP_NAME, MAX_DURATION_CEILING, TARGET_NAME
from reconciler.core.durations import parse_duration
from reconciler.core.policy import canonical, split_header
from reconciler.errors import ConfigError, PolicyError
from reconciler.repo.adopt import import_policy as import_live_policy

#: What the templates say where the tailjit action goes; `render_workflow` puts the chosen pin there.
TEMPLATE_PIN = "OWNER/tailjit@0000000000000000000000000000000000000000 # tailjit version"
#: The pin written when none is given: it names no real commit, so a workflow fails loudly until it is replaced.
PLACEHOLDER_ACTION = "OWNER/tailjit@0000000000000000000000000000000000000000"
#: ``owner/repo@<full commit SHA>``: a tag can be moved, a commit cannot.
ACTION_PIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}@[0-9a-f]{40}")
CONFIG = Path("policy/tailjit.yaml")
POLICY = Path("policy/policy.hujson")
GRANTS = Path("policy/grants")
WORKFLOWS = Path(".github/workflows")


@dataclass(frozen=True)
class TargetSpec:
    name: str
    group: str
    max_duration: str


def parse_target(spec: str) -> TargetSpec:
    """``NAME=GROUP:MAX_DURATION`` (``prod=group:prod:8h``; ``prod=prod:8h`` means the same). Raises ValueError."""
    name, sep, rest = spec.partition("=")
    group, colon, duration = rest.rpartition(":")
    if not sep or not colon or not group:
        raise ValueError(f"{spec!r} is not NAME=GROUP:MAX_DURATION, e.g. prod=group:prod:8h")
    if not TARGET_NAME.fullmatch(name):
        raise ValueError(f"target name {name!r} must be lower-case letters, digits, '-' or '_'")
    group = group if group.startswith("group:") else f"group:{group}"
    if not GROUP_NAME.fullmatch(group):
        raise ValueError(f"{group!r} is not a Tailscale group name (group:NAME, letters, digits, '.', '_', '-')")
    length = parse_duration(duration)
    if length > MAX_DURATION_CEILING:
        raise ValueError(f"max_duration {duration} of target {name!r} exceeds the 90d ceiling")
    return TargetSpec(name, group, duration)


def check_targets(targets: Sequence[TargetSpec]) -> None:
    names: set[str] = set()
    groups: dict[str, str] = {}
    for target in targets:
        if target.name in names:
            raise ValueError(f"target {target.name!r} is given twice")
        if target.group in groups:
            raise ValueError(f"targets {groups[target.group]!r} and {target.name!r} both manage {target.group}")
        names.add(target.name)
        groups[target.group] = target.name


def check_action(action: str) -> None:
    if not ACTION_PIN.fullmatch(action):
        raise ValueError(f"{action!r} is not OWNER/REPO@<full 40-character commit SHA> (a tag can be moved; "
                         "pin the release's commit)")


def workflow_templates() -> dict[str, str]:
    """The access repository's workflows as shipped: file name → text (the action pin not yet filled in)."""
    folder = resources.files("reconciler.templates").joinpath("workflows")
    return {entry.name: entry.read_text(encoding="utf-8") for entry in sorted(folder.iterdir(), key=lambda e: e.name)
            if entry.name.endswith(".yml")}


def render_workflow(text: str, action: str = PLACEHOLDER_ACTION, version: str = __version__) -> str:
    """A template with the tailjit action pinned: ``uses: OWNER/tailjit@<sha> # v<version>``."""
    return text.replace(TEMPLATE_PIN, f"{action} # v{version}")


def config_text(targets: Sequence[TargetSpec], owners: Sequence[str], locked: Collection[str] = ()) -> str:
    """``locked``: the targets with ``lock: posture`` (see docs/posture-lock.md)."""
    lines = [f"  {t.name}:\n    group: {t.group}\n    label: \"\"\n    max_duration: {t.max_duration}\n"
             f"    approvers: []  # GitHub users or teams, e.g. [\"@example/sre-leads\"]"
             + ("\n    lock: posture  # Tailscale ends access at each grant's end, even with tailjit stopped"
                if t.name in locked else "") for t in targets]
    return _CONFIG.format(targets="\n".join(lines), owners=_flow_list(owners))


def _flow_list(items: Sequence[str]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


_CONFIG = """\
# tailjit configuration of this access repository. Every key is described in tailjit's README
# ("Configuration reference"). After changing targets or approvers, run: tailjit codeowners --write

# The tailnet to manage; "-" is the API credential's own tailnet (env TS_TAILNET overrides).
tailnet: "-"

# Where the live policy is. The workflows always pass --backend tailscale (the API); this default is a
# local file standing in for the tailnet, so that trying tailjit on a laptop never touches the tailnet.
# Locally, add --backend tailscale to a command to talk to the tailnet.
backend: file:.tailjit/tailnet.hujson

# base_url: https://api.tailscale.com   # the API (env TS_BASE_URL overrides)
# audience: api.tailscale.com/CLIENT_ID  # OIDC audience for workload identity (env TS_AUDIENCE overrides)
# credentials:                           # or: a Tailscale credential kept in AWS Secrets Manager
#   aws_secret: tailjit/tailscale

# The hand-written base policy and the folder of grant files (repository-relative).
policy: policy/policy.hujson
grants: policy/grants

# One entry per Tailscale group that may be granted temporarily. The group must exist in the base
# policy's "groups"; the members it has there are permanent. max_duration: the longest one grant may
# last (at most 90d). approvers: who may approve a grant (the target's lines in .github/CODEOWNERS).
targets:
{targets}

# Code owners of everything that is not a grant file (base policy, this file, workflows): the catch-all
# line of .github/CODEOWNERS. Set it, or approvers of any target could approve base-policy changes.
owners: {owners}

# Request identities (the git author email `tailjit request` sees) → Tailscale logins, where they differ.
identities: {{}}

# Plans beyond these limits need --force (revoking expired grants never counts).
safety:
  max_removed_members: 0.3
  max_changed_entries: 0.3
  min_existing: 10
"""


def starter_policy(targets: Sequence[TargetSpec]) -> str:
    groups = "\n".join(f"\t\t// Target {t.name!r} (grants up to {t.max_duration}): permanent members here, temporary "
                       f"ones from\n\t\t// {GRANTS.as_posix()}/{t.name}/ (added by tailjit, with their expiry).\n"
                       f'\t\t"{t.group}": [],' for t in targets)
    tags = "\n".join(f'\t\t"{_tag(t)}": ["autogroup:admin"],' for t in targets)
    rules = "\n".join(f"\t\t// What a member of {t.group} may reach.\n"
                      f'\t\t{{"action": "accept", "src": ["{t.group}"], "dst": ["{_tag(t)}:*"]}},' for t in targets)
    return canonical(_POLICY.format(groups=groups, tags=tags, rules=rules).encode()).decode()


def _tag(target: TargetSpec) -> str:
    return "tag:" + re.sub(r"[^a-z0-9-]+", "-", target.group.removeprefix("group:").lower()).strip("-")


_POLICY = """\
// The base policy: the tailnet policy file as people write it (https://tailscale.com/kb/1337/policy-syntax).
// tailjit renders the live policy from it: it adds each active grant's user to its target's group, with a
// comment saying until when, and changes nothing else. This is a starter: it lets each member reach their
// own devices and each target group its tagged machines. To start from the policy your tailnet has now
// instead, create the repository with: tailjit init --from-tailnet
{{
	"groups": {{
{groups}
	}},

	"tagOwners": {{
{tags}
	}},

	"acls": [
		// Every member reaches their own devices.
		{{"action": "accept", "src": ["autogroup:member"], "dst": ["autogroup:self:*"]}},
{rules}
	],
}}
"""


def import_policy(live: bytes, targets: Sequence[TargetSpec], where: str) -> bytes:
    """The live policy as a base policy (`reconciler.repo.adopt.import_policy`: without tailjit's header and
    the members tailjit added), with each target group it lacks added, empty; in canonical form.

    Raises `PolicyError` when the text cannot be read or a target group is not a list of members.
    """
    _, body = split_header(live)
    if not body.strip():
        raise PolicyError("the tailnet's policy file is empty", path=where)
    try:
        policy = hujson.parse(import_live_policy(live))
    except PolicyError as e:
        raise PolicyError(f"the tailnet's policy file cannot be read: {e.message}", path=where,
                          line=e.line) from None
    groups = _groups_object(policy)
    for target in targets:
        member = groups.get(target.group)
        if member is None:
            _add_group(groups, target.group)
        elif not isinstance(member.value.value, hujson.Array):
            raise PolicyError(f"{target.group} in the tailnet's policy is not a list of members", path=where)
    return canonical(policy.pack())


def _groups_object(policy: hujson.Value) -> hujson.Object:
    top = policy.value
    assert isinstance(top, hujson.Object)
    member = top.get("groups")
    if member is None:
        policy.patch('[{"op": "add", "path": "/groups", "value": {}}]')
        member = top.get("groups")
    assert member is not None
    if not isinstance(member.value.value, hujson.Object):
        raise PolicyError("'groups' in the tailnet's policy is not an object")
    return member.value.value


def _add_group(groups: hujson.Object, group: str) -> None:
    indent = b"\t\t"
    if groups.members:
        before = groups.members[-1].name.before
        indent = before[before.rfind(b"\n") + 1:] if b"\n" in before else indent
        last = groups.members[-1].value
        if last.after is None:
            last.after = b""
    comment = b"// Managed by tailjit: permanent members here, temporary ones from grant files."
    name = hujson.Value(hujson.Literal.from_python(group), before=b"\n" + indent + comment + b"\n" + indent, after=b"")
    groups.members.append(hujson.Member(name, hujson.Value(hujson.Array(), before=b" ", after=b"")))
    if b"\n" not in groups.after:
        groups.after = b"\n" + indent[:-1]


def readme_text(targets: Sequence[TargetSpec]) -> str:
    text = resources.files("reconciler.templates").joinpath("README.md").read_text(encoding="utf-8")
    rows = "\n".join(f"| `{t.name}` | `{t.group}` | {t.max_duration} |" for t in targets)
    return text.replace("{targets}", rows)


def plan_files(targets: Sequence[TargetSpec], *, owners: Sequence[str], policy: bytes,
               action: str, locked: Collection[str] = ()) -> dict[Path, bytes]:
    """Every file of the new repository but CODEOWNERS (made from the written config): path → content."""
    files: dict[Path, bytes] = {
        CONFIG: config_text(targets, owners, locked).encode(),
        POLICY: policy,
        Path("README.md"): readme_text(targets).encode(),
        Path(".gitignore"): b"# tailjit's local state: lock, drift backups, the file backend's tailnet\n.tailjit/\n",
    }
    for target in targets:
        files[GRANTS / target.name / ".gitkeep"] = b""
    for name, text in workflow_templates().items():
        files[WORKFLOWS / name] = render_workflow(text, action).encode()
    return files


def existing(root: Path, paths: Sequence[Path]) -> list[Path]:
    return [p for p in paths if (root / p).exists() or (root / p).is_symlink()]


def write_files(root: Path, files: Mapping[Path, bytes]) -> None:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            path.unlink()  # never write through a link to somewhere else
        path.write_bytes(content)


def refuse_existing(root: Path, paths: Sequence[Path]) -> None:
    found = existing(root, paths)
    if found:
        listed = ", ".join(p.as_posix() for p in found)
        raise ConfigError(f"{root}: init would overwrite {listed}", hint="nothing was written; pass --force to "
                          "overwrite them, or run init in an empty folder")
