"""The ``tailjit`` command line: the group, its global options, and the one place that maps outcomes to exit codes.

Exit codes: 0 ok, 1 a reported error (bad file, refused write, drift …),
2 a usage error (and ``plan --detailed-exitcode`` with changes), 3 an
unexpected error (a bug: the traceback goes to a log file), 130 interrupted.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import logging
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from reconciler import __version__
from reconciler.cli import terminal
from reconciler.cli.output import report_error
from reconciler.errors import TailjitError, UsageError
from reconciler.repo.config import DEFAULT_CONFIG

#: Every command: the module defining it, its name there, and its one-line help. A command's module is
#: imported only when the command runs (they pull in pygit2, the HuJSON engine, the backends …), so that
#: ``tailjit --help`` lists them all from this table alone (tests/test_process.py keeps it true to them).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "access": ("reconciler.cli.access", "access_command",
               "Who has access now: each target group's members in the live policy."),
    "apply": ("reconciler.cli.reconcile", "apply",
              "Make the tailnet match the repository: grant what is active, revoke what is not."),
    "approvals": ("reconciler.cli.approvals", "approvals_command",
                  "Check that pull request NUMBER has the approvals its grant files need (a required status "
                  "check)."),
    "audit": ("reconciler.cli.git", "audit_command",
              "Access history from git: who asked, who merged (approved), active from/to, removed when and how."),
    "codeowners": ("reconciler.cli.git", "codeowners_command",
                   "CODEOWNERS lines giving each target's grant folder to its approvers (plus a catch-all)."),
    "doctor": ("reconciler.cli.doctor", "doctor",
               "Check the connection to the tailnet: credential, tailnet, read and validate."),
    "fmt": ("reconciler.cli.adopt", "fmt_command",
            "Rewrite the base policy in canonical form (hujson format), as terraform fmt does for HCL."),
    "import": ("reconciler.cli.adopt", "import_command",
               "Write the live policy into the base policy file, so that git starts from what is live."),
    "init": ("reconciler.cli.init", "init_command",
             "Create an access repository in DIR (default: the current folder)."),
    "plan": ("reconciler.cli.reconcile", "plan",
             "Show what apply would change in the tailnet: grants, revocations, drift, other edits."),
    "prune": ("reconciler.cli.git", "prune_command",
              "Delete expired grant files (never active, pending, invalid or unknown ones)."),
    "render": ("reconciler.cli.reconcile", "render",
               "Print the desired policy: the base policy plus the grants active now, as apply writes it "
               "(canonical)."),
    "request": ("reconciler.cli.git", "request_command",
                "Ask for access: a grant file on a new branch access/<target>/<user>-<date>, committed."),
    "status": ("reconciler.cli.reconcile", "status",
               "List grant files: active, pending, expired, unknown and invalid, with the time left or the "
               "problem."),
    "validate": ("reconciler.cli.validate", "validate", "Check tailjit.yaml, the base policy and every grant file."),
}


class _Commands(MutableMapping[str, click.Command]):
    """The group's commands, each imported when first asked for."""

    def __init__(self) -> None:
        self._loaded: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded:
            module, attribute, _ = COMMANDS[name]
            self._loaded[name] = getattr(importlib.import_module(module), attribute)
        return self._loaded[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        del self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*COMMANDS, *self._loaded]))

    def __len__(self) -> int:
        return len(set(COMMANDS) | set(self._loaded))


class _Group(click.Group):
    """A group whose help lists its commands from `COMMANDS`, without importing them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = _Commands()

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(n) for n in names)
        # click's own shortening, applied to the words of the table
        rows = [(n, click.Command(n, help=COMMANDS[n][2]).get_short_help_str(limit)) for n in names if n in COMMANDS]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _backend_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from reconciler.cli.options import backend_option

    return backend_option(ctx, param, value)

#: The cyclic garbage collector's first-generation threshold while a command runs (the default is 700).
#: A 1 MiB policy parses into about a million small objects, none of them in a cycle, so reference
#: counting frees them all; at the default the collector keeps re-scanning the growing heap, a third of
#: the time of a reconcile with 10,000 grants. Restored when the command returns.
GC_THRESHOLD = 50_000


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=None,
              help=f"The access repository's tailjit.yaml; its parent's parent is the root. Default: "
                   f"{DEFAULT_CONFIG} in the current folder or the nearest folder above it that has one.")
@click.option("--backend", "backend_spec", metavar="SPEC", default=None, callback=_backend_option,
              help="Where the live policy is: 'tailscale' (the API) or 'file:PATH' (a local file standing "
                   "in for the tailnet). Overrides the config's 'backend'.")
@click.option("--no-color", is_flag=True,
              help="No colour, even on a terminal (as NO_COLOR=1 does). Output that is piped is never coloured.")
@click.option("--connection-config", "connection_path", type=click.Path(path_type=Path), default=None,
              metavar="PATH",
              help="Take backend, tailnet, base_url, audience and credentials from this tailjit.yaml instead of "
                   "from --config's (whose targets, policy and grants are still read). For planning a pull "
                   "request's policy/ with the default branch's settings.")
@click.version_option(__version__, prog_name="tailjit")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, backend_spec: str | None, no_color: bool,
        connection_path: Path | None) -> None:
    """Just-in-time access to a Tailscale tailnet, as GitOps.

    Grant files under policy/grants/<target>/ add a user to a target's group
    until they expire. tailjit renders the policy file from the base policy
    plus the grants active now, and reconciles the tailnet to it.

    \b
    Typical use:
      tailjit validate            check config, base policy and grant files
      tailjit plan                show what would change in the tailnet
      tailjit apply               make the change (If-Match protected)
      tailjit status              who has access now, and for how long
    """
    from reconciler.cli.app import App, system_clock

    clock = ctx.obj if callable(ctx.obj) else system_clock  # main(clock=…) hands one in
    terminal.configure(no_color=no_color)
    ctx.obj = App(config_path, backend_spec, connection_path, clock=clock,
                  progress=terminal.Progress("reading git history", "commits"),
                  loading=terminal.Progress("loading grant files", "files"))




class _StderrNotes(logging.Handler):
    """Prints tailjit's log warnings (retries, waits) as ``warning: …`` lines on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"{terminal.level(record.levelname.lower())}: {self.format(record)}", err=True)


