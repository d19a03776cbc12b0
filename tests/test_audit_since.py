"""``tailjit audit --since``: reads only the history that can matter, and answers as the full audit filtered."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pygit2
import pytest

from reconciler.core.durations import format_time
from reconciler.git import audit
from reconciler.repo.config import load_config
from tests.support.access import AccessRepo
from tests.support.gitutil import ALICE, BOB, BOT, CAROL, GITHUB, RepoBuilder, at, files_under, grant_yaml

G = "policy/grants"
pytestmark = pytest.mark.usefixtures("no_machine_git_config")


def rows(repo: AccessRepo, *args: str) -> list[dict[str, Any]]:
    result = repo.run("audit", "--format", "json", *args)
    assert result.code == 0, result.err
    found: list[dict[str, Any]] = json.loads(result.out)["grants"]
    return found


def random_history(repo: AccessRepo, seed: int) -> RepoBuilder:
    """Requests merged by merge commits and squashes, edits, renames (also across targets), deletions, files
    deleted and added again, unrelated commits, a commit renaming one file while adding another of its name."""
    rng = random.Random(seed)
    b = RepoBuilder.init(repo.root)
    b.commit(files_under(repo.root), at(0), author=CAROL)
    live: list[str] = []
    for step in range(1, 120):
        when = at(step)
        roll = rng.random()
        target = rng.choice(["prod", "staging"])
        if roll < 0.35 or not live:
            path = f"{G}/{target}/u{rng.randint(0, 30)}.yaml"
            text = grant_yaml(f"u{step}@example.com", target, reason=f"Request {step} " + "x" * 40)
            if rng.random() < 0.5:
                b.commit({path: text}, when, author=BOB, branch=f"r{step}")
                b.merge(f"r{step}", when, author=CAROL, committer=GITHUB)
            else:
                b.commit({path: text}, when, author=BOB, committer=GITHUB)
            if path not in live:
                live.append(path)
        elif roll < 0.55:
            path = rng.choice(live)
            b.commit({path: None}, when, author=BOT)
            live.remove(path)
        elif roll < 0.7:
            path = rng.choice(live)
            b.commit({path: grant_yaml("e@example.com", path.split("/")[-2], reason=f"Edit {step} " + "x" * 40)},
                     when, author=ALICE)
        elif roll < 0.8:
            path = rng.choice(live)
            moved = f"{G}/{target}/moved{step}.yaml"
            text = b.repo[b.tip()].peel(pygit2.Tree)[path].peel(pygit2.Blob).data.decode()
            changes: dict[str, str | None] = {path: None, moved: text}
            if rng.random() < 0.5:  # the old name reused for a new request in the same commit
                changes[path] = grant_yaml(f"n{step}@example.com", path.split("/")[-2], reason="New " + "y" * 40)
            b.commit(changes, when, author=ALICE)
            live.append(moved)
            if changes[path] is None:
                live.remove(path)
        else:
            b.commit({"README.md": f"{step}\n"}, when, author=ALICE)
    b.checkout()
    return b


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(6))
def test_since_answers_as_the_full_audit_filtered(repo: AccessRepo, seed: int) -> None:
    random_history(repo, seed)
    config = load_config(repo.root / "policy" / "tailjit.yaml")
    everything = audit.history(config)
    assert len(everything) > 20
    for hour in (0, 1, 17.5, 40, 60, 90, 118, 119, 200):
        start = at(hour)
        assert audit.since(audit.history(config, since=start), start) == audit.since(everything, start)


def test_history_before_what_since_needs_is_never_read(repo: AccessRepo) -> None:
    """A repository whose old trees are gone (as a partial clone leaves it) still answers ``--since``."""
    b = RepoBuilder.init(repo.root)
    b.commit(files_under(repo.root), at(0), author=CAROL)
    b.commit({f"{G}/prod/old.yaml": grant_yaml("old@example.com", "prod")}, at(1), author=BOB)
    old_folder = b.tree_of()[f"{G}/prod"].id
    b.commit({f"{G}/prod/old.yaml": None}, at(2), author=BOT)
    b.commit({f"{G}/staging/kept.yaml": grant_yaml("kept@example.com", "staging", duration=None,
                                                   expires="2026-01-01T00:00:00Z")}, at(3), author=BOB)
    b.commit({f"{G}/prod/new.yaml": grant_yaml("new@example.com", "prod")}, at(10), author=BOB)
    b.checkout()
    loose = Path(b.repo.path, "objects", str(old_folder)[:2], str(old_folder)[2:])
    loose.unlink()
    assert [r["file"] for r in rows(repo, "--since", format_time(at(5)))] == [
        f"{G}/staging/kept.yaml", f"{G}/prod/new.yaml"]
    assert repo.run("audit").code != 0, "the full audit does need the missing tree"


def test_a_grant_revoked_before_since_is_not_listed_though_its_window_reached_past_it(repo: AccessRepo) -> None:
    b = RepoBuilder.init(repo.root)
    b.commit(files_under(repo.root), at(0), author=CAROL)
    b.commit({f"{G}/prod/bob.yaml": grant_yaml("bob@example.com", "prod", duration="8h")}, at(1), author=BOB)
    b.commit({f"{G}/prod/bob.yaml": None}, at(2), author=CAROL)  # revoked by hand after an hour
    b.checkout()
    (bob,) = rows(repo)
    assert (bob["active_to"], bob["removed_at"], bob["revoked_early"]) == (
        format_time(at(9)), format_time(at(2)), True)
    assert rows(repo, "--since", format_time(at(2))) == [bob], "removed at the start: listed"
    assert rows(repo, "--since", format_time(at(3))) == [], "no access at or after 03:00: its window ended at 02:00"


def test_a_file_copied_before_since_while_its_old_name_was_rewritten_reads_as_in_full(repo: AccessRepo) -> None:
    b = RepoBuilder.init(repo.root)
    b.commit(files_under(repo.root), at(0), author=CAROL)
    text = grant_yaml("a@example.com", "staging", duration=None, expires="2026-06-01T00:00:00Z",
                      reason="A reason long enough to be recognised as the same file after a move")
    b.commit({f"{G}/staging/a.yaml": text}, at(1), author=BOB)
    b.commit({f"{G}/staging/a.yaml": grant_yaml("n@example.com", "staging", reason="Someone else entirely"),
              f"{G}/staging/b.yaml": text}, at(2), author=ALICE)
    b.commit({"README.md": "later\n"}, at(5), author=ALICE)
    b.checkout()
    full = {r["file"]: r for r in rows(repo)}
    # git sees a rewritten a.yaml and a new b.yaml, not a rename: a name present on both sides is never a source
    assert (full[f"{G}/staging/a.yaml"]["edits"], full[f"{G}/staging/b.yaml"]["merged_at"]) == (1, format_time(at(2)))
    assert {r["file"]: r for r in rows(repo, "--since", format_time(at(4)))} == full
