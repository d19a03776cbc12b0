"""Fixtures: an access repository in a tmp dir, and a way to run the real CLI."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from reconciler.cli.main import main
from tests.support.access import BASE_POLICY, CLI_NOW, CONFIG, AccessRepo, Result
from tests.support.gitutil import isolated_git_config


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    def run(*args: str) -> Result:
        code = main(list(args), clock=lambda: CLI_NOW)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def repo(tmp_path: Path, run_cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch) -> AccessRepo:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    root = tmp_path / "access"
    (root / "policy" / "grants").mkdir(parents=True)
    (root / "policy" / "tailjit.yaml").write_text(CONFIG)
    (root / "policy" / "policy.hujson").write_text(BASE_POLICY)
    return AccessRepo(root, run_cli)


@pytest.fixture
def no_machine_git_config(tmp_path: Path) -> Iterator[None]:
    """Hide this machine's git config (identity included) from libgit2, as on a clean CI runner."""
    with isolated_git_config(tmp_path / "home"):
        yield
