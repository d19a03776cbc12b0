"""A Tailscale credential kept in AWS Secrets Manager (``credentials: {aws_secret: NAME, key: FIELD, region: R}``).

The secret is a plain string (an API key) or JSON: ``{"api_key": …}``,
``{"client_id": …, "client_secret": …}``, or any object with the field named
by ``key``. It is read once, through boto3's usual credential chain (role,
profile, environment; ``AWS_ENDPOINT_URL`` is honoured), when the first token
is needed. Errors name the secret and the field asked for, never a value nor the other fields' names.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from reconciler.core.config import AwsSecret
from reconciler.credentials.tokens import ApiKey, Credential, OAuthClient, Secret
from reconciler.errors import CredentialError
from reconciler.http import HttpClient


class AwsSecretCredential(Credential):
    """An API key or OAuth client kept in AWS Secrets Manager, read once (boto3, its usual credential chain)."""

    kind = "AWS Secrets Manager"

    def __init__(self, secret: AwsSecret, fetch: Callable[[AwsSecret], str],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.secret = secret
        self._fetch = fetch
        self._clock = clock
        self._inner: Credential | None = None
        self.source = describe_aws_secret(secret)

    def token(self, http: HttpClient, base_url: str) -> str:
        if self._inner is None:
            self._inner = parse_aws_secret(self._fetch(self.secret), self.secret, self._clock)
            self._inner.requested = self.requested
            self.source = self._inner.source
            self.kind = f"{self._inner.kind} from AWS Secrets Manager"
        token = self._inner.token(http, base_url)
        self.scopes = self._inner.scopes
        return token

    def secrets(self) -> tuple[Secret, ...]:
        return self._inner.secrets() if self._inner else ()

    def api_key_id(self) -> str | None:
        return self._inner.api_key_id() if self._inner else None


def describe_aws_secret(secret: AwsSecret) -> str:
    where = f"AWS Secrets Manager secret {secret.name!r}"
    if secret.key:
        where += f" (field {secret.key!r})"
    return where + (f" in {secret.region}" if secret.region else "")


def parse_aws_secret(text: str, secret: AwsSecret, clock: Callable[[], float] = time.monotonic) -> Credential:
    """A plain string is an API key; JSON holds ``api_key``, or ``client_id`` + ``client_secret``, or ``key``."""
    where = describe_aws_secret(secret)
    stripped = text.strip()
    if not stripped.startswith("{"):
        if secret.key:
            raise CredentialError(f"{where} is a plain string, but the config names the field {secret.key!r}",
                                  hint="store JSON such as {\"api_key\": …}, or drop 'key' from 'credentials'")
        return _nonempty_key(stripped, where)
    try:
        data = json.loads(stripped)
    except ValueError:
        raise CredentialError(f"{where} starts like JSON but is not valid JSON") from None
    if secret.key:
        if not isinstance(data, dict) or secret.key not in data:
            count = len(data) if isinstance(data, dict) else 0  # field names may be secrets: never listed
            raise CredentialError(f"{where} has no field {secret.key!r} (it has {count} other field(s))")
        data = data[secret.key]
        if isinstance(data, str):
            return _nonempty_key(data.strip(), where)
    if not isinstance(data, dict):
        raise CredentialError(f"{where} holds JSON that is neither an API key nor an OAuth client")
    if isinstance(data.get("api_key"), str):
        return _nonempty_key(data["api_key"].strip(), f"{where}, API key")
    if isinstance(data.get("client_id"), str) and isinstance(data.get("client_secret"), str):
        return OAuthClient(data["client_id"], Secret(data["client_secret"]), f"{where}, OAuth client", clock)
    raise CredentialError(f"{where} has neither 'api_key' nor 'client_id' + 'client_secret' "
                          f"({len(data)} other field(s), not listed: a field's name may be a secret)",
                          hint="or name the field holding the API key with 'key' under 'credentials'")


def _nonempty_key(value: str, where: str) -> ApiKey:
    if not value:
        raise CredentialError(f"{where} is empty")
    return ApiKey(Secret(value), where)


def _limits() -> Any:
    """Bounded waits for Secrets Manager: 10 s to connect, 30 s to read, 3 attempts in all."""
    from botocore.config import Config

    return Config(connect_timeout=10, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"})


def fetch_aws_secret(secret: AwsSecret) -> str:
    """The secret's string, through boto3's usual credential chain (``AWS_ENDPOINT_URL`` is honoured)."""
    import boto3
    import botocore.exceptions

    where = describe_aws_secret(secret)
    try:
        client = boto3.session.Session().client("secretsmanager", region_name=secret.region, config=_limits())
        answer = client.get_secret_value(SecretId=secret.name)
    except botocore.exceptions.NoRegionError:
        raise CredentialError(f"{where}: no AWS region is set",
                              hint="set 'region' under 'credentials' in tailjit.yaml, or AWS_REGION") from None
    except botocore.exceptions.NoCredentialsError:
        raise CredentialError(f"{where}: no AWS credentials were found",
                              hint="give the job AWS credentials (e.g. a role via OIDC, or AWS_PROFILE)") from None
    except botocore.exceptions.ClientError as e:
        error = e.response.get("Error", {})
        raise CredentialError(f"{where} could not be read: {error.get('Code', 'error')}: {error.get('Message', '')}",
                              hint="check the secret's name and region, and that this AWS identity may "
                                   "call secretsmanager:GetSecretValue on it") from None
    except botocore.exceptions.BotoCoreError as e:
        raise CredentialError(f"{where} could not be read: {e}") from None
    if "SecretString" in answer:
        return answer["SecretString"]
    try:
        return answer["SecretBinary"].decode("utf-8")
    except (KeyError, UnicodeDecodeError):
        raise CredentialError(f"{where} holds binary data that is not UTF-8 text") from None
