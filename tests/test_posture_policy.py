"""``lock: posture``: reading it from tailjit.yaml, and ``validate`` checking that the base policy enforces it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from reconciler import hujson
from reconciler.core.config import Target
from reconciler.core.lockcheck import Level, check_lock
from reconciler.core.posture import attribute_key, condition, posture_name
from reconciler.errors import ConfigError
from reconciler.repo.config import load_config
from tests.support.access import AccessRepo

LOCKED_CONFIG = """\
tailnet: "-"
backend: file:tailnet.hujson
targets:
  prod:
    group: group:prod
    max_duration: 8h
    lock: posture
  staging:
    group: group:staging
    max_duration: 7d
"""

#: The base policy of the shared test repository, locked as docs/posture-lock.md shows.
LOCKED_POLICY = """\
{
	"groups": {
		"group:prod": [],
		"group:staging": ["dana@example.com"],
	},
	"postures": {
		"posture:tailjit-prod": ["custom:tailjit_prod == 'granted'"],
	},
	"acls": [
		{"action": "accept", "src": ["group:prod"], "dst": ["tag:prod:22"], "srcPosture": ["posture:tailjit-prod"]},
		{"action": "accept", "src": ["group:staging"], "dst": ["tag:staging:*"]},
	],
	"grants": [
		{"src": ["group:prod"], "dst": ["tag:db"], "ip": ["5432"], "srcPosture": ["posture:tailjit-prod"]},
	],
}
"""

PROD = Target("prod", "group:prod", timedelta(hours=8), lock="posture")


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy" / "tailjit.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def config_error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, text))
    return str(info.value)


def problems(policy: str, targets: dict[str, Target] | None = None) -> list[tuple[int, str, Level]]:
    found = check_lock(hujson.parse(policy.encode()), targets or {"prod": PROD})
    return [(p.line, p.message, p.level) for p in found]


def test_names_follow_tailscale_key_rules() -> None:
    assert attribute_key("prod") == "custom:tailjit_prod"
    assert attribute_key("eu-prod") == "custom:tailjit_eu_prod"  # keys take letters, digits, '_' only
    assert posture_name("eu-prod") == "posture:tailjit-eu-prod"
    assert condition("prod") == "custom:tailjit_prod == 'granted'"


def test_lock_defaults_to_none_and_reads_posture(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, LOCKED_CONFIG))
    assert config.targets["prod"].lock == "posture" and config.targets["prod"].posture_locked
    assert config.targets["staging"].lock == "none" and not config.targets["staging"].posture_locked


@pytest.mark.parametrize(("lock", "expected"), [
    ("lock: strict", "tailjit.yaml:4: 'lock' of target 'prod' must be 'none' or 'posture', not 'strict'"),
    ("lock: [posture]", "tailjit.yaml:4: 'lock' of target 'prod' must be 'none' or 'posture', not a list"),
    ("lock: " + "p" * 5000, "must be 'none' or 'posture', not 'pppppppppppppppppppppppppppppppppppppppp'"),
    ("lock: \"posture\\n\"", "must be 'none' or 'posture'"),
])
def test_a_bad_lock_is_refused_at_its_line(tmp_path: Path, lock: str, expected: str) -> None:
    message = config_error(tmp_path, f"targets:\n  prod:\n    group: group:prod\n    {lock}\n    max_duration: 8h\n")
    assert expected in message
    assert "p" * 41 not in message  # a huge value is not echoed whole


def test_a_locked_target_name_must_fit_the_attribute_key(tmp_path: Path) -> None:
    name = "a" * 36
    message = config_error(tmp_path, f"targets:\n  {name}:\n    group: group:x\n    max_duration: 1h\n"
                                     "    lock: posture\n")
    assert "tailjit.yaml:5:" in message and "at most 35" in message and "50-character" in message
    unlocked = load_config(write_config(tmp_path, f"targets:\n  {name}: {{group: 'group:x', max_duration: 1h}}\n"))
    assert unlocked.targets[name].lock == "none"


def test_two_locked_targets_may_not_share_an_attribute(tmp_path: Path) -> None:
    message = config_error(tmp_path, "targets:\n  eu-prod: {group: 'group:a', max_duration: 1h, lock: posture}\n"
                                     "  eu_prod: {group: 'group:b', max_duration: 1h, lock: posture}\n")
    assert "tailjit.yaml:3:" in message and "'custom:tailjit_eu_prod'" in message


def test_a_locked_policy_has_no_problems() -> None:
    assert problems(LOCKED_POLICY) == []


def test_no_locked_target_means_no_check() -> None:
    assert problems("{\"acls\": [{\"src\": [\"group:prod\"], \"dst\": [\"*:*\"]}]}",
                    {"prod": Target("prod", "group:prod", timedelta(hours=1))}) == []


def test_each_rule_letting_the_group_in_without_the_posture_is_named_at_its_line() -> None:
    policy = LOCKED_POLICY.replace(', "srcPosture": ["posture:tailjit-prod"]}', "}")
    assert problems(policy) == [
        (10, "acls[0] lets group:prod in without posture:tailjit-prod: add \"srcPosture\": "
             "[\"posture:tailjit-prod\"]", Level.ERROR),
        (14, "grants[0] lets group:prod in without posture:tailjit-prod: add \"srcPosture\": "
             "[\"posture:tailjit-prod\"]", Level.ERROR),
    ]


def test_a_missing_posture_definition_says_what_to_add() -> None:
    policy = LOCKED_POLICY.replace('"posture:tailjit-prod": ["custom:tailjit_prod == \'granted\'"],', "")
    assert problems(policy)[0] == (
        6, "target 'prod' has lock: posture, but \"postures\" does not define posture:tailjit-prod: add "
           "\"postures\": {\"posture:tailjit-prod\": [\"custom:tailjit_prod == 'granted'\"]}", Level.ERROR)
    without = problems("{\"groups\": {\"group:prod\": []}}")
    assert without == [(1, without[0][1], Level.ERROR)] and "does not define posture:tailjit-prod" in without[0][1]


def test_a_posture_without_the_condition_is_refused_at_its_line() -> None:
    policy = LOCKED_POLICY.replace("custom:tailjit_prod == 'granted'", "node:os == 'macos'")
    found = problems(policy)
    assert found[0] == (7, "posture:tailjit-prod lacks the condition \"custom:tailjit_prod == 'granted'\": add it "
                           "to its list", Level.ERROR)
    # and then no rule is locked either: the posture they list does not carry the condition
    assert [line for line, _, _ in found[1:]] == [10, 14]


def test_a_condition_with_other_spacing_or_quotes_counts() -> None:
    policy = LOCKED_POLICY.replace("custom:tailjit_prod == 'granted'", 'custom:tailjit_prod==\\"granted\\"')
    assert problems(policy) == []


def test_a_second_posture_that_lacks_the_condition_opens_the_rule() -> None:
    """Any-of or all-of: a rule listing a posture without the condition might let a device in by it."""
    policy = LOCKED_POLICY.replace(
        '"srcPosture": ["posture:tailjit-prod"]}', '"srcPosture": ["posture:tailjit-prod", "posture:mac"]}', 1)
    policy = policy.replace('"postures": {', '"postures": {\n\t\t"posture:mac": ["node:os == \'macos\'"],')
    (found,) = problems(policy)
    assert found[0] == 11 and "its srcPosture lists posture:mac, which do(es) not require" in found[1]


def test_default_src_posture_covers_rules_without_their_own() -> None:
    policy = LOCKED_POLICY.replace(', "srcPosture": ["posture:tailjit-prod"]}', "}")
    assert problems(policy.replace('"acls": [', '"defaultSrcPosture": ["posture:tailjit-prod"],\n\t"acls": [')) == []
    other = problems(policy.replace('"acls": [', '"defaultSrcPosture": ["posture:x"],\n\t"acls": ['))
    assert [line for line, _, _ in other] == [11, 15]
    assert "(the defaultSrcPosture does not require it)" in other[0][1]


def test_ssh_through_the_group_is_reported_as_not_covered() -> None:
    policy = LOCKED_POLICY.replace('\t"grants": [', '\t"ssh": [\n\t\t{"action": "accept", "src": ["group:prod"], '
                                                   '"dst": ["tag:prod"], "users": ["root"]},\n\t],\n\t"grants": [')
    (found,) = problems(policy)
    assert found[0] == 14 and found[2] is Level.WARNING
    assert "SSH through group:prod is not covered by the lock" in found[1]
    covered = policy.replace('"users": ["root"]}', '"users": ["root"], "srcPosture": ["posture:tailjit-prod"]}')
    assert problems(covered) == []


def test_permanent_members_of_a_locked_group_are_warned_about() -> None:
    policy = LOCKED_POLICY.replace('"group:prod": [],', '"group:prod": ["dana@example.com"],')
    (found,) = problems(policy)
    assert found[0] == 3 and found[2] is Level.WARNING
    assert found[1].startswith("group:prod has permanent members (dana@example.com); with lock: posture")


def test_malformed_sections_are_skipped_not_crashed_on() -> None:
    hostile = ('{"postures": {"posture:tailjit-prod": "custom:tailjit_prod == \'granted\'"}, "acls": [1, null, '
               '{"src": "group:prod"}, {"src": ["group:prod", 7], "srcPosture": [null]}], "grants": {}, "ssh": 3}')
    found = problems(hostile)
    assert [(line, level) for line, _, level in found] == [(1, Level.ERROR), (1, Level.ERROR)]
    assert "posture:tailjit-prod must be a list of conditions" in found[0][1] and found[1][1].startswith("acls[3] lets group:prod in")


def test_validate_names_each_open_rule_and_fails(repo: AccessRepo) -> None:
    repo.config.write_text(LOCKED_CONFIG)
    base = repo.root / "policy" / "policy.hujson"
    base.write_text(LOCKED_POLICY)
    assert repo.run("validate").code == 0
    base.write_text(LOCKED_POLICY.replace(', "srcPosture": ["posture:tailjit-prod"]}', "}", 1))
    result = repo.run("validate")
    assert result.code == 1
    assert "error: policy/policy.hujson:10: acls[0] lets group:prod in without posture:tailjit-prod" in result.err
    assert "1 problem(s) found." in result.err


def test_validate_warns_about_ssh_but_passes(repo: AccessRepo) -> None:
    repo.config.write_text(LOCKED_CONFIG)
    (repo.root / "policy" / "policy.hujson").write_text(LOCKED_POLICY.replace(
        '\t"grants": [', '\t"ssh": [{"action": "accept", "src": ["group:prod"], "dst": ["autogroup:self"], '
                         '"users": ["root"]}],\n\t"grants": ['))
    result = repo.run("validate")
    assert result.code == 0, result.err
    assert "warning: policy/policy.hujson:13: ssh[0] lets group:prod use Tailscale SSH" in result.err


def test_an_unlocked_repository_validates_as_before(repo: AccessRepo) -> None:
    result = repo.run("validate")
    assert result.code == 0 and "posture" not in result.out + result.err


def test_the_file_backend_grants_by_membership_and_says_the_lock_is_not_applied(repo: AccessRepo) -> None:
    repo.config.write_text(LOCKED_CONFIG)
    (repo.root / "policy" / "policy.hujson").write_text(LOCKED_POLICY)
    repo.grant("prod", "alice.yaml", "user: alice@example.com\ntarget: prod\nreason: r\n"
                                     "expires: 2026-11-24T14:00:00Z\n")
    result = repo.run("apply", "--at", "2026-11-24T12:00:00Z")
    assert result.code == 0, result.err
    assert "note: file:tailnet.hujson has no devices: lock: posture is checked (validate) but no posture " \
           "attribute is set" in result.err
    assert "alice@example.com" in repo.tailnet.read_text()


def test_a_rule_letting_two_locked_groups_in_is_to_be_split() -> None:
    targets = {"prod": PROD, "db": Target("db", "group:db", timedelta(hours=1), lock="posture")}
    policy = ('{"postures": {"posture:tailjit-prod": ["custom:tailjit_prod == \'granted\'"], '
              '"posture:tailjit-db": ["custom:tailjit_db == \'granted\'"]},\n"acls": [{"src": ["group:prod", '
              '"group:db"], "dst": ["*:22"], "srcPosture": ["posture:tailjit-prod", "posture:tailjit-db"]}]}')
    found = problems(policy, targets)
    assert [line for line, _, _ in found] == [2, 2]
    assert all("several locked groups in one rule): split it into one rule per locked group" in m
               for _, m, _ in found)
