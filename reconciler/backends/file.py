"""A local HuJSON file standing in for the tailnet: demos, tests, dry runs, rendered output.

The ETag is the digest of the file's content, so If-Match semantics hold
between processes: a write checks, under an exclusive lock, that the file
still has the content the plan was made against, then replaces it
atomically (temporary file, fsync, rename, fsync of the directory).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from reconciler.backends.base import Backend, LivePolicy, PreconditionFailed, Validation
from reconciler.core.policy import Policy
from reconciler.core.policycheck import check_policy
from reconciler.errors import BackendError

#: The ETag of a file that does not exist yet: the first apply creates it.
ABSENT = '"absent"'


def etag_of(text: bytes) -> str:
    return '"sha256:' + hashlib.sha256(text).hexdigest() + '"'


class FileBackend(Backend):
    def __init__(self, path: Path, name: str | None = None) -> None:
        self.path = path
        self.name = name or f"file:{path}"

    def get(self) -> LivePolicy:
        try:
            text = self.path.read_bytes()
        except FileNotFoundError:
            return LivePolicy(b"", ABSENT)
        except OSError as e:
            raise BackendError(f"cannot read {self.path}: {e.strerror}") from None
        return LivePolicy(text, etag_of(text))

    def validate(self, text: bytes, policy: Policy | None = None) -> Validation:
        return Validation(errors=check_policy(policy if policy is not None else Policy(text)))

    def put(self, text: bytes, if_match: str) -> str:
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
            with self._locked():
                current = self.get().etag
                if current != if_match:
                    raise PreconditionFailed(f"{self.path} changed since it was read")
                self._replace(text)
        except OSError as e:
            raise BackendError(f"cannot write {self.path}: {e.strerror}") from None
        return etag_of(text)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(lock_path, "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _replace(self, text: bytes) -> None:
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            if self.path.exists():
                os.chmod(tmp, self.path.stat().st_mode & 0o777)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
