"""Per-instance guards: the circuit breaker and the login budget, driven by a clock passed in."""

from __future__ import annotations

import itertools
import re

import pytest

from qbfailover.core.breaker import (
    AUTH_TRIES,
    MAX_OPEN,
    Guard,
    auth_block_reason,
    credential_fingerprint,
    may_connect,
    may_login,
    on_auth_failed,
    on_banned,
    on_login_ok,
    on_success,
    on_unreachable,
)

SALT = b"\x01" * 16
COOLDOWN = 30.0
AUTH_COOLDOWN = 900.0
T0 = 1_000_000.0

# --- circuit breaker ------------------------------------------------------------------------------


def test_closed_breaker_allows_connections() -> None:
    """A fresh guard lets every call through."""
    assert may_connect(Guard(), T0)


def test_failure_opens_breaker_for_one_cooldown() -> None:
    """One unreachable opens the breaker until now + cooldown (half-open exactly then)."""
    g = on_unreachable(Guard(), T0, COOLDOWN, "connection refused")
    assert (g.failures, g.open_until, g.last_error) == (1, T0 + COOLDOWN, "connection refused")
    assert not may_connect(g, T0) and not may_connect(g, T0 + COOLDOWN - 0.001)
    assert may_connect(g, T0 + COOLDOWN)


def test_consecutive_failures_double_the_wait_up_to_the_cap() -> None:
    """Each consecutive failure doubles the cool-down: 30, 60, 120, 240, then MAX_OPEN for good."""
    g, waits = Guard(), []
    now = T0
    for _ in range(8):
        g = on_unreachable(g, now, COOLDOWN, "timeout")
        waits.append(g.open_until - now)
        now = g.open_until
    assert waits == [30.0, 60.0, 120.0, 240.0, MAX_OPEN, MAX_OPEN, MAX_OPEN, MAX_OPEN]
    assert g.failures == 8


def test_cooldown_longer_than_cap_is_kept() -> None:
    """A configured cool-down above MAX_OPEN is honoured as is (the cap never shortens it)."""
    g = Guard()
    for _ in range(3):
        g = on_unreachable(g, T0, 2 * MAX_OPEN, "timeout")
        assert g.open_until == T0 + 2 * MAX_OPEN


def test_breaker_survives_a_very_long_outage() -> None:
    """Thousands of consecutive failures (days down) still give MAX_OPEN, not an OverflowError."""
    g = on_unreachable(Guard(failures=5000), T0, COOLDOWN, "timeout")
    assert (g.failures, g.open_until) == (5001, T0 + MAX_OPEN)


def test_success_closes_the_breaker() -> None:
    """A success resets failures, the open window and the last error, keeping the login state."""
    g = on_auth_failed(on_unreachable(Guard(), T0, COOLDOWN, "x"), "ab12", T0)
    g = on_success(g)
    assert (g.failures, g.open_until, g.last_error) == (0, 0.0, "")
    assert may_connect(g, T0) and (g.auth_fingerprint, g.auth_failures) == ("ab12", 1)


# --- login budget -----------------------------------------------------------------------------------


def attempts_over(
    g: Guard, fingerprint: str, start: float, seconds: float, step: float
) -> tuple[list[float], Guard]:
    """Retry as eagerly as allowed (every ``step`` seconds), every login failing; return when."""
    tried: list[float] = []
    now = start
    while now <= start + seconds:
        if may_login(g, fingerprint, now, AUTH_COOLDOWN):
            tried.append(now)
            g = on_auth_failed(g, fingerprint, now)
        now += step
    return tried, g


def test_wrong_credential_gets_at_most_auth_tries_ever() -> None:
    """A rejected credential is tried AUTH_TRIES times in total, a cool-down apart, then never again."""
    tried, g = attempts_over(Guard(), "ab12", T0, seconds=30 * 24 * 3600, step=60)
    assert AUTH_TRIES < 5  # qBittorrent bans after 5 failures: the budget must stay below that
    assert len(tried) == AUTH_TRIES
    assert all(b - a >= AUTH_COOLDOWN for a, b in itertools.pairwise(tried))
    assert g.auth_failures == AUTH_TRIES and not may_login(g, "ab12", T0 + 10**9, AUTH_COOLDOWN)


def test_second_try_waits_for_the_cooldown() -> None:
    """After one failure, the same credential waits auth_cooldown before its next try."""
    g = on_auth_failed(Guard(), "ab12", T0)
    assert not may_login(g, "ab12", T0 + AUTH_COOLDOWN - 1, AUTH_COOLDOWN)
    assert may_login(g, "ab12", T0 + AUTH_COOLDOWN, AUTH_COOLDOWN)


