"""Where the Tailscale API credential comes from, and how it becomes a bearer token.

Sources, first found wins (`find_credential`):

1. ``TS_API_KEY``: an API access token, sent as it is.
2. An OAuth client, ``TS_OAUTH_CLIENT_ID`` + ``TS_OAUTH_CLIENT_SECRET`` (or
   ``TS_OAUTH_ID`` + ``TS_OAUTH_SECRET``): exchanged for an access token at
   ``/api/v2/oauth/token`` (client-credentials flow).
3. Workload identity federation: ``TS_OAUTH_CLIENT_ID`` without a secret, plus
   an OIDC token, either the GitHub Actions job's own (``ACTIONS_ID_TOKEN_REQUEST_URL``
   and ``…_TOKEN``) or one handed in as ``TS_ID_TOKEN``: exchanged at
   ``/api/v2/oauth/token-exchange``. No stored secret at all.
4. An AWS Secrets Manager secret named in ``tailjit.yaml`` (``credentials:``),
   holding an API key or an OAuth client.

Finding a source only looks at names; the network (token endpoints, GitHub,
AWS) is touched when the first token is needed, so ``tailjit doctor`` can say
which source it found even when using it fails. A secret is held in a `Secret`,
whose ``repr`` and ``str`` hide it, and is never put into a message: errors
name the source (an environment variable, a secret's name), not its value.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

from reconciler.core.config import AwsSecret, Config
from reconciler.credentials.aws import AwsSecretCredential, fetch_aws_secret
from reconciler.credentials.tokens import ApiKey, Credential, OAuthClient, Secret, WorkloadIdentity, github_id_token
from reconciler.errors import ConfigError, CredentialError

#: `Secret` and `Credential` are part of this module's interface (other modules hold tokens in a `Secret`).
__all__ = ["Credential", "Secret", "find_credential"]


def _env(env: Mapping[str, str], *names: str) -> tuple[str, str] | None:
    """The first of ``names`` set to a non-empty value (GitHub sets unset secrets to "")."""
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return name, value
    return None


def find_credential(env: Mapping[str, str], config: Config, *,
                    aws_fetch: Callable[[AwsSecret], str] = fetch_aws_secret,
                    clock: Callable[[], float] = time.monotonic, scopes: Sequence[str] = ()) -> Credential:
    """The first credential source present in ``env`` or ``config``; `CredentialError` if none is.

    ``scopes`` are asked for when an OAuth client's token is requested (``policy_file:read`` for a command
    that only reads). Workload identity in GitHub Actions without an audience is a `ConfigError`, raised
    here, before any token is asked for.
    """
    api_key = _env(env, "TS_API_KEY")
    if api_key:
        _refuse_unprintable(*api_key)
        return ApiKey(Secret(api_key[1]), api_key[0])
    client_id = _env(env, "TS_OAUTH_CLIENT_ID", "TS_OAUTH_ID")
    client_secret = _env(env, "TS_OAUTH_CLIENT_SECRET", "TS_OAUTH_SECRET")
    if client_secret:
        _refuse_unprintable(*client_secret)
    if client_id and client_secret:
        client = OAuthClient(client_id[1], Secret(client_secret[1]), f"{client_id[0]} + {client_secret[0]}", clock)
        client.requested = tuple(scopes)
        return client
    if client_id:
        id_token = _env(env, "TS_ID_TOKEN")
        if id_token:  # it carries its audience already: exchanged as it is
            jwt = Secret(id_token[1])
            return WorkloadIdentity(client_id[1], lambda _http: jwt, f"{client_id[0]} + TS_ID_TOKEN", clock)
        request_url = _env(env, "ACTIONS_ID_TOKEN_REQUEST_URL")
        request_token = _env(env, "ACTIONS_ID_TOKEN_REQUEST_TOKEN")
        if request_url and request_token:
            aud = _audience(env, config)
            fetch = github_id_token(request_url[1], Secret(request_token[1]), aud)
            return WorkloadIdentity(client_id[1], fetch, f"{client_id[0]} + the GitHub Actions OIDC token "
                                                         f"(audience {aud})", clock)
    if config.aws_secret is not None:
        stored = AwsSecretCredential(config.aws_secret, aws_fetch, clock)
        stored.requested = tuple(scopes)
        return stored
    raise CredentialError("no Tailscale API credential found", hint=_missing_hint(client_id, client_secret))


def _audience(env: Mapping[str, str], config: Config) -> str:
    """The audience of the GitHub Actions OIDC token: ``TS_AUDIENCE``, else ``audience`` in tailjit.yaml."""
    found = _env(env, "TS_AUDIENCE")
    if found:
        return found[1]
    if config.audience:
        return config.audience
    raise ConfigError("workload identity in GitHub Actions needs the audience of the federated identity, and "
                      "neither 'audience' in tailjit.yaml nor TS_AUDIENCE is set", path=str(config.path),
                      hint="copy the audience from the admin console (Settings > Trust credentials > the "
                           "federated identity's details) into 'audience' in tailjit.yaml, or set TS_AUDIENCE")


def _refuse_unprintable(name: str, value: str) -> None:
    """A credential with a control or non-ASCII character is refused before it is sent (an HTTP library would
    quote it back in its error), naming the variable, never the value."""
    if not (value.isascii() and value.isprintable()):
        raise CredentialError(f"{name} holds a control or non-ASCII character, so it cannot be a Tailscale "
                              "credential", hint=f"set {name} again, without stray characters (a pasted newline?)")


def _missing_hint(client_id: tuple[str, str] | None, client_secret: tuple[str, str] | None) -> str:
    if client_id:
        return (f"{client_id[0]} is set without a secret: set TS_OAUTH_CLIENT_SECRET, or run in GitHub Actions "
                "with 'permissions: id-token: write' (workload identity), or set TS_ID_TOKEN")
    if client_secret:
        return f"{client_secret[0]} is set without TS_OAUTH_CLIENT_ID"
    return ("set TS_API_KEY, or TS_OAUTH_CLIENT_ID + TS_OAUTH_CLIENT_SECRET, or TS_OAUTH_CLIENT_ID with workload "
            "identity, or 'credentials: {aws_secret: NAME}' in tailjit.yaml (see docs/credentials.md)")
