from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from reconciler.errors import ConfigError
from reconciler.repo.config import load_config


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "policy" / "tailjit.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def error_of(tmp_path: Path, text: str | bytes) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return str(info.value)


def test_loads_targets_limits_and_paths(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """\
tailnet: example.com
targets:
  prod: {group: "group:prod", max_duration: 8h, label: Prod, approvers: ["@acme/sre"]}
identities: {alice@corp.example: alice@example.com}
safety: {max_removed_members: 0.5, min_existing: 4}
"""))
    assert config.root == tmp_path.resolve()
    assert config.policy_path == tmp_path.resolve() / "policy" / "policy.hujson"
    assert config.targets["prod"].max_duration == timedelta(hours=8)
    assert config.targets["prod"].approvers == ("@acme/sre",)
    assert config.identities == {"alice@corp.example": "alice@example.com"}
    assert config.safety.max_removed_members == 0.5
    assert config.safety.max_changed_entries == 0.3
    assert config.safety.min_existing == 4
    assert config.backend == "tailscale"


@pytest.mark.parametrize(("text", "expected"), [
    ("targets:\n  prod: {group: 'group:prod', max_duration: 8h}\ncolour: blue\n", "tailjit.yaml:3: unknown setting 'colour'"),
    ("targets:\n  Prod!: {group: 'group:prod', max_duration: 8h}\n", "tailjit.yaml:2: target name 'Prod!'"),
    ("targets:\n  prod:\n    group: prod\n    max_duration: 8h\n", "tailjit.yaml:3: target 'prod' needs 'group: group:NAME'"),
    ("targets:\n  prod:\n    group: group:prod\n", "needs 'max_duration'"),
    ("targets:\n  prod:\n    group: group:prod\n    max_duration: soon\n", "tailjit.yaml:4: 'soon' is not a duration"),
    ("targets:\n  prod:\n    group: group:prod\n    max_duration: 91d\n", "exceeds the 90d ceiling"),
    ("targets:\n  a: {group: 'group:x', max_duration: 1h}\n  b: {group: 'group:x', max_duration: 1h}\n",
     "tailjit.yaml:3: targets 'a' and 'b' both manage group:x"),
    ("targets: {}\n", "'targets' must map at least one target"),
    ("targets:\n  prod: {group: 'group:prod', max_duration: 8h}\nsafety: {max_removed_members: 3}\n",
     "is a share between 0 and 1"),
    ("targets: [\n", "tailjit.yaml:2: not valid YAML"),
    ("- just\n- a list\n", "expected a mapping of settings"),
    ("a: &x 1\nb: *x\n", "anchors and aliases are not allowed"),
])
def test_errors_say_where_and_what(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in error_of(tmp_path, text)


def test_missing_file_gives_a_hint(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml")
    assert "no such file" in str(info.value)
    assert info.value.hint is not None and "--config" in info.value.hint


def test_huge_and_deep_files_are_refused(tmp_path: Path) -> None:
    assert "the limit is" in error_of(tmp_path, b"# " + b"x" * 300_000)
    assert "nested too deeply" in error_of(tmp_path, "a: " + "[" * 5000 + "]" * 5000 + "\n")