def test_changed_credential_may_try_at_once() -> None:
    """A different fingerprint (the user fixed the password) is tried immediately, with its own budget."""
    _, g = attempts_over(Guard(), "ab12", T0, seconds=AUTH_COOLDOWN * 3, step=60)
    assert not may_login(g, "ab12", T0 + AUTH_COOLDOWN * 4, AUTH_COOLDOWN)
    assert may_login(g, "cd34", T0 + AUTH_COOLDOWN * 4, AUTH_COOLDOWN)
    g = on_auth_failed(g, "cd34", T0 + AUTH_COOLDOWN * 4)
    assert (g.auth_fingerprint, g.auth_failures) == ("cd34", 1)


def test_ban_blocks_every_login_until_it_ends() -> None:
    """While banned no credential, old or new, is tried; at the ban's end a fresh one may be."""
    g = on_banned(Guard(), T0, 3600.0)
    assert g.banned_until == T0 + 3600.0 and g.last_error == "banned"
    for now in (T0, T0 + 1800, T0 + 3599.9):
        assert not may_login(g, "ab12", now, AUTH_COOLDOWN)
        assert not may_login(g, "cd34", now, AUTH_COOLDOWN)
    assert may_login(g, "ab12", T0 + 3600.0, AUTH_COOLDOWN)


def test_ban_end_does_not_refill_an_exhausted_credential() -> None:
    """A credential that used its budget stays blocked after a ban ends (only a change or unblock helps)."""
    _, g = attempts_over(Guard(), "ab12", T0, seconds=AUTH_COOLDOWN * 3, step=60)
    g = on_banned(g, T0, 3600.0)
    assert not may_login(g, "ab12", T0 + 10 * 3600, AUTH_COOLDOWN)


def test_successful_login_clears_the_budget_and_ban() -> None:
    """A login that works forgets failures and any ban."""
    g = on_banned(on_auth_failed(Guard(), "ab12", T0), T0, 3600.0)
    g = on_login_ok(g)
    assert (g.auth_fingerprint, g.auth_failures, g.auth_last, g.banned_until) == ("", 0, 0.0, 0.0)
    assert may_login(g, "ab12", T0, AUTH_COOLDOWN)


@pytest.mark.parametrize(
    ("guard", "now", "expected"),
    [
        (Guard(banned_until=T0 + 120), T0, r"banned by qBittorrent; waiting 120 s"),
        (Guard(auth_fingerprint="ab12", auth_failures=AUTH_TRIES, auth_last=T0), T0, r"qbfailover unblock"),
        (Guard(auth_fingerprint="ab12", auth_failures=1, auth_last=T0), T0 + 300, r"next try in 600 s"),
    ],
)
def test_auth_block_reason(guard: Guard, now: float, expected: str) -> None:
    """The reason for not logging in is one line saying what lifts the block."""
    reason = auth_block_reason(guard, "ab12", now, AUTH_COOLDOWN)
    assert re.search(expected, reason) and "\n" not in reason


# --- credential fingerprint -----------------------------------------------------------------------------


def test_fingerprint_is_four_hex_digits_and_stable() -> None:
    """The fingerprint is 4 lower-case hex digits, the same for the same salt and credential."""
    fp = credential_fingerprint(SALT, "alice", "correct horse battery staple")
    assert re.fullmatch(r"[0-9a-f]{4}", fp)
    assert fp == credential_fingerprint(SALT, "alice", "correct horse battery staple")


def test_fingerprint_tells_passwords_apart() -> None:
    """Different passwords with the same salt almost always get different fingerprints."""
    prints = {credential_fingerprint(SALT, "alice", f"password-{n}") for n in range(200)}
    assert len(prints) >= 190  # 16 bits: a few birthday collisions at most


def test_fingerprint_depends_on_salt_and_username() -> None:
    """The salt and the username change the fingerprint, so it cannot be looked up across installs."""
    base = [credential_fingerprint(SALT, "alice", f"pw{n}") for n in range(50)]
    salted = [credential_fingerprint(b"\x02" * 16, "alice", f"pw{n}") for n in range(50)]
    other_user = [credential_fingerprint(SALT, "bob", f"pw{n}") for n in range(50)]
    assert sum(a != b for a, b in zip(base, salted, strict=True)) >= 45
    assert sum(a != b for a, b in zip(base, other_user, strict=True)) >= 45


@pytest.mark.parametrize("password", ["hunter2", "abcd1", "0000000", "a1b2c3d4", "ünïcødé-pässwörd"])
def test_fingerprint_never_contains_the_password(password: str) -> None:
    """The fingerprint never contains the password (nor its hex), so storing it leaks nothing."""
    fp = credential_fingerprint(SALT, "alice", password)
    assert password not in fp and password.encode().hex() not in fp and len(fp) == 4
