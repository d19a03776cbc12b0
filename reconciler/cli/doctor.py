"""``tailjit doctor``: can this machine reach the tailnet with the credential it has? Writes nothing.

It says which credential source was found (never its value), which tailnet
and base URL are used and where each setting came from, then reads the live
policy and asks the tailnet to validate it. Exit 1 when a check fails.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime

import click

from reconciler.backends import READ_SCOPE, open_backend, wanted_scopes
from reconciler.backends.base import Backend, LivePolicy
from reconciler.backends.devices import ATTRIBUTES_SCOPE, LIST_SCOPE, TailscaleDevices
from reconciler.backends.tailscale import DEFAULT_BASE_URL, TailscaleBackend
from reconciler.cli.app import App
from reconciler.core.config import Config
from reconciler.core.durations import format_time
from reconciler.core.tailnet import key_warning
from reconciler.errors import CredentialError, TailjitError, UsageError
from reconciler.repo.config import load_config

#: The environment variables that hold (or lead to) a Tailscale credential.
TAILSCALE_VARIABLES = ("TS_API_KEY", "TS_OAUTH_CLIENT_ID", "TS_OAUTH_ID", "TS_OAUTH_CLIENT_SECRET", "TS_OAUTH_SECRET",
                       "TS_ID_TOKEN")
#: Scopes with which a token may write the policy file (``acl`` is the legacy name of ``policy_file``).
WRITE_SCOPES = {"policy_file", "all", "acl"}


class Checks:
    """Prints one line per check and remembers whether any failed."""

    def __init__(self) -> None:
        self.failed = 0

    def info(self, label: str, text: str) -> None:
        click.echo(f"      {label:<11} {text}")

    def ok(self, label: str, text: str) -> None:
        click.echo(f"ok    {label:<11} {text}")

    def fail(self, label: str, error: TailjitError | str) -> None:
        self.failed += 1
        click.echo(f"FAIL  {label:<11} {error}")
        if isinstance(error, TailjitError) and error.hint:
            click.echo(f"      {'':<11} hint: {error.hint}")


@click.command()
@click.pass_obj
def doctor(app: App) -> int:
    """Check the connection to the tailnet: credential, tailnet, read and validate. Writes nothing.

    Shows which credential source was found (never its value), the tailnet
    and the API base URL, then reads the live policy and asks the tailnet to
    validate it. Exits 1 when a check fails.

    \b
    Examples:
      tailjit doctor
      tailjit --backend tailscale doctor
    """
    config_path = app.config_path
    config = load_config(config_path)
    spec = app.backend_spec or config.backend
    checks = Checks()
    click.echo(f"tailjit doctor: {config_path}")
    source = "--backend" if app.backend_spec else f"'backend' in {config_path}"
    checks.info("backend", f"{spec}, from {source}")
    if spec != "tailscale":
        checks.info("", f"this checks {spec}, a local file standing in for the tailnet: Tailscale is not contacted")
        found = sorted(name for name in TAILSCALE_VARIABLES if app.env.get(name, "").strip())
        if found:
            checks.info("", f"{', '.join(found)} {'is' if len(found) == 1 else 'are'} set: to check the tailnet "
                            "with them, run tailjit --backend tailscale doctor")
    if spec == "tailscale":
        _settings(checks, config, os.environ)
    try:
        backend = open_backend(spec, config, scopes=wanted_scopes(config, write=False, attributes=True))
    except UsageError:
        raise
    except TailjitError as e:
        checks.fail("credential", e)
        return _verdict(checks, spec)
    try:
        if isinstance(backend, TailscaleBackend):
            checks.info("credential", f"{backend.credential.kind}, from {backend.credential.source}")
        live = _read(checks, backend)
        if live is not None:
            _validate(checks, backend, live)
        if isinstance(backend, TailscaleBackend):
            _scopes(checks, backend)
            _key_expiry(checks, backend, config, app.now())
            if any(t.posture_locked for t in config.targets.values()):
                _posture_lock(checks, backend)
    finally:
        backend.close()
    return _verdict(checks, backend.name)


def _settings(checks: Checks, config: Config, env: Mapping[str, str]) -> None:
    tailnet = env.get("TS_TAILNET") or config.tailnet
    tailnet_from = "TS_TAILNET" if env.get("TS_TAILNET") else "tailjit.yaml"
    own = " (the credential's own tailnet)" if tailnet == "-" else ""
    checks.info("tailnet", f"{tailnet}{own}, from {tailnet_from}")
    if env.get("TS_BASE_URL"):
        checks.info("base URL", f"{env['TS_BASE_URL']}, from TS_BASE_URL")
    elif config.base_url:
        checks.info("base URL", f"{config.base_url}, from tailjit.yaml")
    else:
        checks.info("base URL", f"{DEFAULT_BASE_URL} (default)")


def _read(checks: Checks, backend: Backend) -> LivePolicy | None:
    try:
        live = backend.get()
    except TailjitError as e:
        checks.fail("read", e)
        return None
    checks.ok("read", f"the policy file: {len(live.text)} bytes, ETag {live.etag}")
    return live


def _validate(checks: Checks, backend: Backend, live: LivePolicy) -> None:
    if not live.text.strip():
        checks.info("validate", "skipped: the live policy is empty (the first apply creates it)")
        return
    try:
        validation = backend.validate(live.text)
    except CredentialError as e:
        if _read_only(backend):
            checks.info("validate", "refused to this read-only credential; plan does not need it, apply "
                                    "(with a policy_file credential) does")
        else:
            checks.fail("validate", e)
        return
    except TailjitError as e:
        checks.fail("validate", e)
        return
    if validation.errors:
        checks.fail("validate", "validation works, but the live policy is refused:\n        "
                    + "\n        ".join(validation.errors))
        return
    warned = f" ({len(validation.warnings)} warning(s))" if validation.warnings else ""
    checks.ok("validate", f"the tailnet accepts its current policy{warned}")
    for warning in validation.warnings:
        checks.info("", f"warning: {warning}")


def _read_only(backend: Backend) -> bool:
    """Whether the token endpoint said this credential may not write the policy file."""
    if not isinstance(backend, TailscaleBackend) or backend.credential.scopes is None:
        return False
    return not set(backend.credential.scopes.split()) & WRITE_SCOPES


def _scopes(checks: Checks, backend: TailscaleBackend) -> None:
    scopes = backend.credential.scopes
    if scopes is None:
        return
    if _read_only(backend):
        note = f" (doctor and plan ask only for {READ_SCOPE}; apply asks for policy_file, which this check "
        note += "cannot see)" if READ_SCOPE in backend.credential.requested else "; apply needs policy_file)"
    else:
        note = " (may write the policy file" + (": acl is the legacy name of policy_file)"
                                                 if "acl" in scopes.split() else ")")
    checks.info("scopes", f"{scopes or '(none)'}{note}")


def _posture_lock(checks: Checks, backend: TailscaleBackend) -> None:
    """``lock: posture`` needs the devices listing and the posture attributes: check the scopes the token
    endpoint granted (when it said), and list the devices (a read)."""
    scopes = backend.credential.scopes
    if scopes is not None:
        held = set(scopes.split())
        missing = [scope for scope, enough in ((LIST_SCOPE, {LIST_SCOPE, "devices:core", "all", "all:read"}),
                                               (ATTRIBUTES_SCOPE, {ATTRIBUTES_SCOPE, "all"})) if not held & enough]
        if missing:
            checks.fail("lock", f"lock: posture needs the {' and '.join(missing)} scope(s), which this credential "
                                "lacks: add them to the OAuth client")
        else:
            checks.ok("lock", f"the credential has the {LIST_SCOPE} and {ATTRIBUTES_SCOPE} scopes")
    try:
        devices = TailscaleDevices(backend).list()
    except TailjitError as e:
        checks.fail("devices", e)
        return
    checks.ok("devices", f"{len(devices)} device(s) listed, for lock: posture (posture conditions need "
                         "Tailscale's Enterprise plan)")


def _key_expiry(checks: Checks, backend: TailscaleBackend, config: Config, now: datetime) -> None:
    """An API access token's expiry (``GET …/keys/{keyId}``): shown, and a warning when it is near. Never a failure."""
    if backend.credential.api_key_id() is None:
        return
    try:
        expires = backend.key_expiry()
    except TailjitError as e:
        checks.info("key", f"its expiry could not be read: {e}")
        return
    if expires is None:
        return
    warning = key_warning(backend.credential.source, expires, now, config.warn_key_days)
    if warning is not None:
        checks.info("key", f"warning: {warning}")
        return
    checks.ok("key", f"the API access token expires {format_time(expires)} (in {(expires - now).days} days)")


def _verdict(checks: Checks, backend_name: str) -> int:
    if checks.failed:
        click.echo(f"{checks.failed} check(s) failed.", err=True)
        return 1
    click.echo(f"All checks of {backend_name} passed; nothing was written.")
    return 0
