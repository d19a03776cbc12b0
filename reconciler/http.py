"""An HTTP client that rides out rate limits and outages, within bounds.

Every request tailjit makes (the Tailscale API, token exchanges, GitHub,
notifications) goes through `HttpClient.send`. This module knows no service:
the caller names it and says what to do when it fails (``service``, ``hint``).
A 429 waits as long as ``Retry-After`` asks (up to a
limit); a 5xx, a timeout or a failed connection waits an exponentially
growing, jittered delay. After ``retries`` extra attempts the last failure
becomes one `BackendError`. Everything else (2xx, 4xx) is returned for the
caller to interpret. Retrying a write is safe here because every write
carries ``If-Match``: if a lost answer hid a write that did happen, the retry
answers 412 and the reconcile loop re-reads and finds nothing left to do.

The sleep function, the random source and the transport are injectable so
that tests run at full speed and can assert the waits.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from reconciler import __version__
from reconciler.errors import BackendError, ConfigError

if TYPE_CHECKING:  # httpx is imported where a request is made: most commands never make one
    import httpx

log = logging.getLogger(__name__)

USER_AGENT = f"tailjit/{__version__}"
#: The hint of a request that kept failing, unless the caller gives its own.
DEFAULT_HINT = "nothing was changed by this attempt; the next run tries again"


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying when the API is rate limiting or failing."""

    #: extra attempts after the first, for 429, 5xx, timeouts and connection errors
    retries: int = 4
    #: the first backoff in seconds; doubled for each further retry, then jittered
    base_delay: float = 0.5
    #: no single backoff waits longer than this
    max_delay: float = 20.0
    #: a ``Retry-After`` longer than this gives up instead of waiting
    max_retry_after: float = 120.0
    #: seconds one attempt may take in all: to connect, between bytes, and to read the whole answer
    timeout: float = 30.0
    #: at most this many seconds for one logical request, all attempts and waits included (None: no limit);
    #: each attempt's timeout is cut to what is left, and no wait runs past it
    deadline: float | None = None

    def backoff(self, attempt: int, rnd: float) -> float:
        """Delay before retry number ``attempt`` (0-based): half fixed, half random ("equal jitter")."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** attempt)
        return ceiling / 2 + ceiling / 2 * rnd


def retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date); ``None`` if absent or garbled."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def api_message(response: httpx.Response) -> str:
    """The ``message`` of a Tailscale error answer, or a short excerpt of a non-JSON one."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200]
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return ""


#: No answer tailjit reads is larger (a policy file is far smaller); callers may set a tighter bound.
MAX_ANSWER_BYTES = 16 * 1024 * 1024


