"""ops.provision and its qBittorrent.conf helpers: pure rendering, choices and file handling on tmp_path."""

from __future__ import annotations

import base64
import hashlib
import os
import shlex
import sqlite3
import tarfile
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qbfailover.cli import app
from qbfailover.config import Secret
from qbfailover.errors import ProvisionError
from qbfailover.ops import provision as pv
from qbfailover.ops.provision.conf import (
    ConfOptions,
    conf_path,
    qt_ini_unescape,
    qt_ini_value,
    read_ini_value,
    render_qbittorrent_conf,
    set_ini_values,
)

NOW = datetime(2025, 11, 28, 15, 0, 0)
PASSWORD = "correct horse 1"


def verify_password(password: str, stored: str) -> bool:
    """The test's own oracle: does ``stored`` (``@ByteArray(salt:key)``) hold ``password`` as qBittorrent
    4.2+ checks it (PBKDF2-HMAC-SHA512, 100,000 rounds, 64-byte key)?"""
    inner = stored.strip().strip('"')
    if not inner.startswith("@ByteArray(") or not inner.endswith(")"):
        return False
    salt_b64, _, key_b64 = inner[len("@ByteArray(") : -1].partition(":")
    salt, key = base64.b64decode(salt_b64), base64.b64decode(key_b64)
    return hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 100_000, 64) == key


def _no_instance(profile: Path, webui: tuple[str, int] | None) -> pv.Running | None:
    return None


def _all_free(host: str, port: int) -> bool:
    return True


def _request(tmp_path: Path, **overrides: object) -> pv.SetupRequest:
    values: dict[str, object] = {
        "profile": tmp_path / "qbsec" / "profile",
        "webui_port": 52095,
        "username": "TopherGutbrod",
        "password": Secret(PASSWORD),
        "version": "4.5",
    }
    values.update(overrides)
    return pv.SetupRequest(**values)  # type: ignore[arg-type]


def _setup(tmp_path: Path, **overrides: object) -> pv.SetupReport:
    return pv.setup_secondary(
        _request(tmp_path, **overrides),
        now=NOW,
        is_free=_all_free,
        bt_is_free=_all_free,
        running=_no_instance,
        which=lambda name: None,
    )


# --- parsing and validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("6881-6920", (6881, 6920)), ("6881", (6881, 6881)), (" 100 - 200 ", (100, 200))],
)
def test_port_range_parses(text: str, expected: tuple[int, int]) -> None:
    """--bt-ports accepts LO-HI or one port."""
    assert pv.parse_port_range(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "6920-6881", "0-10", "1-70000", "1,2"])
def test_port_range_rejects_nonsense(text: str) -> None:
    """A bad --bt-ports value is a one-line ProvisionError naming the flag."""
    with pytest.raises(ProvisionError, match="--bt-ports"):
        pv.parse_port_range(text)


@pytest.mark.parametrize(
    ("text", "expected"), [(None, (4, 5)), ("4.4", (4, 4)), ("4.3.9", (4, 3)), ("v5.1.0", (5, 1))]
)
def test_version_parses(text: str | None, expected: tuple[int, int]) -> None:
    """--qbittorrent-version takes X.Y[.Z]; the default is 4.5."""
    assert pv.parse_version(text) == expected


def test_version_without_pbkdf2_is_refused() -> None:
    """Releases before 4.2 store an MD5 password: refused with the reason."""
    with pytest.raises(ProvisionError, match="MD5"):
        pv.parse_version("4.1")


def test_version_from_binary_output() -> None:
    """qbittorrent-nox --version output gives (major, minor)."""
    assert pv.version_from_output("qBittorrent v4.5.2\n") == (4, 5)
    assert pv.version_from_output("garbage") is None


@pytest.mark.parametrize("name", ["ab", "has space", 'quo"te', "back\\slash", "nön-ascii"])
def test_bad_usernames_are_refused(name: str) -> None:
    """Usernames are 3+ printable ASCII characters without spaces, quotes or backslashes."""
    with pytest.raises(ProvisionError, match="--username"):
        pv.check_username(name)


