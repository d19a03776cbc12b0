"""An access repository laid out as tailjit expects, in a tmp dir, with the base policy and config the tests share."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

#: What time it is for every command a test runs through ``run_cli`` (unless it passes --at): never the real clock.
CLI_NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

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


