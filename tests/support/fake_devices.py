"""The devices part of the fake Tailscale API: devices per user, custom posture attributes with an expiry.

Sources (public): Tailscale's API reference as published in tailscale/tailscale ``publicapi/device.md``
(``GET /api/v2/tailnet/{tailnet}/devices`` → ``{"devices": [{id, nodeId, user, name, hostname, tags, …}]}``;
``GET /api/v2/device/{id}/attributes``; ``POST /api/v2/device/{id}/attributes/{key}`` with ``value``;
``DELETE`` of the same path; keys ``custom:`` + letters, digits, ``_``, at most 50 characters; string values at
most 50 characters of letters, digits, ``_`` and ``.``), tailscale/tailscale-client-go-v2 ``devices.go``
(``expiry`` and ``comment`` in the POST body, ``expiries`` beside ``attributes`` in the answer), and Tailscale's
scopes (kb/1623: ``devices:core:read``, ``devices:posture_attributes``). What the documents do not settle, the fake
decides and says: it keeps an expired attribute listed (with its expiry) until it is deleted, but `reaches` no
longer counts it; it answers 404 when deleting an attribute the device does not hold; it accepts an expiry in the
past.

Time is the fake's own clock (``now``, ``advance``): tests move it past a grant's end without waiting.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from reconciler import hujson

CORE_READ = "devices:core:read"
POSTURE = "devices:posture_attributes"
POSTURE_READ = "devices:posture_attributes:read"
_KEY = re.compile(r"custom:[A-Za-z0-9_]{1,43}")
_VALUE = re.compile(r"[A-Za-z0-9_.]{1,50}")
Answer = tuple[int, dict[str, str], bytes]


@dataclass
class FakeDevice:
    id: str
    node_id: str
    user: str
    hostname: str
    tags: list[str] = field(default_factory=list)
    external: bool = False
    #: custom attributes: key -> (value, expiry, comment)
    attributes: dict[str, tuple[object, datetime | None, str]] = field(default_factory=dict)

    def listing(self, tailnet: str) -> dict[str, Any]:
        return {"id": self.id, "nodeId": self.node_id, "user": self.user, "hostname": self.hostname,
                "name": f"{self.hostname}.{tailnet}.ts.net", "tags": list(self.tags), "isExternal": self.external,
                "os": "linux", "authorized": True, "addresses": ["100.64.0.1"]}


class FakeDevices:
    """Devices per user, their custom attributes, and a clock."""

    def __init__(self, tailnet: str) -> None:
        self.tailnet = tailnet
        self.devices: dict[str, FakeDevice] = {}
        self.now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
        self._ids = itertools.count(1)

    # -- steering -------------------------------------------------------------------------------------
    def add(self, user: str, hostname: str, *, tags: list[str] | None = None, external: bool = False) -> str:
        """Add a device owned by ``user``; returns its ``nodeId``."""
        number = next(self._ids)
        node_id = f"n{number:04d}CNTRL"
        self.devices[node_id] = FakeDevice(str(100_000 + number), node_id, user, hostname, tags or [], external)
        return node_id

    def advance(self, delta: timedelta) -> None:
        self.now += delta

    def attribute(self, node_id: str, key: str) -> tuple[object, datetime | None, str] | None:
        return self.devices[node_id].attributes.get(key)

    def holders(self, key: str) -> dict[str, datetime | None]:
        """``hostname -> expiry`` of every device holding ``key``."""
        return {d.hostname: d.attributes[key][1] for d in self.devices.values() if key in d.attributes}

    def counts(self, node_id: str, key: str, value: object = "granted") -> bool:
        """Whether ``key`` = ``value`` on the device still counts: present, and its expiry not reached."""
        held = self.devices[node_id].attributes.get(key)
        return held is not None and held[0] == value and (held[1] is None or self.now < held[1])

    def reaches(self, policy: bytes, user: str, node_id: str, group: str, key: str) -> bool:
        """The test-only access check: may ``user`` on device ``node_id`` use a rule of ``group`` that requires
        ``key == 'granted'``? Member of the group in ``policy`` AND the device is the user's AND the attribute
        counts."""
        tree = hujson.parse(policy)
        tree.standardize()
        members = json.loads(tree.pack()).get("groups", {}).get(group, [])
        device = self.devices[node_id]
        return (user in members and device.user == user and not device.tags
                and self.counts(node_id, key))

    # -- answering ------------------------------------------------------------------------------------
    def handle(self, method: str, parts: list[str], scopes: set[str], body: bytes) -> Answer:
        """``parts`` is the path split on ``/`` (``["", "api", "v2", …]``)."""
        if parts[3] == "tailnet":
            if method != "GET":
                return _json(405, {"message": "method not allowed"})
            if not scopes & {CORE_READ, "devices:core", "all", "all:read"}:
                return _json(403, {"message": "the token lacks the devices:core:read scope"})
            return _json(200, {"devices": [d.listing(self.tailnet) for d in self.devices.values()]})
        device = self._find(parts[4])
        if device is None:
            return _json(404, {"message": "device not found"})
        if len(parts) == 6 and method == "GET":
            if not scopes & {POSTURE, POSTURE_READ, "all", "all:read"}:
                return _json(403, {"message": "the token lacks the devices:posture_attributes:read scope"})
            attributes: dict[str, object] = {"node:os": "linux", "node:tsReleaseTrack": "stable"}
            expiries: dict[str, str] = {}
            for key, (value, expiry, _) in device.attributes.items():
                attributes[key] = value
                if expiry is not None:
                    expiries[key] = expiry.isoformat().replace("+00:00", "Z")
            return _json(200, {"attributes": attributes, "expiries": expiries})
        if len(parts) != 7 or method not in ("POST", "DELETE"):
            return _json(405, {"message": "method not allowed"})
        if not scopes & {POSTURE, "all"}:
            return _json(403, {"message": "the token lacks the devices:posture_attributes scope"})
        key = parts[6]
        if not _KEY.fullmatch(key):
            return _json(400, {"message": f"invalid attribute key {key[:60]!r}"})
        if method == "DELETE":
            if device.attributes.pop(key, None) is None:
                return _json(404, {"message": "attribute not found"})
            return _json(200, {})
        return self._set(device, key, body)

    def _set(self, device: FakeDevice, key: str, body: bytes) -> Answer:
        try:
            request = json.loads(body)
        except ValueError:
            return _json(400, {"message": "invalid JSON body"})
        if not isinstance(request, dict):
            return _json(400, {"message": "invalid JSON body"})
        value, expiry_text, comment = request.get("value"), request.get("expiry"), request.get("comment") or ""
        if not (isinstance(value, bool | int) or (isinstance(value, str) and _VALUE.fullmatch(value))):
            return _json(400, {"message": "invalid attribute value"})
        if not isinstance(comment, str) or len(comment) > 200:
            return _json(400, {"message": "comment must be at most 200 characters"})
        expiry = None
        if expiry_text:
            try:
                expiry = datetime.fromisoformat(str(expiry_text).replace("Z", "+00:00"))
            except ValueError:
                return _json(400, {"message": "invalid expiry"})
            if expiry.tzinfo is None:
                return _json(400, {"message": "expiry needs a time zone"})
        device.attributes[key] = (value, expiry, comment)
        return _json(200, {})

    def _find(self, device_id: str) -> FakeDevice | None:
        return self.devices.get(device_id) or next((d for d in self.devices.values() if d.id == device_id), None)


def _json(status: int, body: dict[str, Any]) -> Answer:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()
