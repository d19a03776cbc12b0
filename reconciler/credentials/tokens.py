"""Bearer tokens for the Tailscale API: an API key as it is, or a short-lived token from an OAuth endpoint.

An OAuth client (client-credentials flow, ``/api/v2/oauth/token``) and a
federated workload identity (an OIDC token exchanged at
``/api/v2/oauth/token-exchange``) both yield an access token that lasts about
an hour; it is cached in memory until shortly before it expires. Secret values
are held in `Secret`, whose ``repr`` and ``str`` hide them, and never go into
a message: errors name where a credential came from, not what it is.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from reconciler.errors import BackendError, CredentialError
from reconciler.http import HttpClient, api_message

if TYPE_CHECKING:  # httpx is imported where a request is made: most commands never make one
    import httpx

OAUTH_TOKEN_PATH = "/api/v2/oauth/token"
TOKEN_EXCHANGE_PATH = "/api/v2/oauth/token-exchange"
#: A cached access token is replaced this many seconds before the expiry Tailscale stated.
REFRESH_MARGIN = 60.0
#: Access tokens from the OAuth endpoints last an hour when the answer does not say.
DEFAULT_TOKEN_LIFETIME = 3600.0


class Secret:
    """A credential value that does not show itself in reprs, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


class Credential(abc.ABC):
    """Something that yields a bearer token for the Tailscale API."""

    #: What sort of credential it is, for messages.
    kind: str
    #: Where the credential came from, for messages: never the value.
    source: str
    #: The scopes the token endpoint granted, once known (OAuth and federated tokens).
    scopes: str | None = None
    #: The scopes to ask an OAuth client's token for (``policy_file:read`` to read, ``policy_file`` to write);
    #: empty: whatever the client has.
    requested: tuple[str, ...] = ()

    def api_key_id(self) -> str | None:
        """The id of the API access token in use (``tskey-api-<id>-…``), or None when it is not one."""
        return None

    @abc.abstractmethod
    def token(self, http: HttpClient, base_url: str) -> str:
        """A bearer token valid now; may fetch and cache one."""

    @abc.abstractmethod
    def secrets(self) -> tuple[Secret, ...]:
        """Every secret value this credential holds (so far), for `redact`."""

    def redact(self, text: str) -> str:
        """``text`` with any secret value this credential holds replaced by ``***``."""
        for secret in self.secrets():
            value = secret.reveal()
            if len(value) >= 4:
                text = text.replace(value, "***")
        return text


class ApiKey(Credential):
    kind = "API access token"

    def __init__(self, key: Secret, source: str) -> None:
        self._key = key
        self.source = source

    def token(self, http: HttpClient, base_url: str) -> str:
        return self._key.reveal()

    def secrets(self) -> tuple[Secret, ...]:
        return (self._key,)

    def api_key_id(self) -> str | None:
        """The id is the part after ``tskey-api-``, before the next ``-``: not secret (the admin console shows it)."""
        parts = self._key.reveal().split("-")
        if len(parts) < 4 or parts[:2] != ["tskey", "api"] or not parts[2].isalnum() or len(parts[2]) > 64:
            return None
        return parts[2]


