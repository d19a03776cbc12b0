"""GitHub Actions: workflow-command annotations, the job summary, the event payload.

Annotations and the summary only act inside GitHub Actions (``GITHUB_ACTIONS``
is ``true``), so callers can call them unconditionally.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping

from reconciler.text.comment import code_block


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
    """Print an annotation on stderr when running inside GitHub Actions.

    With ``path`` and ``line``, GitHub shows it on that line of the pull
    request's diff ("Files changed"), next to the grant file being reviewed.
    The runner reads workflow commands from stderr as from stdout; stdout is
    kept for what scripts parse (``--json``, ``render``).
    """
    if in_actions():
        print(annotation(level, message, path=path, line=line), file=sys.stderr, flush=True)


def summary(text: str) -> None:
    """Append plain ``text`` (a plan as the terminal shows it) to the job summary, as a code block."""
    summary_markdown(code_block(text))


def summary_markdown(markdown: str) -> None:
    """Append Markdown to the job summary (``$GITHUB_STEP_SUMMARY``) when running inside Actions."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not in_actions() or not target:
        return
    with open(target, "a", encoding="utf-8") as f:
        f.write(markdown.rstrip("\n") + "\n\n")


def event_head_sha(env: Mapping[str, str] | None = None) -> str | None:
    """The pull request's head commit from the event payload (``GITHUB_EVENT_PATH``), if there is one:
    ``pull_request.head.sha``, or ``workflow_run.head_sha`` in a job started by the pull request's run.

    ``GITHUB_SHA`` of a ``pull_request`` run is GitHub's test merge commit,
    which no reader of the pull request would recognise.
    """
    env = os.environ if env is None else env
    path = env.get("GITHUB_EVENT_PATH")
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            event = json.load(f)
        sha = event["pull_request"]["head"]["sha"] if "pull_request" in event else event["workflow_run"]["head_sha"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return sha if isinstance(sha, str) else None


