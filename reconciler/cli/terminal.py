"""How output looks where a person reads it: colour, tables that fit, and progress on stderr.

Decided once per run from where the output goes: colour on a stream that is a
terminal, unless ``NO_COLOR`` is set (https://no-color.org) or ``--no-color``
is given; tables fitted to the width of the terminal (``COLUMNS`` first, then
the terminal itself); progress only on a terminal's stderr and never in CI
(``CI`` set, as CI services do). Piped or captured, output is plain text.

Styling is click's own (`click.style`, ANSI SGR codes): click is imported by
every command anyway, so colour costs no start-up time (see bench/startup.py).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TextIO

import click

#: Progress is redrawn at most this often (seconds), so that drawing never slows the work down.
REDRAW_EVERY = 0.1
_SPINNER = "|/-\\"
_BAR = 24


@dataclass(frozen=True)
class Terminal:
    """Where output goes and what it may use there."""

    color_out: bool = False
    color_err: bool = False
    #: columns of the terminal stdout is, None when it is not a terminal (tables are then never cut)
    width: int | None = None
    progress: bool = False


def detect(*, no_color: bool, env: Mapping[str, str], out: TextIO, err: TextIO) -> Terminal:
    """The `Terminal` for streams ``out`` and ``err`` under environment ``env``."""
    colour = not no_color and not env.get("NO_COLOR") and env.get("TERM") != "dumb"
    out_tty, err_tty = _isatty(out), _isatty(err)
    width = shutil.get_terminal_size((0, 0)).columns if out_tty else None
    in_ci = bool(env.get("CI")) and env.get("CI", "").lower() not in ("0", "false")
    return Terminal(color_out=colour and out_tty, color_err=colour and err_tty,
                    width=width or None, progress=err_tty and not in_ci)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


_current = Terminal()


def configure(*, no_color: bool, env: Mapping[str, str] | None = None) -> Terminal:
    """Decide for this run (the group's callback calls it); `current` answers from then on."""
    global _current
    _current = detect(no_color=no_color, env=os.environ if env is None else env, out=sys.stdout, err=sys.stderr)
    return _current


def current() -> Terminal:
    return _current


# -- colour ------------------------------------------------------------------------------------------------

STATE_COLORS = {"active": "green", "pending": "cyan", "expired": "bright_black", "invalid": "red",
                "unknown": "yellow"}
_LEVEL_COLORS = {"error": "red", "warning": "yellow", "hint": "cyan", "note": "cyan"}


def level(word: str, *, err: bool = True) -> str:
    """``error`` / ``warning`` / ``hint`` as the start of a problem line, coloured when stderr is a terminal."""
    on = _current.color_err if err else _current.color_out
    color = _LEVEL_COLORS.get(word)
    return click.style(word, fg=color, bold=True if word == "error" else None) if on and color else word


def state(word: str) -> str:
    """A grant's state (``active``, ``expired`` …), coloured on a terminal."""
    color = STATE_COLORS.get(word)
    return click.style(word, fg=color) if _current.color_out and color else word


def plan_text(text: str) -> str:
    """A plan as `format_plan` writes it, with its member changes and diff lines coloured on a terminal."""
    if not _current.color_out:
        return text
    return "\n".join(_plan_line(line) for line in text.split("\n"))


def _plan_line(line: str) -> str:
    if line.startswith(("+++", "---")):
        return click.style(line, bold=True)
    if line.startswith(("+", "  + ")):
        return click.style(line, fg="green")
    if line.startswith(("-", "  - ")):
        return click.style(line, fg="red")
    if line.startswith("@@"):
        return click.style(line, fg="cyan")
    if line.startswith(("  ~ ", "Drift:", "Not managed by tailjit")):
        return click.style(line, fg="yellow")
    if line.startswith("Plan for "):
        return click.style(line, bold=True)
    return line


# -- progress ----------------------------------------------------------------------------------------------

class Progress:
    """A one-line spinner (or a bar when the total is known) with counts on stderr, redrawn in place.

    Called as ``progress(done, total)``; a call with ``done == total`` ends it and clears the line. It
    draws nothing unless the run's `Terminal` allows progress.
    """

    def __init__(self, label: str, unit: str, *, stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.label = label
        self.unit = unit
        self.stream = stream or sys.stderr
        self.clock = clock
        self.enabled = _current.progress
        self.drawn = False
        self.turns = 0
        self.last = 0.0

    def __call__(self, done: int, total: int | None) -> None:
        if not self.enabled:
            return
        if total is not None and done >= total:
            self.close()
            return
        now = self.clock()
        if self.drawn and now - self.last < REDRAW_EVERY:
            return
        self.last = now
        self.turns += 1
        if total:
            filled = _BAR * done // total
            shown = f"[{'#' * filled}{'-' * (_BAR - filled)}] {done}/{total} {self.unit}"
        else:
            shown = f"{_SPINNER[self.turns % len(_SPINNER)]} {done} {self.unit}"
        self.stream.write(f"\r\x1b[K{self.label}: {shown}")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        """Clear the line (when anything was drawn)."""
        if self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.drawn = False
