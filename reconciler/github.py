"""GitHub Actions: workflow-command annotations and the job summary.

Outside Actions (``GITHUB_ACTIONS`` not ``true``) these do nothing, so the
CLI can call them unconditionally.
"""

from __future__ import annotations

import os
import sys


def in_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(level: str, message: str, *, path: str | None = None, line: int | None = None) -> str:
    """``::error file=policy/grants/prod/a.yaml,line=3::message`` (level: error, warning, notice)."""
    props = []
    if path:
        props.append(f"file={_escape_property(path)}")
    if line:
        props.append(f"line={line}")
    head = f"::{level}" + (" " + ",".join(props) if props else "")
    return f"{head}::{_escape_data(message)}"


def annotate(level: str, message: str, *, path: str | None = None, line: int | None = None) -> None:
    """Print an annotation on stdout when running inside GitHub Actions."""
    if in_actions():
        print(annotation(level, message, path=path, line=line), file=sys.stdout, flush=True)


def summary(markdown_or_text: str) -> None:
    """Append to the job summary (``$GITHUB_STEP_SUMMARY``) when running inside Actions."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not in_actions() or not target:
        return
    with open(target, "a", encoding="utf-8") as f:
        f.write("```diff\n" + markdown_or_text.rstrip("\n") + "\n```\n")
