"""Shared fixtures: an access repository in a tmp dir, and a way to run the real CLI."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitutil import isolated_git_config
from reconciler.cli.main import main

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = SHARED / "corpus" / "policies"

BASE_POLICY = """\
// Test tailnet.
{
	"groups": {
		"group:sre": ["dana@example.com"],
		// managed by tailjit
		"group:prod": [
			"dana@example.com", // lead
		],
		"group:staging": [],
	},
	"tagOwners": {"tag:prod": ["group:sre"]},
	"acls": [
		// prod access
		{"action": "accept", "src": ["group:prod"], "dst": ["tag:prod:22"]},
		{"action": "accept", "src": ["group:staging"], "dst": ["tag:staging:*"]},
	],
}
"""

CONFIG = """\
tailnet: "-"
backend: file:tailnet.hujson
targets:
  prod:
    group: group:prod
    max_duration: 8h
    approvers: ["@acme/sre"]
  staging:
    group: group:staging
    max_duration: 7d
"""


@dataclass
class Result:
    code: int
    out: str
    err: str


@dataclass
class AccessRepo:
    """An access repository laid out as tailjit expects: <root>/policy/{tailjit.yaml,policy.hujson,grants/}."""

    root: Path
    run_cli: Callable[..., Result]

    @property
    def config(self) -> Path:
        return self.root / "policy" / "tailjit.yaml"

    @property
    def tailnet(self) -> Path:
        return self.root / "tailnet.hujson"

    def grant(self, target: str, name: str, body: str) -> Path:
        path = self.root / "policy" / "grants" / target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(body))
        return path

    def run(self, *args: str) -> Result:
        return self.run_cli("--config", str(self.config), *args)


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    def run(*args: str) -> Result:
        code = main(list(args))
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
