"""An access repository a requester works in, for the ``tailjit request`` tests."""

from __future__ import annotations

from tests.support.access import CONFIG, AccessRepo
from tests.support.gitutil import CAROL, Person, RepoBuilder, at, files_under, set_identity

#: Alice's git email, mapped to her Tailscale login
IDENTITIES = "identities:\n  alice@corp.example: alice@example.com\n"


def requester_clone(repo: AccessRepo) -> RepoBuilder:
    """``repo`` committed at T0 by Carol and checked out, with Alice as the local git identity."""
    repo.config.write_text(CONFIG + IDENTITIES)
    b = RepoBuilder.init(repo.root)
    b.commit(files_under(repo.root), at(0), author=CAROL)
    b.checkout()
    set_identity(b.repo, Person("Alice Example", "alice@corp.example"))
    return b


def request(repo: AccessRepo, *args: str) -> tuple[int, str, str]:
    """``tailjit request --target prod --reason …`` plus ``args``: its exit code, stdout and stderr."""
    result = repo.run("request", "--target", "prod", "--reason", "Investigate INC-1234", *args)
    return result.code, result.out, result.err
