"""A repository owned by another user (a volume mounted into the container): a clear error, as git's, until trusted.

libgit2 refuses to open a repository whose files belong to another user, as git does since 2.35.2 ("detected
dubious ownership"); both accept it when the global config lists it in ``safe.directory``. Making the check fail
needs files owned by someone else, so these tests run as root (they chown the repository to ``nobody``) and are
skipped otherwise.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.access import BASE_POLICY, CONFIG, Result
from tests.support.gitutil import RepoBuilder, at, grant_yaml, isolated_git_config

NOBODY = 65534
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")


@pytest.fixture
def foreign(tmp_path: Path) -> Iterator[Path]:
    """An access repository (committed, checked out) whose files belong to another user, and a clean global config."""
    root = tmp_path / "repo"
    builder = RepoBuilder.init(root)
    builder.commit({"policy/tailjit.yaml": CONFIG, "policy/policy.hujson": BASE_POLICY,
                    "policy/grants/prod/alice.yaml": grant_yaml("alice@example.com", "prod")}, at(1))
    builder.checkout()
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files, "."]:
            os.lchown(Path(folder) / name, NOBODY, NOBODY)
    with isolated_git_config(tmp_path / "home"):
        yield root


@pytest.mark.parametrize("args", [("status",), ("apply", "--watch", "--pull"), ("audit",), ("prune", "--commit")])
def test_a_repository_owned_by_another_user_is_a_clear_error(foreign: Path, run_cli: Callable[..., Result],
                                                             args: tuple[str, ...]) -> None:
    result = run_cli("--config", str(foreign / "policy" / "tailjit.yaml"), *args)
    assert result.code == 1, result.err
    assert f"error: the git repository at {foreign} belongs to another user" in result.err
    assert f"hint: if you trust it, run: git config --global --add safe.directory {foreign}" in result.err
    assert "Traceback" not in result.err and "crash" not in result.err
    assert not (foreign / "tailnet.hujson").exists(), "nothing applied"


def test_once_trusted_with_safe_directory_it_works(foreign: Path, tmp_path: Path,
                                                   run_cli: Callable[..., Result]) -> None:
    (tmp_path / "home" / ".gitconfig").write_text(f"[safe]\n\tdirectory = {foreign}\n")
    result = run_cli("--config", str(foreign / "policy" / "tailjit.yaml"), "status", "--json")
    assert result.code == 0, result.err
    assert '"alice@example.com"' in result.out
