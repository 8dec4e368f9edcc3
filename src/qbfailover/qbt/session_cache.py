"""WebUI session cookies kept across processes, so a cold command skips qBittorrent's login.

Every login makes qBittorrent hash the password (PBKDF2): ~25-40 ms of each cold ``qbfailover add``.
A session it handed out stays valid until it expires (1 h idle by default), so the CLI keeps it:

- one JSON file, mode 0600, owned by the user, beside the SQLite ledger (``<ledger>.sessions``),
  replaced atomically; with a PostgreSQL ledger there is no cache at all (its hosts share no
  directory, and a per-user file elsewhere would be one more place a secret could be left);
- each entry keyed by a salted HMAC (the ledger's salt) of the instance's name, URL, username and
  password: a changed setting never reuses a session made for another;
- the WebUI drops its entry on any 403 (a 403 is never applied, so the call is re-sent after one
  real login, which the login guard and ban logic govern as always) and stores the new session.

Cookie values are never logged, formatted or put in an exception here: a file that cannot be
read or written means "log in as usual", never an error.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from qbfailover.atomicfile import write_atomically
from qbfailover.config import DatabaseUrl, InstanceConfig

__all__ = ["SessionCache", "StoredSession", "cache_for"]

KEEP = 16  # entries kept (newest first): old URLs and passwords fall out
SUFFIX = ".sessions"


@dataclass(frozen=True, slots=True)
class StoredCookie:
    """One cookie of a session, with where it applies (as the cookie jar received it)."""

    name: str
    value: str
    domain: str
    path: str

    def __repr__(self) -> str:
        return f"StoredCookie(name={self.name!r}, domain={self.domain!r}, value=<redacted>)"


class SessionCache:
    """The file of sessions for every instance of one ledger."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"SessionCache({str(self.path)!r})"

    def bind(self, salt: bytes, cfg: InstanceConfig) -> StoredSession:
        """The entry for ``cfg`` (its key changes with the name, URL, username or password)."""
        secret = cfg.api_key.reveal() if cfg.api_key else cfg.password.reveal()
        material = "\0".join((cfg.name, cfg.base_url, cfg.username, secret)).encode()
        return StoredSession(self, hmac.new(salt, material, hashlib.sha256).hexdigest())

    def _read(self) -> dict[str, dict[str, object]]:
        try:
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return {}
        with os.fdopen(fd, "rb") as f:
            if os.name == "posix":
                st = os.fstat(f.fileno())
                if st.st_uid != os.getuid() or st.st_mode & 0o077:
                    return {}  # someone else's, or readable by others: not a session we trust
            try:
                doc = json.loads(f.read())
            except (ValueError, OSError):
                return {}
        return doc if isinstance(doc, dict) else {}

    def load(self, key: str) -> list[StoredCookie]:
        """The cookies stored under ``key`` (empty when none, or when the file is unusable)."""
        entry = self._read().get(key)
        stored = entry.get("cookies") if isinstance(entry, dict) else None
        if not isinstance(stored, list):
            return []
        cookies: list[StoredCookie] = []
        fields = ("name", "value", "domain", "path")
        for c in stored:
            if isinstance(c, dict) and all(isinstance(c.get(k), str) for k in fields):
                cookies.append(StoredCookie(c["name"], c["value"], c["domain"], c["path"]))
        return cookies

    def _write(self, key: str, cookies: list[StoredCookie] | None) -> None:
        doc = self._read()
        doc.pop(key, None)
        if cookies:
            doc[key] = {"saved": time.time(), "cookies": [_plain(c) for c in cookies]}
        newest = sorted(doc.items(), key=lambda kv: _saved(kv[1]), reverse=True)[:KEEP]
        with contextlib.suppress(OSError):
            write_atomically(self.path, json.dumps(dict(newest)).encode(), mode=0o600)

    def store(self, key: str, cookies: list[StoredCookie]) -> None:
        """Keep ``cookies`` under ``key`` (best effort: an unwritable file only costs a later login)."""
        self._write(key, cookies)

    def drop(self, key: str) -> None:
        """Forget the session under ``key`` (it was refused, or a login failed)."""
        if key in self._read():
            self._write(key, None)


def _plain(c: StoredCookie) -> dict[str, str]:
    return {"name": c.name, "value": c.value, "domain": c.domain, "path": c.path}


def _saved(entry: object) -> float:
    saved = entry.get("saved") if isinstance(entry, dict) else None
    return float(saved) if isinstance(saved, int | float) else 0.0


@dataclass(frozen=True, slots=True)
class StoredSession:
    """One instance's entry in the cache: what a WebUI loads, stores and drops."""

    cache: SessionCache
    key: str

    def __repr__(self) -> str:
        return f"StoredSession({self.cache!r})"

    def load(self) -> list[StoredCookie]:
        """The stored cookies, if any."""
        return self.cache.load(self.key)

    def store(self, cookies: list[StoredCookie]) -> None:
        """Replace the stored cookies (after a successful login)."""
        self.cache.store(self.key, cookies)

    def drop(self) -> None:
        """Forget them (after a 403 or a failed login)."""
        self.cache.drop(self.key)


def cache_for(db_path: Path | DatabaseUrl) -> SessionCache | None:
    """The cache beside a SQLite ledger (``<ledger>.sessions``); none for a PostgreSQL ledger."""
    if isinstance(db_path, DatabaseUrl):
        return None
    path = Path(db_path)
    return SessionCache(path.with_name(path.name + SUFFIX))