class _ExchangedToken(Credential):
    """A short-lived access token from a Tailscale OAuth endpoint, cached until shortly before it expires."""

    def __init__(self, source: str, clock: Callable[[], float]) -> None:
        self.source = source
        self._clock = clock
        self._token: Secret | None = None
        self._expires_at = 0.0

    def token(self, http: HttpClient, base_url: str) -> str:
        if self._token is None or self._clock() >= self._expires_at:
            path, form, refused_hint = self._request(http)
            response = http.send("POST", base_url.rstrip("/") + path, data=form, what=f"POST {path}",
                                 service="the Tailscale API")
            self._accept(response, path, refused_hint)
        assert self._token is not None
        return self._token.reveal()

    @abc.abstractmethod
    def _request(self, http: HttpClient) -> tuple[str, dict[str, str], str]:
        """``(path, form fields, hint when refused)`` of the token request."""

    def _accept(self, response: httpx.Response, path: str, refused_hint: str) -> None:
        status = response.status_code
        if status in (400, 401, 403):
            message = self.redact(api_message(response))
            raise CredentialError(f"{path} refused the credential from {self.source} (HTTP {status}"
                                  + (f": {message})" if message else ")"), hint=refused_hint)
        if status != 200:
            raise BackendError(f"{path} answered HTTP {status} for the credential from {self.source}")
        try:
            body = response.json()
            token = body["access_token"]
            lifetime = float(body.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
        except (ValueError, KeyError, TypeError):
            raise BackendError(f"{path} answered without an access token") from None
        if not isinstance(token, str) or not token:
            raise BackendError(f"{path} answered without an access token")
        self._token = Secret(token)
        self._expires_at = self._clock() + max(0.0, lifetime - REFRESH_MARGIN)
        scope = body.get("scope")
        self.scopes = scope if isinstance(scope, str) else None


class OAuthClient(_ExchangedToken):
    kind = "OAuth client"

    def __init__(self, client_id: str, secret: Secret, source: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(source, clock)
        self.client_id = client_id
        self._secret = secret
        self._scope_refused = False

    def _request(self, http: HttpClient) -> tuple[str, dict[str, str], str]:
        form = {"grant_type": "client_credentials", "client_id": self.client_id,
                "client_secret": self._secret.reveal()}
        if self.requested and not self._scope_refused:
            form["scope"] = " ".join(self.requested)
        return OAUTH_TOKEN_PATH, form, ("check the client ID and secret, and that the OAuth client was not "
                                        "revoked (Settings > Trust credentials in the admin console)")

    def token(self, http: HttpClient, base_url: str) -> str:
        """As for any exchanged token; when asking for `requested` scopes is refused with HTTP 400 (a client
        holding only the legacy ``acl`` scope may be), ask once more without ``scope``: the token then has
        the client's own scopes."""
        try:
            return super().token(http, base_url)
        except CredentialError as e:
            if not self.requested or self._scope_refused or "HTTP 400" not in str(e):
                raise
            self._scope_refused = True
            return super().token(http, base_url)

    def secrets(self) -> tuple[Secret, ...]:
        return (self._secret, *((self._token,) if self._token else ()))


class WorkloadIdentity(_ExchangedToken):
    """A federated identity: an OIDC token from the workload's platform, exchanged for an access token."""

    kind = "workload identity federation"

    def __init__(self, client_id: str, id_token: Callable[[HttpClient], Secret], source: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(source, clock)
        self.client_id = client_id
        self._id_token = id_token
        self._jwt: Secret | None = None

    def _request(self, http: HttpClient) -> tuple[str, dict[str, str], str]:
        self._jwt = self._id_token(http)
        form = {"client_id": self.client_id, "jwt": self._jwt.reveal()}
        return TOKEN_EXCHANGE_PATH, form, ("check that the federated identity's issuer, subject and audience "
                                           "match this job (audience: config 'audience' or TS_AUDIENCE)")

    def secrets(self) -> tuple[Secret, ...]:
        return tuple(s for s in (self._jwt, self._token) if s is not None)


def github_id_token(request_url: str, request_token: Secret, audience: str) -> Callable[[HttpClient], Secret]:
    """The GitHub Actions job's OIDC token for ``audience`` (needs ``permissions: id-token: write``)."""
    import httpx

    # The request URL already carries a query (api-version): add the audience to it, do not replace it.
    url = str(httpx.URL(request_url).copy_merge_params({"audience": audience}))

    def fetch(http: HttpClient) -> Secret:
        response = http.send("GET", url, headers={"Authorization": f"bearer {request_token.reveal()}"},
                             what="the GitHub Actions OIDC token request", service="GitHub Actions",
                             hint="the job's OIDC token endpoint did not answer; re-run the job")
        if response.status_code != 200:
            refused = response.status_code in (401, 403)
            raise CredentialError(f"GitHub Actions refused the OIDC token request (HTTP {response.status_code})",
                                  hint="give the job 'permissions: id-token: write'" if refused else None)
        try:
            value = response.json()["value"]
        except (ValueError, KeyError, TypeError):
            value = None
        if not isinstance(value, str) or not value:
            raise CredentialError("GitHub Actions answered the OIDC token request without a token")
        return Secret(value)

    return fetch
