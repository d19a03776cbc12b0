"""Posting events to the configured sinks: within a deadline, never blocking, never showing a secret.

Each sink's URL (and a webhook's signing secret) is read from the
environment variable the config names, when sending. A variable that is not
set is a warning naming the variable. Each request goes through
`reconciler.http.HttpClient` with the sink's ``timeout`` as its deadline
(every attempt and wait included) and its ``retries``; a sink that fails
once (down, slow, an error answer) gets nothing more in that batch, and a
batch stops after `budget` seconds. Every failure is a warning: the caller
has already written the tailnet, and nothing here can change its outcome.

Messages never carry a URL or a secret: sinks are named by their variable
(`Sink.label`), and any text from elsewhere (a transport error, an answer's
body) has the URL, its path and the secret cut out before it is shown.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from reconciler.core.config import Sink
from reconciler.errors import BackendError
from reconciler.http import HttpClient, RetryPolicy
from reconciler.notify.events import Event
from reconciler.notify.format import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    delivery_id,
    signature,
    slack_payload,
    webhook_body,
)

if TYPE_CHECKING:  # httpx is imported where a request is made: most commands never make one
    import httpx

LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: A secret shorter than this is not cut out of messages (it would cut ordinary words); it is still never shown.
MIN_REDACTED = 4


@dataclass(frozen=True)
class Report:
    """What a batch did: each (sink, event) delivered, how many were not, and why (as warnings)."""

    delivered: tuple[tuple[Sink, Event], ...] = ()
    failed: int = 0
    warnings: tuple[str, ...] = ()

    def __add__(self, other: Report) -> Report:
        return Report(self.delivered + other.delivered, self.failed + other.failed,
                      self.warnings + other.warnings)


@dataclass(frozen=True)
class _Resolved:
    sink: Sink
    url: str
    secret: bytes | None


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every one of ``secrets`` (long enough to find) replaced by ``***``."""
    for secret in sorted((s for s in secrets if len(s) >= MIN_REDACTED), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _secrets_of(url: str, secret: str | None) -> list[str]:
    parts = urlsplit(url)
    found = [url, parts.path + ("?" + parts.query if parts.query else ""), parts.query]
    if parts.path.count("/") > 1:
        found.append(parts.path)
    if secret:
        found.append(secret)
    return found


def resolve(sink: Sink, env: Mapping[str, str]) -> _Resolved | str:
    """The sink's URL and secret from ``env``, or a warning saying what is missing (never a value)."""
    url = env.get(sink.url_env, "").strip()
    if not url:
        return f"{sink.label}: the environment variable {sink.url_env} is not set; nothing sent"
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return f"{sink.label}: {sink.url_env} does not hold a valid URL; nothing sent"
    if not host or not (parts.scheme == "https" or (parts.scheme == "http" and host in LOOPBACK)):
        return (f"{sink.label}: {sink.url_env} must hold an https:// URL (http:// only to localhost); "
                "nothing sent")
    secret = None
    if sink.secret_env is not None:
        value = env.get(sink.secret_env, "")
        if not value:
            return (f"{sink.label}: the environment variable {sink.secret_env} (its signing secret) is not set; "
                    "nothing sent")
        secret = value.encode()
    return _Resolved(sink, url, secret)


class Sender:
    """Posts events to sinks. ``transport``, ``sleep`` and ``timer`` are injectable for tests."""

    def __init__(self, sinks: Sequence[Sink], env: Mapping[str, str], *,
                 transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep,
                 timer: Callable[[], float] = time.monotonic) -> None:
        self.sinks = tuple(sinks)
        self.env = env
        self.transport = transport
        self.sleep = sleep
        self.timer = timer

    @property
    def budget(self) -> float:
        """The most seconds one batch spends sending: twice every sink's deadline."""
        return 2 * sum(s.timeout for s in self.sinks)

    def send(self, events: Sequence[Event], sent: Callable[[Sink, Event], bool] = lambda sink, event: False,
             ) -> Report:
        """Post each event to each sink, but not where ``sent`` says it went already; failures are warnings."""
        started = self.timer()
        delivered: list[tuple[Sink, Event]] = []
        failed = 0
        warnings: list[str] = []
        for sink in self.sinks:
            todo = [e for e in events if not sent(sink, e)]
            if not todo:
                continue
            resolved = resolve(sink, self.env)
            if isinstance(resolved, str):
                warnings.append(resolved)
                failed += len(todo)
                continue
            done, problem = self._post_all(resolved, todo, started)
            delivered.extend((sink, e) for e in todo[:done])
            if problem is not None:
                failed += len(todo) - done
                warnings.append(redact(problem, _secrets_of(resolved.url, self.env.get(sink.secret_env or ""))))
        return Report(tuple(delivered), failed, tuple(warnings))

    def _post_all(self, target: _Resolved, events: Sequence[Event], started: float) -> tuple[int, str | None]:
        sink = target.sink
        policy = RetryPolicy(retries=sink.retries, base_delay=min(0.2, sink.timeout / 4), max_delay=2.0,
                             max_retry_after=sink.timeout, timeout=sink.timeout, deadline=sink.timeout)
        client = HttpClient(policy, sleep=self.sleep, transport=self.transport, timer=self.timer)
        done = 0
        try:
            for event in events:
                if self.timer() - started >= self.budget:
                    return done, (f"{sink.label}: stopped after {self.budget:g}s; "
                                  f"{len(events) - done} event(s) not sent")
                problem = self._post(client, target, event)
                if problem is not None:
                    rest = len(events) - done - 1
                    more = f"; {rest} more event(s) not sent to it in this run" if rest else ""
                    return done, f"{sink.label}: {event.event} event not delivered: {problem}{more}"
                done += 1
        finally:
            client.close()
        return done, None

    def _post(self, client: HttpClient, target: _Resolved, event: Event) -> str | None:
        import httpx

        if target.sink.kind == "slack":
            body = slack_payload(event)
            headers = {"Content-Type": "application/json"}
        else:
            body = webhook_body(event)
            assert target.secret is not None
            headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature(target.secret, body),
                       EVENT_HEADER: event.event, DELIVERY_HEADER: delivery_id(event)}
        try:
            response = client.send("POST", target.url, what=f"notify: {target.sink.label}", headers=headers,
                                   content=body)
        except BackendError as e:
            return e.message.removeprefix(f"notify: {target.sink.label} ")
        except httpx.HTTPError as e:  # an invalid URL or header is not a transport error
            return f"the request could not be made ({type(e).__name__})"
        if not 200 <= response.status_code < 300:
            return f"the receiver answered HTTP {response.status_code}"
        return None
