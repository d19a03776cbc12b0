"""What a sink receives for an event. Pure: an event in, bytes out.

A webhook gets the event's JSON data (`Event.data`), signed: the header
``X-Tailjit-Signature: sha256=<hex HMAC-SHA256 of the body with the secret>``
lets the receiver check that tailjit sent it and nobody changed it. A Slack
incoming webhook gets ``{"text": …, "blocks": […]}``: one line a person reads
in the channel, and the details under it.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from reconciler.core.durations import format_time
from reconciler.notify.events import Event

SIGNATURE_HEADER = "X-Tailjit-Signature"
EVENT_HEADER = "X-Tailjit-Event"
#: The event's `Event.key`, hashed: the same for a repeat, so a receiver can drop duplicates.
DELIVERY_HEADER = "X-Tailjit-Delivery"

_HEADLINES = {
    "granted": "{user} was granted {target}",
    "extended": "{user}'s access to {target} was extended",
    "revoked": "{user}'s access to {target} was revoked",
    "expiring": "{user}'s access to {target} is about to expire",
    "apply_failed": "tailjit apply failed: the tailnet was not changed",
    "drift_detected": "the tailnet policy was edited outside git",
    "revoke_only_fallback": "tailjit fell back to revoke-only: expired access was removed, nothing granted",
}
_BECAUSE = {"expired": "it expired", "removed": "its grant file was removed early",
            "ended": "its grant file no longer grants it"}


def webhook_body(event: Event) -> bytes:
    """The JSON body of a webhook request: compact, UTF-8, keys in a fixed order."""
    return json.dumps(event.data, ensure_ascii=False, separators=(",", ":")).encode()


def signature(secret: bytes, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of body>``, the value of `SIGNATURE_HEADER`."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def delivery_id(event: Event) -> str:
    return hashlib.sha256(event.key.encode()).hexdigest()[:32]


def headline(event: Event) -> str:
    """One line saying what happened, plain text."""
    line = _HEADLINES[event.event].format(user=event.user or "?", target=event.target or event.group or "?")
    if event.event in ("granted", "extended", "expiring") and event.until is not None:
        line += f" until {format_time(event.until)}"
    if event.event == "revoked" and event.revoked_because:
        line += f": {_BECAUSE.get(event.revoked_because, event.revoked_because)}"
        if event.removed_by:
            line += f" by {event.removed_by}"
    return line


def details(event: Event) -> list[str]:
    """``name: value`` lines of what else is known, plain text."""
    fields = (("reason", event.reason), ("ticket", event.ticket), ("file", event.file),
              ("from", format_time(event.start) if event.start else None),
              ("requested by", event.requested_by), ("approved by", event.approved_by),
              ("pull request", event.pull_request))
    return [f"{name}: {value}" for name, value in fields if value]


def slack_payload(event: Event) -> bytes:
    """``{"text": …, "blocks": […]}`` for a Slack incoming webhook; text from grant files is escaped."""
    text = _escape(headline(event))
    lines = [f"*{_escape(name)}:* {_escape(value)}"
             for name, value in (line.split(": ", 1) for line in details(event))]
    blocks: list[dict[str, object]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    if lines:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}})
    if event.detail:
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": "```" + _escape(event.detail[:2800]) + "```"}})
    return json.dumps({"text": text, "blocks": blocks}, ensure_ascii=False).encode()


def _escape(text: str) -> str:
    """Slack's three control characters: no link, mention (``<!channel>``) or markup can come from a file."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