def test_short_password_is_refused_without_echoing_it() -> None:
    """A password shorter than qBittorrent's minimum is refused; the message never holds it."""
    with pytest.raises(ProvisionError) as info:
        pv.check_password(Secret("abc12"))
    assert "abc12" not in str(info.value)


def test_password_from_env() -> None:
    """--password-env reads the named variable; unset or empty is a one-line error naming it."""
    assert pv.password_from_env("PW", {"PW": PASSWORD}).reveal() == PASSWORD
    with pytest.raises(ProvisionError, match="PW"):
        pv.password_from_env("PW", {"PW": ""})
    with pytest.raises(ProvisionError, match="OTHER"):
        pv.password_from_env("OTHER", {})


@pytest.mark.parametrize(
    ("bind", "host", "domains"),
    [
        ("127.0.0.1", "127.0.0.1", "localhost;127.0.0.1"),
        ("127.0.0.2", "127.0.0.2", "localhost;127.0.0.1;127.0.0.2"),
        ("0.0.0.0", "127.0.0.1", "localhost;127.0.0.1"),
        ("::1", "[::1]", "localhost;127.0.0.1;[::1]"),
    ],
)
def test_url_and_server_domains_follow_bind(bind: str, host: str, domains: str) -> None:
    """The printed URL and WebUI\\ServerDomains name the address the WebUI listens on."""
    assert pv.url_host(bind) == host
    assert pv.server_domains(bind) == domains


def test_bind_must_be_an_ip() -> None:
    """--bind takes an IP address."""
    with pytest.raises(ProvisionError, match="--bind"):
        pv.check_bind("localhost")


# --- ports ------------------------------------------------------------------------------------


def test_choose_port_takes_the_first_free_one_not_excluded() -> None:
    """The BitTorrent port is the first free port of the range, never the WebUI port."""
    busy = {6881, 6882}
    assert pv.choose_port(range(6881, 6890), lambda p: p not in busy, exclude=(6883,)) == 6884
    assert pv.choose_port(range(6881, 6883), lambda p: p not in busy) is None


def test_next_free_port_is_after_the_busy_one() -> None:
    """Scenario 5's suggestion: the first free port after the busy one."""
    assert pv.next_free_port(52095, lambda p: p not in {52096, 52097}) == 52098
    assert pv.next_free_port(65535, lambda p: True) is None


@pytest.mark.parametrize(
    ("listening", "bind", "collides"),
    [
        ("127.0.0.1", "127.0.0.1", True),
        ("127.0.0.2", "127.0.0.1", False),
        ("0.0.0.0", "127.0.0.1", True),
        ("127.0.0.2", "0.0.0.0", True),
        ("::", "127.0.0.1", True),
        ("::ffff:127.0.0.1", "127.0.0.1", True),
        ("::1", "127.0.0.1", False),
    ],
)
def test_same_listener(listening: str, bind: str, collides: bool) -> None:
    """A qBittorrent on another loopback address with the same port is not this profile's instance."""
    assert pv.same_listener(listening, bind) is collides


# --- layout -----------------------------------------------------------------------------------


def test_layout_follows_the_spec_when_the_profile_is_named_profile(tmp_path: Path) -> None:
    """DIR named 'profile': downloads and start scripts sit beside it, as in the spec's tree."""
    lay = pv.make_layout(tmp_path / "qbittorrent_secondary" / "profile")
    root = tmp_path / "qbittorrent_secondary"
    assert lay.downloads == root / "downloads"
    assert lay.start_bat == root / "start_secondary.bat"
    assert lay.conf == root / "profile" / "qBittorrent" / "config" / "qBittorrent.conf"
    assert lay.logs == root / "profile" / "qBittorrent" / "logs"
    assert lay.incomplete == root / "downloads" / ".incomplete"
    assert lay.torrents_completed == root / "downloads" / ".torrents" / "completed"


