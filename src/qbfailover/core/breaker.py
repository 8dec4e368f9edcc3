"""Pure per-instance guards: a circuit breaker for dead instances and a login budget.

Clock values are passed in, so every rule is testable without time. Both guards are persisted in
the ledger, so even one-shot CLI processes (cron, *arr hooks) share them.

Why the login budget is so strict: qBittorrent counts failed logins per client IP and only forgets
them on a successful login or when a ban expires; after ``MaxAuthenticationFailCount`` (5 by
default) it bans the whole host for ``BanDuration``. A wrong password retried "once per cool-down"
would still be banned after five cool-downs, so each credential gets at most ``AUTH_TRIES`` tries,
ever, until the credential changes or the user clears the block.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

from qbfailover.core.health import FailureKind, failure_kind
from qbfailover.errors import InstanceError

AUTH_TRIES = 2
MAX_OPEN = 300.0


@dataclass(frozen=True, slots=True)
class Guard:
    """What we remember about one instance between calls (and processes)."""

    failures: int = 0
    open_until: float = 0.0
    last_error: str = ""
    auth_fingerprint: str = ""
    auth_failures: int = 0
    auth_last: float = 0.0
    banned_until: float = 0.0
    timed_out: bool = False  # the failure that opened the breaker was a timeout (shown as TIMEOUT)


def credential_fingerprint(salt: bytes, username: str, password: str) -> str:
    """Four hex digits: enough to notice a changed password, far too few to recover one."""
    digest = hmac.new(salt, f"{username}\0{password}".encode(), hashlib.sha256).hexdigest()
    return digest[:4]


def may_connect(guard: Guard, now: float) -> bool:
    """Closed or half-open breaker: a dead instance costs one timeout per cool-down at most."""
    return now >= guard.open_until


def on_success(guard: Guard) -> Guard:
    """The instance answered: close the breaker at once (the login budget is kept apart)."""
    return replace(guard, failures=0, open_until=0.0, last_error="", timed_out=False)


def on_unreachable(
    guard: Guard, now: float, cooldown: float, error: str, *, timed_out: bool = False
) -> Guard:
    """Open the breaker; each consecutive failure doubles the cool-down, up to ``MAX_OPEN``."""
    failures = guard.failures + 1
    # The exponent is capped: after ~1000 failures (days of outage) 2**n would overflow a float.
    wait = min(cooldown * 2 ** min(failures - 1, 32), max(cooldown, MAX_OPEN))
    return replace(guard, failures=failures, open_until=now + wait, last_error=error, timed_out=timed_out)


def opens_breaker(error: InstanceError) -> bool:
    """Timeouts, DNS and TLS failures open the breaker; a refused connection never does.

    A refusal costs < 1 ms to find out again, so a restarted instance is used on the very next
    call. Errors where the instance answered (auth, ban, HTTP status) are not the breaker's.
    """
    kind = failure_kind(error)
    return kind is not None and kind is not FailureKind.REFUSED


def after_probe(guard: Guard, error: InstanceError | None, now: float, cooldown: float) -> Guard:
    """The guard after one probe or delivery attempt (the same guard when nothing changes).

    A breaker already open (another process opened it while we probed) is not stepped again:
    one outage is one step, not N.
    """
    if error is None:
        return on_success(guard)
    kind = failure_kind(error)
    if kind is None or not opens_breaker(error) or not may_connect(guard, now):
        return guard
    return on_unreachable(guard, now, cooldown, error.detail, timed_out=kind.timed_out)


def from_stored(data: Mapping[str, object]) -> Guard:
    """A guard from its persisted fields; unknown keys are ignored, missing ones take defaults.

    Guards saved before ``timed_out`` existed derive it once from their stored error text (the
    only place that text is read, and only for rows an older version wrote).
    """
    known = {f.name for f in fields(Guard)}
    values = {k: v for k, v in data.items() if k in known}
    if "timed_out" not in values:
        values["timed_out"] = "timeout" in str(values.get("last_error", ""))
    return Guard(**values)  # type: ignore[arg-type]


def may_login(guard: Guard, fingerprint: str, now: float, auth_cooldown: float) -> bool:
    """Whether a login with this credential is allowed now (never while banned)."""
    if now < guard.banned_until:
        return False
    if guard.auth_fingerprint != fingerprint or guard.auth_failures == 0:
        return True
    return guard.auth_failures < AUTH_TRIES and now >= guard.auth_last + auth_cooldown


def on_login_ok(guard: Guard) -> Guard:
    """A login worked: forget failed tries and any ban, so the next failure starts a fresh budget."""
    return replace(guard, auth_fingerprint="", auth_failures=0, auth_last=0.0, banned_until=0.0)


def on_auth_failed(guard: Guard, fingerprint: str, now: float) -> Guard:
    """Count one wrong login for this credential; a changed credential starts its own count."""
    count = guard.auth_failures + 1 if guard.auth_fingerprint == fingerprint else 1
    return replace(guard, auth_fingerprint=fingerprint, auth_failures=count, auth_last=now)


def on_banned(guard: Guard, now: float, ban_duration: float) -> Guard:
    """qBittorrent banned this host: no login until the ban has surely ended."""
    return replace(guard, banned_until=now + ban_duration, last_error="banned", timed_out=False)


def auth_block_reason(guard: Guard, fingerprint: str, now: float, auth_cooldown: float) -> str:
    """One line saying why no login is attempted, and what lifts the block."""
    if now < guard.banned_until:
        return f"banned by qBittorrent; waiting {guard.banned_until - now:.0f} s for the ban to end"
    if guard.auth_fingerprint == fingerprint and guard.auth_failures >= AUTH_TRIES:
        return (
            "wrong username or password; not retried (a 5th failure bans this host): fix the "
            "password setting or run 'qbfailover unblock'"
        )
    wait = guard.auth_last + auth_cooldown - now
    return f"wrong username or password; next try in {wait:.0f} s"
