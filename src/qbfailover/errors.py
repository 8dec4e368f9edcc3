"""The one error tree of qbfailover.

Every failure the library can report is one of these; low-level exceptions (httpx, sqlite3, OSError)
are translated at the I/O edges (``qbt.webui``, ``engine.probes``, ``ledger``) and never escape them::

    QbFailoverError
    ├─ ConfigError                 bad or missing setting (names the key and the fix)
    ├─ ItemError                   input that can never be delivered (bad magnet, bad .torrent)
    ├─ InstanceError (.instance)
    │  ├─ Unreachable              refused, connect/read timeout, DNS, TLS
    │  ├─ AuthFailed               wrong credentials: never retried automatically
    │  ├─ Banned                   the WebUI banned this host: back off until the ban ends
    │  ├─ Rejected (.status)       the WebUI answered but refused (CSRF/Host 401, 4xx, 5xx)
    │  └─ Uncertain                the request may have been applied (timeout after sending)
    ├─ StoreError                  the ledger cannot be read or written (nothing is dropped)
    └─ ProvisionError              a secondary profile cannot be created or repaired as asked

Messages are one line, name the problem and what to do, and never contain a secret.
"""

from __future__ import annotations


class QbFailoverError(Exception):
    """Base of every error qbfailover raises on purpose."""


class ConfigError(QbFailoverError):
    """A setting is missing or invalid; the message names the key and the fix."""


class ItemError(QbFailoverError):
    """The input can never be delivered (malformed magnet, broken .torrent, bad URL)."""


class InstanceError(QbFailoverError):
    """One qBittorrent instance failed us; ``.instance`` names it so failover can try another."""

    def __init__(self, instance: str, message: str) -> None:
        super().__init__(f"{instance}: {message}")
        self.instance = instance
        self.detail = message


class Unreachable(InstanceError):
    """No answer: connection refused, connect/read timeout, DNS or TLS failure."""

    def __init__(self, instance: str, message: str, *, kind: str = "other") -> None:
        super().__init__(instance, message)
        self.kind = kind  # a core.health.FailureKind value: decisions read it, never the message


class AuthFailed(InstanceError):
    """The WebUI refused the credentials; retrying would only bring a ban closer."""


class Banned(InstanceError):
    """The WebUI banned this client's IP after too many failed logins."""


class Rejected(InstanceError):
    """The WebUI answered but refused the request (CSRF/Host check, 4xx, 5xx)."""

    def __init__(self, instance: str, message: str, status: int) -> None:
        super().__init__(instance, message)
        self.status = status


class Uncertain(InstanceError):
    """The request was sent but no answer came: it may or may not have been applied."""

    def __init__(self, instance: str, message: str, *, kind: str = "other") -> None:
        super().__init__(instance, message)
        self.kind = kind  # a core.health.FailureKind value: decisions read it, never the message


class StoreError(QbFailoverError):
    """The ledger cannot be read or written; whatever was recorded before stays recorded."""


class ProvisionError(QbFailoverError):
    """A secondary instance profile cannot be created, reset, backed up or repaired as asked."""
