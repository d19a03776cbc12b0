"""A small GitHub Actions runner for tests: runs a workflow's jobs and steps in bash, as a hosted runner would.

What it does as GitHub documents it (docs.github.com: "Workflow syntax for GitHub Actions", "Evaluate
expressions in workflows and actions", "Contexts reference", "Workflow commands for GitHub Actions",
"Variables reference", "Creating a composite action"):

- jobs in ``needs`` order; a job's ``if:`` (default ``success()``) sees ``needs``, ``vars``, ``inputs``,
  ``github``; ``outputs:`` are evaluated after its steps;
- each ``run:`` step runs as ``bash --noprofile --norc -eo pipefail`` in the workspace with the variables
  Actions sets (``GITHUB_ACTIONS=true``, ``GITHUB_EVENT_NAME``, ``GITHUB_EVENT_PATH`` holding the event
  payload, ``GITHUB_OUTPUT``, ``GITHUB_ENV``, ``GITHUB_STEP_SUMMARY``, ``GITHUB_WORKSPACE``, ``RUNNER_TEMP``,
  ``GITHUB_REPOSITORY``, ``GITHUB_API_URL``, ``GITHUB_SHA``, ``GITHUB_REF``), plus the step's ``env:``;
  ``key=value`` and ``key<<DELIM`` lines written to ``GITHUB_OUTPUT`` become ``steps.<id>.outputs``;
- a job with ``permissions: id-token: write`` gets ``ACTIONS_ID_TOKEN_REQUEST_URL`` and ``_TOKEN``;
- expressions: ``${{ }}`` with property access, ``[index]``, literals, ``! == != && || ( )``, GitHub's
  loose equality (mismatched types compare as numbers, strings case-insensitively), and ``success()``,
  ``failure()``, ``cancelled()``, ``always()``.

Steps that ``uses:`` an action are emulated by the test (`Runner.actions`: a prefix → a function); a
composite action whose ``action.yml`` is given runs its own steps the same way, with ``inputs`` and
``github.action_path``.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>\d+(?:\.\d+)?)|(?P<op>==|!=|&&|\|\||[!().\[\],])"
                    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))")


def _tokens(expr: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    at = 0
    expr = expr.strip()
    while at < len(expr):
        match = _TOKEN.match(expr, at)
        if match is None or match.end() == at:
            raise ValueError(f"cannot read the expression at {expr[at:]!r}")
        kind = match.lastgroup
        assert kind is not None
        found.append((kind, match.group(kind)))
        at = match.end()
    return found


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        if not value.strip():
            return 0.0
        try:
            return float(value)
        except ValueError:
            return math.nan
    return math.nan


def loose_equal(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    if type(a) is type(b) and not isinstance(a, str | int | float | bool):
        return a is b or a == b
    return _number(a) == _number(b)


def truthy(value: Any) -> bool:
    if isinstance(value, float) and math.isnan(value):
        return False
    return value not in (None, False, 0, "")


class _Parser:
    def __init__(self, expr: str, context: Mapping[str, Any], status: str) -> None:
        self.tokens = _tokens(expr)
        self.at = 0
        self.context = context
        self.status = status

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, text: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (text is not None and token[1] != text):
            raise ValueError(f"expected {text!r}, found {token!r}")
        self.at += 1
        return token

    def parse(self) -> Any:
        value = self.or_()
        if self.peek() is not None:
            raise ValueError(f"unexpected {self.peek()!r}")
        return value

    def or_(self) -> Any:
        value = self.and_()
        while self.peek() == ("op", "||"):
            self.take()
            right = self.and_()
            value = value if truthy(value) else right
        return value

    def and_(self) -> Any:
        value = self.compare()
        while self.peek() == ("op", "&&"):
            self.take()
            right = self.compare()
            value = right if truthy(value) else value
        return value

    def compare(self) -> Any:
        value = self.unary()
        while self.peek() in (("op", "=="), ("op", "!=")):
            op = self.take()[1]
            right = self.unary()
            value = loose_equal(value, right) if op == "==" else not loose_equal(value, right)
        return value

    def unary(self) -> Any:
        if self.peek() == ("op", "!"):
            self.take()
            return not truthy(self.unary())
        return self.postfix()

    def postfix(self) -> Any:
        value = self.primary()
        while self.peek() in (("op", "."), ("op", "[")):
            if self.take()[1] == ".":
                value = _get(value, self.take()[1])
            else:
                key = self.or_()
                self.take("]")
                value = _get(value, key)
        return value

    def primary(self) -> Any:
        kind, text = self.take()
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "num":
            return float(text)
        if text == "(":
            value = self.or_()
            self.take(")")
            return value
        if kind != "name":
            raise ValueError(f"unexpected {text!r}")
        if text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text]
        if self.peek() == ("op", "("):
            self.take()
            self.take(")")
            return {"success": self.status == "success", "failure": self.status == "failure",
                    "cancelled": False, "always": True}[text]
        return self.context.get(text)


def _get(value: Any, key: Any) -> Any:
    if isinstance(value, Mapping):
        if isinstance(key, str):
            return next((v for k, v in value.items() if k.lower() == key.lower()), None)
        return None
    if isinstance(value, list) and isinstance(key, float | int) and 0 <= int(key) < len(value):
        return value[int(key)]
    return None


def evaluate(expr: str, context: Mapping[str, Any], status: str = "success") -> Any:
    """The value of an expression (without ``${{ }}``)."""
    return _Parser(expr, context, status).parse()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else json.dumps(value)


def interpolate(text: Any, context: Mapping[str, Any]) -> str:
    """``text`` with each ``${{ expression }}`` replaced by its value as a string."""
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: _text(evaluate(m.group(1), context)), str(text), flags=re.S)


def condition(text: Any, context: Mapping[str, Any], status: str) -> bool:
    """An ``if:``: with or without ``${{ }}``; a condition that names no status function means ``success() &&``."""
    expr = str(text).strip()
    if expr.startswith("${{") and expr.endswith("}}"):
        expr = expr[3:-2]
    if not re.search(r"\b(success|failure|cancelled|always)\(\)", expr):
        expr = f"success() && ({expr})"
    return truthy(evaluate(expr, context, status))


def read_outputs(path: Path) -> dict[str, str]:
    """``key=value`` lines and ``key<<DELIM`` … ``DELIM`` blocks of a ``GITHUB_OUTPUT`` file."""
    found: dict[str, str] = {}
    lines = path.read_text().splitlines() if path.exists() else []
    index = 0
    while index < len(lines):
        line = lines[index]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, index + 1)
            found[key] = "\n".join(lines[index + 1:end])
            index = end + 1
            continue
        if "=" in line:
            key, value = line.split("=", 1)
            found[key] = value
        index += 1
    return found


@dataclass
class StepResult:
    name: str
    outcome: str  # success, failure, skipped
    outputs: dict[str, str] = field(default_factory=dict)
    log: str = ""


@dataclass
class JobResult:
    name: str
    result: str  # success, failure, skipped
    outputs: dict[str, str] = field(default_factory=dict)
    steps: list[StepResult] = field(default_factory=list)
    summary: str = ""
    environment: str | None = None

    def log(self) -> str:
        return "\n".join(f"--- {s.name} ({s.outcome})\n{s.log}" for s in self.steps)


#: An emulated action: (runner, job state, the step's ``with:`` evaluated, the step's env) → outputs.
Action = Callable[["Runner", "JobState", dict[str, str], dict[str, str]], dict[str, str]]


@dataclass
class JobState:
    name: str
    workspace: Path
    temp: Path
    env: dict[str, str]
    context: dict[str, Any]
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    summary: str = ""


@dataclass
class Runner:
    """Runs workflows in ``root`` (one workspace and temp folder per job) with an emulated action per prefix."""

    root: Path
    base_env: dict[str, str]
    actions: dict[str, Action]
    repository: str = "example/access"
    composite: dict[str, Path] = field(default_factory=dict)  # action prefix → its action.yml
    oidc: tuple[str, str] | None = None  # ACTIONS_ID_TOKEN_REQUEST_URL, ACTIONS_ID_TOKEN_REQUEST_TOKEN

    def run(self, text: str, event_name: str, event: dict[str, Any], *, vars: Mapping[str, str] | None = None,
            secrets: Mapping[str, str] | None = None, inputs: Mapping[str, Any] | None = None,
            sha: str = "", ref: str = "refs/heads/main", token: str = "ghs-runner-token") -> dict[str, JobResult]:
        workflow = yaml.safe_load(text)
        event_path = self.root / f"event-{len(list(self.root.glob('event-*')))}.json"
        event_path.write_text(json.dumps(event))
        github = {"event_name": event_name, "event": event, "repository": self.repository, "sha": sha,
                  "ref": ref, "ref_name": ref.rsplit("/", 1)[-1], "token": token,
                  "api_url": self.base_env.get("GITHUB_API_URL", "")}
        base = {"github": github, "vars": dict(vars or {}), "secrets": dict(secrets or {}),
                "inputs": dict(inputs or {}), "runner": {}}
        results: dict[str, JobResult] = {}
        pending = dict(workflow["jobs"])
        while pending:
            ready = [n for n, j in pending.items() if all(d in results for d in _needs(j))]
            assert ready, f"jobs with unmet needs: {sorted(pending)}"
            for name in ready:
                results[name] = self._job(name, pending.pop(name), base, results, event_name, event_path, token)
        return results

    def _job(self, name: str, job: dict[str, Any], base: dict[str, Any], done: Mapping[str, JobResult],
             event_name: str, event_path: Path, token: str) -> JobResult:
        needs = {n: {"result": done[n].result, "outputs": done[n].outputs} for n in _needs(job)}
        context = {**base, "needs": needs}
        status = "success" if all(n["result"] == "success" for n in needs.values()) else "failure"
        if not condition(job.get("if", "success()"), context, status):
            return JobResult(name, "skipped")
        workspace = self.root / f"job-{name}-{len(list(self.root.glob('job-*')))}"
        temp = workspace.with_name(workspace.name + "-temp")
        workspace.mkdir()
        temp.mkdir()
        github = context["github"]
        env = {**self.base_env, "GITHUB_ACTIONS": "true", "CI": "true", "GITHUB_EVENT_NAME": event_name,
               "GITHUB_EVENT_PATH": str(event_path), "GITHUB_WORKSPACE": str(workspace), "RUNNER_TEMP": str(temp),
               "GITHUB_REPOSITORY": self.repository, "GITHUB_SHA": github["sha"], "GITHUB_REF": github["ref"],
               "GITHUB_JOB": name}
        if (job.get("permissions") or {}).get("id-token") == "write" and self.oidc is not None:
            env["ACTIONS_ID_TOKEN_REQUEST_URL"], env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = self.oidc
        state = JobState(name, workspace, temp, env, {**context, "runner": {"temp": str(temp)}})
        environment = job.get("environment")
        result = JobResult(name, "success", environment=environment if isinstance(environment, str | None)
                           else environment.get("name"))
        for index, step in enumerate(job.get("steps", [])):
            outcome = self._step(state, step, index, result)
            if outcome == "failure":
                result.result = "failure"
        state.context["steps"] = state.steps
        result.outputs = {k: interpolate(v, state.context) for k, v in (job.get("outputs") or {}).items()}
        result.summary = state.summary
        return result

    def _step(self, state: JobState, step: dict[str, Any], index: int, result: JobResult) -> str:
        state.context["steps"] = state.steps
        status = result.result
        name = str(step.get("name") or step.get("uses") or step.get("run", "")[:40])
        if not condition(step.get("if", "success()"), state.context, status):
            result.steps.append(StepResult(name, "skipped"))
            self._record(state, step, "skipped", {})
            return "skipped"
        env = {k: interpolate(v, state.context) for k, v in (step.get("env") or {}).items()}
        try:
            if "run" in step:
                outputs, log, ok = self.bash(state, step["run"], env)
            else:
                outputs, log, ok = self._uses(state, str(step["uses"]), step, env)
        except subprocess.CalledProcessError as e:  # an emulated action failed
            outputs, log, ok = {}, f"{e.stdout or ''}{e.stderr or ''}", False
        outcome = "success" if ok else "failure"
        result.steps.append(StepResult(name, outcome, outputs, log))
        self._record(state, step, outcome, outputs)
        return outcome

    def _record(self, state: JobState, step: dict[str, Any], outcome: str, outputs: dict[str, str]) -> None:
        if "id" in step:
            state.steps[str(step["id"])] = {"outcome": outcome, "conclusion": outcome, "outputs": outputs}

    def bash(self, state: JobState, script: str, env: Mapping[str, str],
             cwd: Path | None = None) -> tuple[dict[str, str], str, bool]:
        n = len(list(state.temp.glob("output-*")))
        output, summary = state.temp / f"output-{n}", state.temp / f"summary-{n}"
        output.touch()
        summary.touch()
        (state.temp / f"env-{n}").touch()
        full_env = {**state.env, **env, "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary),
                    "GITHUB_ENV": str(state.temp / f"env-{n}")}
        script_path = state.temp / f"step-{n}.sh"
        script_path.write_text(script)
        done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_path)],
                              cwd=cwd or state.workspace, env=full_env, capture_output=True, text=True, timeout=120)
        state.summary += summary.read_text()
        return read_outputs(output), done.stdout + done.stderr, done.returncode == 0

    def _uses(self, state: JobState, uses: str, step: dict[str, Any],
              env: dict[str, str]) -> tuple[dict[str, str], str, bool]:
        with_ = {k: interpolate(v, state.context) for k, v in (step.get("with") or {}).items()}
        for prefix, path in self.composite.items():
            if uses.startswith(prefix):
                return self._composite(state, path, with_, env)
        for prefix, action in self.actions.items():
            if uses.startswith(prefix):
                return action(self, state, with_, env), "", True
        raise AssertionError(f"no emulation for the action {uses}")

    def _composite(self, state: JobState, path: Path, with_: dict[str, str],
                   env: dict[str, str]) -> tuple[dict[str, str], str, bool]:
        action = yaml.safe_load(path.read_text())
        inputs = {k: str(v.get("default", "")) for k, v in (action.get("inputs") or {}).items()}
        inputs.update(with_)
        inner = JobState(state.name, state.workspace, state.temp, {**state.env, **env}, {
            **state.context, "inputs": inputs, "github": {**state.context["github"], "action_path": str(path.parent)}})
        logs: list[str] = []
        for step in action["runs"]["steps"]:
            inner.context["steps"] = inner.steps
            step_env = {k: interpolate(v, inner.context) for k, v in (step.get("env") or {}).items()}
            if "run" in step:
                outputs, log, ok = self.bash(inner, interpolate(step["run"], inner.context), step_env)
            else:
                outputs, log, ok = self._uses(inner, str(step["uses"]), step, step_env)
            logs.append(log)
            self._record(inner, step, "success" if ok else "failure", outputs)
            if not ok:
                state.summary += inner.summary
                return {}, "\n".join(logs), False
        inner.context["steps"] = inner.steps
        state.summary += inner.summary
        outputs = {k: interpolate(v["value"], inner.context) for k, v in (action.get("outputs") or {}).items()}
        return outputs, "\n".join(logs), True


def _needs(job: Mapping[str, Any]) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else list(needs)


def git(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> str:
    """Run git (as actions/checkout does) and return its output."""
    done = subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True,
                          text=True, check=True)
    return done.stdout.strip()
