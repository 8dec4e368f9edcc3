"""The session cache file: keyed by every setting that names a session, private, never trusted blindly."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from pathlib import Path

import pytest

from qbfailover.config import DatabaseUrl, InstanceConfig, Secret
from qbfailover.qbt.session_cache import KEEP, SessionCache, StoredCookie, cache_for

CFG = InstanceConfig(name="primary", url="http://127.0.0.1:8080/", username="admin", password=Secret("pw"))
SALT = b"s" * 16
COOKIE = StoredCookie("SID", "sEcReTvAlUe", "127.0.0.1", "/")


def test_every_setting_changes_the_key() -> None:
    """Name, URL, username, password, API key and the ledger's salt: each gives another entry."""
    cache = SessionCache(Path("x"))
    base = cache.bind(SALT, CFG).key
    variants = [
        cache.bind(SALT, dataclasses.replace(CFG, name="secondary")),
        cache.bind(SALT, dataclasses.replace(CFG, url="http://127.0.0.1:8081/")),
        cache.bind(SALT, dataclasses.replace(CFG, username="root")),
        cache.bind(SALT, dataclasses.replace(CFG, password=Secret("pw2"))),
        cache.bind(b"t" * 16, CFG),
    ]
    keys = {v.key for v in variants}
    assert base not in keys and len(keys) == len(variants)
    assert "pw" not in base and len(base) == 64


def test_stored_privately_and_read_back(tmp_path: Path) -> None:
    """The file is 0600 from its first byte on; what was stored comes back; a drop forgets it."""
    cache = SessionCache(tmp_path / "l.db.sessions")
    entry = cache.bind(SALT, CFG)
    assert entry.load() == []
    entry.store([COOKIE])
    assert stat.S_IMODE(cache.path.stat().st_mode) == 0o600
    assert entry.load() == [COOKIE]
    entry.drop()
    assert entry.load() == []


@pytest.mark.skipif(os.name != "posix", reason="file modes")
def test_a_file_others_can_read_is_ignored(tmp_path: Path) -> None:
    """A sessions file readable by group or others (copied, restored, planted) is not trusted."""
    cache = SessionCache(tmp_path / "s")
    entry = cache.bind(SALT, CFG)
    entry.store([COOKIE])
    os.chmod(cache.path, 0o644)
    assert entry.load() == []


@pytest.mark.parametrize("text", ["", "{", "[]", '{"k": 1}', '{"k": {"cookies": [{"name": 1}]}}'])
def test_a_damaged_file_means_log_in(tmp_path: Path, text: str) -> None:
    """Whatever the file holds, a bad entry is no session (and no error): the WebUI logs in as usual."""
    cache = SessionCache(tmp_path / "s")
    cache.path.write_text(text.replace('"k"', json.dumps(cache.bind(SALT, CFG).key)))
    os.chmod(cache.path, 0o600)
    assert cache.bind(SALT, CFG).load() == []


def test_old_entries_fall_out(tmp_path: Path) -> None:
    """Only the newest entries are kept: old passwords and URLs do not pile up."""
    cache = SessionCache(tmp_path / "s")
    for i in range(KEEP + 5):
        cache.bind(SALT, dataclasses.replace(CFG, password=Secret(f"pw{i}"))).store([COOKIE])
    assert len(json.loads(cache.path.read_text())) == KEEP


def test_reprs_show_no_cookie_value(tmp_path: Path) -> None:
    """Neither the cache, an entry nor a cookie shows the session id."""
    cache = SessionCache(tmp_path / "s")
    entry = cache.bind(SALT, CFG)
    entry.store([COOKIE])
    shown = [repr(cache), repr(entry), repr(entry.load()), str(entry.load())]
    assert not any(COOKIE.value in s or entry.key in s for s in shown)


def test_only_beside_a_sqlite_ledger(tmp_path: Path) -> None:
    """``<ledger>.sessions`` for SQLite; no cache for a PostgreSQL ledger."""
    found = cache_for(tmp_path / "ledger.sqlite3")
    assert found is not None and found.path == tmp_path / "ledger.sqlite3.sessions"
    assert cache_for(DatabaseUrl("postgresql://u@127.0.0.1:5432/q")) is None
