"""The workflow linters of the test extra (actionlint, zizmor), found as a newcomer runs the tests.

``pip install -e '.[test]'`` puts them in the virtual environment's scripts folder, which is on ``PATH`` only
when the environment is activated; the README runs ``.venv/bin/python -m pytest`` without activating it. So
they are looked for beside the running interpreter first, then on ``PATH``.
"""

from __future__ import annotations

import shutil
import sysconfig

import pytest


def linter(name: str) -> str:
    """The path of the test extra's ``name`` program; fails the test, saying how to install it, when missing."""
    found = shutil.which(name, path=sysconfig.get_path("scripts")) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} comes with the test extra: pip install -e '.[test]'")
    return found
