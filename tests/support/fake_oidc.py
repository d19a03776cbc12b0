"""A fake GitHub Actions OIDC token endpoint on 127.0.0.1.

GitHub gives a job that has ``permissions: id-token: write`` two variables:
``ACTIONS_ID_TOKEN_REQUEST_URL`` and ``ACTIONS_ID_TOKEN_REQUEST_TOKEN``. A
``GET <url>&audience=AUD`` with ``Authorization: bearer <token>`` answers
``{"value": "<JWT whose aud is AUD>"}``. Usage::

    with serve_oidc(request_token="runner-token") as oidc:
        monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", oidc.request_url)
        monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "runner-token")
        ...
        oidc.audiences  # the audiences asked for, in order
        oidc.issued     # the JWTs handed out
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.fake_tailscale import make_jwt

SUBJECT = "repo:acme/access:ref:refs/heads/main"


@dataclass
class FakeOidc:
    request_token: str
    request_url: str = ""
    audiences: list[str] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:
        oidc = self.server.oidc
        query = parse_qs(urlsplit(self.path).query)
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or token != oidc.request_token:
            status, body = 403, {"message": "bad runtime token"}
        elif "api-version" not in query:
            status, body = 400, {"message": "the api-version of the request URL was dropped"}
        else:
            audience = query.get("audience", ["https://github.com/acme"])[0]
            jwt = make_jwt({"iss": "https://token.actions.githubusercontent.com", "sub": SUBJECT, "aud": audience})
            oidc.audiences.append(audience)
            oidc.issued.append(jwt)
            status, body = 200, {"value": jwt}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    oidc: FakeOidc


@contextmanager
def serve_oidc(request_token: str = "runner-request-token") -> Iterator[FakeOidc]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.oidc = FakeOidc(request_token)
    # GitHub's URL already carries a query; the client must add ``&audience=``, not replace it.
    server.oidc.request_url = f"http://127.0.0.1:{server.server_address[1]}/_apis/token?api-version=2.0"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), name="fake-oidc", daemon=True)
    thread.start()
    try:
        yield server.oidc
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
