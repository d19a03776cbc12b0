"""The CLI on a terminal and piped: the real ``python -m reconciler`` in a pseudo-terminal (python's ``pty``)
whose size is set with TIOCSWINSZ, and the same command with its output captured by a pipe."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from reconciler.git.history import PROGRESS_EVERY
from tests.support.access import AccessRepo
from tests.support.gitutil import RepoBuilder, at, files_under

AT = "2026-11-24T12:00:00Z"
ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
GRANT = "user: {user}\ntarget: prod\nreason: Investigate INC-1234 on the primary database cluster\n" \
        "start: 2026-11-24T10:00:00Z\nduration: 4h\n"

pytestmark = pytest.mark.slow  # each case starts the CLI in a new process


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "CI", "COLUMNS", "LINES", "TERM")}
    env["TERM"] = "xterm-256color"
    env.update(extra)
    return env


def in_terminal(repo: AccessRepo, *args: str, columns: int = 80, **env: str) -> tuple[int, str]:
    """Run tailjit with stdout and stderr on one pseudo-terminal of ``columns`` columns; ``(exit code, screen)``."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    process = subprocess.Popen([sys.executable, "-m", "reconciler", "--config", str(repo.config), *args],
                               stdin=follower, stdout=follower, stderr=follower, env=environment(**env),
                               cwd=repo.root, close_fds=True)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the other side is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return process.wait(timeout=60), b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")


def piped(repo: AccessRepo, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "reconciler", "--config", str(repo.config), *args],
                          capture_output=True, text=True, env=environment(**env), cwd=repo.root, timeout=60,
                          check=False)


@pytest.fixture
def granted(repo: AccessRepo) -> AccessRepo:
    """An applied tailnet, then a new grant and a broken file: plan has a grant, a diff and a warning."""
    assert repo.run("apply", "--at", AT).code == 0
    repo.grant("prod", "alice-with-a-rather-long-file-name-for-the-table.yaml", GRANT.format(user="alice@example.com"))
    repo.grant("prod", "broken.yaml", "user: alice@example.com\ntarget prod\n")
    return repo


def test_plan_is_coloured_on_a_terminal(granted: AccessRepo) -> None:
    code, screen = in_terminal(granted, "plan", "--at", AT)
    assert code == 0, screen
    assert "\x1b[32m  + grant   group:prod  alice@example.com" in screen  # green member change
    assert re.search(r"\x1b\[32m\+\s+\"alice@example.com\"", screen)  # green diff line
    assert "\x1b[36m@@ " in screen  # cyan hunk header
    assert "\x1b[33mwarning\x1b[0m: policy/grants/prod/broken.yaml:2: no ':' after 'target'" in screen
    assert "tailjit:digest" not in screen


@pytest.mark.parametrize(("args", "env"), [(("--no-color",), {}), ((), {"NO_COLOR": "1"}), ((), {"TERM": "dumb"})])
def test_no_color_on_a_terminal_when_asked(granted: AccessRepo, args: tuple[str, ...], env: dict[str, str]) -> None:
    code, screen = in_terminal(granted, *args, "plan", "--at", AT, **env)
    assert code == 0
    assert "+ grant   group:prod  alice@example.com" in screen
    assert "\x1b[" not in screen


def test_piped_output_has_no_escape_codes_and_no_progress(granted: AccessRepo) -> None:
    for many in range(600):
        granted.grant("staging", f"u{many}.yaml", GRANT.format(user=f"u{many}@example.com").replace("prod", "staging"))
    for command in (("plan", "--at", AT), ("status", "--at", AT), ("validate", "--at", AT)):
        result = piped(granted, *command)
        assert "\x1b" not in result.stdout + result.stderr, command
        assert "\r" not in result.stderr and "loading grant files" not in result.stderr
    plan = piped(granted, "plan", "--at", AT)
    assert re.search(r"^  \+ grant   group:prod +alice@example.com", plan.stdout, re.MULTILINE)
    assert "tailjit:digest" not in plan.stdout


def test_the_status_table_fits_the_terminal_width(granted: AccessRepo) -> None:
    code, screen = in_terminal(granted, "status", "--at", AT, columns=60)
    assert code == 0
    rows = [ESCAPE.sub("", line) for line in screen.splitlines() if "STATE" in line or "alice" in line]
    assert len(rows) == 2 and all(len(row) <= 60 for row in rows), rows
    assert "…" in rows[1]
    assert "\x1b[32mactive\x1b[0m" in screen
    wide = piped(granted, "status", "--at", AT)
    assert "policy/grants/prod/alice-with-a-rather-long-file-name-for-the-table.yaml" in wide.stdout


def test_columns_wins_over_the_terminal_size(granted: AccessRepo) -> None:
    code, screen = in_terminal(granted, "status", "--at", AT, columns=200, COLUMNS="70")
    assert code == 0
    rows = [ESCAPE.sub("", line) for line in screen.splitlines() if "alice" in line]
    assert rows and all(len(row) <= 70 for row in rows)


def test_progress_is_shown_on_a_terminal_while_thousands_of_files_load(repo: AccessRepo) -> None:
    folder = repo.root / "policy" / "grants" / "staging"
    folder.mkdir(parents=True)
    for n in range(600):
        (folder / f"u{n}.yaml").write_text(GRANT.format(user=f"u{n}@example.com").replace("prod", "staging"))
    code, screen = in_terminal(repo, "status", "--at", AT)
    assert code == 0
    assert "\r\x1b[Kloading grant files: " in screen
    assert re.search(r"loading grant files: [|/\\-] 250 files", screen)
    assert screen.count("\r\x1b[K") >= 2, "the progress line is cleared before the table"
    _, in_ci = in_terminal(repo, "status", "--at", AT, CI="true")
    assert "loading grant files" not in in_ci


def test_colour_and_progress_add_no_module_to_start_up(tmp_path: Path) -> None:
    """Every command loads click and the App; colour and progress load nothing more (no rich: see bench/startup.py)."""
    probe = ("import sys, click, reconciler.cli.app; before = set(sys.modules); import reconciler.cli.terminal; "
             "print(sorted(set(sys.modules) - before))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=environment(),
                            cwd=tmp_path, timeout=60, check=True)
    assert result.stdout.strip() == "['reconciler.cli.terminal']"


def test_progress_is_shown_on_a_terminal_while_a_long_history_is_walked(repo: AccessRepo) -> None:
    repo.grant("prod", "alice.yaml", GRANT.format(user="alice@example.com").replace("start: 2026-11-24T10:00:00Z\n", ""))
    builder = RepoBuilder.init(repo.root)
    builder.commit(files_under(repo.root), at(0))
    for n in range(PROGRESS_EVERY + 10):
        builder.commit({"notes.txt": f"{n}\n".encode()}, at(1 + n / 60), write_ref=False)
    builder.write_refs()
    builder.checkout()
    code, screen = in_terminal(repo, "status", "--at", AT)
    assert code == 0, screen
    assert re.search(rf"\r\x1b\[Kreading git history: [|/\\-] {PROGRESS_EVERY} commits\r\x1b\[K", screen)
    assert "expired" in screen.split("reading git history")[-1], "the line is cleared before the table"
    for kept in (repo.root / ".tailjit").glob("merge-times*"):
        kept.unlink()  # walk again, in CI this time
    _, in_ci = in_terminal(repo, "status", "--at", AT, CI="1")
    assert "reading git history" not in in_ci and "expired" in in_ci
