"""The settings that reach the tailnet, read leniently from a ``tailjit.yaml`` that `load_config` refuses.

For the revoke-only fallback (`reconciler.cli.fallback`): whatever else is wrong with the file, its
``backend``, ``tailnet``, ``base_url``, ``audience`` and ``credentials`` are still used when they are right.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from reconciler.core.config import AwsSecret, Config, backend_problem, base_url_problem
from reconciler.errors import ConfigError
from reconciler.repo import yamlfile
from reconciler.repo.config import DEFAULT_CONFIG, _Reader
from reconciler.repo.yamlfile import YMap


def load_connection(path: Path | None) -> Config:
    """What it takes to reach the tailnet (backend, tailnet, base_url, audience, credentials), read leniently.

    For the revoke-only fallback, when `load_config` refuses the file: each of these settings is read on its
    own, and one that cannot be read is left at its default, whatever is wrong elsewhere in the file. A file
    that cannot be read or parsed at all gives the defaults (the environment and ``--backend`` still apply).
    ``targets`` is empty: the fallback needs none.
    """
    root = path.resolve().parent.parent if path is not None else Path.cwd()
    doc = None
    if path is not None:
        try:
            doc = yamlfile.load(path.read_bytes())
        except (OSError, yamlfile.YAMLFileError):
            doc = None
    reader = _Reader(str(path))

    def lenient(read: Callable[[YMap], str | AwsSecret | None]) -> Any:
        if not isinstance(doc, YMap):
            return None
        try:
            return read(doc)
        except ConfigError:
            return None

    return Config(
        path=path or root / DEFAULT_CONFIG, root=root, policy_path=root / "policy/policy.hujson",
        grants_dir=root / "policy/grants", targets={},
        tailnet=lenient(lambda d: reader.opt_str(d, "tailnet")) or "-",
        backend=lenient(lambda d: reader.checked(d, "backend", backend_problem)) or "tailscale",
        base_url=lenient(lambda d: reader.checked(d, "base_url", base_url_problem)),
        audience=lenient(lambda d: reader.opt_str(d, "audience")),
        aws_secret=lenient(reader.aws_secret),
    )
