"""``--connection-config``: a pull request's policy/ read as data, connected with the default branch's settings.

A pull request may set ``base_url`` and ``audience`` in its tailjit.yaml. Planned with the pull request's
config, tailjit would mint a workload-identity token for that audience and send it to that host; with
``--connection-config`` (the default branch's tailjit.yaml), the host, audience, tailnet and credential
source come from there, and the pull request's grant files, base policy and targets are still what is planned.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.access import BASE_POLICY, CONFIG, AccessRepo, Result
from tests.support.fake_oidc import serve_oidc
from tests.support.fake_tailscale import READ, serve

CLIENT_ID = "plan-client"
RUNNER_TOKEN = "runner-request-token"
AT = "2026-11-24T12:00:00Z"
GRANT = """\
user: alice@example.com
target: prod
reason: INC-7
expires: 2026-11-24T14:00:00Z
"""


@pytest.fixture
def trusted(tmp_path: Path) -> Path:
    """The default branch's checkout: its config says where to connect."""
    root = tmp_path / "main"
    (root / "policy").mkdir(parents=True)
    (root / "policy" / "policy.hujson").write_text(BASE_POLICY)
    return root / "policy" / "tailjit.yaml"


def test_the_pull_requests_base_url_and_audience_are_ignored(
        repo: AccessRepo, trusted: Path, run_cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TS_OAUTH_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", RUNNER_TOKEN)
    with serve(BASE_POLICY.encode()) as tailnet, serve(b"{}") as attacker, serve_oidc(RUNNER_TOKEN) as oidc:
        tailnet.add_federated_identity(CLIENT_ID, audience=f"api.tailscale.com/{CLIENT_ID}", scopes=[READ])
        attacker.add_federated_identity(CLIENT_ID, audience="attacker-audience", scopes=[READ])
        monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", oidc.request_url)
        repo.config.write_text(CONFIG + f"base_url: {attacker.url}\naudience: attacker-audience\n")
        repo.grant("prod", "alice.yaml", GRANT)
        trusted.write_text(CONFIG.replace("backend: file:tailnet.hujson", "backend: tailscale")
                           + f"base_url: {tailnet.url}\naudience: api.tailscale.com/{CLIENT_ID}\n")

        planned = repo.run("--connection-config", str(trusted), "--backend", "tailscale", "plan", "--at", AT)
        assert planned.code == 0, planned.err
        assert "alice@example.com" in planned.out, "the pull request's grant is what is planned"
        assert sum(attacker.requests.values()) == 0, "nothing reaches the pull request's host"
        assert oidc.audiences == [f"api.tailscale.com/{CLIENT_ID}"], "no token for the pull request's audience"
        assert tailnet.count("GET", "/acl") == 1

        # Without it, the pull request's config decides: the threat the option closes.
        repo.run("--backend", "tailscale", "plan", "--at", AT)
        assert oidc.audiences[-1] == "attacker-audience"
        assert sum(attacker.requests.values()) > 0


def test_the_pull_requests_backend_is_ignored_too(repo: AccessRepo, trusted: Path, tmp_path: Path) -> None:
    repo.grant("prod", "alice.yaml", GRANT)
    repo.config.write_text(CONFIG.replace("backend: file:tailnet.hujson", f"backend: file:{tmp_path / 'stolen'}"))
    trusted.write_text(CONFIG)  # file:tailnet.hujson, relative to the default branch's checkout
    result = repo.run("--connection-config", str(trusted), "apply", "--at", AT)
    assert result.code == 0, result.err
    assert not (tmp_path / "stolen").exists()
    assert "alice@example.com" in (trusted.parents[1] / "tailnet.hujson").read_text()


@pytest.mark.parametrize("content", [None, "tailnet: [", "targets: {}\n"])
def test_a_connection_config_that_cannot_be_read_is_an_error_that_connects_nowhere(
        repo: AccessRepo, trusted: Path, content: str | None) -> None:
    if content is not None:
        trusted.write_text(content)
    result = repo.run("--connection-config", str(trusted), "plan", "--at", AT)
    assert result.code == 1
    assert str(trusted) in result.err
    assert not repo.tailnet.exists()
