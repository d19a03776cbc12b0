"""Devices and their custom posture attributes, through Tailscale's API (v2), for ``lock: posture``.

``GET /api/v2/tailnet/{tailnet}/devices`` lists devices with ``nodeId`` (``id`` is the older identifier, still
accepted) and ``user``, the owner's login (tailscale/tailscale ``publicapi/device.md``). The listing does not
carry custom posture attributes: neither the documented device object nor Tailscale's Go client's ``Device``
(tailscale-client-go-v2 ``devices.go``, with or without ``fields=all``) has them; ``fields=all`` adds routes,
connectivity and ``postureIdentity`` (serial numbers) only. So a device's attributes are read with
``GET /api/v2/device/{id}/attributes`` → ``{"attributes": {…}, "expiries": {key: time}}``, written with
``POST /api/v2/device/{id}/attributes/{key}`` and ``{"value", "expiry", "comment"}``, and removed with
``DELETE`` of that path. Whether deleting an attribute a device does not hold answers 404 or 200 is not
documented: both mean it is gone. Scopes: ``devices:core:read`` lists, ``devices:posture_attributes`` writes
(kb/1623).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from reconciler.backends.tailscale import OUTAGE_HINT, SERVICE, TailscaleBackend
from reconciler.core.durations import format_time, parse_time
from reconciler.core.posture import Attribute, Device
from reconciler.errors import BackendError, CredentialError
from reconciler.http import api_message

if TYPE_CHECKING:  # httpx is imported where a request is made: most commands never make one
    import httpx

LIST_SCOPE = "devices:core:read"
ATTRIBUTES_SCOPE = "devices:posture_attributes"


class TailscaleDevices:
    """Reads devices and reads and writes their custom attributes, with the policy backend's credential."""

    def __init__(self, backend: TailscaleBackend) -> None:
        self.backend = backend
        self.name = backend.name

    def list(self) -> list[Device]:
        """Every device of the tailnet. Entries that are not devices (no id, no user) are skipped."""
        path = f"/api/v2/tailnet/{quote(self.backend.tailnet, safe='')}/devices"
        what = f"GET {path}"
        body = self._json(self._send("GET", path, what), what, LIST_SCOPE)
        entries = body.get("devices") if isinstance(body, dict) else None
        if not isinstance(entries, list):
            raise BackendError(f"{what} answered without a \"devices\" list",
                               hint=f"check that {self.backend.base_url} is the Tailscale API")
        found = []
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            node = entry.get("nodeId") or entry.get("id")
            user = entry.get("user")
            if not isinstance(node, str | int) or not isinstance(user, str) or not user:
                continue
            name = "".join(c for c in str(entry.get("hostname") or entry.get("name") or node) if c.isprintable())
            tags = entry.get("tags")
            found.append(Device(str(node), user, name[:100] or str(node), tagged=bool(tags) and isinstance(tags, list),
                                external=entry.get("isExternal") is True))
        return found

    def attributes(self, device: Device) -> dict[str, Attribute]:
        """The device's ``custom:`` attributes with their expiries (None: no expiry)."""
        path = f"/api/v2/device/{quote(device.id, safe='')}/attributes"
        what = f"GET {path}"
        body = self._json(self._send("GET", path, what), what, ATTRIBUTES_SCOPE + " (or its :read)")
        values = body.get("attributes") if isinstance(body, dict) else None
        expiries = body.get("expiries") if isinstance(body, dict) else None
        if not isinstance(values, dict):
            raise BackendError(f"{what} answered without an \"attributes\" object")
        expiries = expiries if isinstance(expiries, dict) else {}
        found = {}
        for key, value in values.items():
            if isinstance(key, str) and key.startswith("custom:"):
                found[key] = Attribute(value, _time(expiries.get(key)))
        return found

    def set(self, device: Device, key: str, value: str, expiry: datetime, comment: str) -> None:
        path = f"/api/v2/device/{quote(device.id, safe='')}/attributes/{quote(key, safe=':')}"
        what = f"POST {path}"
        response = self._send("POST", path, what, {"value": value, "expiry": format_time(expiry), "comment": comment})
        if response.status_code // 100 != 2:
            raise self._failure(response, what, ATTRIBUTES_SCOPE)

    def delete(self, device: Device, key: str) -> None:
        path = f"/api/v2/device/{quote(device.id, safe='')}/attributes/{quote(key, safe=':')}"
        what = f"DELETE {path}"
        response = self._send("DELETE", path, what)
        if response.status_code // 100 != 2 and response.status_code != 404:
            raise self._failure(response, what, ATTRIBUTES_SCOPE)

    def _send(self, method: str, path: str, what: str, body: dict[str, str] | None = None) -> httpx.Response:
        backend = self.backend
        headers = {"Accept": "application/json"}
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = json.dumps(body).encode()
        return backend.http.send(method, backend.base_url + path, what=what, headers=headers, content=content,
                                 auth=lambda: backend.credential.token(backend.http, backend.base_url),
                                 service=SERVICE, hint=OUTAGE_HINT)

    def _json(self, response: httpx.Response, what: str, scope: str) -> Any:
        if response.status_code != 200:
            raise self._failure(response, what, scope)
        try:
            return response.json()
        except ValueError:
            raise BackendError(f"{what} answered with something that is not JSON",
                               hint=f"check that {self.backend.base_url} is the Tailscale API") from None

    def _failure(self, response: httpx.Response, what: str, scope: str) -> BackendError:
        credential = self.backend.credential
        message = credential.redact(api_message(response))
        detail = f"HTTP {response.status_code}" + (f": {message[:200]}" if message else "")
        if response.status_code in (401, 403):
            return CredentialError(f"{what} was refused ({detail}) with the credential from {credential.source}",
                                   hint=f"lock: posture needs the {LIST_SCOPE} and {ATTRIBUTES_SCOPE} scopes (and "
                                        "Tailscale's Enterprise plan for posture conditions); run tailjit doctor")
        return BackendError(f"{what} answered {detail}")


def _time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_time(value)
    except (ValueError, OverflowError):
        return None
