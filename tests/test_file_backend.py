from __future__ import annotations

import threading
from pathlib import Path

import pytest

from reconciler.backends.base import PreconditionFailed
from reconciler.backends.file import ABSENT, FileBackend, etag_of


def test_absent_file_then_create(tmp_path: Path) -> None:
    backend = FileBackend(tmp_path / "sub" / "tailnet.hujson")
    assert backend.get().etag == ABSENT
    etag = backend.put(b"{}\n", ABSENT)
    assert etag == etag_of(b"{}\n") == backend.get().etag
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["tailnet.hujson", "tailnet.hujson.lock"]


def test_stale_etag_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    path = tmp_path / "tailnet.hujson"
    path.write_bytes(b"{}")
    backend = FileBackend(path)
    seen = backend.get().etag
    path.write_bytes(b'{"acls": []}')  # somebody else wrote
    with pytest.raises(PreconditionFailed):
        backend.put(b'{"groups": {}}', seen)
    assert path.read_bytes() == b'{"acls": []}'


def test_concurrent_writers_one_wins_per_version(tmp_path: Path) -> None:
    path = tmp_path / "tailnet.hujson"
    path.write_bytes(b"{}")
    etag = FileBackend(path).get().etag
    results: list[str] = []

    def write(i: int) -> None:
        try:
            FileBackend(path).put(f'{{"n": {i}}}'.encode(), etag)
            results.append("ok")
        except PreconditionFailed:
            results.append("conflict")

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 1 and results.count("conflict") == 7


def test_validate_reports_syntax_and_undefined_groups(tmp_path: Path) -> None:
    backend = FileBackend(tmp_path / "x")
    assert backend.validate(b'{"groups": {"group:a": []}, "acls": [{"src": ["group:a"], "dst": ["*:*"]}]}').ok
    bad = backend.validate(b'{"acls": [{"action": "accept", "src": ["group:ghost"], "dst": ["group:ghost:22"]}]}')
    assert bad.errors == ('acls[0].src uses group:ghost, which "groups" does not define',
                          'acls[0].dst uses group:ghost, which "groups" does not define')
    assert "line 1" in backend.validate(b"{,}").errors[0]
