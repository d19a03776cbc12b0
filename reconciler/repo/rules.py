"""Reading a target's request rules: ``approvals``, ``requesters``, ``reason_pattern`` and ``break_glass``."""

from __future__ import annotations

import re
from datetime import timedelta

from reconciler.core.config import DOMAIN_PATTERN, BreakGlass
from reconciler.core.durations import format_duration
from reconciler.core.grants import LOGIN
from reconciler.repo import yamlfile
from reconciler.repo.fields import FieldReader
from reconciler.repo.yamlfile import YMap

BREAK_GLASS_KEYS = {"max_duration", "allowed"}
#: More approvals than this is a typo, not a policy.
MAX_APPROVALS = 20
#: A reason_pattern longer than this is refused (reasons themselves are at most 500 characters).
MAX_PATTERN = 500

def nested_repetition(pattern: str) -> bool:
    """Whether ``pattern`` repeats a group that contains a repetition (``(a+)+``, ``(x*y)*``, ``(a{2,})+``).

    Python's regular expressions backtrack, so such a pattern can take exponential time on a crafted reason,
    and a grant file's reason is written by whoever opens a pull request. A deliberately simple scan: it
    may refuse a harmless pattern, which can always be written another way.
    """
    repeated_inside: list[bool] = []
    escaped = in_class = False
    for index, char in enumerate(pattern):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            repeated_inside.append(False)
        elif char in "*+{" and repeated_inside:
            repeated_inside[-1] = True
        elif char == ")" and repeated_inside:
            inner = repeated_inside.pop()
            if inner and pattern[index + 1:index + 2] in ("*", "+", "{"):
                return True
            if inner and repeated_inside:
                repeated_inside[-1] = True
    return False



class RulesReader(FieldReader):
    """The request rules of one target (see `reconciler.core.config.Target`)."""

    def approvals(self, name: str, spec: YMap) -> int:
        raw = self.opt_str(spec, "approvals")
        if raw is None:
            return 1
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_APPROVALS:
            raise self.error(f"'approvals' of target {name!r} must be a whole number from 1 to {MAX_APPROVALS} "
                             f"(distinct approving reviewers), not {raw[:40]!r}", spec.line_of("approvals"))
        return int(raw)

    def login_patterns(self, node: YMap, key: str, where: str) -> tuple[str, ...]:
        patterns = self.str_list(node, key)
        for pattern in patterns:
            if not (LOGIN.fullmatch(pattern) or DOMAIN_PATTERN.fullmatch(pattern)):
                raise self.error(f"{where}: {pattern[:80]!r} is neither a Tailscale login (alice@example.com) "
                                 f"nor a domain pattern (*@example.com)", node.line_of(key))
        return patterns

    def pattern(self, name: str, spec: YMap) -> re.Pattern[str] | None:
        raw = self.opt_str(spec, "reason_pattern")
        if raw is None:
            return None
        line = spec.line_of("reason_pattern")
        if len(raw) > MAX_PATTERN:
            raise self.error(f"reason_pattern of target {name!r} is {len(raw)} characters; the limit is "
                             f"{MAX_PATTERN}", line)
        try:
            pattern = re.compile(raw)
        except re.error as e:
            raise self.error(f"reason_pattern of target {name!r} is not a regular expression: {e}", line,
                             hint="e.g. reason_pattern: 'INC-[0-9]+' (quote it in YAML)") from None
        if nested_repetition(raw):
            raise self.error(f"reason_pattern of target {name!r} repeats a group that itself repeats "
                             f"({raw[:60]!r}): matching a hostile reason could take exponential time", line,
                             hint="repeat a character class instead, e.g. '[A-Z0-9-]+' rather than '([A-Z]+-?)+'")
        return pattern

    def break_glass(self, name: str, spec: YMap, max_duration: timedelta) -> BreakGlass | None:
        node = spec.get("break_glass")
        if yamlfile.is_null(node):
            return None
        if not isinstance(node, YMap):
            raise self.error(f"break_glass of target {name!r} must be a mapping, e.g. "
                             "{max_duration: 1h, allowed: ['*@example.com']}", spec.line_of("break_glass"))
        self.unknown_keys(node, BREAK_GLASS_KEYS, f"key in break_glass of target {name!r}:")
        limit = self.duration(node, "max_duration", f"break_glass of target {name!r}")
        if limit is None:
            raise self.error(f"break_glass of target {name!r} needs 'max_duration' (e.g. 1h)", node.line)
        if limit > max_duration:
            raise self.error(f"break_glass max_duration {format_duration(limit)} of target {name!r} is longer than "
                             f"the target's max_duration {format_duration(max_duration)}",
                             node.line_of("max_duration"))
        allowed = self.login_patterns(node, "allowed", f"targets.{name}.break_glass.allowed")
        if not allowed:
            raise self.error(f"break_glass of target {name!r} needs 'allowed': the logins or *@domain patterns "
                             "who may use it", node.line_of("allowed"))
        return BreakGlass(max_duration=limit, allowed=allowed)
