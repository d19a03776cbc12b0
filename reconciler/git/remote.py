"""Pushing to and fetching from ``origin`` with pygit2, and where to open the pull request.

Credentials, first found wins, never printed:

* an ``http.<url>.extraheader`` in the repository's git config, as
  ``actions/checkout`` leaves it (libgit2 does not read that key itself);
* ``TAILJIT_GIT_TOKEN``, ``GITHUB_TOKEN`` or ``GH_TOKEN`` for an HTTPS remote;
* the SSH agent, then ``~/.ssh/id_ed25519`` / ``~/.ssh/id_rsa`` without a
  passphrase, for an SSH remote.

A remote given as a local path (tests, mirrors) needs none.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import quote

import pygit2
from pygit2.enums import CheckoutStrategy, CredentialType

from reconciler.errors import GitError

TOKEN_VARIABLES = ("TAILJIT_GIT_TOKEN", "GITHUB_TOKEN", "GH_TOKEN")
_GITHUB = re.compile(r"(?:https?://(?:[^@/]+@)?github\.com/|(?:ssh://)?git@github\.com[:/])"
                     r"(?P<owner>[A-Za-z0-9_.-]+)/(?P<name>[A-Za-z0-9_.-]+?)(?:\.git)?/?")


def extra_headers(config: pygit2.Config, url: str) -> list[str]:
    """The ``http[.<url>].extraheader`` values that apply to ``url``, the most specific URL first."""
    found: list[tuple[int, str]] = []
    for entry in config:
        name = entry.name
        if not name.startswith("http.") or not name.endswith(".extraheader") or entry.value is None:
            continue
        scope = name[len("http."):-len(".extraheader")]
        if scope == "" and name == "http.extraheader":
            found.append((0, entry.value))
        elif scope and url.startswith(scope):
            found.append((len(scope), entry.value))
    return [value for _, value in sorted(found, key=lambda f: -f[0])]


class _Callbacks(pygit2.RemoteCallbacks):
    """Credentials for one remote operation, and the server's verdict on each pushed ref."""

    def __init__(self, repo: pygit2.Repository, url: str) -> None:
        super().__init__()
        self._headers = extra_headers(repo.config, url)[:1]
        self._tried: set[str] = set()
        self.rejected: dict[str, str] = {}

    def custom_headers(self) -> list[str] | None:
        return self._headers or None

    def credentials(self, url: str, username_from_url: str | None,
                    allowed_types: CredentialType) -> pygit2.Username | pygit2.UserPass | pygit2.Keypair:
        user = username_from_url or "git"
        if allowed_types & CredentialType.USERPASS_PLAINTEXT and self._first("token"):
            token = next((os.environ[v] for v in TOKEN_VARIABLES if os.environ.get(v)), None)
            if token is not None:
                return pygit2.UserPass("x-access-token", token)
        if allowed_types & CredentialType.SSH_KEY:
            if self._first("agent"):
                return pygit2.KeypairFromAgent(user)
            for name in ("id_ed25519", "id_rsa"):
                key = Path.home() / ".ssh" / name
                if key.is_file() and self._first(name):
                    return pygit2.Keypair(user, f"{key}.pub", str(key), "")
        if allowed_types & CredentialType.USERNAME and self._first("username"):
            return pygit2.Username(user)
        raise GitError(f"no usable credentials for {_redact(url)}",
                       hint="set TAILJIT_GIT_TOKEN (HTTPS) or load a key into ssh-agent (SSH)")

    def push_update_reference(self, refname: str, message: str | None) -> None:
        if message:
            self.rejected[refname] = message

    def _first(self, kind: str) -> bool:
        """Each credential is offered once: libgit2 asks again after a refusal, which would loop forever."""
        if kind in self._tried:
            return False
        self._tried.add(kind)
        return True


def _redact(url: str) -> str:
    """``url`` without any user:password part, for messages."""
    return re.sub(r"//[^@/]+@", "//", url)


def remote(repo: pygit2.Repository, name: str = "origin") -> pygit2.Remote:
    try:
        return repo.remotes[name]
    except KeyError:
        raise GitError(f"this repository has no remote {name!r}",
                       hint=f"add it: git remote add {name} URL") from None


def push_branch(repo: pygit2.Repository, branch: str, name: str = "origin") -> None:
    """Push the local ``branch`` to the remote's branch of the same name (no force)."""
    push_ref(repo, f"refs/heads/{branch}", branch, name)


