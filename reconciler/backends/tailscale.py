"""The live policy in a tailnet, through Tailscale's policy-file API (v2).

``GET /api/v2/tailnet/{tailnet}/acl`` (``Accept: application/hujson``) returns
the text, comments and all, and a quoted ``ETag``; ``POST …/acl/validate``
checks a candidate (syntax, meaning, the policy's own ``tests``) without
writing, sent as standard JSON (`standard_json`); it answers 200 for errors too,
with a ``message`` (`validation_of`); ``POST …/acl`` with ``If-Match`` writes, or answers 412 when someone
wrote in between. Rate limits, 5xx and timeouts are retried by `HttpClient`;
a refused credential (401/403) never is, and its error names the source of
the credential and the likely cause, never its value.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from reconciler import hujson
from reconciler.backends.base import Backend, LivePolicy, PreconditionFailed, Validation
from reconciler.core.config import Config, base_url_problem
from reconciler.core.durations import parse_time
from reconciler.core.policy import Policy
from reconciler.core.tailnet import TailnetUser
from reconciler.credentials import find_credential
from reconciler.credentials.tokens import Credential
from reconciler.errors import BackendError, ConfigError, CredentialError, PolicyError, RefusedPolicy, UsageError
from reconciler.http import HttpClient, RetryPolicy, api_message, env_setting

if TYPE_CHECKING:  # httpx is imported where a request is made: most commands never make one
    import httpx

DEFAULT_BASE_URL = "https://api.tailscale.com"
SERVICE = "the Tailscale API"
OUTAGE_HINT = ("the Tailscale API may be unavailable (https://status.tailscale.com) or unreachable from here; "
               "nothing was changed by this attempt, and the next run tries again")
HUJSON = "application/hujson"


class TailscaleBackend(Backend):
    def __init__(self, tailnet: str, credential: Credential, *, base_url: str = DEFAULT_BASE_URL,
                 http: HttpClient | None = None) -> None:
        self.tailnet = tailnet
        self.base_url = base_url.rstrip("/")
        self.credential = credential
        self.http = http or HttpClient(service=SERVICE, hint=OUTAGE_HINT)
        self.path = f"/api/v2/tailnet/{quote(tailnet, safe='')}/acl"
        self.name = f"tailscale:{tailnet}" + ("" if self.base_url == DEFAULT_BASE_URL else f" at {self.base_url}")

    @classmethod
    def from_config(cls, config: Config, env: Mapping[str, str] | None = None, *,
                    sleep: Callable[[float], None] = time.sleep,
                    transport: httpx.BaseTransport | None = None,
                    scopes: Sequence[str] = ()) -> TailscaleBackend:
        """The backend the config and the environment describe (environment variables win).

        ``TS_BASE_URL`` / ``base_url``, ``TS_TAILNET`` / ``tailnet``, the credential
        (see `reconciler.credentials`), and ``TAILJIT_HTTP_RETRIES`` /
        ``TAILJIT_HTTP_TIMEOUT`` for the retry budget.
        """
        env = os.environ if env is None else env
        base_url = env.get("TS_BASE_URL") or config.base_url or DEFAULT_BASE_URL
        problem = base_url_problem(base_url)
        if problem is not None and env.get("TS_BASE_URL"):
            raise UsageError(f"TS_BASE_URL: {problem}", hint="set TS_BASE_URL to a URL such as "
                                                              f"{DEFAULT_BASE_URL}, or unset it")
        if problem is not None:
            raise ConfigError(f"'base_url': {problem}", path=str(config.path))
        tailnet = env.get("TS_TAILNET") or config.tailnet or "-"
        defaults = RetryPolicy()
        policy = RetryPolicy(retries=int(env_setting(env, "TAILJIT_HTTP_RETRIES", defaults.retries, whole=True)),
                             timeout=env_setting(env, "TAILJIT_HTTP_TIMEOUT", defaults.timeout, whole=False))
        credential = find_credential(env, config, scopes=scopes)
        return cls(tailnet, credential, base_url=base_url, http=HttpClient(policy, sleep=sleep, transport=transport,
                                                                              service=SERVICE, hint=OUTAGE_HINT))

    def get(self) -> LivePolicy:
        what = f"GET {self.path}"
        response = self._send("GET", self.path, what, headers={"Accept": HUJSON})
        if response.status_code != 200:
            raise self._failure(response, what, write=False)
        etag = response.headers.get("ETag")
        if not etag:
            raise BackendError(f"{what} answered without an ETag, so a write could not be made safely",
                               hint=f"check that {self.base_url} is the Tailscale API (TS_BASE_URL, base_url)")
        if not response.content.strip():
            # A tailnet always has a policy file (a new one holds the default policy): an empty answer is a
            # broken server or proxy, and taking it for "no policy yet" would overwrite the real one.
            raise BackendError(f"{what} answered 200 with an empty body, and a tailnet always has a policy file",
                               hint=f"check that {self.base_url} is the Tailscale API (TS_BASE_URL, base_url) and "
                                    "that no proxy in between drops the answer; nothing was written")
        return LivePolicy(response.content, etag)

    def validate(self, text: bytes, policy: Policy | None = None) -> Validation:
        what = f"POST {self.path}/validate"
        response = self._send("POST", self.path + "/validate", what, headers={"Content-Type": HUJSON},
                              content=standard_json(text, policy))
        if response.status_code == 200:
            return self._redacted(validation_of(_json(response)))
        if response.status_code in (400, 422):
            refused = validation_of(_json(response))
            if not refused.errors:
                refused = Validation(errors=(api_message(response) or f"HTTP {response.status_code}",))
            return self._redacted(refused)
        raise self._failure(response, what, write=False)

    def put(self, text: bytes, if_match: str) -> str:
        what = f"POST {self.path}"
        response = self._send("POST", self.path, what, headers={"Content-Type": HUJSON, "If-Match": if_match},
                              content=text)
        if response.status_code == 412:
            raise PreconditionFailed(f"{self.name} changed since it was read")
        if response.status_code == 200:
            return str(response.headers.get("ETag", ""))
        if response.status_code in (400, 422):
            details = self._redacted(validation_of(_json(response))).errors or (f"HTTP {response.status_code}",)
            raise RefusedPolicy(f"{self.name} refused the policy:\n  " + "\n  ".join(details),
                               hint="fix the base policy (tailjit validate, tailjit render) and try again")
        raise self._failure(response, what, write=True)

    def close(self) -> None:
        self.http.close()

    def key_expiry(self) -> datetime | None:
        """When the API access token in use expires (``GET …/tailnet/-/keys/{keyId}``); None for a credential
        that is not an API key. Raises `BackendError` when the answer cannot be had or read."""
        key_id = self.credential.api_key_id()
        if key_id is None:
            return None
        path = f"/api/v2/tailnet/-/keys/{quote(key_id, safe='')}"
        body = self._get_json(path)
        expires = body.get("expires") if isinstance(body, dict) else None
        if not isinstance(expires, str):
            raise BackendError(f"GET {path} answered without an expiry")
        try:
            return parse_time(expires)
        except ValueError:
            raise BackendError(f"GET {path} answered an expiry that is not a time: {expires[:40]!r}") from None

    def users(self) -> list[TailnetUser]:
        """The tailnet's users (``GET …/users``). A refusal is a `CredentialError` (the credential may not
        read users: ``users:read``); any other failure a `BackendError`."""
        path = f"/api/v2/tailnet/{quote(self.tailnet, safe='')}/users"
        body = self._get_json(path, refusal_is_credential=True)
        entries = body.get("users") if isinstance(body, dict) else None
        if not isinstance(entries, list):
            raise BackendError(f"GET {path} answered without a \"users\" list")
        return [TailnetUser(str(e["loginName"]), str(e.get("status") or "active")) for e in entries
                if isinstance(e, dict) and isinstance(e.get("loginName"), str)]

    def _get_json(self, path: str, *, refusal_is_credential: bool = False) -> Any:
        """The JSON answer of ``GET path``; any answer but 200 is a `BackendError`, or with
        ``refusal_is_credential`` a refusal (401, 403, 404) is a `CredentialError`."""
        response = self._send("GET", path, f"GET {path}", headers={"Accept": "application/json"})
        if refusal_is_credential and response.status_code in (401, 403, 404):
            raise CredentialError(f"GET {path} was refused (HTTP {response.status_code})")
        if response.status_code != 200:
            raise self._failure(response, f"GET {path}", write=False)
        return _json(response)

    def _send(self, method: str, path: str, what: str, *, headers: Mapping[str, str],
              content: bytes | None = None) -> httpx.Response:
        return self.http.send(method, self.base_url + path, what=what, headers=headers, content=content,
                              auth=lambda: self.credential.token(self.http, self.base_url),
                              service=SERVICE, hint=OUTAGE_HINT)

    def _redacted(self, validation: Validation) -> Validation:
        redact = self.credential.redact
        return Validation(errors=tuple(map(redact, validation.errors)),
                          warnings=tuple(map(redact, validation.warnings)))

    def _failure(self, response: httpx.Response, what: str, *, write: bool) -> BackendError:
        status = response.status_code
        message = self.credential.redact(api_message(response))
        detail = f"HTTP {status}" + (f": {message}" if message else "")
        source = self.credential.source
        if status == 401:
            return CredentialError(
                f"{what} was refused ({detail}) with the credential from {source}",
                hint="the credential is likely expired or revoked (API access tokens last at most 90 days), "
                     "or its value is wrong")
        if status == 403:
            scope = "policy_file (write)" if write else "policy_file:read"
            return CredentialError(
                f"{what} was refused ({detail}) with the credential from {source}",
                hint=f"likely causes: the credential lacks the {scope} scope, or it belongs to another tailnet "
                     f"than {self.tailnet!r} (TS_TAILNET, 'tailnet')")
        if status == 404:
            return BackendError(f"{what}: {detail}",
                                hint=f"check the tailnet name {self.tailnet!r} ('-' is the credential's own) "
                                     f"and the base URL {self.base_url}")
        return BackendError(f"{what} answered {detail}")


def standard_json(text: bytes, policy: Policy | None = None) -> bytes:
    """``text`` as standard JSON for the validate route: comments and trailing commas become blanks.

    Tailscale's gitops-pusher standardizes before validating, because the route once mishandled HuJSON
    with comments. Every byte keeps its offset (`hujson.standardize`), so a line and column in the
    answer still point into ``text``. ``policy`` is ``text`` parsed, when the caller has it; a text
    that does not parse is sent as it is, for the tailnet to say what is wrong with it.
    """
    try:
        tree = policy.tree.clone() if policy is not None and policy.text == text else hujson.parse(text)
    except (hujson.HuJSONError, PolicyError):
        return text
    tree.standardize()
    return tree.pack()


def validation_of(body: Any) -> Validation:
    """Tailscale's validate answer as a `Validation`.

    An empty body or one without ``message`` means valid. Otherwise ``data``
    lists, per user, ``errors`` (failed ``tests``) and ``warnings``; each is
    kept verbatim, prefixed with the user it concerns. A ``message`` with no
    details is an error unless it speaks of warnings.
    """
    if not isinstance(body, dict) or not body.get("message"):
        return Validation()
    message = str(body["message"])
    errors: list[str] = []
    warnings: list[str] = []
    for entry in body.get("data") or ():
        if not isinstance(entry, dict):
            continue
        user = entry.get("user")
        prefix = f"{message}: {user}: " if user else f"{message}: "
        errors += [prefix + str(e) for e in entry.get("errors") or ()]
        warnings += [prefix + str(w) for w in entry.get("warnings") or ()]
    if not errors and not warnings:
        (warnings if "warning" in message.lower() else errors).append(message)
    return Validation(errors=tuple(errors), warnings=tuple(warnings))


def _json(response: httpx.Response) -> Any:
    if not response.content.strip():
        return None
    try:
        return response.json()
    except ValueError:
        return {"message": response.text.strip()[:200]}
