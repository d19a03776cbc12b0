"""How every command prints a problem: one format for the CLI, the watch loop and doctor.

A problem is ``<level>: <message>`` on stderr, then ``hint: <what to do>``
on its own line when there is one. A located error's message already starts
with ``path:line:``. Inside GitHub Actions a grant problem also becomes an
annotation on its file.
"""

from __future__ import annotations

import click

from reconciler.cli import terminal
from reconciler.errors import ConfigErrors, CredentialError, GrantError, TailjitError
from reconciler.github import actions


def report_error(error: TailjitError | str, *, level: str = "error", prefix: str = "", indent: str = "") -> None:
    """Print ``error`` (and its hint) to stderr; ``prefix`` goes before each line (the watch loop's time).

    Several problems of one file (`ConfigErrors`) are printed one after another, with a count.
    """
    if isinstance(error, ConfigErrors):
        for one in error.errors:
            report_error(one, level=level, prefix=prefix, indent=indent)
        click.echo(f"{prefix}{indent}{len(error.errors)} problem(s) in {error.path}.", err=True)
        return
    click.echo(f"{prefix}{indent}{terminal.level(level)}: {error}", err=True)
    hint = error.hint if isinstance(error, TailjitError) else None
    if isinstance(error, CredentialError):
        hint = f"{hint}; run tailjit doctor to check the setup" if hint else "run tailjit doctor to check the setup"
    if hint:
        click.echo(f"{prefix}{indent}{terminal.level('hint')}: {hint}", err=True)


def report_grant_error(error: GrantError, level: str) -> None:
    """A grant file's problem: printed, and annotated on the file inside Actions."""
    report_error(error, level=level)
    actions.annotate(level, error.message, path=error.path, line=error.line)
