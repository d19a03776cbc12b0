"""What has been notified already: ``.tailjit/notified.json``, so that no event goes out twice.

The file maps each sent event's key (`Event.key`: event, grant file,
window) to when it was sent. It is written atomically (a temporary file
renamed over it), so a crash leaves the old or the new file, never half of
one. A file that cannot be read (corrupt, hostile, too large) is reported
and replaced: at worst an event is sent twice, and nothing is ever blocked.
Entries older than `KEEP` are dropped (no grant lasts longer), and at most
`MAX_ENTRIES` are kept.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from reconciler.core.durations import format_time, parse_time

STATE_NAME = "notified.json"
VERSION = 1
KEEP = timedelta(days=100)
MAX_ENTRIES = 20_000
MAX_BYTES = 4 * 1024 * 1024


class SentLog:
    """The keys of events already sent, and when."""

    def __init__(self, path: Path, sent: dict[str, datetime] | None = None) -> None:
        self.path = path
        self.sent: dict[str, datetime] = dict(sent or {})

    @classmethod
    def load(cls, path: Path) -> tuple[SentLog, str | None]:
        """The log at ``path`` (empty when missing), and a warning when the file was unreadable."""
        try:
            if path.stat().st_size > MAX_BYTES:
                return cls(path), f"{path.name} is larger than {MAX_BYTES} bytes; starting a new one"
            raw = path.read_bytes()
        except FileNotFoundError:
            return cls(path), None
        except OSError as e:
            return cls(path), f"cannot read {path.name} ({e.strerror}); starting a new one"
        try:
            doc = json.loads(raw)
            entries = doc["sent"] if isinstance(doc, dict) and doc.get("version") == VERSION else None
            if not isinstance(entries, dict):
                raise ValueError("no 'sent' mapping of version 1")
            sent = {str(k): parse_time(str(v)) for k, v in entries.items()}
        except (ValueError, KeyError, TypeError, RecursionError):
            return cls(path), (f"{path.name} is not a notification log tailjit wrote (corrupt?); starting a new "
                               "one, so an event already sent may be sent again")
        return cls(path, sent), None

    def seen(self, key: str) -> bool:
        return key in self.sent

    def add(self, key: str, when: datetime) -> None:
        self.sent[key] = when

    def forget(self, prefix: str) -> bool:
        """Drop every key starting with ``prefix`` (a problem that cleared); True if any was there."""
        gone = [k for k in self.sent if k.startswith(prefix)]
        for k in gone:
            del self.sent[k]
        return bool(gone)

    def save(self, now: datetime) -> None:
        """Write the log atomically, without entries older than `KEEP`, the newest `MAX_ENTRIES`."""
        kept = sorted(((k, t) for k, t in self.sent.items() if now - t <= KEEP), key=lambda kt: kt[1])
        self.sent = dict(kept[-MAX_ENTRIES:])
        text = json.dumps({"version": VERSION, "sent": {k: format_time(t) for k, t in self.sent.items()}},
                          indent=1, sort_keys=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text + "\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
