"""The settings as values: instances, the VPN probe, the ledger's place, timeouts, notify targets.

Frozen dataclasses, built only by ``config.load`` (which validates every field), so the rest of
the program can trust them without checking again. Secrets live in :class:`Secret`, whose repr
and str never show the value.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from qbfailover.config.database import DatabaseUrl
from qbfailover.core import routing
from qbfailover.errors import ConfigError

ProbeKind = Literal["icmp", "tcp", "interface", "http"]
PROBE_KINDS: tuple[ProbeKind, ...] = ("icmp", "tcp", "interface", "http")

WATCH_INTERVAL = 10.0
"""Seconds between ``watch``'s health checks by default: the interval is also its rate limit."""


class Secret:
    """A credential that never shows itself in reprs, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The value itself: call it only where the secret leaves the process (a login, a hash)."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class InstanceConfig:
    """One qBittorrent WebUI we may deliver to."""

    name: str
    url: str
    username: str = ""
    password: Secret = field(default_factory=lambda: Secret(""))
    api_key: Secret | None = None
    priority: int = 1
    requires_vpn: bool = False
    connect_timeout: float = 1.0
    read_timeout: float = 10.0
    verify: bool | str = True

    @property
    def base_url(self) -> str:
        """The URL with exactly one trailing slash, so API paths can be joined onto it."""
        return self.url.rstrip("/") + "/"

    @property
    def host(self) -> str:
        """The WebUI's host name or address, for probes and for matching local processes."""
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        """The WebUI's TCP port, the scheme's default when the URL names none."""
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "https" else 80)


@dataclass(frozen=True, slots=True)
class VpnProbeConfig:
    """How to tell whether the VPN path is up."""

    kind: ProbeKind
    target: str
    timeout: float = 1.0


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything qbfailover needs to run, validated once at load so nothing downstream re-checks."""

    instances: tuple[InstanceConfig, ...]
    vpn: VpnProbeConfig | None = None
    db_path: Path | DatabaseUrl = field(default_factory=lambda: default_db_path())
    """The ledger: a SQLite file, or a shared PostgreSQL database (the name stays for callers)."""
    deadline: float = 2.0
    cooldown: float = 30.0
    auth_cooldown: float = 900.0
    batch_size: int = 5000
    confirm_timeout: float = 3.0
    # Notifications (watch): Apprise URLs and a plain JSON webhook; both carry tokens, hence Secret.
    notify_apprise: tuple[Secret, ...] = ()
    notify_webhook: Secret | None = None

    def instance(self, name: str) -> InstanceConfig:
        """The instance called ``name``; a ConfigError that lists the known names if there is none."""
        for inst in self.instances:
            if inst.name == name:
                return inst
        raise ConfigError(f"no instance named {name!r}; known: {', '.join(self.names)}")

    @property
    def names(self) -> list[str]:
        """Instance names in configured order, for messages and for picking one by name."""
        return [i.name for i in self.instances]

    @property
    def by_priority(self) -> list[InstanceConfig]:
        """Instances in the order delivery tries them (lowest priority number first)."""
        return routing.by_priority(self.instances)


def default_db_path() -> Path:
    """A per-user location that survives reboots (XDG state dir, or LOCALAPPDATA on Windows)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "qbfailover" / "ledger.sqlite3"
