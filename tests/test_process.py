"""The ``tailjit`` process: everything it printed arrives before it exits without teardown, its exit code is the
command's, commands that talk to no API never import httpx, and the cycle collector is paused only per command."""

from __future__ import annotations

import gc
import importlib
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from reconciler import cli as cli_package
from reconciler.cli.app import App
from reconciler.cli.main import COMMANDS, main
from tests.support.access import AccessRepo

ROOT = Path(__file__).resolve().parents[1]


def tailjit(*args: str, cwd: Path, stdout: int | None = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "TS_"))}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "reconciler", *args], cwd=cwd, env=env, stdout=stdout,
                          stderr=subprocess.PIPE, text=True, timeout=60, check=False)


@pytest.mark.slow
def test_everything_printed_arrives_and_the_exit_code_is_the_commands(repo: AccessRepo, tmp_path: Path) -> None:
    for n in range(300):
        (repo.root / "policy" / "grants" / "prod").mkdir(exist_ok=True)
        (repo.root / "policy" / "grants" / "prod" / f"u{n}.yaml").write_text(
            f"user: u{n}@example.com\ntarget: prod\nreason: r\nstart: 2026-11-24T10:00:00Z\n"
            "expires: 2026-11-24T14:00:00Z\n")
    out = tmp_path / "rendered.hujson"
    with open(out, "w") as f:  # a file, not a pipe: block-buffered, so only a flush before exit gets it there
        done = subprocess.run([sys.executable, "-m", "reconciler", "render", "--at", "2026-11-24T12:00:00Z"],
                              cwd=repo.root, stdout=f, stderr=subprocess.PIPE, text=True, timeout=60,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert text.rstrip().endswith("}") and all(f'"u{n}@example.com"' in text for n in range(300))
    assert tailjit("--config", "nowhere/tailjit.yaml", "validate", cwd=repo.root).returncode == 1
    assert tailjit("no-such-command", cwd=repo.root).returncode == 2


def test_a_closed_pipe_is_an_exit_code_not_a_traceback(repo: AccessRepo) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "reconciler", "--help"], cwd=repo.root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # as `tailjit --help | head -0` does
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) in (0, 1, 120)
    assert "Traceback" not in err


def test_commands_that_talk_to_no_api_never_import_httpx(repo: AccessRepo) -> None:
    probe = ("import sys\nfrom reconciler.cli.main import main\n"
             "codes = [main(['--help']), main(['validate']), main(['status', '--json'])]\n"
             "print(codes, 'httpx' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=repo.root, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    assert done.stdout.strip().splitlines()[-1] == "[0, 0, 0] False", done.stderr


def test_plan_and_apply_on_a_file_backend_load_no_api_client_github_client_or_notifier(repo: AccessRepo) -> None:
    repo.grant("prod", "alice.yaml", "user: alice@example.com\ntarget: prod\nreason: r\n"
                                     "start: 2026-11-24T10:00:00Z\nexpires: 2026-11-24T14:00:00Z\n")
    unused = ["reconciler.backends.tailscale", "reconciler.backends.devices", "reconciler.credentials",
              "reconciler.http", "reconciler.github.api", "reconciler.github.breakglass",
              "reconciler.notify.notifier", "reconciler.notify.events", "reconciler.git.remote"]
    probe = ("import sys\nfrom reconciler.cli.main import main\n"
             "codes = [main(['plan', '--at', '2026-11-24T12:00:00Z']), main(['apply', '--at', '2026-11-24T12:00:00Z'])]\n"
             f"print(codes, [m for m in {unused!r} if m in sys.modules])\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "TS_"))}
    done = subprocess.run([sys.executable, "-c", probe], cwd=repo.root, capture_output=True, text=True, timeout=60,
                          env={**env, "PYTHONPATH": str(ROOT)}, check=False)
    assert done.stdout.strip().splitlines()[-1] == "[0, 0] []", done.stdout + done.stderr
    assert "Applied to file:tailnet.hujson." in done.stdout


def test_the_collector_is_paused_for_a_command_and_then_restored(repo: AccessRepo) -> None:
    folder = repo.root / "policy" / "grants" / "staging"
    folder.mkdir()
    for n in range(2000):  # enough objects for several collections at the threshold tailjit sets
        (folder / f"u{n}.yaml").write_text(f"user: u{n}@example.com\ntarget: staging\nreason: r\n"
                                           f"expires: 2026-12-01T00:00:00Z\n")
    collections: list[str] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        collections.append(phase)

    gc.callbacks.append(seen)
    try:
        assert gc.isenabled()
        assert main(["--config", str(repo.config), "status", "--json"]) == 0
        assert collections == [], "no collection while the command ran"
        assert gc.isenabled(), "restored for whoever called main"
    finally:
        gc.callbacks.remove(seen)


def test_a_long_running_command_collects_again_from_its_second_reading_of_the_repository(repo: AccessRepo) -> None:
    app = App(config_option=repo.config, backend_spec=None)
    gc.disable()
    try:
        app.workspace()
        assert not gc.isenabled(), "one reading: the collector stays paused"
        app.workspace()
        assert gc.isenabled(), "a second reading (apply --watch): collecting again"
    finally:
        gc.enable()


def test_help_lists_every_command_with_its_own_words_without_importing_any() -> None:
    for name, (module, attribute, short) in COMMANDS.items():
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command) and command.name == name
        assert command.get_short_help_str(limit=1000) == short, f"COMMANDS[{name!r}] differs from its help"
    defined = {c.name for m in pkgutil.iter_modules(cli_package.__path__, "reconciler.cli.")
               for c in vars(importlib.import_module(m.name)).values() if isinstance(c, click.Command)}
    assert defined - {"tailjit", "cli"} == set(COMMANDS), "a command missing from COMMANDS cannot be run"
    probe = ("import sys\nfrom reconciler.cli.main import main\ncode = main(['--help'])\n"
             "print(code, sorted(m for m in ('pygit2', 'httpx', 'reconciler.cli.reconcile') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
    lines = done.stdout.strip().splitlines()
    assert lines[-1] == "0 []", done.stderr
    assert all(f"  {name} " in done.stdout for name in COMMANDS)
