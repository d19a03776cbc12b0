"""A fake of the GitHub REST endpoints the sticky plan comment uses: a real HTTP server on 127.0.0.1.

Usage::

    from tests.support.fake_github import serve

    with serve(token="ghs-test") as fake:              # a FakeGitHub, listening on fake.url
        fake.add_comment(7, "hi", login="dana")          # a person's comment on pull request #7
        monkeypatch.setenv("GITHUB_API_URL", fake.url)
        ...                                              # run tailjit against it
        fake.comments_on(7)                              # what pull request #7 shows now
        fake.requests                                    # [(method, path with query), ...]

Endpoints, answered as GitHub does (``Authorization: Bearer <token>`` required, else 401):

- ``GET /repos/{owner}/{repo}/issues/{number}/comments?per_page=&page=``: oldest first, ``per_page``
  default 30 and at most 100, with an RFC 8288 ``Link`` header (``rel="next"``, ``rel="last"``).
- ``POST /repos/{owner}/{repo}/issues/{number}/comments`` ``{"body": ...}``: 201 and the comment, written
  by ``github-actions[bot]`` (``type: Bot``).
- ``PATCH /repos/{owner}/{repo}/issues/comments/{id}`` ``{"body": ...}``: 200 and the comment.

``fake.fail_next(n, status)`` makes the next ``n`` requests fail with ``status``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

BOT = "github-actions[bot]"
_LIST = re.compile(r"/repos/([^/]+)/([^/]+)/issues/(\d+)/comments")
_ONE = re.compile(r"/repos/([^/]+)/([^/]+)/issues/comments/(\d+)")


@dataclass
class Comment:
    id: int
    issue: int
    body: str
    login: str
    bot: bool

    def data(self, base: str, repo: str) -> dict[str, Any]:
        return {"id": self.id, "body": self.body,
                "html_url": f"{base}/{repo}/pull/{self.issue}#issuecomment-{self.id}",
                "user": {"login": self.login, "type": "Bot" if self.bot else "User"}}


@dataclass
class FakeGitHub:
    token: str
    repository: str = "example/access"
    url: str = ""
    comments: list[Comment] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_comment(self, issue: int, body: str, *, login: str = "dana", bot: bool = False) -> Comment:
        comment = Comment(1000 + len(self.comments), issue, body, login, bot)
        self.comments.append(comment)
        return comment

    def comments_on(self, issue: int) -> list[Comment]:
        return [c for c in self.comments if c.issue == issue]

    def fail_next(self, times: int, status: int) -> None:
        self.failures += [status] * times

    def count(self, method: str) -> int:
        return sum(1 for m, _ in self.requests if m == method)

    def handle(self, method: str, target: str, authorization: str, body: bytes) -> tuple[int, dict[str, str], Any]:
        with self.lock:
            self.requests.append((method, target))
            self.authorizations.append(authorization)
            if self.failures:
                return self.failures.pop(0), {}, {"message": "Server Error"}
            if authorization != f"Bearer {self.token}":
                return 401, {}, {"message": "Bad credentials"}
            parts = urlsplit(target)
            listing, one = _LIST.fullmatch(parts.path), _ONE.fullmatch(parts.path)
            match = listing or one
            if match is None or f"{match.group(1)}/{match.group(2)}" != self.repository:
                return 404, {}, {"message": "Not Found"}
            if listing and method == "GET":
                return self._list(int(listing.group(3)), parse_qs(parts.query), parts.path)
            if listing and method == "POST":
                comment = self.add_comment(int(listing.group(3)), _body(body), login=BOT, bot=True)
                return 201, {}, comment.data(self.url, self.repository)
            if one and method == "PATCH":
                found = next((c for c in self.comments if c.id == int(one.group(3))), None)
                if found is None:
                    return 404, {}, {"message": "Not Found"}
                if not found.bot:
                    return 403, {}, {"message": "Resource not accessible by integration"}
                found.body = _body(body)
                return 200, {}, found.data(self.url, self.repository)
            return 404, {}, {"message": "Not Found"}

    def _list(self, issue: int, query: dict[str, list[str]], path: str) -> tuple[int, dict[str, str], Any]:
        per_page = min(100, int(query.get("per_page", ["30"])[0]))
        page = int(query.get("page", ["1"])[0])
        mine = self.comments_on(issue)
        last = max(1, -(-len(mine) // per_page))
        chunk = mine[(page - 1) * per_page:page * per_page]
        links = []
        if page < last:
            links.append(f'<{self.url}{path}?per_page={per_page}&page={page + 1}>; rel="next"')
            links.append(f'<{self.url}{path}?per_page={per_page}&page={last}>; rel="last"')
        headers = {"Link": ", ".join(links)} if links else {}
        return 200, headers, [c.data(self.url, self.repository) for c in chunk]


def _body(raw: bytes) -> str:
    body = json.loads(raw or b"{}").get("body")
    assert isinstance(body, str), "a comment needs a string body"
    return body


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, headers, payload = self.server.fake.handle(self.command, self.path,
                                                           self.headers.get("Authorization", ""), body)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = _answer


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeGitHub) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


@contextmanager
def serve(token: str = "ghs-test-token", repository: str = "example/access") -> Iterator[FakeGitHub]:
    fake = FakeGitHub(token, repository)
    server = _Server(fake)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
