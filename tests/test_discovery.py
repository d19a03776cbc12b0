"""Config discovery like git's: from any folder inside an access repository, tailjit finds policy/tailjit.yaml."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pygit2
import pytest

from tests.support.access import AccessRepo, Result

AT = "2026-11-24T12:00:00Z"
ALICE = """\
user: alice@example.com
target: prod
reason: INC-1
expires: 2026-11-24T14:00:00Z
"""


def test_commands_find_the_config_from_a_subfolder(repo: AccessRepo, run_cli: Callable[..., Result],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    repo.grant("prod", "alice.yaml", ALICE)
    monkeypatch.chdir(repo.root / "policy" / "grants" / "prod")
    validate = run_cli("validate", "--at", AT)
    assert validate.code == 0, validate.err
    assert "1 grant file(s)" in validate.out
    assert run_cli("apply", "--at", AT).code == 0
    # the file backend's path is relative to the repository root, not to the folder tailjit ran in
    assert "alice@example.com" in repo.tailnet.read_text()
    assert not (repo.root / "policy" / "grants" / "prod" / "tailnet.hujson").exists()
    status = run_cli("status", "--at", AT)
    assert "policy/grants/prod/alice.yaml" in status.out


def test_from_the_root_messages_keep_the_relative_path(repo: AccessRepo, run_cli: Callable[..., Result],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    repo.config.write_text(repo.config.read_text() + "colour: blue\n")
    monkeypatch.chdir(repo.root)
    result = run_cli("validate")
    assert result.code == 1
    assert "policy/tailjit.yaml:11: unknown setting 'colour'" in result.err
    monkeypatch.chdir(repo.root / "policy")
    assert f"{repo.config}:11: unknown setting 'colour'" in run_cli("validate").err


def test_outside_any_access_repository_the_error_names_where_it_looked(
        tmp_path: Path, run_cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "a" / "b"
    folder.mkdir(parents=True)
    monkeypatch.chdir(folder)
    result = run_cli("validate")
    assert result.code == 1
    assert f"error: no policy/tailjit.yaml in {folder} or any folder above it" in result.err
    assert "tailjit init" in result.err


def test_the_search_stops_at_the_top_of_a_git_repository(repo: AccessRepo, run_cli: Callable[..., Result],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A git repository inside an access repository (a vendored tool, a submodule) is not part of it."""
    inner = repo.root / "vendor" / "tool"
    pygit2.init_repository(str(inner))
    (inner / "src").mkdir()
    monkeypatch.chdir(inner / "src")
    result = run_cli("status")
    assert result.code == 1
    assert (f"no policy/tailjit.yaml in {inner / 'src'} or any folder above it up to the top of its git "
            f"repository, {inner}") in result.err


def test_a_missing_base_policy_names_the_root_it_resolved(repo: AccessRepo, run_cli: Callable[..., Result],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    (repo.root / "policy" / "policy.hujson").unlink()
    (repo.root / "docs").mkdir()
    monkeypatch.chdir(repo.root / "docs")
    result = run_cli("validate")
    assert result.code == 1
    assert f"policy/policy.hujson: the base policy file does not exist (repository root {repo.root})" in result.err


def test_an_explicit_config_that_is_missing_shows_where_it_resolved(
        tmp_path: Path, run_cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_cli("--config", "elsewhere/tailjit.yaml", "plan")
    assert result.code == 1
    assert f"elsewhere/tailjit.yaml: no such file (resolved to {tmp_path / 'elsewhere' / 'tailjit.yaml'})" \
        in result.err


def test_an_explicit_config_wins_over_discovery(repo: AccessRepo, tmp_path: Path, run_cli: Callable[..., Result],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "other"
    (other / "policy" / "grants").mkdir(parents=True)
    (other / "policy" / "tailjit.yaml").write_text(repo.config.read_text().replace("max_duration: 8h",
                                                                                     "max_duration: 2h"))
    (other / "policy" / "policy.hujson").write_text((repo.root / "policy" / "policy.hujson").read_text())
    repo.grant("prod", "alice.yaml", ALICE)
    monkeypatch.chdir(other)
    assert "0 grant file(s)" in run_cli("validate", "--at", AT).out
    assert "1 grant file(s)" in run_cli("--config", str(repo.config), "validate", "--at", AT).out
