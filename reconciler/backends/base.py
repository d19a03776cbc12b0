"""The backend interface: read, validate and write the live policy file.

A backend is deliberately small. The reconcile loop (`reconciler.reconcile`) does all
the thinking; a backend only moves text and ETags, and raises
`reconciler.errors.BackendError` (or a subclass) with a clear message.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

from reconciler.core.policy import Policy


@dataclass(frozen=True)
class LivePolicy:
    """The policy file as the tailnet holds it now."""

    text: bytes
    etag: str


@dataclass(frozen=True)
class Validation:
    """What the tailnet said of a candidate policy.

    ``errors`` stop a write (a malformed policy, failed policy ``tests``);
    ``warnings`` are shown and do not.
    """

    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.errors


class PreconditionFailed(Exception):
    """The live policy changed since it was read (HTTP 412 / ETag mismatch).

    Not a `TailjitError`: the reconcile loop catches it, reads again and re-plans.
    """


class Backend(abc.ABC):
    """Read, validate and write the live policy with optimistic concurrency."""

    #: A short human name for messages, e.g. ``file:/tmp/tailnet.hujson``.
    name: str = "backend"

    @abc.abstractmethod
    def get(self) -> LivePolicy:
        """Return the live policy text and its ETag."""

    @abc.abstractmethod
    def validate(self, text: bytes, policy: Policy | None = None) -> Validation:
        """Ask the tailnet whether ``text`` is acceptable, without writing it.

        ``policy`` is ``text`` already parsed, when the caller has it: a backend that checks locally reads
        it instead of parsing ``text`` again.
        """

    @abc.abstractmethod
    def put(self, text: bytes, if_match: str) -> str:
        """Write ``text`` if the live ETag is still ``if_match``; return the new ETag.

        Raises `PreconditionFailed` when somebody wrote in between.
        """

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release connections. Called once by the CLI when done."""