class HttpClient:
    def __init__(self, policy: RetryPolicy | None = None, *, sleep: Callable[[float], None] = time.sleep,
                 rnd: Callable[[], float] = random.random, transport: httpx.BaseTransport | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 timer: Callable[[], float] = time.monotonic, service: str = "the server",
                 hint: str = DEFAULT_HINT) -> None:
        import httpx
        self.policy = policy or RetryPolicy()
        #: names the far side in messages ("the Tailscale API"), and what to do when it keeps failing
        self.service = service
        self.hint = hint
        self._sleep = sleep
        self._timer = timer
        self._random = rnd
        self._clock = clock
        self._client = httpx.Client(timeout=self.policy.timeout, transport=transport,
                                    headers={"User-Agent": USER_AGENT})

    def send(self, method: str, url: str, *, what: str, headers: Mapping[str, str] | None = None,
             content: bytes | None = None, data: Mapping[str, str] | None = None,
             params: Mapping[str, str] | None = None,
             auth: Callable[[], str] | None = None, service: str | None = None,
             hint: str | None = None, max_bytes: int | None = None) -> httpx.Response:
        """Send one logical request, retrying transient failures; return the first non-transient answer.

        ``auth`` returns a bearer token; it is asked again for every attempt so
        that a token refreshed meanwhile is used. ``what`` names the request in
        messages (``"GET /api/v2/tailnet/-/acl"``); it must not contain secrets.
        ``service`` and ``hint`` override the client's for this request (a
        token fetched from another service through the same client). An
        answer whose body is longer than ``max_bytes`` (default
        `MAX_ANSWER_BYTES`) is refused as it arrives (never held in memory
        whole), and never retried. Each attempt takes at most the policy's
        ``timeout`` in all, the body included, however slowly it trickles.
        """
        import httpx
        service = service or self.service
        hint = hint or self.hint
        sent: list[str] = [v for v in (data or {}).values() if len(v) >= 8]  # form secrets (OAuth, JWT)
        sent += [v.split(" ", 1)[-1] for k, v in (headers or {}).items() if k.lower() == "authorization"]
        attempt = 0
        started = self._timer()
        deadline = self.policy.deadline
        while True:
            request_headers = dict(headers or {})
            if auth is not None:
                token = auth()
                request_headers["Authorization"] = f"Bearer {token}"
                sent.append(token)
            timeout = self.policy.timeout
            attempt_started = self._timer()
            if deadline is not None:
                timeout = max(0.001, min(timeout, deadline - (self._timer() - started)))
            try:
                request = self._client.build_request(method, url, headers=request_headers, content=content,
                                                     data=data, params=params, timeout=timeout)
                response = _bounded(self._client.send(request, stream=True),
                                    MAX_ANSWER_BYTES if max_bytes is None else max_bytes, what,
                                    timeout - (self._timer() - attempt_started), self._timer)
            except httpx.TimeoutException:
                failure, delay = f"timed out after {timeout:g}s", None
            except httpx.TransportError as e:
                failure, delay = f"could not connect ({scrub(_transport_reason(e), sent)})", None
            else:
                if response.status_code == 429:
                    delay = retry_after(response.headers.get("Retry-After"), self._clock())
                    if delay is not None and delay > self.policy.max_retry_after:
                        raise BackendError(f"{what}: rate limited by {service}, which asks to wait "
                                           f"{delay:.0f}s (more than the {self.policy.max_retry_after:.0f}s "
                                           f"tailjit waits)", hint="try again later")
                    failure = "rate limited (HTTP 429)"
                elif response.status_code >= 500:
                    message = scrub(api_message(response), sent)
                    failure, delay = f"HTTP {response.status_code}" + (f": {message}" if message else ""), None
                else:
                    return response
            if attempt == self.policy.retries:
                raise BackendError(f"{what} failed {attempt + 1} time(s); the last attempt: {failure}",
                                   hint=hint)
            wait = delay if delay is not None else self.policy.backoff(attempt, self._random())
            if deadline is not None and self._timer() - started + wait >= deadline:
                raise BackendError(f"{what} failed {attempt + 1} time(s) and its {deadline:g}s deadline leaves "
                                   f"no time for another; the last attempt: {failure}", hint=hint)
            log.warning("%s: %s; retrying in %.1fs (retry %d of %d)", what, failure.split(": ", 1)[0], wait,
                        attempt + 1, self.policy.retries)
            self._sleep(wait)
            attempt += 1

    def close(self) -> None:
        self._client.close()


def _bounded(response: httpx.Response, max_bytes: int, what: str, left: float = float("inf"),
             timer: Callable[[], float] = time.monotonic) -> httpx.Response:
    """``response`` read whole if its body is at most ``max_bytes`` (decoded); else a `BackendError`.

    ``left`` is how many seconds of the attempt remain: checked after every piece of the body, so that a
    server trickling a byte at a time (which never trips the wait between bytes) still times out.
    """
    until = timer() + left
    import httpx

    try:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise BackendError(f"{what}: the answer is {int(declared):,} bytes, more than the {max_bytes:,} "
                               "tailjit reads")
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            if timer() > until:
                raise httpx.ReadTimeout("the answer took longer than the timeout to arrive", request=response.request)
            size += len(chunk)
            if size > max_bytes:
                raise BackendError(f"{what}: the answer is more than the {max_bytes:,} bytes tailjit reads")
            chunks.append(chunk)
    finally:
        response.close()
    # The body is decoded already: the copy keeps every header but those that describe the encoded body.
    headers = [(k, v) for k, v in response.headers.multi_items()
               if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")]
    return httpx.Response(response.status_code, headers=headers, content=b"".join(chunks), request=response.request)


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with each of ``secrets`` (what the request sent: tokens, form secrets) replaced by ``***``: a
    server or proxy that echoes the request in its error page never puts a credential into a message."""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 8:
            text = text.replace(secret, "***")
    return text


def _transport_reason(error: httpx.TransportError) -> str:
    reason = str(error) or type(error).__name__
    return reason.splitlines()[0][:200]


def env_setting(env: Mapping[str, str], name: str, default: float, *, whole: bool) -> float:
    """``TAILJIT_HTTP_RETRIES`` (``whole``) or ``TAILJIT_HTTP_TIMEOUT`` from ``env`` when set, else ``default``.

    Every client reads them the same way: a retry count of at least 0, a timeout of more than 0 seconds.
    """
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw[:40]!r} is not a {'whole ' if whole else ''}number") from None
    if value < 0 or (not whole and value == 0):
        raise ConfigError(f"{name} must be {'at least 0' if whole else 'more than 0'}")
    return value
