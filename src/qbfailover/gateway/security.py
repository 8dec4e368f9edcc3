"""The gateway's own login: credentials, SID sessions, bans, and qBittorrent's CSRF and Host checks.

Pure decisions over injected time, so every rule is testable without a server. The rules follow
qBittorrent's ``webapplication.cpp``: a request whose ``Origin`` (else ``Referer``) names another
host:port than its ``Host`` header is refused with 401; a ``Host`` whose port differs from the
listening port, or whose host is neither the bound address nor a configured domain, is refused
with 401; an address with ``max_failures`` wrong passwords in a row is banned for ``ban_seconds``
(403, even with the right password). One difference, asked for by the issue: the cookie is
``SameSite=Strict`` where qBittorrent says ``Lax``.
"""

from __future__ import annotations

import fnmatch
import hmac
import ipaddress
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["BAN_TEXT", "SESSION_COOKIE", "Bans", "Credentials", "Sessions", "cross_site", "host_allowed"]

SESSION_COOKIE = "SID"
BAN_TEXT = "Your IP address has been banned after too many failed authentication attempts."


@dataclass(frozen=True, slots=True)
class Credentials:
    """The one username/password pair clients log in with (compared in constant time)."""

    username: str
    password: str = field(repr=False)

    def match(self, username: str, password: str) -> bool:
        """True for the right pair; both compared, so timing says nothing about which was wrong."""
        user_ok = hmac.compare_digest(username.encode(), self.username.encode())
        pass_ok = hmac.compare_digest(password.encode(), self.password.encode())
        return user_ok and pass_ok


class Sessions:
    """Live SID sessions, each expiring ``timeout`` seconds after its last use (qBittorrent: 3600)."""

    def __init__(self, clock: Callable[[], float], timeout: float = 3600.0) -> None:
        self._clock = clock
        self._timeout = timeout
        self._last_used: dict[str, float] = {}

    def start(self) -> str:
        """A new unguessable session id."""
        self._forget_expired()
        sid = secrets.token_urlsafe(24)
        self._last_used[sid] = self._clock()
        return sid

    def valid(self, sid: str | None) -> bool:
        """Whether ``sid`` is a live session; using it renews it."""
        if not sid:
            return False
        last = self._last_used.get(sid)
        now = self._clock()
        if last is None or now - last > self._timeout:
            self._last_used.pop(sid, None)
            return False
        self._last_used[sid] = now
        return True

    def end(self, sid: str | None) -> None:
        """Log out: the session id no longer opens anything."""
        if sid:
            self._last_used.pop(sid, None)

    def _forget_expired(self) -> None:
        now = self._clock()
        for sid in [s for s, t in self._last_used.items() if now - t > self._timeout]:
            del self._last_used[sid]


class Bans:
    """Failed logins per client address; ``max_failures`` in a row ban it for ``ban_seconds``."""

    def __init__(
        self, clock: Callable[[], float], max_failures: int = 5, ban_seconds: float = 3600.0
    ) -> None:
        self._clock = clock
        self.max_failures = max_failures
        self.ban_seconds = ban_seconds
        self._failures: dict[str, int] = {}
        self._banned_until: dict[str, float] = {}

    def banned(self, address: str) -> bool:
        """Whether ``address`` is banned now (a ban that ended is forgotten, failures too)."""
        until = self._banned_until.get(address)
        if until is None:
            return False
        if self._clock() >= until:
            del self._banned_until[address]
            self._failures.pop(address, None)
            return False
        return True

    def failed(self, address: str) -> None:
        """Count one wrong password; the ``max_failures``-th starts the ban."""
        n = self._failures.get(address, 0) + 1
        self._failures[address] = n
        if self.max_failures > 0 and n >= self.max_failures:
            self._banned_until[address] = self._clock() + self.ban_seconds

    def succeeded(self, address: str) -> None:
        """A right password clears the count (as qBittorrent does)."""
        self._failures.pop(address, None)


def _origin(value: str) -> tuple[str, int | None]:
    text = value if "://" in value else "http://" + value
    try:
        parts = urlsplit(text)
        return (parts.hostname or "").lower(), parts.port
    except ValueError:
        return "", -1


def cross_site(host: str, origin: str | None, referer: str | None) -> bool:
    """qBittorrent's CSRF rule: an Origin (else Referer) whose host:port differs from ``Host``."""
    claimed = origin or referer
    if not claimed:
        return False  # API clients send neither: qBittorrent lets them through, so do we
    return _origin(claimed) != _origin(host)


def host_allowed(host: str | None, port: int, bound: str, domains: Iterable[str]) -> bool:
    """qBittorrent's Host rule: the port (if given) must be ours, the host our address or a domain."""
    if not host:
        return False
    name, given = _origin(host)
    if given == -1 or (given is not None and given != port):
        return False
    try:
        if ipaddress.ip_address(name) == ipaddress.ip_address(bound):
            return True
    except ValueError:
        pass
    return any(fnmatch.fnmatchcase(name, pattern.strip().lower()) for pattern in domains if pattern.strip())
