"""doctor's judges: facts in, PASS / WARN / FAIL with a fix out (pure, table-driven)."""

from __future__ import annotations

import pytest

from qbfailover.config import InstanceConfig, Secret, Settings, VpnProbeConfig
from qbfailover.core.health import InstanceHealth, Status, VpnHealth, VpnStatus
from qbfailover.errors import AuthFailed, Banned, Rejected, Unreachable
from qbfailover.ops.doctor import (
    DISK_FAIL_BYTES,
    DISK_WARN_BYTES,
    Check,
    Listener,
    Result,
    auth_bypass_check,
    disk_check,
    exit_code,
    is_local,
    process_check,
    queue_check,
    settings_checks,
    version_check,
    vpn_check,
    webui_checks,
    worst,
)

PRIMARY = InstanceConfig("primary", "http://127.0.0.2:52095/", "u", Secret("p"), requires_vpn=True)
SECONDARY = InstanceConfig("secondary", "http://127.0.0.1:52095/", "u", Secret("p"), priority=2)


def health(status: Status) -> InstanceHealth:
    return InstanceHealth("primary", status, latency_ms=4.0)


def results(checks: list[Check]) -> list[tuple[str, str]]:
    return [(c.check, c.result) for c in checks]


def test_worst_and_exit_code() -> None:
    """The exit code is the worst result: 0 PASS, 1 WARN, 2 FAIL (empty is PASS)."""
    p, w, f = Check("a", Result.PASS, ""), Check("b", Result.WARN, ""), Check("c", Result.FAIL, "")
    assert (worst([]), exit_code([])) == ("PASS", 0)
    assert exit_code([p, w]) == 1
    assert (worst([w, f, p]), exit_code([w, f, p])) == ("FAIL", 2)


def test_settings_checks() -> None:
    """Two distinct instances pass; one instance warns; two names for one WebUI fail."""
    vpn = VpnProbeConfig("icmp", "127.0.0.3")
    assert results(settings_checks(Settings((PRIMARY, SECONDARY), vpn=vpn))) == [("settings", "PASS")]
    lone = settings_checks(Settings((SECONDARY,)))
    assert results(lone) == [("settings", "PASS"), ("settings.secondary", "WARN")]
    same = InstanceConfig("copy", "http://127.0.0.1:52095", "u", Secret("p"), priority=3)
    dup = settings_checks(Settings((PRIMARY, SECONDARY, same), vpn=vpn))
    assert results(dup) == [("settings", "FAIL")] and "same WebUI" in dup[0].detail
    nopw = InstanceConfig("secondary", "http://127.0.0.1:1/", "u", Secret(""), priority=2)
    assert ("secondary.credentials", "WARN") in results(settings_checks(Settings((PRIMARY, nopw), vpn=vpn)))


def test_vpn_check() -> None:
    """VPN up passes, down fails with a fix, not configured passes."""
    up = vpn_check(VpnHealth(VpnStatus.UP, 3.0, "ping reply", "127.0.0.3", "icmp"))
    assert up.result == "PASS" and up.detail == "icmp 127.0.0.3: ping reply (3 ms)"
    down = vpn_check(VpnHealth(VpnStatus.DOWN, 1000.0, "no ping reply", "127.0.0.3", "icmp"))
    assert down.result == "FAIL" and down.fix
    assert vpn_check(VpnHealth(VpnStatus.NOT_CONFIGURED)).result == "PASS"


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (
            Status.OK,
            None,
            [("primary.reachable", "PASS"), ("primary.login", "PASS"), ("primary.banned", "PASS")],
        ),
        (Status.TIMEOUT, Unreachable("primary", "connect timeout"), [("primary.reachable", "FAIL")]),
        (
            Status.AUTH_FAILED,
            AuthFailed("primary", "wrong username or password"),
            [("primary.reachable", "PASS"), ("primary.login", "FAIL")],
        ),
        (
            Status.BANNED,
            Banned("primary", "banned"),
            [("primary.reachable", "PASS"), ("primary.banned", "FAIL")],
        ),
        (
            Status.ERROR,
            Rejected("primary", "login answered HTTP 401", 401),
            [("primary.reachable", "PASS"), ("primary.login", "FAIL")],
        ),
    ],
)
def test_webui_checks(status: Status, error: Exception | None, expected: list[tuple[str, str]]) -> None:
    """Reachable → logs in → not banned: the chain stops at its first FAIL, which carries a fix."""
    checks = webui_checks(PRIMARY, health(status), error, now=100.0, banned_until=0.0)  # type: ignore[arg-type]
    assert results(checks) == expected
    assert all(c.fix for c in checks if c.result == "FAIL")