def _setup_logging() -> None:
    logger = logging.getLogger("reconciler")
    if not any(isinstance(h, _StderrNotes) for h in logger.handlers):
        logger.addHandler(_StderrNotes(logging.WARNING))
        logger.propagate = False


def main(argv: Sequence[str] | None = None, *, clock: Callable[[], datetime] | None = None) -> int:
    """Run the CLI; map every outcome to an exit code (see the module docstring).

    ``clock`` says what time it is for every command that is not given ``--at`` (tests pin it).
    """
    _setup_logging()
    previous, enabled = gc.get_threshold(), gc.isenabled()
    gc.set_threshold(GC_THRESHOLD, *previous[1:])
    # A command parses its files into millions of small objects and exits: the cycle collector would
    # only re-scan them (a second at 100,000 grants). It is paused for the command; a long-running
    # one (apply --watch) turns it back on from its second cycle (`App.workspace`).
    gc.disable()
    try:
        return _main(argv, clock)
    finally:
        gc.set_threshold(*previous)
        if enabled:
            gc.enable()


def console() -> None:
    """The ``tailjit`` program (and ``python -m reconciler``): `main`, then exit at once.

    Once the output is flushed nothing is left to do, yet an interpreter's normal exit frees every
    object one by one: a second of a run over 100,000 grants. ``os._exit`` skips that teardown (no
    ``atexit`` handler is registered by tailjit; files are closed and locks released by the kernel).
    Only the program does this: `main`, as tests and embedders call it, returns.
    """
    code = main()
    try:
        sys.stdout.flush()
    except (OSError, ValueError):  # a closed pipe (tailjit status | head): as CPython exits then
        code = 120
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


def environment_error(error: OSError) -> TailjitError:
    """An `OSError` as a message that says what failed and where, without a traceback."""
    where = f" {error.filename}" if error.filename else ""
    return TailjitError(f"cannot use{where}: {error.strerror or error}",
                        hint="check the path's permissions and free space, then run the command again")


def _is_git_error(error: Exception) -> bool:
    """A libgit2 failure (`pygit2.GitError`), told without importing pygit2 into every command."""
    pygit2 = sys.modules.get("pygit2")
    return pygit2 is not None and isinstance(error, pygit2.GitError)


def _main(argv: Sequence[str] | None, clock: Callable[[], datetime] | None) -> int:
    try:
        result = cli.main(args=list(argv) if argv is not None else None, prog_name="tailjit",
                          standalone_mode=False, obj=clock)
    except click.exceptions.Exit as e:
        return int(e.exit_code)
    except click.ClickException as e:
        e.show()
        return 2 if isinstance(e, click.UsageError) else 1
    except (click.Abort, KeyboardInterrupt):
        click.echo("Interrupted.", err=True)
        return 130
    except UsageError as e:
        report_error(e)
        return 2
    except TailjitError as e:
        report_error(e)
        return 1
    except OSError as e:  # the machine said no: a full disk, a permission, a file that went away
        report_error(environment_error(e))
        return 1
    except Exception as e:
        if _is_git_error(e):
            report_error(TailjitError(f"git: {e}", hint="check the repository with git status; tailjit changed "
                                                        "nothing after this point"))
            return 1
        log = Path(tempfile.gettempdir()) / f"tailjit-crash-{os.getpid()}.log"
        log.write_text(traceback.format_exc())
        click.echo(f"error: unexpected internal error; the details are in {log}. Please report it.", err=True)
        return 3
    return result if isinstance(result, int) else 0

