"""The GitHub REST API: a small client (JSON, pagination, bounded answers), and the sticky pull-request comment.

The plan comment is *sticky*: one comment per pull request, found again by
the `comment.MARKER` its body starts with and edited in place on every push,
never duplicated. It goes through the REST API with the job's
``GITHUB_TOKEN`` (``permissions: pull-requests: write``); the token is only
ever sent to ``GITHUB_API_URL``, and never printed.

Answers are checked before they are believed: a body over `MAX_ANSWER_BYTES`,
a page holding more items than asked for, an answer that is not JSON or not
the shape asked for, are errors, never data (see `reconciler.github.pulls`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from reconciler.credentials.tokens import Secret
from reconciler.errors import BackendError, GitHubError
from reconciler.http import HttpClient, RetryPolicy, api_message, env_setting
from reconciler.text.comment import MARKER

if TYPE_CHECKING:  # httpx is imported where a request is made: most commands never make one
    import httpx

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
PER_PAGE = 100
#: Stop following ``Link: rel="next"`` after this many pages (10,000 comments).
MAX_PAGES = 100
#: An answer larger than this is refused as it arrives (a page of 100 pull-request files is well under 1 MB).
MAX_ANSWER_BYTES = 8 * 1024 * 1024
FORBIDDEN_HINT = ("the job needs 'permissions: pull-requests: write'; pull requests from forks get a read-only "
                  "token and no plan comment")


@dataclass(frozen=True)
class CommentResult:
    """What `GitHub.upsert_comment` did: ``created``, ``updated`` or ``unchanged``."""

    action: str
    id: int
    url: str


class GitHub:
    """The few REST endpoints the sticky comment needs: list, create and update issue comments."""

    def __init__(self, repository: str, token: Secret, api_url: str = DEFAULT_API_URL, *,
                 transport: httpx.BaseTransport | None = None, retries: int = 2, timeout: float = 30.0,
                 forbidden_hint: str = FORBIDDEN_HINT, sleep: Callable[[float], None] = time.sleep) -> None:
        if repository.count("/") != 1 or not all(repository.split("/")):
            raise GitHubError(f"GITHUB_REPOSITORY={repository!r} is not owner/name")
        self.repository = repository
        self.api_url = api_url.rstrip("/")
        self._token = token
        self._forbidden_hint = forbidden_hint
        self._http = HttpClient(RetryPolicy(retries=retries, timeout=timeout), transport=transport, sleep=sleep,
                                service="the GitHub API",
                                hint="GitHub may be unavailable (https://www.githubstatus.com); re-run the job")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, purpose: str = "post the plan comment",
                 transport: httpx.BaseTransport | None = None, retries: int = 2, timeout: float = 30.0,
                 forbidden_hint: str = FORBIDDEN_HINT) -> GitHub:
        """From ``GITHUB_TOKEN``, ``GITHUB_REPOSITORY`` and ``GITHUB_API_URL`` (as Actions sets them)."""
        env = os.environ if env is None else env
        token = env.get("GITHUB_TOKEN", "").strip()
        repository = env.get("GITHUB_REPOSITORY", "").strip()
        missing = [name for name, value in (("GITHUB_TOKEN", token), ("GITHUB_REPOSITORY", repository)) if not value]
        if missing:
            raise GitHubError(f"cannot {purpose}: {' and '.join(missing)} not set",
                              hint="in a workflow, set env GITHUB_TOKEN: ${{ github.token }} on the step; "
                                   "GITHUB_REPOSITORY is set by Actions (owner/name)")
        return cls(repository, Secret(token), env.get("GITHUB_API_URL", "").strip() or DEFAULT_API_URL,
                   transport=transport, retries=int(env_setting(env, "TAILJIT_HTTP_RETRIES", retries, whole=True)),
                   timeout=env_setting(env, "TAILJIT_HTTP_TIMEOUT", timeout, whole=False),
                   forbidden_hint=forbidden_hint)

    def get(self, path: str, what: str) -> dict[str, Any]:
        """The JSON object at ``path`` (below the API URL, already quoted)."""
        answer = self._json(self._send("GET", self.api_url + path, what), what, expect=200)
        if not isinstance(answer, dict):
            raise GitHubError(f"{what}: GitHub answered something other than a JSON object")
        return answer

    def pages(self, path: str, what: str, *, max_pages: int = MAX_PAGES) -> Iterator[dict[str, Any]]:
        """Every object of the list at ``path``, page by page (``per_page=100``), following ``Link: rel="next"``.

        More pages than ``max_pages``, a page with more than 100 items, or a page that is not a list of
        objects is an error: an answer that cannot be read whole is never read in part.
        """
        url: str | None = f"{self.api_url}{path}{'&' if '?' in path else '?'}per_page={PER_PAGE}"
        for _ in range(max_pages):
            if url is None:
                return
            response = self._send("GET", url, what)
            page = self._json(response, what, expect=200)
            if not isinstance(page, list) or not all(isinstance(item, dict) for item in page):
                raise GitHubError(f"{what}: GitHub answered something other than a list of objects")
            if len(page) > PER_PAGE:
                raise GitHubError(f"{what}: GitHub answered {len(page)} items on a page of at most {PER_PAGE}")
            yield from page
            url = self._same_origin(response.links.get("next", {}).get("url"))
        if url is not None:
            raise GitHubError(f"{what}: more than {max_pages} pages; not reading further")

    def object_pages(self, path: str, what: str, *, max_pages: int = MAX_PAGES) -> Iterator[dict[str, Any]]:
        """Each page of an object whose lists are paginated (a commit's ``files``), following ``rel="next"``."""
        url: str | None = f"{self.api_url}{path}{'&' if '?' in path else '?'}per_page={PER_PAGE}"
        for _ in range(max_pages):
            if url is None:
                return
            response = self._send("GET", url, what)
            page = self._json(response, what, expect=200)
            if not isinstance(page, dict):
                raise GitHubError(f"{what}: GitHub answered something other than a JSON object")
            yield page
            url = self._same_origin(response.links.get("next", {}).get("url"))
        if url is not None:
            raise GitHubError(f"{what}: more than {max_pages} pages; not reading further")

    def post(self, path: str, what: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST ``payload`` as JSON; the created object (HTTP 201)."""
        return self._request("POST", path, what, payload, expect=201)

    def upsert_comment(self, number: int, body: str, marker: str = MARKER) -> CommentResult:
        """Edit the pull request's comment that starts with ``marker``, or create it if there is none.

        Only comments written by a bot count, so a person quoting the marker
        never has their comment overwritten.
        """
        existing = next((c for c in self.comments(number) if _is_sticky(c, marker)), None)
        if existing is None:
            created = self._request("POST", f"/repos/{self.repo_path}/issues/{number}/comments",
                                    f"creating the plan comment on #{number}", {"body": body}, expect=201)
            return CommentResult("created", int(created["id"]), str(created.get("html_url", "")))
        comment_id = int(existing["id"])
        if existing.get("body") == body:
            return CommentResult("unchanged", comment_id, str(existing.get("html_url", "")))
        updated = self._request("PATCH", f"/repos/{self.repo_path}/issues/comments/{comment_id}",
                                f"updating the plan comment on #{number}", {"body": body}, expect=200)
        return CommentResult("updated", comment_id, str(updated.get("html_url", "")))

    def comments(self, number: int) -> Iterator[dict[str, Any]]:
        """Every comment on issue or pull request ``number``, oldest first, following ``Link: rel="next"``."""
        return self.pages(f"/repos/{self.repo_path}/issues/{number}/comments", f"listing the comments of #{number}")

    def close(self) -> None:
        self._http.close()

    @property
    def repo_path(self) -> str:
        """``owner/name`` quoted for a URL path."""
        owner, name = self.repository.split("/")
        return f"{quote(owner, safe='')}/{quote(name, safe='')}"

    def _request(self, method: str, path: str, what: str, payload: dict[str, Any], *, expect: int) -> dict[str, Any]:
        response = self._send(method, self.api_url + path, what, json.dumps(payload).encode())
        answer = self._json(response, what, expect=expect)
        if not isinstance(answer, dict) or "id" not in answer:
            raise GitHubError(f"{what}: GitHub answered without an id")
        return answer

    def _send(self, method: str, url: str, what: str, content: bytes | None = None) -> httpx.Response:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}
        if content is not None:
            headers["Content-Type"] = "application/json"
        try:
            return self._http.send(method, url, what=what, headers=headers, content=content,
                                   auth=self._token.reveal, max_bytes=MAX_ANSWER_BYTES)
        except BackendError as e:
            raise GitHubError(e.message.replace(self._token.reveal(), "***"), hint=e.hint) from None

    def _json(self, response: httpx.Response, what: str, *, expect: int) -> Any:
        if response.status_code != expect:
            raise self._failure(response, what)
        try:
            return response.json()
        except ValueError:
            raise GitHubError(f"{what}: GitHub answered HTTP {response.status_code} without JSON") from None

    def _failure(self, response: httpx.Response, what: str) -> GitHubError:
        status = response.status_code
        message = api_message(response).replace(self._token.reveal(), "***")
        detail = f"HTTP {status}" + (f": {message}" if message else "")
        if status == 401:
            return GitHubError(f"{what} was refused ({detail})",
                               hint="the GITHUB_TOKEN given to the step is missing, expired or wrong")
        if status == 403:
            return GitHubError(f"{what} was refused ({detail})", hint=self._forbidden_hint)
        if status == 404:
            return GitHubError(f"{what}: {detail}",
                               hint=f"check that {self.repository} and the pull request number exist, and "
                                    f"GITHUB_API_URL ({self.api_url})")
        return GitHubError(f"{what}: {detail}")

    def _same_origin(self, url: str | None) -> str | None:
        """``url`` if it points at the API we were given; the token is never sent anywhere else."""
        if url is None:
            return None
        mine, theirs = urlsplit(self.api_url), urlsplit(url)
        if (theirs.scheme, theirs.netloc) != (mine.scheme, mine.netloc):
            raise GitHubError(f"GitHub's next-page link points at {theirs.scheme}://{theirs.netloc}, not "
                              f"{mine.scheme}://{mine.netloc}; not following it with the token")
        return url



def post_plan_comment(number: int, body: str, env: Mapping[str, str] | None = None) -> CommentResult:
    """Create or update the sticky plan comment on pull request ``number`` (credentials from ``env``)."""
    client = GitHub.from_env(env)
    try:
        return client.upsert_comment(number, body)
    finally:
        client.close()


def _is_sticky(comment: Mapping[str, Any], marker: str) -> bool:
    body = comment.get("body")
    user = comment.get("user")
    return (isinstance(body, str) and body.startswith(marker)
            and isinstance(user, Mapping) and user.get("type") == "Bot")
