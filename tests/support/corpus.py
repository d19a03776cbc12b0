"""The shared corpus of real policy files, which lives outside the repository.

It sits beside a clone (``<clone>/../shared/corpus/policies``). Without it, the tests
that read it skip with a message saying where it was looked for; when ``CI=true``
they fail instead, so a CI job that lost the corpus cannot pass on skipped tests.

Use ``files`` to parametrize over the corpus and ``require`` on each path in the test:

    @pytest.mark.parametrize("path", corpus.files(corpus.POLICIES))
    def test_policy(path: Path) -> None:
        data = corpus.require(path).read_bytes()
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared"
POLICIES = SHARED / "corpus" / "policies"


def in_ci() -> bool:
    """True when the environment variable CI is ``true`` (as GitHub Actions sets it)."""
    return os.environ.get("CI", "").lower() == "true"


def require(path: Path) -> Path:
    """``path`` when it exists; otherwise skip the calling test, or fail it when CI=true."""
    if path.exists():
        return path
    message = f"the shared policy corpus is missing: {path} not found"
    if in_ci():
        pytest.fail(f"{message} (CI=true, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(message)


def files(directory: Path, pattern: str = "*.hujson") -> list[Any]:
    """One ``pytest.param`` per file of ``directory`` matching ``pattern``, named after it.

    Without any such file, one placeholder (``directory / pattern``, which does not
    exist) stands in, so the test runs once and ``require`` skips or fails it.
    """
    found = sorted(directory.glob(pattern)) if directory.is_dir() else []
    if not found:
        return [pytest.param(directory / pattern, id="corpus-missing")]
    return [pytest.param(p, id=p.name) for p in found]
