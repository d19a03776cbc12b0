"""Check what `python -m build` made (run by .ci/run): metadata, licence, version, and what each archive holds."""

from __future__ import annotations

import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from reconciler import __version__  # noqa: E402

#: Files the wheel must carry besides Python modules (package data).
WHEEL_DATA = tuple(f"reconciler/templates/{name}" for name in (
    "README.md", "workflows/plan.yml", "workflows/plan-comment.yml", "workflows/apply.yml", "workflows/reconcile.yml",
    "workflows/approvals.yml"))


def main(dist: Path) -> int:
    problems: list[str] = []
    sdists, wheels = sorted(dist.glob("*.tar.gz")), sorted(dist.glob("*.whl"))
    if len(sdists) != 1 or len(wheels) != 1:
        print(f"expected one sdist and one wheel in {dist}, found {[p.name for p in dist.iterdir()]}")
        return 1
    with tarfile.open(sdists[0]) as sdist:
        names = [n.split("/", 1)[1] for n in sdist.getnames() if "/" in n]
    for needed in ("LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml", "reconciler/__init__.py"):
        if needed not in names:
            problems.append(f"{sdists[0].name}: {needed} is missing")
    problems += [f"{sdists[0].name}: ships {n} (tests run from a clone)" for n in names if n.startswith("tests/")]
    with zipfile.ZipFile(wheels[0]) as wheel:
        wheel_names = set(wheel.namelist())
        meta_name = next(n for n in wheel_names if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(wheel.read(meta_name).decode())
    if meta["Version"] != __version__:
        problems.append(f"wheel version {meta['Version']} != reconciler.__version__ {__version__}")
    if meta["License-Expression"] != "Apache-2.0":
        problems.append(f"wheel License-Expression is {meta['License-Expression']!r}, not 'Apache-2.0'")
    if "LICENSE" not in (meta.get_all("License-File") or []):
        problems.append("the wheel's metadata names no License-File LICENSE")
    problems += [f"{wheels[0].name}: {n} is missing" for n in WHEEL_DATA if n not in wheel_names]
    for problem in problems:
        print(f"error: {problem}")
    if not problems:
        print(f"OK: {sdists[0].name} and {wheels[0].name}, version {__version__}, Apache-2.0, no tests in the sdist.")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