def test_layout_is_self_contained_otherwise(tmp_path: Path) -> None:
    """Any other DIR keeps everything inside it."""
    lay = pv.make_layout(tmp_path / "qbsec")
    assert lay.downloads == tmp_path / "qbsec" / "downloads"
    assert lay.start_sh == tmp_path / "qbsec" / "start-secondary.sh"


# --- Qt INI values ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("plain", "plain"),
        ("localhost;127.0.0.1", '"localhost;127.0.0.1"'),
        ("/tmp/dé wn", "/tmp/d\\xe9 wn"),
        ("é1", "\\xe9\\x31"),
        ('q"\\', 'q\\"\\\\'),
        ("@ByteArray(x)", "@@ByteArray(x)"),
        (" lead", '" lead"'),
    ],
)
def test_qt_ini_value_writes_what_qsettings_writes(value: str, written: str) -> None:
    """Values are escaped as Qt 5's QSettings does (4.x reads the file as Latin-1)."""
    assert qt_ini_value(value) == written
    assert qt_ini_unescape(written) == value


def test_qt_ini_value_round_trips_outside_the_bmp() -> None:
    """Characters outside the BMP are written as UTF-16 surrogate escapes and read back."""
    assert qt_ini_unescape(qt_ini_value("x😀y")) == "x😀y"


def test_set_ini_values_replaces_only_the_named_keys() -> None:
    """Editing a conf changes the named keys of one section and leaves every other line alone."""
    text = (
        "[A]\r\nWebUI\\Port=1\r\n\r\n"
        "[Preferences]\r\nWebUI\\Username=old\r\nWebUI\\Port=2\r\n\r\n[Z]\r\nk=v\r\n"
    )
    new = set_ini_values(text, "Preferences", {"WebUI\\Username": "new", "WebUI\\Password_PBKDF2": '"h"'})
    assert new == (
        "[A]\r\nWebUI\\Port=1\r\n\r\n[Preferences]\r\nWebUI\\Username=new\r\nWebUI\\Port=2\r\n"
        'WebUI\\Password_PBKDF2="h"\r\n\r\n[Z]\r\nk=v\r\n'
    )
    assert read_ini_value(new, "A", "WebUI\\Port") == "1"
    assert read_ini_value(new, "Preferences", "WebUI\\Port") == "2"
    assert set_ini_values("[A]\nx=1\n", "B", {"y": "2"}) == "[A]\nx=1\n\n[B]\ny=2\n"


# --- the conf -------------------------------------------------------------------------------------


def _conf(tmp_path: Path, version: tuple[int, int]) -> str:
    lay = pv.make_layout(tmp_path / "profile")
    return render_qbittorrent_conf(
        pv.conf_options(
            lay,
            webui_port=52095,
            username="TopherGutbrod",
            password=Secret(PASSWORD),
            bt_port=6881,
            bind="127.0.0.1",
            version=version,
        )
    )


def test_conf_holds_the_spec_security_settings_and_no_plain_password(tmp_path: Path) -> None:
    """The conf has the spec's security settings, LocalHostAuth=true, and only the PBKDF2 hash."""
    text = _conf(tmp_path, (4, 5))
    assert PASSWORD not in text
    for line in [
        "WebUI\\LocalHostAuth=true",
        "WebUI\\CSRFProtection=true",
        "WebUI\\ClickjackingProtection=true",
        "WebUI\\HostHeaderValidation=true",
        'WebUI\\ServerDomains="localhost;127.0.0.1"',
        "WebUI\\SecureCookie=true",
        "WebUI\\SessionTimeout=3600",
        "WebUI\\MaxAuthenticationFailCount=5",
        "WebUI\\BanDuration=3600",
        "WebUI\\Address=127.0.0.1",
        "WebUI\\Port=52095",
        "Connection\\ResolvePeerCountries=false",
        "Accepted=true",
        "Session\\Port=6881",
        "Session\\ResumeDataStorageType=SQLite",
        "Session\\DHTEnabled=false",
        "PortForwardingEnabled=false",
    ]:
        assert line in text.splitlines(), line
    stored = read_ini_value(text, "Preferences", "WebUI\\Password_PBKDF2")
    assert stored is not None and verify_password(PASSWORD, stored)
    assert read_ini_value(text, "Application", "FileLogger\\Path") == str(
        tmp_path / "profile/qBittorrent/logs"
    )


