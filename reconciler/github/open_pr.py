"""Opening the pull request of an access request through GitHub's REST API.

``POST /repos/{owner}/{repo}/pulls`` with ``title``, ``head``, ``base`` and ``body`` answers 201 and the
pull request (``number``, ``html_url``); 422 when it cannot be made (one is already open for the branch,
or the branch is not on GitHub). See https://docs.github.com/en/rest/pulls/pulls#create-a-pull-request.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.credentials.tokens import Secret
from reconciler.errors import GitHubError
from reconciler.github.api import DEFAULT_API_URL, GitHub

if TYPE_CHECKING:
    import httpx

#: Where a token to open the pull request is looked for, first set wins (as `reconciler.git.remote` pushes).
TOKEN_VARIABLES = ("GITHUB_TOKEN", "GH_TOKEN", "TAILJIT_GIT_TOKEN")
_OWNER_NAME = re.compile(r"(?:https?://(?:[^@/]+@)?github\.com/|(?:ssh://)?git@github\.com[:/])"
                         r"(?P<owner>[A-Za-z0-9_.-]+)/(?P<name>[A-Za-z0-9_.-]+?)(?:\.git)?/?")


@dataclass(frozen=True)
class Opened:
    number: int
    url: str


def github_repository(remote_url: str, env: Mapping[str, str]) -> str | None:
    """``owner/name`` on GitHub: ``GITHUB_REPOSITORY`` when set, else read from the remote's URL."""
    if env.get("GITHUB_REPOSITORY", "").strip():
        return env["GITHUB_REPOSITORY"].strip()
    match = _OWNER_NAME.fullmatch(remote_url.strip())
    return f"{match['owner']}/{match['name']}" if match else None


def token_from(env: Mapping[str, str]) -> Secret | None:
    found = next((env[name].strip() for name in TOKEN_VARIABLES if env.get(name, "").strip()), None)
    return Secret(found) if found else None


def open_pull_request(repository: str, token: Secret, *, head: str, base: str, title: str, body: str,
                      env: Mapping[str, str] | None = None, page: str | None = None,
                      transport: httpx.BaseTransport | None = None) -> Opened:
    """Open the pull request from ``head`` into ``base``; `GitHubError` (with what to do) when GitHub refuses.
    ``page`` is where a person can open it instead (the compare page), for the hint."""
    env = os.environ if env is None else env
    client = GitHub(repository, token, env.get("GITHUB_API_URL", "").strip() or DEFAULT_API_URL,
                    transport=transport, forbidden_hint="the token needs the pull_requests: write permission "
                                                        "(or the repo scope)")
    try:
        made = client.post(f"/repos/{client.repo_path}/pulls", f"opening the pull request from {head} into {base}",
                           {"title": title, "head": head, "base": base, "body": body})
    except GitHubError as e:
        instead = f"open it on GitHub: {page}" if page else f"open it on GitHub from {head} into {base}"
        if "HTTP 422" in e.message:
            raise GitHubError(e.message, hint=f"the branch is pushed; one may be open for it already, or {instead}"
                              ) from None
        raise GitHubError(e.message, hint=f"{e.hint}; the branch is pushed: {instead}" if e.hint else
                          f"the branch is pushed: {instead}") from None
    finally:
        client.close()
    number, url = made.get("number"), made.get("html_url")
    if not isinstance(number, int) or not isinstance(url, str):
        raise GitHubError("GitHub opened the pull request but answered without its number and html_url")
    return Opened(number, url)
