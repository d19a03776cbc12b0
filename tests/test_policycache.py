"""Each policy text is parsed once per process, and what render hands over reads as a fresh parse would."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from reconciler import hujson
from reconciler.backends.file import FileBackend
from reconciler.core import policycache
from reconciler.core.config import Safety, Target
from reconciler.core.grants import Grant, GrantStatus, State
from reconciler.core.policycheck import check_policy
from reconciler.core.render import render
from reconciler.reconcile import reconcile
from tests.support.access import BASE_POLICY
from tests.support.policies import CORPUS_FILES, NOW, TARGETS, active, with_target_group


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    policycache.clear()
    yield
    policycache.clear()


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The texts `hujson.parse` is called on from here on."""
    seen: list[bytes] = []
    real = hujson.parse

    def counting(data: bytes | str) -> hujson.Value:
        seen.append(data if isinstance(data, bytes) else data.encode())
        return real(data)

    monkeypatch.setattr(hujson, "parse", counting)
    return seen


def test_a_reconcile_parses_the_base_and_the_live_policy_once_and_the_desired_one_never(
        tmp_path: Path, parses: list[bytes]) -> None:
    live = tmp_path / "tailnet.hujson"
    live.write_bytes(render(BASE_POLICY.encode(), TARGETS, [active("bob@example.com")]))
    policycache.clear()  # the live text comes from an earlier run
    parses.clear()
    desired = render(BASE_POLICY.encode(), TARGETS, [active("alice@example.com")])
    outcome = reconcile(FileBackend(live), desired, TARGETS, Safety())
    assert outcome.written and live.read_bytes() == desired
    assert [c.kind for c in outcome.plan.member_changes] == ["grant", "revoke"]
    assert outcome.validation is not None and outcome.validation.ok
    assert len(parses) == 2  # the base (to edit it) and the live text; render handed its tree over
    assert parses[0] == BASE_POLICY.encode()


def test_a_cached_text_gives_the_same_answers_and_a_broken_one_is_never_cached(parses: list[bytes]) -> None:
    text = BASE_POLICY.encode()
    first = check_policy(text)
    assert check_policy(text) == first and len(parses) == 1
    broken = b'{"groups": {"group:a": [}}'
    assert check_policy(broken) == check_policy(broken) != ()
    assert len(parses) == 3


def test_only_the_last_few_texts_are_kept(parses: list[bytes]) -> None:
    texts = [b'{"n": %d}' % i for i in range(policycache.SIZE + 1)]
    for text in texts:
        policycache.parsed(text)
    policycache.parsed(texts[-1])
    assert len(parses) == len(texts)
    policycache.parsed(texts[0])  # the oldest was dropped
    assert len(parses) == len(texts) + 1


@pytest.mark.skipif(not CORPUS_FILES, reason="the shared corpus of real policies is not present")
@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_the_tree_render_hands_over_is_the_tree_a_parse_of_its_text_gives(path: Path) -> None:
    base, group = with_target_group(path.read_bytes())
    targets = {"t": Target("t", group, timedelta(hours=8))}
    statuses = [GrantStatus(Grant(path=f"policy/grants/t/{u}.yaml", user=f"{u}@example.com", target="t",
                                  reason="r", expires=NOW + timedelta(hours=1)),
                            State.ACTIVE, NOW, NOW + timedelta(hours=1)) for u in ("zed", "yan")]
    text = render(base, targets, statuses)
    handed = policycache.parsed(text)
    assert handed.tree.pack() == text
    fresh = hujson.parse(text)
    assert repr(handed.tree) == repr(fresh)
    assert handed.data == fresh.to_python()
