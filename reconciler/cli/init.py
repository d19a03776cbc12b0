"""``tailjit init [DIR]``: a new access repository, ready for ``tailjit validate`` and for GitHub.

Wiring only: the files come from `reconciler.repo.scaffold`, CODEOWNERS from `reconciler.github.codeowners`.
"""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.backends import open_backend
from reconciler.core.config import Config, Target
from reconciler.core.durations import parse_duration
from reconciler.core.lockcheck import lock_policy
from reconciler.core.posture import lock_problem
from reconciler.github import codeowners as owners_file
from reconciler.repo import scaffold
from reconciler.repo.config import load_config


def _target(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[scaffold.TargetSpec]:
    try:
        targets = [scaffold.parse_target(v) for v in values]
        scaffold.check_targets(targets)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    if not targets:
        raise click.BadParameter("give at least one, e.g. --target prod=group:prod:8h")
    return targets


def _action(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None:
        try:
            scaffold.check_action(value)
        except ValueError as e:
            raise click.BadParameter(str(e)) from None
    return value


@click.command("init")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False), default=".")
@click.option("--target", "targets", multiple=True, callback=_target, metavar="NAME=GROUP:MAX_DURATION",
              help="A target: its name (a folder under policy/grants/), the Tailscale group it manages and the "
                   "longest grant, e.g. prod=group:prod:8h. Repeat for each target.")
@click.option("--owner", "owners", multiple=True, metavar="@ORG/TEAM",
              help="Code owner of everything but grant files (the catch-all of .github/CODEOWNERS). Repeatable.")
@click.option("--from-tailnet", is_flag=True,
              help="Start the base policy from the tailnet's live policy (credential as for every command: "
                   "TS_API_KEY, TS_OAUTH_CLIENT_ID/SECRET, …; TS_TAILNET and TS_BASE_URL apply), without "
                   "tailjit's header and the temporary members tailjit added.")
@click.option("--action", default=None, callback=_action, metavar="OWNER/REPO@SHA",
              help="The tailjit action the workflows use, pinned to a full commit SHA. Default: a placeholder "
                   f"({scaffold.PLACEHOLDER_ACTION}) to replace before the workflows can run.")
@click.option("--lock", "locks", multiple=True, metavar="TARGET",
              help="Give this target lock: posture (Tailscale ends its access at each grant's end, even with "
                   "tailjit stopped; Enterprise plan): tailjit.yaml says so and the base policy gets the posture "
                   "and requires it on the group's acls and grants. Repeatable.")
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def init_command(directory: Path, targets: list[scaffold.TargetSpec], owners: tuple[str, ...], from_tailnet: bool,
                 action: str | None, locks: tuple[str, ...], force: bool) -> int:
    """Create an access repository in DIR (default: the current folder).

    \b
    Writes policy/tailjit.yaml (every key commented), policy/policy.hujson
    (a starter defining the target groups, or the live policy with
    --from-tailnet), policy/grants/<target>/, the workflows in
    .github/workflows/, .github/CODEOWNERS, a README for requesters and a
    .gitignore. Refuses to overwrite anything unless --force.

    \b
    Example:
      tailjit init access --target prod=group:prod:8h --target staging=group:staging:7d --owner @example/sre
      tailjit init access --target prod=group:prod:8h --lock prod
    """
    locked = _locked(targets, locks)
    root = directory.absolute()
    policy = _live_policy(root, targets) if from_tailnet else scaffold.starter_policy(targets).encode()
    if locked:
        policy = lock_policy(policy, locked)
    files = scaffold.plan_files(targets, owners=owners, policy=policy, action=action or scaffold.PLACEHOLDER_ACTION,
                                locked=[t.name for t in locked])
    if not force:
        scaffold.refuse_existing(root, [*files, owners_file.CODEOWNERS])
    scaffold.write_files(root, files)
    config = load_config(root / scaffold.CONFIG)
    owners_file.write(config, owners_file.render(config))
    shown = "." if root == Path.cwd() else str(directory)
    click.echo(f"Created an access repository in {shown}: {len(files) + 1} files, {len(targets)} target(s).")
    for path in sorted([*files, owners_file.CODEOWNERS]):
        click.echo(f"  {path.as_posix()}")
    click.echo("Next:")
    step = 1
    if action is None:
        click.echo(f"  {step}. In .github/workflows/*.yml, replace {scaffold.PLACEHOLDER_ACTION} with the tailjit "
                   "release's commit (OWNER/tailjit@<full SHA>); see tailjit's docs/upgrading.md.")
        step += 1
    click.echo(f"  {step}. Set each target's approvers and 'owners' in policy/tailjit.yaml, then run "
               "tailjit codeowners --write.")
    click.echo(f"  {step + 1}. git init (if needed), commit, push; then set up credentials and branch protection "
               "(tailjit's docs/adopting.md).")
    click.echo(f"  Check it now with: {'cd ' + str(directory) + ' && ' if shown != '.' else ''}tailjit validate")
    return 0


def _locked(targets: list[scaffold.TargetSpec], locks: tuple[str, ...]) -> list[Target]:
    """The targets ``--lock`` names, as locked `Target` values; a usage error for a name that cannot be locked."""
    specs = {t.name: Target(t.name, t.group, parse_duration(t.max_duration), lock="posture") for t in targets}
    for name in locks:
        if name not in specs:
            raise click.BadParameter(f"{name!r} is not one of the --target names ({', '.join(specs)})",
                                     param_hint="'--lock'")
        problem = lock_problem(specs[name], {n: specs[n] for n in locks if n in specs})
        if problem is not None:
            raise click.BadParameter(problem, param_hint="'--lock'")
    return [specs[name] for name in dict.fromkeys(locks)]


def _live_policy(root: Path, targets: list[scaffold.TargetSpec]) -> bytes:
    config = Config(path=root / scaffold.CONFIG, root=root, policy_path=root / scaffold.POLICY,
                    grants_dir=root / scaffold.GRANTS,
                    targets={t.name: Target(t.name, t.group, parse_duration(t.max_duration)) for t in targets})
    backend = open_backend("tailscale", config, write=False)  # a read-only credential is enough
    try:
        live = backend.get()
    finally:
        backend.close()
    return scaffold.import_policy(live.text, targets, where=backend.name)