def test_conf_for_older_versions_uses_the_pre_44_key_names(tmp_path: Path) -> None:
    """Before 4.4 the save path, port and DHT live under [Preferences] with their old names."""
    lines = _conf(tmp_path, (4, 3)).splitlines()
    assert "Connection\\PortRangeMin=6881" in lines
    assert "Bittorrent\\DHT=false" in lines
    assert f"Downloads\\SavePath={tmp_path / 'downloads'}" in lines
    assert not any(line.startswith("Session\\") for line in lines)


def test_conf_options_default_keeps_the_fastresume_storage() -> None:
    """ConfOptions users other than setup-secondary keep qBittorrent's default resume storage."""
    opts = ConfOptions(
        webui_port=1, username="abc", password=Secret(PASSWORD), downloads=Path("/d"), bt_port=2
    )
    assert "Session\\ResumeDataStorageType=Legacy" in render_qbittorrent_conf(opts).splitlines()


# --- start scripts ------------------------------------------------------------------------------


def test_start_sh_quotes_paths_and_sets_a_private_umask() -> None:
    """The shell script runs the binary with --profile and --webui-port, quoted, under umask 077."""
    text = pv.render_start_sh("/opt/q b/qbittorrent-nox", Path("/srv/my profile"), 52095)
    assert text.startswith("#!/bin/sh\n")
    assert "\numask 077\n" in text
    exec_line = next(line for line in text.splitlines() if line.startswith("exec "))
    words = shlex.split(exec_line)
    assert words[1:4] == ["/opt/q b/qbittorrent-nox", "--profile=/srv/my profile", "--webui-port=52095"]


def test_systemd_unit_quotes_and_escapes() -> None:
    """ExecStart quotes arguments with spaces and doubles % (a systemd specifier)."""
    text = pv.render_systemd_unit("/usr/bin/qbittorrent-nox", Path("/srv/100% secondary"), 52095)
    assert 'ExecStart=/usr/bin/qbittorrent-nox "--profile=/srv/100%% secondary" --webui-port=52095' in text
    assert "UMask=0077" in text and "WantedBy=default.target" in text


def test_start_bat_sets_appdata_and_both_flags() -> None:
    """The .bat follows the spec's STARTUP SEQUENCE with CRLF endings and %% for %."""
    text = pv.render_start_bat(pv.WINDOWS_DEFAULT_BINARY, r"C:\qb_sec\profile 100%", 52095)
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    assert 'set "APPDATA=C:\\qb_sec\\profile 100%%"' in text
    assert (
        '"C:\\Program Files\\qBittorrent\\qbittorrent.exe" --webui-port=52095 '
        '"--profile=C:\\qb_sec\\profile 100%%"' in text
    )


def test_binary_not_found_says_how_to_install() -> None:
    """No qbittorrent(-nox) on PATH: the note says to apt install qbittorrent-nox."""
    found = pv.find_binary("linux", lambda name: None)
    assert not found.found and "apt install qbittorrent-nox" in found.note
    assert pv.find_binary("linux", lambda name: f"/usr/bin/{name}").path == "/usr/bin/qbittorrent-nox"


# --- setup_secondary with injected I/O ---------------------------------------------------------


def test_setup_creates_the_layout_and_private_conf(tmp_path: Path) -> None:
    """Setup writes the conf (0600 on POSIX), scripts and the spec's folders, and names the URL."""
    report = _setup(tmp_path)
    lay = report.layout
    assert report.url == "http://127.0.0.1:52095/"
    assert report.bt_port == 6881
    for d in (lay.logs, lay.incomplete, lay.torrents_completed):
        assert d.is_dir()
    assert lay.start_sh.is_file() and lay.systemd_unit.is_file()
    assert not report.binary.found
    if os.name == "posix":
        assert lay.conf.stat().st_mode & 0o777 == 0o600
        assert lay.config_dir.stat().st_mode & 0o777 == 0o700
        assert lay.start_sh.stat().st_mode & 0o111


