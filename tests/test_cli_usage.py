"""Usage errors exit 2 wherever they are made, and every command's help teaches by example."""

from __future__ import annotations

import pytest

from reconciler.cli.main import cli
from tests.support.access import AccessRepo

COMMANDS = sorted(cli.commands)


@pytest.mark.parametrize("spec", ["foo", "file:", "Tailscale", "ftp:x"])
def test_an_unknown_backend_option_is_a_usage_error(repo: AccessRepo, spec: str) -> None:
    result = repo.run("--backend", spec, "plan")
    assert result.code == 2
    assert "Invalid value for '--backend'" in result.err
    assert not repo.tailnet.exists()


def test_an_unknown_backend_in_the_config_is_reported_at_its_line(repo: AccessRepo) -> None:
    repo.config.write_text(repo.config.read_text().replace("backend: file:tailnet.hujson", "backend: ftp:x"))
    result = repo.run("plan")
    assert result.code == 1
    assert "policy/tailjit.yaml:2: 'backend': unknown backend 'ftp:x': use 'tailscale' or 'file:PATH'" in result.err


@pytest.mark.parametrize("url", ["api.tailscale.com", "ftp://api.tailscale.com", "https://"])
def test_a_base_url_without_scheme_or_host_is_a_usage_error_not_an_outage(
        repo: AccessRepo, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("TS_BASE_URL", url)
    monkeypatch.setenv("TS_API_KEY", "tskey-api-secret")
    monkeypatch.setenv("TAILJIT_HTTP_RETRIES", "4")
    for command in ("plan", "doctor"):
        result = repo.run("--backend", "tailscale", command)
        assert result.code == 2, (command, result.err)
        assert result.err.startswith(f"error: TS_BASE_URL: {url!r} ")
        assert "retry" not in result.err.lower() and "outage" not in result.err
        assert "tskey-api-secret" not in result.out + result.err


def test_a_base_url_without_scheme_in_the_config_is_reported_at_its_line(repo: AccessRepo) -> None:
    repo.config.write_text(repo.config.read_text() + "base_url: api.tailscale.com\n")
    result = repo.run("plan")
    assert result.code == 1
    assert ("policy/tailjit.yaml:11: 'base_url': 'api.tailscale.com' has no scheme: "
            "write https://api.tailscale.com") in result.err


@pytest.mark.parametrize("value", ["0", "-3", "seven"])
def test_a_bad_pull_request_number_is_a_usage_error(repo: AccessRepo, value: str) -> None:
    result = repo.run("plan", "--pr", value)
    assert result.code == 2
    assert "Invalid value for '--pr'" in result.err


def test_the_pr_option_help_shows_no_range_notation(run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("plan", "--help")
    assert "--pr NUMBER" in result.out
    assert "x>=1" not in result.out and "[" not in result.out.split("--pr NUMBER", 1)[1].split("-h, --help")[0]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_has_an_example(run_cli, command: str) -> None:  # type: ignore[no-untyped-def]
    result = run_cli(command, "--help")
    assert result.code == 0
    assert "Example" in result.out
    examples = result.out.split("Example", 1)[1]
    assert f"tailjit {command}" in examples or (command == "doctor" and "tailjit --backend tailscale doctor" in examples)
