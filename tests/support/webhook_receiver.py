"""A webhook receiver on 127.0.0.1 for notification tests: records what it gets, answers as told.

Usage::

    with receive() as hook:                   # a Receiver listening on hook.url
        monkeypatch.setenv("TAILJIT_WEBHOOK_URL", hook.url + "/hooks/T000/B000/XXXX")
        ...                                   # run tailjit
        hook.wait_for(1)                      # the requests received, oldest first
        hook.requests[0].json, hook.requests[0].headers["X-Tailjit-Signature"]
        hook.requests[0].signed_with(b"secret")   # the HMAC-SHA256 check a receiver makes

Steering it: ``hook.status = 500`` (every answer), ``hook.answer = b"…"`` (its body), ``hook.delay = 5.0`` (wait before answering:
a slow receiver; the wait ends early when the receiver stops, so tests never sleep through it),
``hook.slack = True`` (answer as a Slack incoming webhook: ``ok``, or HTTP 400 ``invalid_payload``
for a body without ``text``). `closed_url()` is a URL where nothing listens (a receiver that is down).

What it follows: Slack incoming webhooks take a JSON ``POST`` with ``text`` (and optional ``blocks``)
and answer ``200 ok``, or ``400 invalid_payload`` / ``403`` / ``404 no_service`` / ``410``
(https://api.slack.com/messaging/webhooks, "Handling errors"). The signature check is the one GitHub
documents for its own webhooks (HMAC-SHA256 of the raw body, hex, prefixed ``sha256=``, compared in
constant time: https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries),
with tailjit's header name.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def signed_with(self, secret: bytes) -> bool:
        expected = "sha256=" + hmac.new(secret, self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.headers.get("X-Tailjit-Signature", ""))


class Receiver:
    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.status = 200
        self.delay = 0.0
        self.slack = False
        self.answer = b"ok"
        self.released = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests.append(Received(self.path, dict(self.headers.items()), body, time.time()))
                if receiver.delay:
                    receiver.released.wait(receiver.delay)
                status, answer = receiver.status, receiver.answer
                if receiver.slack and status == 200:
                    try:
                        doc = json.loads(body)
                    except ValueError:
                        doc = None
                    if not isinstance(doc, dict) or not isinstance(doc.get("text"), str) or not doc["text"]:
                        status, answer = 400, b"invalid_payload"
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    self.wfile.write(answer)
                except OSError:
                    pass  # the client gave up waiting: what a slow receiver sees

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self._lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.01)
        raise AssertionError(f"expected {count} request(s), got {len(self.requests)}")

    def events(self) -> list[str]:
        return [r.json["event"] for r in self.requests]


@contextmanager
def receive() -> Iterator[Receiver]:
    receiver = Receiver()
    thread = threading.Thread(target=receiver.server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.released.set()
        receiver.server.shutdown()
        receiver.server.server_close()
        thread.join(timeout=5)


def closed_url() -> str:
    """``http://127.0.0.1:<port>`` where nothing listens: connections are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
