"""``tailjit fmt`` (the base policy in canonical form) and ``tailjit import`` (the live policy into git)."""

from __future__ import annotations

import click

from reconciler import hujson
from reconciler.cli.app import App
from reconciler.core.plan import unified_diff
from reconciler.core.policy import canonical
from reconciler.errors import PolicyError
from reconciler.github import actions
from reconciler.repo.adopt import import_live
from reconciler.repo.config import load_config


def canonical_base(text: bytes, path: str) -> bytes:
    """The canonical form of a base policy; a syntax error is a `PolicyError` at ``path:line``."""
    try:
        return canonical(text)
    except hujson.HuJSONError as e:
        raise PolicyError(str(e).removeprefix("hujson: "), path=path, line=e.line) from None


NOT_CANONICAL = ("is not in canonical form (the layout tailjit writes and the Tailscale API keeps): run tailjit fmt; "
                 "until then every write reformats the live policy")


def warn_if_not_canonical(text: bytes, path: str) -> None:
    """``validate``'s warning (and annotation in Actions) when the base policy is not canonical."""
    if canonical_base(text, path) != text:
        click.echo(f"{path}: warning: {NOT_CANONICAL}", err=True)
        actions.annotate("warning", "the base policy is not canonical: run tailjit fmt", path=path)


@click.command("fmt")
@click.option("--check", is_flag=True, help="Change nothing; exit 1 (and show the difference) when the base "
                                            "policy is not canonical.")
@click.pass_obj
def fmt_command(app: App, check: bool) -> int:
    """Rewrite the base policy in canonical form (hujson format), as terraform fmt does for HCL.

    Only layout changes (indentation, alignment, line breaks, trailing commas):
    every value and comment stays. tailjit writes canonical text and compares
    the live policy in that form, so a canonical base means a converged
    tailnet is checked byte for byte.

    \b
    Examples:
      tailjit fmt
      tailjit fmt --check
    """
    config = load_config(app.config_path)
    path = config.relative(config.policy_path)
    try:
        text = config.policy_path.read_bytes()
    except OSError as e:
        raise PolicyError(f"cannot read: {e.strerror}", path=path) from None
    formatted = canonical_base(text, path)
    if formatted == text:
        click.echo(f"{path} is canonical.")
        return 0
    if check:
        click.echo(unified_diff(text, formatted, path, f"{path} (canonical)"), nl=False)
        click.echo(f"{path} {NOT_CANONICAL}", err=True)
        actions.annotate("error", "the base policy is not canonical: run tailjit fmt", path=path)
        return 1
    config.policy_path.write_bytes(formatted)
    click.echo(f"Formatted {path}.")
    return 0


@click.command("import")
@click.pass_obj
def import_command(app: App) -> int:
    """Write the live policy into the base policy file, so that git starts from what is live.

    tailjit's own header and the members it added (those with a tailjit
    comment: they come back from grant files) are left out; everything else,
    comments included, is kept, in canonical form. Review the change with git
    diff and open a pull request: it shows exactly what the tailnet holds.
    Reads the tailnet, writes only the local file.

    \b
    Examples:
      tailjit import && git diff policy/policy.hujson
      tailjit --backend tailscale import
    """
    config = load_config(app.config_path)
    path = config.relative(config.policy_path)
    backend = app.open_backend(config, write=False)
    try:
        live = backend.get()
    finally:
        backend.close()
    if not live.text.strip():
        raise PolicyError(f"{backend.name} holds no policy, so there is nothing to import", path=path,
                          hint="write the base policy by hand (tailjit init creates an example)")
    imported = import_live(live.text)
    before = config.policy_path.read_bytes() if config.policy_path.is_file() else None
    if before == imported.text:
        click.echo(f"{path} already holds the live policy of {backend.name}; nothing written.")
        return 0
    config.policy_path.parent.mkdir(parents=True, exist_ok=True)
    config.policy_path.write_bytes(imported.text)
    left_out = f"; left out {len(imported.removed)} member(s) tailjit had added" if imported.removed else ""
    click.echo(f"Wrote the live policy of {backend.name} to {path} ({len(imported.text)} bytes{left_out}).")
    click.echo(f"Next: git diff {path}, then open a pull request; the first apply after it is merged adopts the "
               "tailnet.")
    return 0
