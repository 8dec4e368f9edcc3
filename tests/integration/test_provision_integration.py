"""setup-secondary, backup and repair against real qbittorrent-nox: the profile they write is the
profile qBittorrent runs, with the security the spec asks for.

Every WebUI binds 127.0.0.1 on a free port; the BitTorrent session is pinned to ``lo`` as well
(``_pin_to_loopback``), with DHT, PeX, LSD and UPnP off as setup-secondary writes them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from harness import STOP_GRACE, free_port, wait_listening
from qbfailover.ops.provision import port_is_free
from qbfailover.ops.provision.conf import conf_path, read_ini_value, set_ini_values

pytestmark = pytest.mark.integration

HOST = "127.0.0.1"
USER = "TopherGutbrod"
PW_VAR = "QBF_TEST_SECONDARY_PASSWORD"

if os.name != "posix" or not shutil.which("qbittorrent-nox"):
    pytest.skip("needs qbittorrent-nox on a POSIX host", allow_module_level=True)


@dataclass
class Profile:
    dir: Path
    port: int
    password: str
    setup: subprocess.CompletedProcess[str]

    @property
    def conf(self) -> Path:
        return conf_path(self.dir)

    @property
    def root(self) -> Path:
        return self.dir.parent


def cli(*args: str, password: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m qbfailover ARGS`` with the password (if any) in $QBF_TEST_SECONDARY_PASSWORD."""
    env = {k: v for k, v in os.environ.items() if k != PW_VAR}
    if password is not None:
        env[PW_VAR] = password
    return subprocess.run(
        [sys.executable, "-m", "qbfailover", *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def setup(
    tmp_path: Path, *extra: str, password: str = "first-password-1", name: str = "profile", port: int = 0
) -> Profile:
    """``setup-secondary`` for ``tmp_path/qbsec/<name>`` on a free port (BitTorrent pinned to lo)."""
    port = port or free_port(HOST)
    profile = tmp_path / "qbsec" / name
    bt = free_port(HOST)
    done = cli(
        "setup-secondary",
        "--profile",
        str(profile),
        "--webui-port",
        str(port),
        "--username",
        USER,
        "--password-env",
        PW_VAR,
        "--bt-ports",
        f"{bt}-{bt}",
        *extra,
        password=password,
    )
    return Profile(profile, port, password, done)


def _pin_to_loopback(conf: Path) -> None:
    """Tests only: keep the BitTorrent session on lo/127.0.0.1 too (both key generations)."""
    text = conf.read_text()
    text = set_ini_values(
        text,
        "BitTorrent",
        {"Session\\Interface": "lo", "Session\\InterfaceName": "lo", "Session\\InterfaceAddress": HOST},
    )
    text = set_ini_values(
        text,
        "Preferences",
        {
            "Connection\\Interface": "lo",
            "Connection\\InterfaceName": "lo",
            "Connection\\InterfaceAddress": HOST,
        },
    )
    conf.write_text(text)


class Processes:
    """Every process a test starts; each is stopped (SIGTERM to its group, then SIGKILL) at the end."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[subprocess.Popen[bytes]] = []

    def spawn(self, argv: list[str], cwd: Path | None = None) -> subprocess.Popen[bytes]:
        log = (self.tmp_path / f"proc-{len(self.started)}.log").open("ab")
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.started.append(proc)
        return proc

    def start(
        self, p: Profile, profile_arg: str | None = None, cwd: Path | None = None
    ) -> subprocess.Popen[bytes]:
        """qbittorrent-nox on the profile, as harness.QbtInstance starts it; waits for the WebUI."""
        proc = self.spawn(
            ["qbittorrent-nox", f"--profile={profile_arg or p.dir}", f"--webui-port={p.port}"], cwd=cwd
        )
        wait_listening(HOST, p.port, 30.0, proc)
        return proc

    @staticmethod
    def stop(proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def stop_all(self) -> None:
        for proc in self.started:
            self.stop(proc)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    """Start processes; every one is stopped afterwards, whatever happens."""
    ps = Processes(tmp_path)
    try:
        yield ps
    finally:
        ps.stop_all()


def login(port: int, username: str, password: str) -> tuple[httpx.Client, httpx.Response]:
    """POST auth/login with httpx (no Origin/Referer); the client keeps the session cookie."""
    client = httpx.Client(base_url=f"http://{HOST}:{port}", timeout=10.0)
    reply = client.post("/api/v2/auth/login", data={"username": username, "password": password})
    return client, reply


def logs_in(port: int, username: str, password: str) -> bool:
    client, reply = login(port, username, password)
    with contextlib.closing(client):
        return reply.status_code == 200 and reply.text == "Ok."


def one_line(text: str) -> str:
    assert text.count("\n") == 1, text
    return text.strip()


# --- setup-secondary ------------------------------------------------------------------------------


def test_profile_starts_and_enforces_the_spec_security(tmp_path: Path, procs: Processes) -> None:
    """A profile from setup-secondary starts; its password logs in, a wrong one and no session do not."""
    p = setup(tmp_path)
    assert p.setup.returncode == 0, p.setup.stderr
    assert f"QBITTORRENT_SECONDARY_URL=http://127.0.0.1:{p.port}/" in p.setup.stdout.splitlines()
    assert p.password not in p.setup.stdout + p.setup.stderr + p.conf.read_text()
    assert p.conf.stat().st_mode & 0o777 == 0o600
    for d in ("downloads/.incomplete", "downloads/.torrents/completed", "profile/qBittorrent/logs"):
        assert (p.root / d).is_dir(), d
    _pin_to_loopback(p.conf)
    procs.start(p)

    with httpx.Client(base_url=f"http://{HOST}:{p.port}") as anonymous:
        assert anonymous.get("/api/v2/app/version").status_code == 403  # LocalHostAuth=true
    assert not logs_in(p.port, USER, "wrong-password")
    client, reply = login(p.port, USER, p.password)
    with contextlib.closing(client):
        assert (reply.status_code, reply.text) == (200, "Ok.")
        # WebUI\SecureCookie=true over plain http: 4.5.2 adds Secure only when HTTPS is on, so the
        # SID cookie still reaches httpx and the session works.
        assert "secure" not in reply.headers["set-cookie"].lower()
        assert client.get("/api/v2/app/version").status_code == 200
        prefs = client.get("/api/v2/app/preferences").json()
    expected = {
        "web_ui_csrf_protection_enabled": True,
        "web_ui_clickjacking_protection_enabled": True,
        "web_ui_host_header_validation_enabled": True,
        "web_ui_secure_cookie_enabled": True,
        "bypass_local_auth": False,
        "bypass_auth_subnet_whitelist_enabled": False,
        "web_ui_max_auth_fail_count": 5,
        "web_ui_ban_duration": 3600,
        "web_ui_session_timeout": 3600,
        "web_ui_address": HOST,
        "web_ui_port": p.port,
        "web_ui_username": USER,
        "web_ui_domain_list": "localhost;127.0.0.1",
        "dht": False,
        "pex": False,
        "lsd": False,
        "upnp": False,
        "resolve_peer_countries": False,
        "resume_data_storage_type": "SQLite",
        "save_path": str(p.root / "downloads"),
        "temp_path_enabled": True,
        "temp_path": str(p.root / "downloads" / ".incomplete"),
        "export_dir_fin": str(p.root / "downloads" / ".torrents" / "completed"),
    }
    assert {k: prefs[k] for k in expected} == expected
    assert prefs["listen_port"] == int(read_ini_value(p.conf.read_text(), "BitTorrent", "Session\\Port") or 0)


def test_pre_44_key_names_are_read_by_452(tmp_path: Path, procs: Processes) -> None:
    """--qbittorrent-version 4.3 writes the old key names, and 4.5.2 still applies them (migration)."""
    p = setup(tmp_path, "--qbittorrent-version", "4.3")
    assert p.setup.returncode == 0, p.setup.stderr
    text = p.conf.read_text()
    bt_port = int(read_ini_value(text, "Preferences", "Connection\\PortRangeMin") or 0)
    assert read_ini_value(text, "BitTorrent", "Session\\Port") is None
    _pin_to_loopback(p.conf)
    procs.start(p)
    client, reply = login(p.port, USER, p.password)
    with contextlib.closing(client):
        assert reply.text == "Ok."
        prefs = client.get("/api/v2/app/preferences").json()
    assert (prefs["listen_port"], prefs["save_path"], prefs["dht"], prefs["pex"], prefs["lsd"]) == (
        bt_port,
        str(p.root / "downloads"),
        False,
        False,
        False,
    )
    assert prefs["temp_path"] == str(p.root / "downloads" / ".incomplete")


def test_busy_webui_port_is_refused_naming_the_next_free_port(tmp_path: Path) -> None:
    """Scenario 5: with the port taken on 127.0.0.1, setup refuses in one line and names a free port."""
    with socket.socket() as blocker:
        blocker.bind((HOST, 0))
        blocker.listen(1)
        busy = blocker.getsockname()[1]
        p = setup(tmp_path, port=busy)
        assert p.setup.returncode == 5
        line = one_line(p.setup.stderr)
        prefix = f"qbfailover: error: port {busy} on 127.0.0.1 is already in use; next free port: "
        assert line.startswith(prefix)
        suggested = int(line[len(prefix) :].split(";")[0])
        assert suggested > busy and port_is_free(HOST, suggested)
        assert f"--webui-port {suggested}" in line
    assert not p.conf.exists()


def test_running_instance_blocks_setup_reset_and_repair(tmp_path: Path, procs: Processes) -> None:
    """While qBittorrent runs the profile (even via a relative --profile) writers refuse; backup works."""
    p = setup(tmp_path)
    _pin_to_loopback(p.conf)
    proc = procs.start(p, profile_arg=p.dir.name, cwd=p.dir.parent)
    before = p.conf.read_bytes()
    again = setup(tmp_path, "--force", port=p.port)
    reset = cli("setup-secondary", "--profile", str(p.dir), "--reset-password", "--password-env", PW_VAR,
                password="another-password-2")  # fmt: skip
    repair = cli("repair", "--profile", str(p.dir))
    for done in (again.setup, reset, repair):
        assert done.returncode == 5
        assert f"qBittorrent is running (pid {proc.pid}" in one_line(done.stderr)
    assert p.conf.read_bytes() == before

    backup = cli("backup", "--profile", str(p.dir), "--dest", str(tmp_path / "backups"))
    assert backup.returncode == 0, backup.stderr
    assert "while qBittorrent was running" in backup.stdout
    (archive,) = (tmp_path / "backups").glob("profile-backup-*.tar.gz")
    with tarfile.open(archive) as tf:
        names = tf.getnames()
        db = tf.extractfile("profile/qBittorrent/data/torrents.db")
        assert db is not None
        (tmp_path / "copy.db").write_bytes(db.read())
    assert "profile/qBittorrent/config/qBittorrent.conf" in names
    assert not any("lockfile" in n or "ipc-socket" in n for n in names)
    con = sqlite3.connect(tmp_path / "copy.db")
    try:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert con.execute("select count(*) from sqlite_master where name = 'torrents'").fetchone() == (1,)
    finally:
        con.close()


def test_force_replaces_the_conf_and_keeps_a_backup(tmp_path: Path, procs: Processes) -> None:
    """Re-running refuses without --force; with it the old conf is kept and the new password works."""
    first = setup(tmp_path)
    original = first.conf.read_text()
    refused = setup(tmp_path, port=first.port, password="second-password-2")
    assert refused.setup.returncode == 5
    assert "already exists; rerun with --force" in one_line(refused.setup.stderr)
    assert first.conf.read_text() == original

    second = setup(tmp_path, "--force", port=first.port, password="second-password-2")
    assert second.setup.returncode == 0, second.setup.stderr
    (kept,) = first.conf.parent.glob("qBittorrent.conf.bak-*")
    assert kept.read_text() == original
    assert kept.stat().st_mode & 0o777 == 0o600
    assert second.conf.stat().st_mode & 0o777 == 0o600
    _pin_to_loopback(second.conf)
    procs.start(second)
    assert logs_in(second.port, USER, "second-password-2")


def test_reset_password_new_one_logs_in_old_one_fails(tmp_path: Path, procs: Processes) -> None:
    """--reset-password rewrites the hash (and user); afterwards only the new credentials work."""
    p = setup(tmp_path)
    _pin_to_loopback(p.conf)
    reset = cli(
        "setup-secondary",
        "--profile",
        str(p.dir),
        "--reset-password",
        "--username",
        "newuser",
        "--password-env",
        PW_VAR,
        password="brand-new-password-3",
    )
    assert reset.returncode == 0, reset.stderr
    assert "brand-new-password-3" not in reset.stdout + reset.stderr
    assert len(list(p.conf.parent.glob("qBittorrent.conf.bak-*"))) == 1
    procs.start(p)
    assert logs_in(p.port, "newuser", "brand-new-password-3")
    assert not logs_in(p.port, "newuser", p.password)
    assert not logs_in(p.port, USER, "brand-new-password-3")


# --- backup and repair ----------------------------------------------------------------------------


def test_zip_backup_of_a_stopped_profile_contains_the_conf(tmp_path: Path) -> None:
    """backup --format zip writes a timestamped archive holding the conf, downloads left out."""
    p = setup(tmp_path, "--downloads", str(tmp_path / "qbsec" / "profile" / "downloads"))
    (tmp_path / "qbsec" / "profile" / "downloads" / "film.mkv").write_bytes(b"x")
    done = cli("backup", "--profile", str(p.dir), "--format", "zip")
    assert done.returncode == 0, done.stderr
    (archive,) = (tmp_path / "qbsec").glob("profile-backup-*.zip")
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
        assert zf.read("profile/qBittorrent/config/qBittorrent.conf") == p.conf.read_bytes()
    assert not any("film.mkv" in n for n in names)


def _exits(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    return proc.wait(timeout)


def test_repair_moves_a_corrupt_database_aside_and_the_instance_starts(
    tmp_path: Path, procs: Processes
) -> None:
    """Scenario 4: a corrupt torrents.db stops qBittorrent; repair moves it aside; it starts again."""
    p = setup(tmp_path)
    _pin_to_loopback(p.conf)
    procs.stop(procs.start(p))
    db = p.dir / "qBittorrent" / "data" / "torrents.db"
    assert db.is_file()
    garbage = os.urandom(20_000)
    db.write_bytes(garbage)
    broken = procs.spawn(["qbittorrent-nox", f"--profile={p.dir}", f"--webui-port={p.port}"])
    assert _exits(broken) != 0

    done = cli("repair", "--profile", str(p.dir))
    assert done.returncode == 0, done.stderr
    assert "moved    qBittorrent/data/torrents.db (damaged)" in done.stdout.splitlines()
    (folder,) = (p.dir / "qBittorrent").glob("damaged-*")
    assert (folder / "data" / "torrents.db").read_bytes() == garbage
    procs.start(p)
    assert logs_in(p.port, USER, p.password)


# --- start scripts --------------------------------------------------------------------------------


def test_start_script_runs_the_instance_and_keeps_the_conf_private(tmp_path: Path, procs: Processes) -> None:
    """start-secondary.sh starts the WebUI on the port; after it stops, the rewritten conf is still 0600."""
    p = setup(tmp_path)
    script = p.root / "start-secondary.sh"
    assert os.access(script, os.X_OK)
    assert f"--webui-port={p.port}" in script.read_text()
    _pin_to_loopback(p.conf)
    p.conf.chmod(0o600)
    proc = procs.spawn([str(script)])
    wait_listening(HOST, p.port, 30.0, proc)
    assert logs_in(p.port, USER, p.password)
    procs.stop(proc)
    assert proc.returncode == 0
    assert "[Meta]" in p.conf.read_text()  # qBittorrent did rewrite it on exit
    assert p.conf.stat().st_mode & 0o777 == 0o600
    unit = (p.root / "qbittorrent-secondary.service").read_text()
    assert f"ExecStart={_which_nox()} --profile={p.dir} --webui-port={p.port}" in unit.splitlines()


def _which_nox() -> str:
    found = shutil.which("qbittorrent-nox")
    assert found
    return os.path.abspath(found)


def test_windows_bat_follows_the_spec_startup_sequence(tmp_path: Path) -> None:
    """--platform windows writes start_secondary.bat: APPDATA, --webui-port, --profile, the default exe."""
    p = setup(tmp_path, "--platform", "windows")
    assert p.setup.returncode == 0, p.setup.stderr
    raw = (p.root / "start_secondary.bat").read_bytes()
    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")
    lines = raw.decode().splitlines()
    assert f'set "APPDATA={p.dir}"' in lines
    assert any(
        line.startswith('start "qBittorrent Secondary" "C:\\Program Files\\qBittorrent\\qbittorrent.exe" ')
        and f"--webui-port={p.port}" in line
        and f'"--profile={p.dir}"' in line
        for line in lines
    )
    assert not (p.root / "start-secondary.sh").exists()
    assert "start_secondary.bat assumes the installer's default path" in p.setup.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a network namespace needs root")
def test_listener_in_another_network_namespace_does_not_count() -> None:
    """A process in another network namespace (a container) does not hold our WebUI port."""
    from qbfailover.ops.provision import same_netns

    other = subprocess.Popen(["unshare", "--net", "sleep", "30"])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and os.readlink(f"/proc/{other.pid}/ns/net") == os.readlink(
            "/proc/self/ns/net"
        ):
            time.sleep(0.01)  # unshare switches namespaces just after it starts
        assert same_netns(os.getpid())
        assert not same_netns(other.pid)
    finally:
        other.kill()
        other.wait()