def test_setup_for_windows_writes_only_the_bat(tmp_path: Path) -> None:
    """--platform windows writes start_secondary.bat pointing at the installer's default path."""
    report = _setup(tmp_path, platform="windows")
    assert report.layout.start_bat.read_bytes().count(b"\r\n") >= 4
    assert pv.WINDOWS_DEFAULT_BINARY in report.layout.start_bat.read_text()
    assert not report.layout.start_sh.exists()


def test_setup_refuses_a_busy_webui_port_and_names_the_next_free_one(tmp_path: Path) -> None:
    """Scenario 5: a busy port is refused with the next free port suggested; nothing is written."""
    busy = {52095, 52096}
    with pytest.raises(
        ProvisionError, match=r"port 52095 on 127\.0\.0\.1 is already in use; next free port: 52097"
    ):
        pv.setup_secondary(
            _request(tmp_path),
            is_free=lambda host, port: port not in busy,
            bt_is_free=_all_free,
            running=_no_instance,
            which=lambda name: None,
        )
    assert not conf_path(tmp_path / "qbsec" / "profile").exists()


def test_setup_refuses_a_full_bt_range(tmp_path: Path) -> None:
    """No free port in --bt-ports: refused, naming the range."""
    with pytest.raises(ProvisionError, match="6881-6882"):
        pv.setup_secondary(
            _request(tmp_path, bt_ports="6881-6882"),
            is_free=_all_free,
            bt_is_free=lambda host, port: False,
            running=_no_instance,
            which=lambda name: None,
        )


def test_setup_refuses_while_the_instance_runs(tmp_path: Path) -> None:
    """A running instance of the profile blocks setup, naming its pid."""
    with pytest.raises(ProvisionError, match="pid 4242"):
        pv.setup_secondary(
            _request(tmp_path),
            is_free=_all_free,
            bt_is_free=_all_free,
            running=lambda profile, webui: pv.Running(4242, "--profile=x"),
            which=lambda name: None,
        )


def test_setup_never_overwrites_without_force(tmp_path: Path) -> None:
    """Re-running refuses while the conf exists; --force replaces it and keeps a timestamped copy."""
    first = _setup(tmp_path)
    before = first.layout.conf.read_text()
    with pytest.raises(ProvisionError, match="already exists; rerun with --force"):
        _setup(tmp_path)
    assert first.layout.conf.read_text() == before
    second = _setup(tmp_path, force=True)
    conf_backup = first.layout.conf.with_name("qBittorrent.conf.bak-20251128-150000")
    assert conf_backup in second.backups
    assert conf_backup.read_text() == before
    assert first.layout.conf.read_text() != before  # a fresh salt
    third = _setup(tmp_path, force=True)
    assert conf_backup.with_name(conf_backup.name + "-1") in third.backups


# --- reset_password -----------------------------------------------------------------------------


def test_reset_password_rewrites_only_the_hash_and_user(tmp_path: Path) -> None:
    """Only WebUI\\Password_PBKDF2 (and Username) change; a backup of the old conf is kept."""
    lay = _setup(tmp_path).layout
    before = lay.conf.read_text().splitlines()
    done = pv.reset_password(lay.profile, Secret("new-password-2"), "newuser", now=NOW, running=_no_instance)
    after = lay.conf.read_text().splitlines()
    changed = {a.partition("=")[0] for a, b in zip(after, before, strict=True) if a != b}
    assert changed == {"WebUI\\Password_PBKDF2", "WebUI\\Username"}
    text = "\n".join(after)
    stored = read_ini_value(text, "Preferences", "WebUI\\Password_PBKDF2")
    assert stored is not None and verify_password("new-password-2", stored)
    assert read_ini_value(text, "Preferences", "WebUI\\Username") == "newuser"
    assert done.backup.read_text().splitlines() == before


