"""Where the ledger lives: a SQLite file (a path) or a shared PostgreSQL database (a URL).

Why a value of its own: ``Path("postgresql://u@h/db")`` folds the ``//``, and a URL may carry a
password, so a database URL is kept whole in a :class:`DatabaseUrl` whose ``str`` and ``repr``
mask the password (a message, log line or ``doctor`` report that names the ledger never shows
it). Both the environment (``QBFAILOVER_DB``) and the TOML file (``[settings] db``) name the
ledger, and ``qbfailover ledger migrate --to`` takes a URL too: one parser gives them the same
rules and errors. ``Settings.db_path`` holds either form; :func:`qbfailover.ledger.open_ledger`
picks the backend.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Final
from urllib.parse import unquote, urlsplit

from qbfailover.errors import ConfigError

__all__ = ["POSTGRES_SCHEMES", "DatabaseUrl", "mask_url", "parse_ledger_location"]

POSTGRES_SCHEMES: Final = ("postgresql://", "postgres://")
_SQLITE_SCHEME: Final = "sqlite:///"
_NETLOC_PASSWORD: Final = re.compile(r"(?i)(postgres(?:ql)?://[^:/@\s]*:)([^@/\s]*)(@)")
_QUERY_PASSWORD: Final = re.compile(r"(?i)(\bpassword=)([^&\s]*)")


def mask_url(text: str) -> str:
    """``text`` with every PostgreSQL URL password (``user:PASS@`` or ``password=``) shown as ``***``."""
    return _QUERY_PASSWORD.sub(r"\1***", _NETLOC_PASSWORD.sub(r"\1***\3", text))


class DatabaseUrl:
    """A PostgreSQL ledger: the libpq URL and, optionally, a password from a ``password_env`` setting.

    The password (given here, else in the URL, else ``PGPASSWORD``, else ``~/.pgpass``: libpq's
    order) leaves the object only through :meth:`reveal_url` / :meth:`reveal_password`, where
    the connection is made. ``lease_seconds`` overrides how long a claim lasts without renewal
    (None: the default), for tests and quick takeovers.
    """

    __slots__ = ("_password", "_url", "lease_seconds")

    def __init__(self, url: str, password: str | None = None, lease_seconds: float | None = None) -> None:
        self._url = url
        self._password = password
        self.lease_seconds = lease_seconds

    def reveal_url(self) -> str:
        """The URL itself, password included: only for the driver."""
        return self._url

    def reveal_password(self) -> str | None:
        """The separately configured password, if any: only for the driver."""
        return self._password

    def secrets(self) -> list[str]:
        """Every password this location knows (for scrubbing driver messages)."""
        raw = urlsplit(self._url).password
        return [s for s in (self._password, unquote(raw) if raw else None) if s]

    @property
    def shown(self) -> str:
        """The URL with its password masked: what messages name."""
        return mask_url(self._url)

    @property
    def dbname(self) -> str:
        """The database's name (for messages that say which database to create or grant on)."""
        return unquote(urlsplit(self._url).path.lstrip("/")) or "(default)"

    @property
    def user(self) -> str:
        """The role the URL logs in as ("" if it names none: libpq then uses the OS user)."""
        return unquote(urlsplit(self._url).username or "")

    def __str__(self) -> str:
        return self.shown

    def __repr__(self) -> str:
        return f"DatabaseUrl({self.shown!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DatabaseUrl) and (other._url, other._password, other.lease_seconds) == (
            self._url,
            self._password,
            self.lease_seconds,
        )

    def __hash__(self) -> int:
        return hash((self._url, self._password, self.lease_seconds))


def parse_ledger_location(
    raw: str,
    key: str,
    env: Mapping[str, str],
    *,
    password_env: str | None = None,
    lease: str | None = None,
) -> Path | DatabaseUrl:
    """A path or ``sqlite:///path`` → Path; ``postgresql://...`` → DatabaseUrl; else ConfigError.

    ``password_env`` names an environment variable holding the database password; ``lease`` is
    the claim lease in seconds (text, as read from the environment or the file).
    """
    text = raw.strip()
    low = text.lower()
    if low.startswith(_SQLITE_SCHEME):
        return Path(text[len(_SQLITE_SCHEME) - 1 :]).expanduser()
    if not low.startswith(POSTGRES_SCHEMES):
        if "://" in text:
            scheme = text.split("://", 1)[0]
            raise ConfigError(
                f"{key}: unknown ledger scheme {scheme!r}; use a path, sqlite:///path or "
                "postgresql://user@host:port/dbname"
            )
        return Path(text).expanduser()
    parts = urlsplit(text)
    if not parts.hostname and "host=" not in parts.query:
        raise ConfigError(f"{key}={mask_url(text)!r} names no host; use postgresql://user@host:port/dbname")
    password = None
    if password_env:
        if password_env not in env:
            raise ConfigError(f"{key}: password_env names {password_env!r}, which is not set; set it")
        password = env[password_env]
    return DatabaseUrl(text, password, _lease(lease, key))


def _lease(raw: str | None, key: str) -> float | None:
    if raw is None or not raw.strip():
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise ConfigError(f"{key}: the claim lease {raw!r} must be a positive number of seconds")
    return value
