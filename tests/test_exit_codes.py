"""Exit codes a script can rely on: 1 for what the machine refused, 3 (with a log) for a bug, 130 for Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pygit2
import pytest

from tests.support.access import AccessRepo

ALICE = "user: alice@example.com\ntarget: prod\nreason: INC-1\nexpires: 2026-11-24T14:00:00Z\n"


def test_an_unexpected_error_exits_3_and_leaves_its_traceback_in_a_log(
        repo: AccessRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    monkeypatch.setenv("TMPDIR", str(logs))
    monkeypatch.setattr("tempfile.tempdir", None)  # tempfile reads TMPDIR again

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("injected fault in a library")

    monkeypatch.setattr(pygit2, "discover_repository", broken)  # a library fault, as a bug in tailjit would be
    result = repo.run("status", "--at", "2026-11-24T12:00:00Z")
    assert result.code == 3
    assert "unexpected internal error; the details are in" in result.err
    (log,) = logs.glob("tailjit-crash-*.log")
    assert "RuntimeError: injected fault in a library" in log.read_text()
    assert "Traceback" not in result.err


def test_a_file_the_machine_refuses_is_a_clear_error_exit_1(repo: AccessRepo) -> None:
    state = repo.root / ".tailjit"
    state.write_text("a file where the state folder should be\n")
    repo.grant("prod", "alice.yaml", ALICE)
    result = repo.run("apply", "--at", "2026-11-24T12:00:00Z")
    assert result.code == 1, result.err
    assert result.err.startswith("error: ") and "Traceback" not in result.err
    assert ".tailjit" in result.err


def test_a_git_failure_is_a_clear_error_exit_1(repo: AccessRepo, no_machine_git_config: None) -> None:
    pygit2.init_repository(str(repo.root))
    (repo.root / ".git" / "HEAD").write_text("garbage\n")  # a repository git itself cannot read
    result = repo.run("request", "--target", "prod", "--for", "1h", "--reason", "INC-1", "--user",
                      "alice@example.com")
    assert result.code == 1, result.err
    assert result.err.startswith("error: ") and "Traceback" not in result.err


@pytest.mark.skipif(sys.platform == "win32", reason="a FIFO and SIGINT")
def test_ctrl_c_exits_130(repo: AccessRepo, tmp_path: Path) -> None:
    fifo = tmp_path / "tailjit.yaml"
    os.mkfifo(fifo)  # reading the config blocks until someone writes: the command is busy when Ctrl-C comes
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "reconciler", "--config", str(fifo), "status"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # wait until the process is blocked in the FIFO's open
            if Path(f"/proc/{proc.pid}/wchan").read_text() == "wait_for_partner":  # blocked opening the FIFO
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Interrupted." in err and "Traceback" not in err