def test_reset_password_needs_an_existing_conf(tmp_path: Path) -> None:
    """No conf: a one-line error pointing at setup-secondary."""
    with pytest.raises(ProvisionError, match="setup-secondary"):
        pv.reset_password(tmp_path / "nothing", Secret(PASSWORD), running=_no_instance)


def test_reset_password_refuses_while_running(tmp_path: Path) -> None:
    """qBittorrent rewrites its conf on exit, so a running instance blocks the reset."""
    lay = _setup(tmp_path).layout
    with pytest.raises(ProvisionError, match="running"):
        pv.reset_password(lay.profile, Secret(PASSWORD), running=lambda p, w: pv.Running(1, "x"))


# --- backup ---------------------------------------------------------------------------------------


def _profile_with_db(tmp_path: Path) -> pv.Layout:
    lay = _setup(tmp_path, profile=tmp_path / "qbsec", force=False).layout
    data = lay.qbt_dir / "data"
    data.mkdir(parents=True)
    con = sqlite3.connect(data / "torrents.db")
    con.execute("create table torrents (id text)")
    con.execute("insert into torrents values ('abc')")
    con.commit()
    con.close()
    (lay.config_dir / "lockfile").write_text("")
    (lay.downloads / "big.bin").write_bytes(b"x" * 10)
    (lay.qbt_dir / "cache").mkdir()
    (lay.qbt_dir / "cache" / "c").write_text("c")
    return lay


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_backup_archives_the_profile_without_downloads(tmp_path: Path, fmt: str) -> None:
    """The archive holds the conf and a consistent copy of each database, not the downloads."""
    lay = _profile_with_db(tmp_path)
    report = pv.backup_profile(lay.profile, tmp_path / "backups", fmt, now=NOW, running=_no_instance)
    assert report.archive == tmp_path / "backups" / f"qbsec-backup-20251128-150000.{fmt}"
    if fmt == "zip":
        with zipfile.ZipFile(report.archive) as zf:
            names = set(zf.namelist())
            db_bytes = zf.read("qbsec/qBittorrent/data/torrents.db")
    else:
        with tarfile.open(report.archive) as tf:
            names = set(tf.getnames())
            member = tf.extractfile("qbsec/qBittorrent/data/torrents.db")
            assert member is not None
            db_bytes = member.read()
    assert "qbsec/qBittorrent/config/qBittorrent.conf" in names
    assert not any("downloads" in n or "lockfile" in n or "cache" in n for n in names)
    assert report.databases == ["qBittorrent/data/torrents.db"]
    copy = tmp_path / "copy.db"
    copy.write_bytes(db_bytes)
    con = sqlite3.connect(copy)
    assert con.execute("select id from torrents").fetchall() == [("abc",)]
    con.close()
    if os.name == "posix":
        assert report.archive.stat().st_mode & 0o777 == 0o600


def test_backup_refuses_a_folder_without_a_profile(tmp_path: Path) -> None:
    """--profile must hold qBittorrent/config/qBittorrent.conf."""
    with pytest.raises(ProvisionError, match="no qBittorrent profile"):
        pv.backup_profile(tmp_path, running=_no_instance)


def test_backup_refuses_the_profile_itself_as_destination(tmp_path: Path) -> None:
    """An archive inside the profile's own root would be archived next time: refused."""
    lay = _setup(tmp_path).layout
    with pytest.raises(ProvisionError, match="--dest"):
        pv.backup_profile(lay.profile, lay.profile, running=_no_instance)


# --- repair ---------------------------------------------------------------------------------------


