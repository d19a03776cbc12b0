"""The Dockerfile installs the built wheel and runs as a non-root user that trusts the mounted repository.

No Docker engine runs the tests, so this reads the Dockerfile; the wheel it installs is what `.ci/run` builds
and checks (`.ci/check_dist.py`).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def stages() -> list[str]:
    return re.split(r"^FROM ", DOCKERFILE, flags=re.M)[1:]


def test_the_image_installs_the_wheel_built_in_its_first_stage() -> None:
    build, final = stages()
    assert "python -m build --wheel --outdir /dist ." in build
    assert "COPY --from=build /dist/ /tmp/dist/" in final
    assert "/opt/tailjit/bin/pip install --no-cache-dir --disable-pip-version-check /tmp/dist/tailjit-*.whl" in final
    assert "pip install" not in final.replace("/opt/tailjit/bin/pip install", ""), "nothing else is installed"
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    for needed in ("pyproject.toml", "MANIFEST.in", "README.md", "LICENSE", "CHANGELOG.md", "reconciler"):
        assert f"!{needed}" in ignored, f"the build stage needs {needed}"


def test_the_image_runs_as_a_non_root_user_that_trusts_the_mounted_repository() -> None:
    final = stages()[-1]
    users = re.findall(r"^USER (\S+)$", final, flags=re.M)
    assert users == ["10001:10001"], "a numeric, non-root user (Kubernetes runAsNonRoot can check it)"
    assert "git config --system --add safe.directory /repo" in final
    assert final.index("safe.directory") < final.index("USER "), "set as root, in /etc/gitconfig"
    assert re.search(r"^WORKDIR /repo$", final, flags=re.M)
    assert 'CMD ["--backend", "tailscale", "apply", "--watch", "--pull"]' in final
