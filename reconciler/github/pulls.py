"""A pull request as `tailjit approvals` needs it, read through the GitHub REST API into values.

Endpoints (all ``GET``, lists paginated with ``per_page=100`` and ``Link: rel="next"``):

* ``/repos/{o}/{r}/pulls/{n}``: author, head commit, labels, and the counts of commits and files;
* ``/repos/{o}/{r}/pulls/{n}/files``: the changed files (GitHub lists at most 3,000);
* ``/repos/{o}/{r}/contents/{path}?ref={head}``: each changed grant file at the head (base64);
* ``/repos/{o}/{r}/pulls/{n}/reviews``: the reviews, oldest first;
* ``/repos/{o}/{r}/pulls/{n}/commits``: the commits, oldest first (GitHub lists at most 250);
* ``/repos/{o}/{r}/commits/{sha}``: the files of each commit after the oldest approved one, newest first,
  until one changed a grant file (reviews of commits before it are stale);
* ``/orgs/{org}/teams/{slug}/members``: the members of an approving team.

Anything GitHub answers that is not what these documents promise (a missing field, a wrong type, an
answer too large, more items than GitHub lists) is a `GitHubError`: the check fails, it never passes.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import quote

from reconciler.errors import GitHubError
from reconciler.github.api import GitHub
from reconciler.github.approvals import APPROVED, ChangedFile, PullRequest, Review
from reconciler.repo import yamlfile

#: GitHub lists at most this many commits and files of a pull request.
MAX_COMMITS = 250
MAX_FILES = 3000
#: A pull request changing more grant files than this is not checked (each is one request).
MAX_GRANT_FILES = 100
TEAM_HINT = ("the token cannot see the team, or it does not exist: the job's GITHUB_TOKEN cannot read organisation "
             "teams; give the step a GitHub App token with the organisation permission Members: read "
             "(docs/approvals.md)")
FORBIDDEN_HINT = ("the job needs 'permissions: pull-requests: read' and 'contents: read'; teams need a token "
                  "with the organisation permission Members: read (docs/approvals.md)")


def read_pull_request(gh: GitHub, number: int, prefix: str) -> PullRequest:
    """Pull request ``number`` with its grant files (those below ``prefix``), reviews and commits."""
    base = f"/repos/{gh.repo_path}/pulls/{number}"
    pr = gh.get(base, f"reading pull request #{number}")
    what = f"reading pull request #{number}"
    author = _str(_dict(pr.get("user"), what, "user"), what, "user.login", "login")
    head_sha = _str(_dict(pr.get("head"), what, "head"), what, "head.sha", "sha")
    labels = tuple(_str(label, what, "labels[].name", "name") for label in _list(pr.get("labels"), what, "labels"))
    for key, limit, kind in (("commits", MAX_COMMITS, "commits"), ("changed_files", MAX_FILES, "changed files")):
        count = pr.get(key)
        if not isinstance(count, int) or isinstance(count, bool):
            raise GitHubError(f"{what}: GitHub's answer has no number of {kind}")
        if count > limit:
            raise GitHubError(f"pull request #{number} has {count} {kind}; GitHub lists only {limit}, so its "
                              "approvals cannot be checked", hint="split it into smaller pull requests")
    files = _grant_files(gh, base, number, prefix, head_sha)
    reviews = tuple(_review(item, number) for item in gh.pages(f"{base}/reviews", f"listing the reviews of "
                                                                f"#{number}", max_pages=MAX_FILES // 100))
    commits = tuple(_str(item, f"listing the commits of #{number}", "sha", "sha")
                    for item in gh.pages(f"{base}/commits", f"listing the commits of #{number}",
                                         max_pages=MAX_COMMITS // 100 + 1))
    return PullRequest(number, author, head_sha, labels, files, reviews, commits,
                       _last_grant_change(gh, commits, reviews, prefix))


def team_members(gh: GitHub, team: str) -> frozenset[str]:
    """The lower-cased logins of team ``org/slug`` (child teams' members included, as GitHub lists them)."""
    org, _, slug = team.partition("/")
    what = f"listing the members of @{team}"
    try:
        return frozenset(_str(m, what, "login", "login").lower()
                         for m in gh.pages(f"/orgs/{quote(org, safe='')}/teams/{quote(slug, safe='')}/members",
                                           what))
    except GitHubError as e:
        if "HTTP 404" in e.message or "HTTP 403" in e.message:
            raise GitHubError(e.message, hint=TEAM_HINT) from None
        raise


def _grant_files(gh: GitHub, base: str, number: int, prefix: str, head_sha: str) -> tuple[ChangedFile, ...]:
    what = f"listing the files of #{number}"
    found: list[ChangedFile] = []
    inside = prefix + "/"
    for item in gh.pages(f"{base}/files", what, max_pages=MAX_FILES // 100):
        path = _str(item, what, "filename", "filename")
        status = _str(item, what, "status", "status")
        previous = item.get("previous_filename")
        previous = previous if isinstance(previous, str) else None
        if not (path.startswith(inside) or (previous or "").startswith(inside)):
            continue
        if len(found) == MAX_GRANT_FILES:
            raise GitHubError(f"pull request #{number} changes more than {MAX_GRANT_FILES} grant files; they are "
                              "not checked one by one", hint="split it into smaller pull requests")
        content: bytes | None = None
        problem = None
        if status != "removed" and path.startswith(inside):
            content, problem = _content(gh, path, head_sha)
        found.append(ChangedFile(path, status, content, previous, problem))
    return tuple(found)


def _content(gh: GitHub, path: str, ref: str) -> tuple[bytes | None, str | None]:
    """The file's bytes at ``ref``, or why it is not a grant file that can be read."""
    what = f"reading {path} at {ref[:12]}"
    answer = gh.get(f"/repos/{gh.repo_path}/contents/{quote(path)}?ref={quote(ref, safe='')}", what)
    if answer.get("type") != "file":
        return None, f"not a regular file (GitHub says: {str(answer.get('type'))[:20]})"
    size = answer.get("size")
    if isinstance(size, int) and size > yamlfile.MAX_BYTES:
        return None, f"file is too large: the limit is {yamlfile.MAX_BYTES} bytes"
    if answer.get("encoding") != "base64" or not isinstance(answer.get("content"), str):
        raise GitHubError(f"{what}: GitHub answered without the file's content in base64")
    try:
        return base64.b64decode(answer["content"]), None
    except (binascii.Error, ValueError):
        raise GitHubError(f"{what}: GitHub's content is not valid base64") from None


def _review(item: dict[str, Any], number: int) -> Review:
    what = f"listing the reviews of #{number}"
    user = item.get("user")
    login = user.get("login") if isinstance(user, dict) else None
    state = item.get("state")
    commit = item.get("commit_id")
    submitted = item.get("submitted_at")
    if not isinstance(state, str):
        raise GitHubError(f"{what}: a review has no state")
    return Review(login if isinstance(login, str) else "ghost (deleted account)", state,
                  commit if isinstance(commit, str) else None, submitted if isinstance(submitted, str) else None)


def _last_grant_change(gh: GitHub, commits: tuple[str, ...], reviews: tuple[Review, ...], prefix: str) -> str | None:
    """The newest commit that changed a grant file, looked for only after the oldest approved commit."""
    approved = [commits.index(r.commit_id) for r in reviews if r.state == APPROVED and r.commit_id in commits]
    if not approved:
        return None
    inside = prefix + "/"
    for index in range(len(commits) - 1, min(approved), -1):
        sha = commits[index]
        what = f"reading the files of commit {sha[:12]}"
        for page in gh.object_pages(f"/repos/{gh.repo_path}/commits/{quote(sha, safe='')}", what,
                                    max_pages=MAX_FILES // 100):
            for item in _list(page.get("files"), what, "files"):
                names = (item.get("filename"), item.get("previous_filename")) if isinstance(item, dict) else ()
                if any(isinstance(n, str) and n.startswith(inside) for n in names):
                    return sha
    return None


def _dict(value: Any, what: str, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise GitHubError(f"{what}: GitHub's answer has no {key}")
    return value


def _list(value: Any, what: str, key: str) -> list[Any]:
    if not isinstance(value, list):
        raise GitHubError(f"{what}: GitHub's answer has no list of {key}")
    return value


def _str(value: Any, what: str, shown: str, key: str) -> str:
    found = value.get(key) if isinstance(value, dict) else None
    if not isinstance(found, str) or not found:
        raise GitHubError(f"{what}: GitHub's answer has no {shown}")
    return found
