"""The drop-in's pure parts: health words, the spec's dict, settings from arguments, construction."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from qbfailover import ResilientQBittorrentClient, VPNHealthChecker
from qbfailover.api.health_dict import initial_health, spec_health
from qbfailover.api.spec_settings import spec_settings
from qbfailover.core.health import (
    HealthReport,
    InstanceHealth,
    State,
    Status,
    Verdict,
    VpnHealth,
    VpnStatus,
    health_word,
)
from qbfailover.errors import ConfigError

S = Status


@pytest.mark.parametrize(
    ("status", "http_status", "detail", "word"),
    [
        (S.OK, None, "", "OK"),
        (S.VPN_DOWN, None, "VPN probe failed", "VPN_DOWN"),
        (S.TIMEOUT, None, "connect timeout (host or VPN path down?)", "TIMEOUT"),
        (S.AUTH_FAILED, None, "wrong username or password", "AUTH_FAILED"),
        (S.BANNED, None, "qBittorrent has banned this host's IP", "AUTH_FAILED"),
        (S.ERROR, 404, "app/version answered HTTP 404 '' (is this URL a qBittorrent WebUI?)", "HTTP_404"),
        (S.ERROR, 502, "app/version answered HTTP 502", "HTTP_502"),
        (S.ERROR, None, "connection refused (nothing listening?)", "ERROR: connection refused"),
        (S.ERROR, None, "", "ERROR: unknown"),
        (S.NOT_CONFIGURED, None, "", "NOT_CONFIGURED"),
    ],
)
def test_health_words(status: Status, http_status: int | None, detail: str, word: str) -> None:
    inst = InstanceHealth("x", status, detail=detail, http_status=http_status)
    assert health_word(inst) == word == inst.word


def test_no_instance_is_not_configured() -> None:
    assert health_word(None) == "NOT_CONFIGURED"


def report(vpn: VpnStatus, *statuses: Status) -> HealthReport:
    instances = tuple(InstanceHealth(f"i{n}", s, priority=n + 1) for n, s in enumerate(statuses))
    return HealthReport(VpnHealth(vpn), instances, State.BOTH_HEALTHY, Verdict.EXCELLENT, 0.0, 1.0)


WHEN = datetime(2026, 12, 2, 4, 0, 0, 123456)


@pytest.mark.parametrize(
    ("vpn", "statuses", "primary", "secondary", "connected", "active"),
    [
        (VpnStatus.UP, (S.OK, S.OK), "OK", "OK", True, "primary"),
        (VpnStatus.DOWN, (S.VPN_DOWN, S.OK), "VPN_DOWN", "OK", False, "secondary"),
        (VpnStatus.DOWN, (S.VPN_DOWN, S.TIMEOUT), "VPN_DOWN", "TIMEOUT", False, None),
        (VpnStatus.NOT_CONFIGURED, (S.OK,), "OK", "NOT_CONFIGURED", True, "primary"),
        (VpnStatus.UP, (S.AUTH_FAILED, S.OK), "AUTH_FAILED", "OK", True, "secondary"),
        # three instances: the best of the others speaks for "secondary"
        (VpnStatus.UP, (S.TIMEOUT, S.ERROR, S.OK), "TIMEOUT", "OK", True, "secondary"),
        (VpnStatus.UP, (S.OK, S.TIMEOUT, S.AUTH_FAILED), "OK", "TIMEOUT", True, "primary"),
    ],
)
def test_spec_health(
    vpn: VpnStatus,
    statuses: tuple[Status, ...],
    primary: str,
    secondary: str,
    connected: bool,
    active: str | None,
) -> None:
    got = spec_health(report(vpn, *statuses), WHEN)
    assert got == {
        "primary": primary,
        "secondary": secondary,
        "vpn_connected": connected,
        "last_check": "2026-12-02T04:00:00.123456",
        "active_instance": active,
    }
    assert list(got) == list(initial_health())


def test_arguments_stand_in_for_the_spec_variables(tmp_path: Path) -> None:
    env = {"QBFAILOVER_DB": str(tmp_path / "l.db"), "QBITTORRENT_VPN_GATEWAY": "127.0.0.3"}
    s = spec_settings(
        primary_url="http://127.0.0.2:52095/",
        username="u",
        password="p",
        secondary_url="http://127.0.0.1:52095",
        env=env,
    )
    assert [(i.name, i.url, i.username, i.password.reveal(), i.requires_vpn) for i in s.instances] == [
        ("primary", "http://127.0.0.2:52095/", "u", "p", True),
        ("secondary", "http://127.0.0.1:52095", "u", "p", False),
    ]
    assert s.db_path == tmp_path / "l.db"
    assert s.vpn is not None and s.vpn.target == "127.0.0.3"


def test_missing_arguments_come_from_the_environment() -> None:
    env = {
        "QBITTORRENT_URL": "http://127.0.0.2:1/",
        "QBITTORRENT_SECONDARY_URL": "http://127.0.0.1:2/",
        "QBITTORRENT_USERNAME": "envuser",
        "QBITTORRENT_PASSWORD": "envpw",
        "QBITTORRENT_SECONDARY_PASSWORD": "secpw",
    }
    s = spec_settings(primary_url=None, username=None, password=None, secondary_url=None, env=env)
    assert [(i.url, i.username, i.password.reveal()) for i in s.instances] == [
        ("http://127.0.0.2:1/", "envuser", "envpw"),
        ("http://127.0.0.1:2/", "envuser", "secpw"),
    ]
    assert s.vpn is None  # never a built-in gateway


def test_toml_instances_are_replaced_by_the_arguments(tmp_path: Path) -> None:
    conf = tmp_path / "c.toml"
    conf.write_text(
        '[[instances]]\nname = "vpnbox"\nurl = "http://127.0.0.2:1/"\nusername = "a"\npassword = "b"\n'
        "requires_vpn = true\npriority = 1\n"
        '[[instances]]\nname = "local"\nurl = "http://127.0.0.1:2/"\npriority = 2\n'
        '[vpn]\nkind = "tcp"\ntarget = "127.0.0.3:1"\n'
    )
    s = spec_settings(
        primary_url="http://127.0.0.5:9/",
        username=None,
        password="new",
        secondary_url=None,
        env={"QBFAILOVER_CONFIG": str(conf)},
    )
    assert [(i.name, i.url, i.username, i.password.reveal(), i.requires_vpn) for i in s.instances] == [
        ("vpnbox", "http://127.0.0.5:9/", "a", "new", True),
        ("local", "http://127.0.0.1:2/", "", "", False),
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"primary_url": "ftp://x/"}, "primary_url='ftp://x/' is not an http(s) URL"),
        ({"primary_url": "http://u:secret@h/"}, "primary_url: put credentials"),
        ({"primary_url": None}, "QBITTORRENT_URL is not set"),
        ({"primary_url": "http://h/", "secondary_url": "nope"}, "secondary_url='nope'"),
    ],
)
def test_bad_arguments_are_one_line_config_errors(kwargs: dict[str, str | None], message: str) -> None:
    args: dict[str, str | None] = {"username": None, "password": None, "secondary_url": None, **kwargs}
    with pytest.raises(ConfigError) as info:
        spec_settings(env={}, **args)  # type: ignore[arg-type]
    assert message in str(info.value)
    assert "\n" not in str(info.value) and "secret" not in str(info.value)


def test_vpn_checker_needs_a_gateway(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("QBITTORRENT_VPN_GATEWAY", raising=False)
    monkeypatch.delenv("QBFAILOVER_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="pass gateway_ip"):
        VPNHealthChecker()
    monkeypatch.setenv("QBITTORRENT_VPN_GATEWAY", "tcp://127.0.0.3:51820")
    checker = VPNHealthChecker(timeout=2)
    assert (checker.probe.kind, checker.gateway_ip, checker.probe.timeout) == ("tcp", "127.0.0.3:51820", 2.0)
    with pytest.raises(ConfigError, match="gateway_ip="):
        VPNHealthChecker(gateway_ip="not an address!")


@pytest.fixture
def hermetic(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No .env, no spec variables from the machine, the ledger in the test's directory."""
    monkeypatch.chdir(tmp_path)
    for key in ("QBITTORRENT_SECONDARY_URL", "QBITTORRENT_VPN_GATEWAY", "QBFAILOVER_CONFIG"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("QBFAILOVER_DB", str(tmp_path / "ledger.sqlite3"))


def test_client_repr_and_attributes_never_show_the_password(tmp_path: Path, hermetic: None) -> None:
    client = ResilientQBittorrentClient(
        "http://127.0.0.2:52095/", "tester", "hunter2-secret", queue_file=tmp_path / "q.json"
    )
    shown = repr(client) + repr(vars(client)) + repr(client.settings)
    assert "hunter2-secret" not in shown
    assert (client.primary_url, client.username, client.savepath) == (
        "http://127.0.0.2:52095",
        "tester",
        None,
    )
    assert client.health == initial_health()
