"""The errors tailjit reports to its user.

Every error the CLI turns into a message and exit code 1 is a `TailjitError`.
Messages say what is wrong, where (``path:line`` when there is a file), and
what to do about it. Anything else reaching the CLI is a bug: exit 3.
"""

from __future__ import annotations

from collections.abc import Sequence


class TailjitError(Exception):
    """Base of all reported errors. ``hint`` says what to do next."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(TailjitError):
    """The command line or the environment asks for something that cannot work (exit 2, as click's own)."""


class LocatedError(TailjitError):
    """An error in a file: shown as ``path:line: message`` (or ``path: message`` without a line)."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.path = path
        self.line = line

    def __str__(self) -> str:
        if self.path is None:
            return self.message
        path = shown_path(self.path)
        if self.line is None:
            return f"{path}: {self.message}"
        return f"{path}:{self.line}: {self.message}"


def shown_path(path: str) -> str:
    """``path`` for a message line: control characters escaped (``\n`` as ``\\n``), so that a file name can
    never start a line of its own (a GitHub workflow command such as ``::add-mask::``) or rewrite the terminal."""
    if path.isprintable():
        return path
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in path)


class ConfigError(LocatedError):
    """``tailjit.yaml`` is missing, malformed or inconsistent with the base policy."""


class ConfigErrors(ConfigError):
    """Several problems in one file, each at its line: shown one after another. Reads as the first one."""

    def __init__(self, errors: Sequence[LocatedError]) -> None:
        first = errors[0]
        super().__init__(first.message, path=first.path, line=first.line, hint=first.hint)
        self.errors = tuple(errors)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


class PolicyError(ConfigError):
    """The base policy file cannot be parsed or lacks what the config declares."""


class GrantError(LocatedError):
    """One grant file is invalid. Collected, never raised past the loader on main."""

    path: str

    def __init__(self, message: str, *, path: str, line: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, path=path, line=line, hint=hint)


class UnsafePlan(TailjitError):
    """The plan exceeds a safety limit; ``--force`` overrides."""


class ConflictError(TailjitError):
    """Somebody else wrote the live policy between our read and our write, too often."""


class BackendError(TailjitError):
    """The live policy could not be read, validated or written."""


class RefusedPolicy(BackendError):
    """The tailnet read the candidate policy and refused it (a malformed policy, failed policy ``tests``)."""


class CredentialError(BackendError):
    """No usable credential, or the one found was refused."""


class GitHubError(TailjitError):
    """The GitHub API could not be reached, or refused a request."""


class GitError(TailjitError):
    """A git operation could not be done (dirty tree, missing history, push refused)."""

