"""``tailjit access``: who has access now, per target, read from the live policy.

Wiring only: `reconciler.core.access` tells the members apart.
"""

from __future__ import annotations

import json
from datetime import datetime

import click

from reconciler.cli import terminal
from reconciler.cli.app import App
from reconciler.cli.options import AT_OPTION
from reconciler.cli.output import report_error
from reconciler.core.access import who_has_access
from reconciler.core.durations import format_duration, format_time
from reconciler.text.report import format_table

ACCESS_COLUMNS = (("target", "TARGET"), ("user", "USER"), ("kind", "ACCESS"), ("until", "UNTIL"), ("left", "LEFT"),
                  ("file", "GRANT FILE"), ("problem", "NOTE"))


@click.command("access")
@AT_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def access_command(app: App, at: datetime | None, as_json: bool) -> int:
    """Who has access now: each target group's members in the live policy.

    Permanent members (from the base policy), temporary ones (with their
    end and grant file, from tailjit's note beside each), and drift: members
    the repository does not account for (no grant file, or not added by
    tailjit). Reads the tailnet; writes nothing.

    \b
    Example:
      tailjit access --json
    """
    now = app.now(at)
    ws = app.workspace()
    backend = app.backend(ws)
    try:
        live = backend.get()
    finally:
        backend.close()
    names = {g.name for g in ws.loaded.grants}
    members = who_has_access(live.text, ws.base, ws.config.targets, names, now)
    if as_json:
        targets = [{"target": t.name, "group": t.group,
                    "members": [m.data for m in members if m.target == t.name]}
                   for t in ws.config.targets.values()]
        click.echo(json.dumps({"at": format_time(now), "backend": backend.name, "targets": targets}, indent=2))
        return 0
    if not members:
        click.echo(f"No members in any target group of {backend.name}.")
        return 0
    rows = [{**m.data, "left": format_duration(m.until - now) if m.until and m.until > now else None}
            for m in members]
    click.echo(format_table(rows, ACCESS_COLUMNS, width=terminal.current().width), nl=False)
    drift = sum(1 for m in members if m.kind == "drift")
    if drift:
        report_error(f"{drift} member(s) the repository does not account for; the next apply removes "
                     "them (put permanent members in the base policy)", level="warning")
    return 0
