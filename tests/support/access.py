"""An access repository laid out as tailjit expects, in a tmp dir, with the base policy and config the tests share."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pygit2

#: What time it is for every command a test runs through ``run_cli`` (unless it passes --at): never the real clock.
CLI_NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
#: When `AccessRepo.commit` says a change reached main: before `CLI_NOW`, and less than 8 hours before it.
MERGED = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)

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
    #: `grant` commits each file it writes (set by `reviewed`)
    auto_commit: bool = False

    @property
    def config(self) -> Path:
        return self.root / "policy" / "tailjit.yaml"

    @property
    def tailnet(self) -> Path:
        return self.root / "tailnet.hujson"

    def grant(self, target: str, name: str, body: str) -> Path:
        """Write a grant file; in a repository that is in git (`reviewed`), commit it too, as if merged."""
        path = self.root / "policy" / "grants" / target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(body))
        if self.auto_commit:
            self.commit(f"grant {target}/{name}")
        return path

    def reviewed(self) -> None:
        """Make the repository a git repository on ``main`` with everything committed: the reviewed state the
        ``tailscale`` backend grants from. From then on `grant` commits each file at `MERGED`."""
        pygit2.init_repository(str(self.root), initial_head="main")
        self.commit("the access repository")
        self.auto_commit = True

    def commit(self, message: str, when: datetime | None = None) -> None:
        """Commit everything in the working folder on the current branch (at `MERGED` unless ``when``)."""
        repo = pygit2.Repository(str(self.root))
        repo.index.add_all()
        repo.index.write()
        tree = repo.index.write_tree()
        parents = [] if repo.head_is_unborn else [repo.head.target]
        sign = pygit2.Signature("Test", "test@example.com", int((when or MERGED).timestamp()), 0)
        repo.create_commit("HEAD", sign, sign, message, tree, parents)

    def run(self, *args: str) -> Result:
        return self.run_cli("--config", str(self.config), *args)