def push_ref(repo: pygit2.Repository, source: str, branch: str, name: str = "origin") -> None:
    """Push the local ref ``source`` to the remote's ``branch`` (no force).

    Raises `GitError` with the server's reason when the push is refused:
    a non-fast-forward, a protected branch, missing rights.
    """
    target = remote(repo, name)
    callbacks = _Callbacks(repo, target.push_url or target.url or name)
    destination = f"refs/heads/{branch}"
    try:
        target.push([f"{source}:{destination}"], callbacks=callbacks)
    except pygit2.GitError as e:
        raise GitError(f"pushing {branch} to {name} failed: {e}") from None
    if destination in callbacks.rejected:
        raise GitError(f"{name} refused {branch}: {callbacks.rejected[destination]}")


def fetch_branch(repo: pygit2.Repository, branch: str, name: str = "origin") -> pygit2.Oid | None:
    """Fetch ``branch`` from the remote; its tip there, or None when the remote has no such branch."""
    target = remote(repo, name)
    tracking = f"refs/remotes/{name}/{branch}"
    try:
        target.fetch([f"+refs/heads/{branch}:{tracking}"], callbacks=_Callbacks(repo, target.url or name))
    except pygit2.GitError as e:
        if "couldn't find remote ref" in str(e):
            return None
        raise GitError(f"fetching {branch} from {name} failed: {e}") from None
    ref = repo.references.get(tracking)
    return ref.peel(pygit2.Commit).id if ref is not None else None


def fast_forward(repo: pygit2.Repository, name: str = "origin") -> pygit2.Oid | None:
    """``git pull --ff-only`` of the checked-out branch: fetch it, then move it and the working copy forward.

    Returns the new tip, or None when the branch was already up to date.
    Never merges and never discards work: a branch with commits the remote
    lacks, or a local change in the way of the update, is a `GitError`.
    """
    if repo.head_is_unborn or repo.head_is_detached:
        raise GitError("HEAD is not on a branch, so there is nothing to fast-forward",
                       hint="check out the branch to follow, e.g. git checkout main")
    branch = repo.head.shorthand
    local = repo.head.target
    fetched = fetch_branch(repo, branch, name)
    if fetched is None:
        raise GitError(f"{name} has no branch {branch!r} to follow")
    if fetched == local:
        return None
    ahead, _ = repo.ahead_behind(local, fetched)
    if ahead:
        raise GitError(f"{branch} has {ahead} commit(s) that {name}/{branch} lacks; not fast-forwarding",
                       hint=f"this clone should only follow {name}: git reset --hard {name}/{branch}")
    try:
        repo.checkout_tree(repo[fetched].peel(pygit2.Tree), strategy=CheckoutStrategy.SAFE)  # type: ignore[no-untyped-call]
    except pygit2.GitError as e:
        raise GitError(f"cannot fast-forward {branch}: {e}",
                       hint="a local change is in the way; this clone should only follow "
                            f"{name}: git reset --hard {name}/{branch}") from None
    repo.references[f"refs/heads/{branch}"].set_target(fetched, f"tailjit: fast-forward to {name}/{branch}")
    return fetched


def remote_default_branch(repo: pygit2.Repository, name: str = "origin") -> str | None:
    """The branch ``refs/remotes/<name>/HEAD`` points at (what a clone records), if known."""
    ref = repo.references.get(f"refs/remotes/{name}/HEAD")
    if ref is None or not isinstance(ref.target, str):
        return None
    prefix = f"refs/remotes/{name}/"
    return ref.target[len(prefix):] if ref.target.startswith(prefix) else None


def compare_url(remote_url: str, base: str, branch: str) -> str | None:
    """The GitHub page that opens a pull request from ``branch`` into ``base``; None off GitHub."""
    match = _GITHUB.fullmatch(remote_url.strip())
    if match is None:
        return None
    safe = "/@+"
    return (f"https://github.com/{match['owner']}/{match['name']}/compare/"
            f"{quote(base, safe=safe)}...{quote(branch, safe=safe)}?expand=1")


def pull_request_url(remote_url: str, number: int) -> str | None:
    """The GitHub page of pull request ``number`` of the repository at ``remote_url``; None off GitHub."""
    match = _GITHUB.fullmatch(remote_url.strip())
    if match is None:
        return None
    return f"https://github.com/{match['owner']}/{match['name']}/pull/{number}"