def test_repair_moves_the_databases_aside_and_keeps_them(tmp_path: Path) -> None:
    """torrents.db (with its -wal) and BEP.sqlite move into a timestamped folder, bytes intact."""
    lay = _setup(tmp_path).layout
    data = lay.qbt_dir / "data"
    data.mkdir()
    garbage = os.urandom(4096)
    (data / "torrents.db").write_bytes(garbage)
    (data / "torrents.db-wal").write_bytes(b"wal")
    (lay.qbt_dir / "BEP.sqlite").write_bytes(b"")
    report = pv.repair_profile(lay.profile, now=NOW, running=_no_instance)
    assert report.folder == lay.qbt_dir / "damaged-20251128-150000"
    assert dict(report.moved) == {
        "qBittorrent/BEP.sqlite": "readable",  # an empty file is an empty database to sqlite
        "qBittorrent/data/torrents.db": "damaged",
        "qBittorrent/data/torrents.db-wal": "companion",
    }
    assert (report.folder / "data" / "torrents.db").read_bytes() == garbage
    assert not (data / "torrents.db").exists()
    again = pv.repair_profile(lay.profile, now=NOW, running=_no_instance)
    assert again.folder is None and again.moved == []


def test_repair_refuses_while_running(tmp_path: Path) -> None:
    """The databases are open while qBittorrent runs: repair refuses."""
    lay = _setup(tmp_path).layout
    with pytest.raises(ProvisionError, match="pid 7"):
        pv.repair_profile(lay.profile, running=lambda p, w: pv.Running(7, "x"))


# --- the CLI ------------------------------------------------------------------------------------


def test_cli_without_a_terminal_or_password_env_fails_in_one_line(tmp_path: Path) -> None:
    """No TTY and no --password-env: exit 5 with one error line; nothing is written."""
    result = CliRunner().invoke(
        app,
        ["setup-secondary", "--profile", str(tmp_path / "p"), "--webui-port", "52095", "--username", "abc"],
    )
    assert result.exit_code == 5
    assert result.stderr.count("\n") == 1 and "--password-env" in result.stderr
    assert not (tmp_path / "p").exists()


def test_cli_needs_port_and_username_unless_resetting(tmp_path: Path) -> None:
    """Missing --webui-port/--username is a usage error (exit 2) naming them."""
    result = CliRunner().invoke(app, ["setup-secondary", "--profile", str(tmp_path / "p")])
    assert result.exit_code == 2
    assert "--webui-port and --username" in result.stderr


def test_cli_setup_prints_the_url_and_never_the_password(tmp_path: Path) -> None:
    """The command reports what it did, prints QBITTORRENT_SECONDARY_URL, and not the password."""
    port = pv_free_port()
    result = CliRunner().invoke(
        app,
        [
            "setup-secondary",
            "--profile",
            str(tmp_path / "profile"),
            "--webui-port",
            str(port),
            "--username",
            "abc",
            "--password-env",
            "QBF_UNIT_PW",
            "--bt-ports",
            f"{port + 1}-{port + 40}",
            "--qbittorrent-version",
            "4.5",
        ],
        env={"QBF_UNIT_PW": PASSWORD},
    )
    assert result.exit_code == 0, result.stderr
    assert f"QBITTORRENT_SECONDARY_URL=http://127.0.0.1:{port}/" in result.stdout.splitlines()
    assert PASSWORD not in result.stdout + result.stderr


def test_cli_prompts_twice_without_echo_on_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a terminal the password is asked twice (again on a mismatch), never echoed, stored hashed."""
    from qbfailover.cli import provision as cli_provision

    monkeypatch.setattr(cli_provision, "_stdin_is_tty", lambda: True)
    port = pv_free_port()
    result = CliRunner().invoke(
        app,
        [
            "setup-secondary",
            "--profile",
            str(tmp_path / "profile"),
            "--webui-port",
            str(port),
            "--username",
            "abc",
            "--bt-ports",
            f"{port + 1}-{port + 40}",
            "--qbittorrent-version",
            "4.5",
        ],
        input=f"{PASSWORD}\nmistyped-one\n{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("Repeat for confirmation") == 2
    assert PASSWORD not in result.stdout + result.stderr
    stored = read_ini_value(
        conf_path(tmp_path / "profile").read_text(), "Preferences", "WebUI\\Password_PBKDF2"
    )
    assert stored is not None and verify_password(PASSWORD, stored)


def pv_free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("command", ["setup-secondary", "backup", "repair"])
def test_every_command_has_help(command: str) -> None:
    """Each provisioning command is registered on the main app and documents itself."""
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "--profile" in result.stdout