@pytest.mark.parametrize(("blocked", "detail"), [(False, "answers"), (True, "answers (not re-tried)")])
def test_login_refused_by_the_budget_says_not_retried(blocked: bool, detail: str) -> None:
    """A login the budget refused to send (``blocked``) is reported as not re-tried, whatever its wording."""
    error = AuthFailed("primary", "wrong username or password")
    checks = webui_checks(PRIMARY, health(Status.AUTH_FAILED), error, 100.0, 0.0, blocked=blocked)
    assert checks[0].detail == f"{PRIMARY.base_url} {detail}"
    assert results(checks) == [("primary.reachable", "PASS"), ("primary.login", "FAIL")]


def test_json_form_of_a_check() -> None:
    """``--json`` carries the result as its plain name, with the same four keys as before."""
    check = Check("queue", Result.WARN, "3 pending", "drain it")
    assert check.as_dict() == {"check": "queue", "result": "WARN", "detail": "3 pending", "fix": "drain it"}


def test_webui_checks_remembered_ban() -> None:
    """A ban remembered in the ledger is reported with the time left, even without a new login."""
    checks = webui_checks(
        PRIMARY, health(Status.AUTH_FAILED), AuthFailed("primary", "x"), 100.0, 100.0 + 1800
    )
    assert results(checks)[-1] == ("primary.banned", "FAIL")
    assert "30 min" in checks[-1].detail


def test_host_check_401_fix_names_the_port() -> None:
    """A Host-header/CSRF 401 says to use the exact host:port qBittorrent serves."""
    checks = webui_checks(PRIMARY, health(Status.ERROR), Rejected("primary", "401", 401), 0.0, 0.0)
    assert "127.0.0.2:52095" in checks[-1].fix


@pytest.mark.parametrize(
    ("api", "result"), [("2.8.19", "PASS"), ("2.11.4", "PASS"), ("1.9", "FAIL"), (None, "WARN")]
)
def test_version_check(api: str | None, result: str) -> None:
    """WebAPI 2.x is supported; 1.x fails; an unknown version warns."""
    assert version_check("primary", "v4.5.2", api).result == result


def test_auth_bypass_check() -> None:
    """The spec's LocalHostAuth trap is a WARN; the safe setting says nothing."""
    assert auth_bypass_check("s", {"bypass_local_auth": True}).result == "WARN"  # type: ignore[union-attr]
    assert auth_bypass_check("s", {"bypass_local_auth": False}) is None


@pytest.mark.parametrize(
    ("listeners", "result", "needle"),
    [
        ([Listener("127.0.0.1", 52095, 42, "qbittorrent-nox")], "PASS", "qbittorrent-nox (pid 42)"),
        ([Listener("0.0.0.0", 52095, 42, "qbittorrent.exe")], "PASS", "qbittorrent.exe"),
        ([Listener("127.0.0.1", 52095, 7, "nginx")], "FAIL", "held by nginx (pid 7)"),
        ([Listener("127.0.0.2", 52095, 42, "qbittorrent-nox")], "FAIL", "nothing listens"),
        ([], "FAIL", "nothing listens on 127.0.0.1:52095"),
        (None, "WARN", "cannot list"),
    ],
)
def test_process_check(listeners: list[Listener] | None, result: str, needle: str) -> None:
    """The WebUI port must be held by a qbittorrent process on that address (or all addresses)."""
    check = process_check("secondary", "127.0.0.1", 52095, listeners)
    assert check.result == result and needle in check.detail


def test_disk_check() -> None:
    """WARN under 5 GiB free, FAIL under 1 GiB, WARN when the folder is not visible here."""
    assert disk_check("s", "/d", DISK_WARN_BYTES).result == "PASS"
    assert disk_check("s", "/d", DISK_WARN_BYTES - 1).result == "WARN"
    assert disk_check("s", "/d", DISK_FAIL_BYTES - 1).result == "FAIL"
    assert disk_check("s", "/d", None).result == "WARN"
    assert "5.0 GiB free in /d" in disk_check("s", "/d", DISK_WARN_BYTES).detail


@pytest.mark.parametrize(
    ("pending", "age", "result"),
    [(0, None, "PASS"), (3, 60.0, "PASS"), (3, 3600.0, "WARN"), (3, 86400.0, "FAIL")],
)
def test_queue_check(pending: int, age: float | None, result: str) -> None:
    """Backlog: fine under an hour, WARN past an hour, FAIL past a day."""
    now = 1_000_000.0
    check = queue_check(pending, None if age is None else now - age, rejected=0, now=now)
    assert check.result == result
    assert bool(check.fix) == (result != "PASS")


def test_queue_check_mentions_rejected() -> None:
    """Rejected items are mentioned (they need a person) without failing the check."""
    assert "2 rejected" in queue_check(0, None, rejected=2, now=0.0).detail


def test_is_local() -> None:
    """Loopback, localhost and this machine's addresses are local; other hosts are not."""
    assert is_local("127.0.0.2") and is_local("localhost") and is_local("[::1]")
    assert is_local("2001:db8::7", ["2001:db8::7"])
    assert not is_local("2001:db8::7", ["127.0.0.1"])
    assert not is_local("nas.example")
