"""A fake of the GitHub REST endpoints tailjit uses: a real HTTP server on 127.0.0.1.

Usage::

    from tests.support.fake_github import serve

    with serve(token="ghs-test") as fake:              # a FakeGitHub, listening on fake.url
        fake.add_comment(7, "hi", login="dana")          # a person's comment on pull request #7
        pr = fake.add_pull(8, author="bob", files={"policy/grants/prod/a.yaml": b"..."})
        fake.review(8, "dana", "APPROVED")               # on the pull request's head commit
        fake.push(8, {"policy/grants/prod/a.yaml": b"..."})  # a new head commit
        fake.add_team("acme/sre", ["dana"])
        monkeypatch.setenv("GITHUB_API_URL", fake.url)
        ...                                              # run tailjit against it
        fake.requests                                    # [(method, path with query), ...]

Endpoints, answered as GitHub's REST API documents them (``Authorization: Bearer <token>`` required,
else 401; lists take ``per_page`` (default 30, at most 100) and ``page``, and say where the next page is
in an RFC 8288 ``Link`` header, ``rel="next"`` and ``rel="last"``):

- issue comments (https://docs.github.com/en/rest/issues/comments): ``GET`` and ``POST
  /repos/{owner}/{repo}/issues/{number}/comments`` (created by ``github-actions[bot]``, ``type: Bot``),
  ``PATCH /repos/{owner}/{repo}/issues/comments/{id}``;
- creating a pull request (https://docs.github.com/en/rest/pulls/pulls#create-a-pull-request): ``POST
  /repos/{o}/{r}/pulls`` with ``title``, ``head`` and ``base`` (strings, required) and ``body``: 201 and the
  pull request (``id``, ``number``, ``html_url``, ``state: open``, ``title``, ``head.ref``, ``base.ref``, ``body``);
  422 ``Validation Failed`` when a field is missing, ``head`` equals ``base``, or an open pull request from
  ``head`` into ``base`` exists ("A pull request already exists for owner:head."); kept in ``fake.opened``;
- pull requests (https://docs.github.com/en/rest/pulls/pulls): ``GET /repos/{o}/{r}/pulls/{n}`` (``user.login``,
  ``head.sha``, ``labels[].name``, ``commits``, ``changed_files``), ``…/pulls/{n}/files`` (``filename``,
  ``status`` added/modified/removed/renamed, ``previous_filename``; at most 3,000), ``…/pulls/{n}/commits``
  (oldest first, ``sha``; at most 250);
- reviews (https://docs.github.com/en/rest/pulls/reviews): ``GET /repos/{o}/{r}/pulls/{n}/reviews``, in
  chronological order, each with ``id``, ``user.login``, ``state`` (APPROVED, CHANGES_REQUESTED, COMMENTED,
  DISMISSED), ``commit_id`` (the head when it was submitted) and ``submitted_at``; a dismissed review's
  ``state`` becomes DISMISSED;
- a commit (https://docs.github.com/en/rest/commits/commits#get-a-commit): ``GET /repos/{o}/{r}/commits/{sha}``
  with its ``files`` (paginated the same way);
- contents (https://docs.github.com/en/rest/repos/contents#get-repository-content): ``GET
  /repos/{o}/{r}/contents/{path}?ref=`` → ``type: file``, ``encoding: base64``, ``content``, ``size``;
- team members (https://docs.github.com/en/rest/teams/members#list-team-members): ``GET
  /orgs/{org}/teams/{team_slug}/members`` (404 for a team the token cannot see);
- issues (https://docs.github.com/en/rest/issues/issues): ``GET /repos/{o}/{r}/issues?state=&labels=`` (pull
  requests included, marked by a ``pull_request`` key), ``POST /repos/{o}/{r}/issues`` (201).

Pagination: https://docs.github.com/en/rest/using-the-rest-api/using-pagination-in-the-rest-api.
``fake.fail_next(n, status)`` makes the next ``n`` requests fail; ``fake.answer_raw(path, status, body)``
answers every request to ``path`` with those raw bytes (malformed JSON, huge pages …).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

BOT = "github-actions[bot]"
Answer = tuple[int, dict[str, str], Any]


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
class Commit:
    sha: str
    #: every grant-folder file's content as of this commit (None: deleted)
    tree: dict[str, bytes | None]
    changed: list[str]


@dataclass
class Pull:
    number: int
    author: str
    base: dict[str, bytes]
    commits: list[Commit] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    #: GitHub's own counts, when a test wants them to differ from the lists (GitHub caps the lists)
    commit_count: int | None = None
    file_count: int | None = None

    @property
    def head(self) -> Commit:
        return self.commits[-1]

    def files(self) -> list[dict[str, Any]]:
        found = []
        for path in sorted({p for c in self.commits for p in c.changed}):
            before, after = self.base.get(path), self.head.tree.get(path)
            if before == after:
                continue
            status = "added" if before is None else "removed" if after is None else "modified"
            found.append({"filename": path, "status": status, "additions": 1, "deletions": 0, "changes": 1,
                          "sha": hashlib.sha1(after or b"").hexdigest()})
        return found


@dataclass
class Issue:
    number: int
    title: str
    body: str
    labels: list[str]
    login: str = BOT
    bot: bool = True
    state: str = "open"

    def data(self, base: str, repo: str) -> dict[str, Any]:
        return {"number": self.number, "id": 50_000 + self.number, "title": self.title, "body": self.body,
                "state": self.state, "labels": [{"name": n} for n in self.labels],
                "html_url": f"{base}/{repo}/issues/{self.number}",
                "user": {"login": self.login, "type": "Bot" if self.bot else "User"}}


@dataclass
class FakeGitHub:
    token: str
    repository: str = "example/access"
    url: str = ""
    comments: list[Comment] = field(default_factory=list)
    pulls: dict[int, Pull] = field(default_factory=dict)
    teams: dict[str, list[str]] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    #: pull requests opened through ``POST /repos/{o}/{r}/pulls``, as GitHub answered them
    opened: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    raw: dict[str, tuple[int, bytes, bool]] = field(default_factory=dict)
    #: seconds every answer waits before it is sent (a slow GitHub)
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    _clock: int = 0

    # --- building the state tests start from ---------------------------------------------------------------

    def add_comment(self, issue: int, body: str, *, login: str = "dana", bot: bool = False) -> Comment:
        comment = Comment(1000 + len(self.comments), issue, body, login, bot)
        self.comments.append(comment)
        return comment

    def comments_on(self, issue: int) -> list[Comment]:
        return [c for c in self.comments if c.issue == issue]

    def add_pull(self, number: int, *, author: str, files: Mapping[str, bytes | None],
                 base: Mapping[str, bytes] | None = None, labels: tuple[str, ...] = ()) -> Pull:
        pull = Pull(number, author, dict(base or {}), labels=list(labels))
        self.pulls[number] = pull
        self.push(number, files)
        return pull

    def push(self, number: int, files: Mapping[str, bytes | None]) -> str:
        """A new head commit changing ``files`` (None deletes one); its sha."""
        pull = self.pulls[number]
        tree = dict(pull.head.tree) if pull.commits else dict(pull.base)
        tree.update(files)
        sha = hashlib.sha1(f"{number}:{len(pull.commits)}:{sorted(files)}".encode()).hexdigest()
        pull.commits.append(Commit(sha, tree, sorted(files)))
        return sha

    def review(self, number: int, login: str, state: str, *, commit: str | None = None) -> dict[str, Any]:
        pull = self.pulls[number]
        self._clock += 1
        review = {"id": 80_000 + self._clock, "user": {"login": login, "type": "User"}, "body": "",
                  "state": state, "commit_id": commit or pull.head.sha, "author_association": "MEMBER",
                  "submitted_at": f"2026-11-24T10:{self._clock % 60:02d}:00Z",
                  "html_url": f"{self.url}/{self.repository}/pull/{number}#pullrequestreview-{80_000 + self._clock}"}
        pull.reviews.append(review)
        return review

    def dismiss(self, number: int, review_id: int) -> None:
        """As ``PUT …/reviews/{id}/dismissals`` does: the review stays, its state becomes DISMISSED."""
        for review in self.pulls[number].reviews:
            if review["id"] == review_id:
                review["state"] = "DISMISSED"

    def add_team(self, team: str, logins: list[str]) -> None:
        self.teams[team.lower()] = logins

    def close_issue(self, number: int) -> None:
        next(i for i in self.issues if i.number == number).state = "closed"

    def fail_next(self, times: int, status: int) -> None:
        self.failures += [status] * times

    def answer_raw(self, path: str, status: int, body: bytes, *, length: bool = True) -> None:
        """Answer ``path`` with ``body`` as it is; ``length=False`` leaves out Content-Length (the body then
        ends when the connection closes)."""
        self.raw[path] = (status, body, length)

    def count(self, method: str) -> int:
        return sum(1 for m, _ in self.requests if m == method)

    # --- answering -----------------------------------------------------------------------------------------

    def handle(self, method: str, target: str, authorization: str, body: bytes) -> Answer:
        with self.lock:
            self.requests.append((method, target))
            self.authorizations.append(authorization)
            if self.failures:
                return self.failures.pop(0), {}, {"message": "Server Error"}
            if authorization != f"Bearer {self.token}":
                return 401, {}, {"message": "Bad credentials"}
            parts = urlsplit(target)
            if parts.path in self.raw:
                status, raw, length = self.raw[parts.path]
                return status, {} if length else {"Content-Length": ""}, raw
            query = parse_qs(parts.query)
            for pattern, verb, handler in self._routes():
                match = re.fullmatch(pattern, parts.path)
                if match and verb == method:
                    return handler(match, query, parts.path, body)
            return 404, {}, {"message": "Not Found"}

    def _routes(self) -> list[tuple[str, str, Callable[[re.Match[str], dict[str, list[str]], str, bytes], Answer]]]:
        repo = re.escape(self.repository)
        return [
            (rf"/repos/{repo}/issues/(\d+)/comments", "GET", self._list_comments),
            (rf"/repos/{repo}/issues/(\d+)/comments", "POST", self._create_comment),
            (rf"/repos/{repo}/issues/comments/(\d+)", "PATCH", self._edit_comment),
            (rf"/repos/{repo}/pulls", "POST", self._create_pull),
            (rf"/repos/{repo}/pulls/(\d+)", "GET", self._pull),
            (rf"/repos/{repo}/pulls/(\d+)/files", "GET", self._pull_files),
            (rf"/repos/{repo}/pulls/(\d+)/commits", "GET", self._pull_commits),
            (rf"/repos/{repo}/pulls/(\d+)/reviews", "GET", self._reviews),
            (rf"/repos/{repo}/commits/([0-9a-f]{{40}})", "GET", self._commit),
            (rf"/repos/{repo}/contents/(.+)", "GET", self._contents),
            (r"/orgs/([^/]+)/teams/([^/]+)/members", "GET", self._team),
            (rf"/repos/{repo}/issues", "GET", self._list_issues),
            (rf"/repos/{repo}/issues", "POST", self._create_issue),
        ]

    def _page(self, items: list[Any], query: dict[str, list[str]], path: str) -> Answer:
        per_page = min(100, int(query.get("per_page", ["30"])[0]))
        page = int(query.get("page", ["1"])[0])
        last = max(1, -(-len(items) // per_page))
        links = []
        if page < last:
            kept = "".join(f"&{k}={v[0]}" for k, v in query.items() if k not in ("per_page", "page"))
            links.append(f'<{self.url}{path}?per_page={per_page}{kept}&page={page + 1}>; rel="next"')
            links.append(f'<{self.url}{path}?per_page={per_page}{kept}&page={last}>; rel="last"')
        return 200, ({"Link": ", ".join(links)} if links else {}), items[(page - 1) * per_page:page * per_page]

    def _list_comments(self, m: re.Match[str], query: dict[str, list[str]], path: str, body: bytes) -> Answer:
        return self._page([c.data(self.url, self.repository) for c in self.comments_on(int(m.group(1)))], query, path)

    def _create_comment(self, m: re.Match[str], query: dict[str, list[str]], path: str, body: bytes) -> Answer:
        comment = self.add_comment(int(m.group(1)), _field(body, "body"), login=BOT, bot=True)
        return 201, {}, comment.data(self.url, self.repository)

    def _edit_comment(self, m: re.Match[str], query: dict[str, list[str]], path: str, body: bytes) -> Answer:
        found = next((c for c in self.comments if c.id == int(m.group(1))), None)
        if found is None:
            return 404, {}, {"message": "Not Found"}
        if not found.bot:
            return 403, {}, {"message": "Resource not accessible by integration"}
        found.body = _field(body, "body")
        return 200, {}, found.data(self.url, self.repository)

    def _pull_of(self, m: re.Match[str]) -> Pull | None:
        return self.pulls.get(int(m.group(1)))

    def _pull(self, m: re.Match[str], query: dict[str, list[str]], path: str, body: bytes) -> Answer:
        pull = self._pull_of(m)
        if pull is None:
            return 404, {}, {"message": "Not Found"}
        return 200, {}, {"number": pull.number, "state": "open", "user": {"login": pull.author, "type": "User"},
                         "head": {"sha": pull.head.sha, "ref": f"access/{pull.number}"},
                         "base": {"ref": "main"}, "labels": [{"name": n} for n in pull.labels],
                         "commits": pull.commit_count if pull.commit_count is not None else len(pull.commits),
                         "changed_files": pull.file_count if pull.file_count is not None else len(pull.files())}

    def _pull_files(self, m: re.Match[str], query: dict[str, list[str]], path: str, body: bytes) -> Answer:
        pull = self._pull_of(m)
        return (404, {}, {"message": "Not Found"}) if pull is None else self._page(pull.files()[:3000], query, path)

    def _pull_commits(self, m: re.Match[str], query: dict[str, list[str]], path: str, body: bytes) -> Answer:
        pull = self._pull_of(m)
        if pull is None:
            return 404, {}, {"message": "Not Found"}
        return self._page([{"sha": c.sha, "commit": {"message": "change"}} for c in pull.commits[:250]], query, path)

    def _reviews(self, m: re.Match[str], query: dict[str, list[str]], path: str, body: bytes) -> Answer:
        pull = self._pull_of(m)
        return (404, {}, {"message": "Not Found"}) if pull is None else self._page(pull.reviews, query, path)

    def _commit(self, m: re.Match[str], query: dict[str, list[str]], path: str, body: bytes) -> Answer:
        commit = next((c for p in self.pulls.values() for c in p.commits if c.sha == m.group(1)), None)
        if commit is None:
            return 422, {}, {"message": "No commit found for SHA"}
        status, headers, files = self._page([{"filename": f, "status": "modified"} for f in commit.changed],
                                            query, path)
        return status, headers, {"sha": commit.sha, "files": files}

    def _contents(self, m: re.Match[str], query: dict[str, list[str]], path: str, body: bytes) -> Answer:
        name, ref = unquote(m.group(1)), query.get("ref", [""])[0]
        commit = next((c for p in self.pulls.values() for c in p.commits if c.sha == ref), None)
        content = commit.tree.get(name) if commit is not None else None
        if content is None:
            return 404, {}, {"message": "Not Found"}
        return 200, {}, {"type": "file", "encoding": "base64", "size": len(content), "name": name.split("/")[-1],
                         "path": name, "content": base64.encodebytes(content).decode()}

    def _team(self, m: re.Match[str], query: dict[str, list[str]], path: str, body: bytes) -> Answer:
        members = self.teams.get(f"{m.group(1)}/{m.group(2)}".lower())
        if members is None:
            return 404, {}, {"message": "Not Found"}
        return self._page([{"login": login, "type": "User"} for login in members], query, path)

    def _list_issues(self, m: re.Match[str], query: dict[str, list[str]], path: str, body: bytes) -> Answer:
        state = query.get("state", ["open"])[0]
        wanted = set(query.get("labels", [""])[0].split(",")) - {""}
        items = [i.data(self.url, self.repository) for i in self.issues
                 if (state == "all" or i.state == state) and wanted <= set(i.labels)]
        items += [{"number": p.number, "title": "pull", "body": "", "state": "open", "pull_request": {},
                   "labels": [{"name": n} for n in p.labels], "user": {"login": p.author, "type": "User"}}
                  for p in self.pulls.values() if wanted <= set(p.labels) and state in ("all", "open")]
        return self._page(items, query, path)

    def _create_pull(self, m: re.Match[str], query: dict[str, list[str]], path: str, body: bytes) -> Answer:
        data = json.loads(body or b"{}")
        missing = [key for key in ("title", "head", "base") if not isinstance(data.get(key), str) or not data[key]]
        if missing:
            return 422, {}, {"message": "Validation Failed",
                             "errors": [{"resource": "PullRequest", "field": key, "code": "missing_field"}
                                        for key in missing]}
        owner = self.repository.split("/")[0]
        if data["head"] == data["base"] or any(
                p["head"]["ref"] == data["head"] and p["base"]["ref"] == data["base"] for p in self.opened):
            return 422, {}, {"message": "Validation Failed", "errors": [{
                "resource": "PullRequest", "code": "custom",
                "message": f"A pull request already exists for {owner}:{data['head']}."}]}
        number = 900 + len(self.opened)
        pull = {"id": 70_000 + number, "number": number, "state": "open", "title": data["title"],
                "body": data.get("body"), "html_url": f"{self.url}/{self.repository}/pull/{number}",
                "head": {"ref": data["head"]}, "base": {"ref": data["base"]},
                "user": {"login": "requester", "type": "User"}}
        self.opened.append(pull)
        return 201, {}, pull

    def _create_issue(self, m: re.Match[str], query: dict[str, list[str]], path: str, body: bytes) -> Answer:
        data = json.loads(body)
        issue = Issue(500 + len(self.issues), data["title"], data.get("body", ""), list(data.get("labels", [])))
        self.issues.append(issue)
        return 201, {}, issue.data(self.url, self.repository)


def _field(raw: bytes, key: str) -> str:
    value = json.loads(raw or b"{}").get(key)
    assert isinstance(value, str), f"a request needs a string {key}"
    return value


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, headers, payload = self.server.fake.handle(self.command, self.path,
                                                           self.headers.get("Authorization", ""), body)
        if self.server.fake.delay:
            self.server.stop.wait(self.server.fake.delay)
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if headers.pop("Content-Length", None) is None:
            self.send_header("Content-Length", str(len(data)))
        else:
            self.close_connection = True
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
        #: set on shutdown, so that a delayed answer does not outlive the test
        self.stop = threading.Event()


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
        server.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
