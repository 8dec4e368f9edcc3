"""The secondary qBittorrent instance: profile tree, qBittorrent.conf, start scripts, backup, repair.

The spec's layout (FILE SYSTEM LAYOUT), with ``--profile DIR``::

    ROOT/                          DIR's parent when DIR is named "profile" (the spec), else DIR
    ├── profile/ (= DIR)
    │   └── qBittorrent/
    │       ├── config/qBittorrent.conf     0600, password as PBKDF2 only
    │       ├── logs/qbittorrent.log        (FileLogger\\Path points here, as the spec draws it)
    │       └── data/torrents.db            resume data in SQLite (4.4+), the spec's torrents.db
    ├── downloads/                 --downloads; .incomplete/ and .torrents/completed/ inside
    ├── start-secondary.sh         POSIX start script (umask 077: qBittorrent rewrites its conf)
    ├── qbittorrent-secondary.service   systemd user unit (copy to ~/.config/systemd/user/)
    └── start_secondary.bat        Windows (--platform windows): APPDATA + --profile + --webui-port

Pure functions (rendering, port choice given a predicate, paths, validation) come first; the I/O
edges (sockets, psutil, files, sqlite3, archives) come after and raise only ``ProvisionError``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shlex
import shutil
import socket
import sqlite3
import subprocess
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePath

from qbfailover.config import Secret
from qbfailover.errors import ProvisionError
from qbfailover.ops.qbtconf import (
    ConfOptions,
    conf_path,
    password_values,
    read_ini_value,
    read_webui_value,
    render_qbittorrent_conf,
    set_webui_values,
)

DEFAULT_BT_PORTS = "6881-6920"
DEFAULT_BIND = "127.0.0.1"
DEFAULT_VERSION = (4, 5)
MIN_VERSION = (4, 2)  # PBKDF2 passwords; older releases stored an MD5 (WebUI\Password_ha1)
MIN_PASSWORD = 6  # qBittorrent's own minimum in its options dialog
WINDOWS_DEFAULT_BINARY = r"C:\Program Files\qBittorrent\qbittorrent.exe"
WINDOWS_X86_BINARY = r"C:\Program Files (x86)\qBittorrent\qbittorrent.exe"
SYSTEMD_FALLBACK_BINARY = "/usr/bin/qbittorrent-nox"
UNIT_NAME = "qbittorrent-secondary.service"
DATABASE_NAMES = ("torrents.db", "BEP.sqlite")
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")
SQLITE_MAGIC = b"SQLite format 3\x00"
# Files that exist only while qBittorrent runs and mean nothing in a copy.
RUNTIME_ONLY = frozenset({"lockfile", "ipc-socket", "storage.lock"})
PORT_SEARCH = 200  # how far past a busy WebUI port we look for a free one


# --- pure: validation and parsing ---------------------------------------------------------------


def parse_port_range(text: str) -> tuple[int, int]:
    """``"6881-6920"`` → ``(6881, 6920)``; a single port is a range of one."""
    m = re.fullmatch(r"\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?", text)
    if not m:
        raise ProvisionError(f"--bt-ports {text!r}: give a port or a range such as {DEFAULT_BT_PORTS}")
    lo = int(m.group(1))
    hi = int(m.group(2) or lo)
    if not (1 <= lo <= hi <= 65535):
        raise ProvisionError(f"--bt-ports {text!r}: ports go from 1 to 65535, low end first")
    return lo, hi


def check_port(port: int, what: str = "--webui-port") -> int:
    if not 1 <= port <= 65535:
        raise ProvisionError(f"{what} {port}: give a TCP port from 1 to 65535")
    return port


def parse_version(text: str | None) -> tuple[int, int]:
    """``"4.5"`` / ``"4.5.2"`` / ``"v4.3.9"`` → ``(4, 5)``; refuses releases without PBKDF2."""
    if text is None:
        return DEFAULT_VERSION
    m = re.fullmatch(r"\s*v?(\d+)\.(\d+)(?:\.\d+)*\s*", text)
    if not m:
        raise ProvisionError(f"--qbittorrent-version {text!r}: give X.Y, such as 4.5")
    version = int(m.group(1)), int(m.group(2))
    if version < MIN_VERSION:
        raise ProvisionError(
            f"qBittorrent {text} stores an MD5 WebUI password; upgrade to 4.2 or later (4.4+ recommended)"
        )
    return version


def version_from_output(text: str) -> tuple[int, int] | None:
    """``"qBittorrent v4.5.2"`` (``--version`` output) → ``(4, 5)``."""
    m = re.search(r"v(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


_USERNAME = re.compile(r"[\x21-\x7e]{3,}")


def check_username(name: str) -> str:
    """qBittorrent wants at least 3 characters; we also keep to printable ASCII without spaces."""
    if not _USERNAME.fullmatch(name) or any(c in name for c in "\\\"'"):
        raise ProvisionError(
            "--username: use at least 3 printable ASCII characters, without spaces, quotes or backslashes"
        )
    return name


def check_password(password: Secret) -> Secret:
    value = password.reveal()
    if len(value) < MIN_PASSWORD:
        raise ProvisionError(
            f"the password is too short: qBittorrent needs at least {MIN_PASSWORD} characters"
        )
    if value != value.strip() or any(c in value for c in "\r\n\x00"):
        raise ProvisionError("the password must not start or end with spaces nor hold line breaks")
    return password


def password_from_env(var: str, environ: Mapping[str, str]) -> Secret:
    """The password held by the environment variable named ``var`` (never echoed)."""
    value = environ.get(var)
    if not value:
        raise ProvisionError(f"--password-env {var}: that environment variable is not set or empty")
    return check_password(Secret(value))


def check_bind(address: str) -> str:
    """An IP address (``0.0.0.0``/``::`` listen everywhere: only do that on purpose)."""
    try:
        return str(ipaddress.ip_address(address.strip("[]")))
    except ValueError:
        raise ProvisionError(
            f"--bind {address!r}: give an IP address such as 127.0.0.1 (the default)"
        ) from None


def url_host(bind: str) -> str:
    """The host to put in QBITTORRENT_SECONDARY_URL for a WebUI bound to ``bind``."""
    ip = ipaddress.ip_address(bind)
    if ip.is_unspecified:
        return "127.0.0.1" if ip.version == 4 else "[::1]"
    return f"[{ip}]" if ip.version == 6 else str(ip)


def server_domains(bind: str) -> str:
    """WebUI\\ServerDomains: what the Host header may name (host-header validation stays on)."""
    names = ["localhost", "127.0.0.1"]
    ip = ipaddress.ip_address(bind)
    if ip.version == 6:
        names.append("[::1]" if ip.is_unspecified else f"[{ip}]")
    elif not ip.is_unspecified and str(ip) not in names:
        names.append(str(ip))
    return ";".join(names)


def choose_port(
    candidates: Iterable[int], is_free: Callable[[int], bool], exclude: Iterable[int] = ()
) -> int | None:
    """The first candidate that ``is_free`` and is not excluded."""
    skip = set(exclude)
    return next((p for p in candidates if p not in skip and is_free(p)), None)


def next_free_port(busy: int, is_free: Callable[[int], bool], exclude: Iterable[int] = ()) -> int | None:
    """The first free port after ``busy`` (the suggestion for the spec's scenario 5)."""
    return choose_port(range(busy + 1, min(busy + PORT_SEARCH, 65535) + 1), is_free, exclude)


def timestamp(now: datetime) -> str:
    return now.strftime("%Y%m%d-%H%M%S")


# --- pure: layout ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """Where everything for one secondary instance lives."""

    profile: Path
    downloads: Path

    @property
    def root(self) -> Path:
        """Where start scripts go: the spec keeps them beside ``profile/``."""
        return self.profile.parent if self.profile.name.lower() == "profile" else self.profile

    @property
    def qbt_dir(self) -> Path:
        return self.profile / "qBittorrent"

    @property
    def config_dir(self) -> Path:
        return self.conf.parent

    @property
    def conf(self) -> Path:
        return conf_path(self.profile)

    @property
    def logs(self) -> Path:
        return self.qbt_dir / "logs"

    @property
    def incomplete(self) -> Path:
        return self.downloads / ".incomplete"

    @property
    def torrents_completed(self) -> Path:
        return self.downloads / ".torrents" / "completed"

    @property
    def start_sh(self) -> Path:
        return self.root / "start-secondary.sh"

    @property
    def systemd_unit(self) -> Path:
        return self.root / UNIT_NAME

    @property
    def start_bat(self) -> Path:
        return self.root / "start_secondary.bat"

    def scripts(self, platform: str) -> list[Path]:
        return [self.start_bat] if platform == "windows" else [self.start_sh, self.systemd_unit]


def default_downloads(profile: Path) -> Path:
    """``DIR/../downloads`` when DIR is named ``profile`` (the spec's layout), else ``DIR/downloads``."""
    return (profile.parent if profile.name.lower() == "profile" else profile) / "downloads"


def make_layout(profile: Path, downloads: Path | None = None) -> Layout:
    profile = Path(os.path.abspath(profile))
    return Layout(profile, Path(os.path.abspath(downloads)) if downloads else default_downloads(profile))


# --- pure: start scripts -----------------------------------------------------------------------


@dataclass(frozen=True)
class Binary:
    """The qBittorrent executable the scripts run, and whether it was found."""

    path: str
    found: bool
    note: str = ""  # printed when set: how to install it, or what was assumed


def render_start_sh(binary: str, profile: Path, webui_port: int) -> str:
    """A POSIX start script: foreground process (exec), conf kept private by the umask."""
    cmd = " ".join(shlex.quote(a) for a in (binary, f"--profile={profile}", f"--webui-port={webui_port}"))
    return (
        "#!/bin/sh\n"
        "# Start the qBittorrent secondary instance (written by 'qbfailover setup-secondary').\n"
        "# Runs in the foreground; add -d to fork. Stop it with SIGTERM (it may take up to 30 s).\n"
        "# umask 077: qBittorrent rewrites qBittorrent.conf on exit and would otherwise make it 0644.\n"
        "umask 077\n"
        f'exec {cmd} "$@" </dev/null\n'
    )


def _systemd_quote(arg: str) -> str:
    arg = arg.replace("%", "%%").replace("$", "$$")
    if re.search(r"[\s\"'\\;]", arg):
        return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return arg


def render_systemd_unit(binary: str, profile: Path, webui_port: int) -> str:
    """A systemd *user* unit (``systemctl --user``); ExecStart needs an absolute binary path."""
    exec_start = " ".join(
        _systemd_quote(a) for a in (binary, f"--profile={profile}", f"--webui-port={webui_port}")
    )
    return (
        "[Unit]\n"
        "Description=qBittorrent secondary instance (qbfailover failover target)\n"
        "After=network-online.target\n"
        "Wants=network-online.target\n"
        "\n"
        "[Service]\n"
        "Type=simple\n"
        f"ExecStart={exec_start}\n"
        "UMask=0077\n"
        "StandardInput=null\n"
        "Restart=on-failure\n"
        "RestartSec=10\n"
        "TimeoutStopSec=35\n"
        "\n"
        "[Install]\n"
        "WantedBy=default.target\n"
    )


def _bat_quote(text: str) -> str:
    return text.replace("%", "%%")


def render_start_bat(binary: str, profile: str, webui_port: int) -> str:
    """The spec's STARTUP SEQUENCE: ``set APPDATA=profile`` then qbittorrent.exe with both flags."""
    profile_text = _bat_quote(profile)
    lines = [
        "@echo off",
        "rem Start the qBittorrent secondary instance (written by 'qbfailover setup-secondary').",
        f'set "APPDATA={profile_text}"',
        f'start "qBittorrent Secondary" "{_bat_quote(binary)}" --webui-port={webui_port} '
        f'"--profile={profile_text}"',
    ]
    return "\r\n".join(lines) + "\r\n"


# --- pure: the conf -----------------------------------------------------------------------------


def conf_options(
    layout: Layout,
    *,
    webui_port: int,
    username: str,
    password: Secret,
    bt_port: int,
    bind: str,
    version: tuple[int, int],
) -> ConfOptions:
    """The spec's SECURITY CONSIDERATIONS, with LocalHostAuth=true (password required on localhost)."""
    return ConfOptions(
        webui_port=webui_port,
        username=username,
        password=password,
        downloads=layout.downloads,
        bt_port=bt_port,
        bind=bind,
        version=version,
        server_domains=server_domains(bind),
        local_host_auth=True,
        secure_cookie=True,
        session_timeout=3600,
        ban_count=5,
        ban_duration=3600,
        log_dir=layout.logs,
        resume_storage="SQLite" if version >= (4, 4) else "Legacy",
    )


# --- I/O: ports, processes, binaries -----------------------------------------------------------


def port_is_free(host: str, port: int, kind: int = socket.SOCK_STREAM) -> bool:
    """Can qBittorrent bind ``host:port``? (SO_REUSEADDR on POSIX, as Qt sets it; busy = False.)"""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, kind) as s:
            if os.name == "posix":
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
            if kind == socket.SOCK_STREAM:
                s.listen(1)
    except OSError:
        return False
    return True


def bt_port_is_free(host: str, port: int) -> bool:
    """BitTorrent listens on TCP and UDP (uTP, DHT) on the same port."""
    return port_is_free(host, port) and port_is_free(host, port, socket.SOCK_DGRAM)


@dataclass(frozen=True)
class Running:
    """A qBittorrent process that holds this profile (or its WebUI port)."""

    pid: int
    why: str


RunningCheck = Callable[[Path, tuple[str, int] | None], Running | None]


def _same_path(a: str, b: Path, cwd: str | None) -> bool:
    p = Path(a).expanduser()
    if not p.is_absolute() and cwd:
        p = Path(cwd) / p
    try:
        return os.path.samefile(p, b) if p.exists() and b.exists() else os.path.abspath(p) == str(b)
    except OSError:
        return False


def _profile_args(cmdline: list[str]) -> Iterator[str]:
    for i, arg in enumerate(cmdline):
        if arg.startswith("--profile="):
            yield arg.split("=", 1)[1]
        elif arg == "--profile" and i + 1 < len(cmdline):
            yield cmdline[i + 1]


def same_listener(listening: str, bind: str) -> bool:
    """Would a WebUI bound to ``bind`` collide with a socket listening on ``listening``?

    The same address, or either one a wildcard (two instances on 127.0.0.1 and 127.0.0.2 with one
    port, as in the spec's topology, do not collide).
    """
    try:
        a, b = ipaddress.ip_address(listening.split("%")[0]), ipaddress.ip_address(bind)
    except ValueError:
        return True
    if a.is_unspecified or b.is_unspecified:
        return True
    mapped = a.ipv4_mapped if isinstance(a, ipaddress.IPv6Address) else None
    return a == b or mapped == b


def _same_netns(pid: int) -> bool:
    """Whether ``pid`` shares our network namespace (Linux); a qBittorrent in a container's own
    namespace listening on "our" port does not hold it for us. Elsewhere: assume it does."""
    try:
        return os.readlink(f"/proc/{pid}/ns/net") == os.readlink("/proc/self/ns/net")
    except OSError:
        return True


def find_running(profile: Path, webui: tuple[str, int] | None = None) -> Running | None:
    """A qbittorrent process whose command line names ``--profile=profile``, or that listens on
    ``webui`` (host, port). Processes we may not inspect are skipped."""
    import psutil

    profile = Path(os.path.abspath(profile))
    for proc in psutil.process_iter(["pid", "name", "cmdline"]):
        try:
            name = (proc.info.get("name") or "").lower()
            cmdline = proc.info.get("cmdline") or []
            if "qbittorrent" not in name and not any("qbittorrent" in c.lower() for c in cmdline[:2]):
                continue
            for arg in _profile_args(cmdline):
                cwd = None
                with contextlib.suppress(psutil.Error):
                    cwd = proc.cwd()
                if _same_path(arg, profile, cwd):
                    return Running(proc.pid, f"--profile={arg}")
            if webui is not None and _same_netns(proc.pid):
                for conn in proc.net_connections(kind="inet"):
                    if (
                        conn.status == psutil.CONN_LISTEN
                        and conn.laddr
                        and conn.laddr.port == webui[1]
                        and same_listener(conn.laddr.ip, webui[0])
                    ):
                        return Running(proc.pid, f"listening on {conn.laddr.ip}:{webui[1]}")
        except (psutil.Error, OSError):
            continue
    return None


def refuse_if_running(
    profile: Path, webui: tuple[str, int] | None, action: str, running: RunningCheck = find_running
) -> None:
    found = running(profile, webui)
    if found is not None:
        raise ProvisionError(
            f"qBittorrent is running (pid {found.pid}, {found.why}); stop it before {action}"
        )


def find_binary(platform: str, which: Callable[[str], str | None] = shutil.which) -> Binary:
    """qbittorrent-nox (else qbittorrent) on PATH; on Windows the installer's default path."""
    if platform == "windows":
        found = which("qbittorrent.exe") if os.name == "nt" else None
        if found:
            return Binary(found, True)
        for candidate in (WINDOWS_DEFAULT_BINARY, WINDOWS_X86_BINARY):
            if os.name == "nt" and Path(candidate).exists():
                return Binary(candidate, True)
        if os.name != "nt":
            return Binary(
                WINDOWS_DEFAULT_BINARY,
                False,
                "not on Windows, so qbittorrent.exe was not looked for: start_secondary.bat assumes the "
                "installer's default path; edit it if qBittorrent lives elsewhere",
            )
        return Binary(
            WINDOWS_DEFAULT_BINARY,
            False,
            "qBittorrent is not installed: install it (winget install qBittorrent.qBittorrent, or the "
            "installer from qbittorrent.org), then check the path in start_secondary.bat",
        )
    for name in ("qbittorrent-nox", "qbittorrent"):
        path = which(name)
        if path:
            return Binary(os.path.abspath(path), True)
    return Binary(
        "qbittorrent-nox",
        False,
        "qbittorrent-nox is not installed: install it (apt install qbittorrent-nox), then rerun with --force "
        "or edit the start scripts",
    )


def detect_version(binary: Binary) -> tuple[int, int] | None:
    """Ask a found ``qbittorrent-nox`` for its version (the GUI build would open a window: skipped)."""
    if not binary.found or "nox" not in PurePath(binary.path).name:
        return None
    try:
        done = subprocess.run(
            [binary.path, "--version"], capture_output=True, text=True, timeout=15, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return version_from_output(done.stdout + done.stderr)


# --- I/O: files -------------------------------------------------------------------------------


def _chmod(path: Path, mode: int) -> None:
    if os.name == "posix":
        os.chmod(path, mode)


def write_file(path: Path, text: str, mode: int = 0o644, newline: str = "\n") -> None:
    """Write ``text`` atomically (temp file + replace) with ``mode`` (POSIX) from the first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        _chmod(Path(tmp), mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def backup_copy(path: Path, now: datetime) -> Path:
    """Copy ``path`` to ``path.bak-YYYYmmdd-HHMMSS`` (mode kept; never overwrites a backup)."""
    base = path.with_name(f"{path.name}.bak-{timestamp(now)}")
    target, n = base, 1
    while target.exists():
        target, n = base.with_name(f"{base.name}-{n}"), n + 1
    shutil.copy2(path, target)
    return target


def _os_error(exc: OSError, what: str) -> ProvisionError:
    where = f" {exc.filename}" if exc.filename else ""
    return ProvisionError(f"cannot {what}:{where} {exc.strerror or exc}; check the path and permissions")


# --- setup-secondary ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SetupRequest:
    """What ``qbfailover setup-secondary`` was asked to do."""

    profile: Path
    webui_port: int
    username: str
    password: Secret = field(repr=False)
    downloads: Path | None = None
    bt_ports: str = DEFAULT_BT_PORTS
    bind: str = DEFAULT_BIND
    platform: str = "linux"
    version: str | None = None
    force: bool = False


@dataclass
class SetupReport:
    """What setup did, for the CLI to print."""

    layout: Layout
    url: str
    webui: str
    bt_port: int
    bt_range: tuple[int, int]
    version: tuple[int, int]
    version_source: str
    binary: Binary
    created: list[Path] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    backups: list[Path] = field(default_factory=list)


def setup_secondary(
    req: SetupRequest,
    *,
    now: datetime | None = None,
    is_free: Callable[[str, int], bool] = port_is_free,
    bt_is_free: Callable[[str, int], bool] = bt_port_is_free,
    running: RunningCheck = find_running,
    which: Callable[[str], str | None] = shutil.which,
) -> SetupReport:
    """Create (or with ``force`` replace, keeping backups) a secondary instance profile."""
    now = now or datetime.now()
    if req.platform not in ("linux", "windows"):
        raise ProvisionError(f"--platform {req.platform!r}: use linux or windows")
    port = check_port(req.webui_port)
    username = check_username(req.username)
    password = check_password(req.password)
    bind = check_bind(req.bind)
    lo, hi = parse_port_range(req.bt_ports)
    layout = make_layout(req.profile, req.downloads)
    binary = find_binary(req.platform, which)
    if req.version is not None:
        version, source = parse_version(req.version), "--qbittorrent-version"
    else:
        detected = detect_version(binary)
        version, source = (detected, binary.path) if detected else (DEFAULT_VERSION, "default")

    refuse_if_running(
        layout.profile, (bind, port), "setting it up (it rewrites qBittorrent.conf on exit)", running
    )
    targets = [layout.conf, *layout.scripts(req.platform)]
    existing = [p for p in targets if p.exists()]
    if existing and not req.force:
        raise ProvisionError(
            f"{existing[0]} already exists; rerun with --force to replace it (a timestamped backup is kept) "
            "or use --reset-password to change only the password"
        )
    if not is_free(bind, port):
        nxt = next_free_port(port, lambda p: is_free(bind, p))
        hint = (
            f"next free port: {nxt}; rerun with --webui-port {nxt}" if nxt else "choose another --webui-port"
        )
        raise ProvisionError(f"port {port} on {bind} is already in use; {hint}")
    bt_port = choose_port(range(lo, hi + 1), lambda p: bt_is_free(bind, p), exclude=(port,))
    if bt_port is None:
        raise ProvisionError(f"no free BitTorrent port in {lo}-{hi} on {bind}; give another --bt-ports range")

    report = SetupReport(
        layout=layout,
        url=f"http://{url_host(bind)}:{port}/",
        webui=f"{bind}:{port}",
        bt_port=bt_port,
        bt_range=(lo, hi),
        version=version,
        version_source=source,
        binary=binary,
    )
    conf_text = render_qbittorrent_conf(
        conf_options(
            layout,
            webui_port=port,
            username=username,
            password=password,
            bt_port=bt_port,
            bind=bind,
            version=version,
        )
    )
    try:
        for d in (layout.config_dir, layout.logs, layout.incomplete, layout.torrents_completed, layout.root):
            if not d.is_dir():
                d.mkdir(parents=True, exist_ok=True)
                report.created.append(d)
        _chmod(layout.config_dir, 0o700)
        for path in existing:
            report.backups.append(backup_copy(path, now))
        write_file(layout.conf, conf_text, 0o600)
        report.written.append(layout.conf)
        if req.platform == "windows":
            write_file(layout.start_bat, render_start_bat(binary.path, str(layout.profile), port), 0o644, "")
            report.written.append(layout.start_bat)
        else:
            unit_binary = binary.path if binary.found else SYSTEMD_FALLBACK_BINARY
            write_file(layout.start_sh, render_start_sh(binary.path, layout.profile, port), 0o755)
            write_file(layout.systemd_unit, render_systemd_unit(unit_binary, layout.profile, port), 0o644)
            report.written += [layout.start_sh, layout.systemd_unit]
    except OSError as exc:
        raise _os_error(exc, "write the profile") from exc
    return report


# --- reset-password ----------------------------------------------------------------------------


@dataclass
class ResetReport:
    conf: Path
    backup: Path
    username: str | None


def _webui_of(text: str) -> tuple[str, int] | None:
    port = read_webui_value(text, "WebUI\\Port")  # [WebUI] Port once 5.3 has run the conf
    address = read_webui_value(text, "WebUI\\Address") or DEFAULT_BIND
    if not port or not port.isdigit():
        return None
    return ("127.0.0.1" if address in ("*", "") else address), int(port)


def reset_password(
    profile: Path,
    password: Secret,
    username: str | None = None,
    *,
    now: datetime | None = None,
    running: RunningCheck = find_running,
) -> ResetReport:
    """Rewrite only ``WebUI\\Password_PBKDF2`` (and ``WebUI\\Username``) of an existing conf."""
    now = now or datetime.now()
    check_password(password)
    if username is not None:
        check_username(username)
    layout = make_layout(profile)
    try:
        text = layout.conf.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProvisionError(
            f"no qBittorrent.conf at {layout.conf}; create the profile with 'qbfailover setup-secondary'"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProvisionError(f"cannot read {layout.conf}: {exc}") from None
    refuse_if_running(
        layout.profile,
        _webui_of(text),
        "resetting the password (it rewrites qBittorrent.conf on exit)",
        running,
    )
    new_text = set_webui_values(text, password_values(password.reveal(), username))  # 5.3: [WebUI]
    try:
        backup = backup_copy(layout.conf, now)
        write_file(layout.conf, new_text, 0o600, newline="")
    except OSError as exc:
        raise _os_error(exc, "rewrite qBittorrent.conf") from exc
    return ResetReport(layout.conf, backup, username)


# --- backup -------------------------------------------------------------------------------------


@dataclass
class BackupReport:
    archive: Path
    files: int
    databases: list[str]
    damaged: list[str]
    skipped: list[str]
    was_running: bool


def _is_sqlite(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(16) == SQLITE_MAGIC
    except OSError:
        return False


def _sqlite_copy(src: Path, dst: Path) -> None:
    """A consistent copy of a live database (sqlite3's online backup API)."""
    source = sqlite3.connect(f"{src.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        target = sqlite3.connect(dst)
        try:
            source.backup(target)
        finally:
            target.close()
    finally:
        source.close()


def _excluded_dirs(profile: Path, dest: Path) -> list[Path]:
    """Folders inside the profile never archived: downloads (from the conf, else the default),
    qBittorrent's cache, and the destination of the archive."""
    out = [dest, profile / "qBittorrent" / "cache", default_downloads(profile)]
    try:
        text = conf_path(profile).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = ""
    for section, key in (
        ("BitTorrent", "Session\\DefaultSavePath"),
        ("BitTorrent", "Session\\TempPath"),
        ("Preferences", "Downloads\\SavePath"),
        ("Preferences", "Downloads\\TempPath"),
    ):
        value = read_ini_value(text, section, key)
        if value:
            out.append(Path(value))
    absolute = (Path(os.path.abspath(p)) for p in out)
    return [p for p in absolute if profile in p.parents]


def _inside(path: Path, folders: Iterable[Path]) -> bool:
    return any(path == f or f in path.parents for f in folders)


def plan_backup(profile: Path, dest: Path) -> tuple[list[Path], list[str]]:
    """Regular files to archive (relative to ``profile``) and what was skipped, sorted."""
    excluded = _excluded_dirs(profile, dest)
    files: list[Path] = []
    skipped: list[str] = []
    for dirpath, dirnames, filenames in os.walk(profile):
        here = Path(dirpath)
        for d in list(dirnames):
            if _inside(here / d, excluded):
                dirnames.remove(d)
                skipped.append(str((here / d).relative_to(profile)) + "/")
        for name in filenames:
            path = here / name
            rel = path.relative_to(profile)
            if name in RUNTIME_ONLY or name.endswith(SQLITE_COMPANIONS) or not path.is_file():
                skipped.append(str(rel))
                continue
            files.append(rel)
    return sorted(files), sorted(skipped)


def backup_profile(
    profile: Path,
    dest: Path | None = None,
    fmt: str = "tar.gz",
    *,
    now: datetime | None = None,
    running: RunningCheck = find_running,
) -> BackupReport:
    """Archive the profile (the spec's quarterly backup); safe while qBittorrent runs."""
    now = now or datetime.now()
    if fmt not in ("tar.gz", "zip"):
        raise ProvisionError(f"--format {fmt!r}: use tar.gz or zip")
    profile = Path(os.path.abspath(profile))
    if not conf_path(profile).is_file():
        raise ProvisionError(
            f"{profile} holds no qBittorrent profile (no {conf_path(profile)}); check --profile"
        )
    dest = Path(os.path.abspath(dest)) if dest else profile.parent
    if dest == profile:
        raise ProvisionError("--dest is the profile itself; give a folder outside it (default: its parent)")
    was_running = running(profile, None) is not None
    files, skipped = plan_backup(profile, dest)
    archive = dest / f"{profile.name}-backup-{timestamp(now)}.{fmt}"
    n = 1
    while archive.exists():
        archive, n = dest / f"{profile.name}-backup-{timestamp(now)}-{n}.{fmt}", n + 1
    databases: list[str] = []
    damaged: list[str] = []
    try:
        dest.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="qbf-backup-") as scratch:
            staged: list[tuple[Path, str]] = []
            for rel in files:
                src = profile / rel
                name = f"{profile.name}/{rel.as_posix()}"
                if _is_sqlite(src):
                    copy = Path(scratch) / f"{len(staged)}.sqlite"
                    try:
                        _sqlite_copy(src, copy)
                        databases.append(rel.as_posix())
                        staged.append((copy, name))
                        continue
                    except sqlite3.Error:
                        damaged.append(rel.as_posix())  # archived byte for byte below
                staged.append((src, name))
            fd, tmp = tempfile.mkstemp(prefix=f".{archive.name}.", dir=dest)
            os.close(fd)
            _chmod(Path(tmp), 0o600)  # the archive holds the password hash
            try:
                _write_archive(Path(tmp), fmt, staged)
                os.replace(tmp, archive)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
    except OSError as exc:
        raise _os_error(exc, "write the backup") from exc
    return BackupReport(archive, len(files), databases, damaged, skipped, was_running)


def _write_archive(path: Path, fmt: str, members: list[tuple[Path, str]]) -> None:
    if fmt == "zip":
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for src, name in members:
                zf.write(src, name)
    else:
        with tarfile.open(path, "w:gz") as tf:
            for src, name in members:
                tf.add(src, name, recursive=False)


# --- repair -------------------------------------------------------------------------------------


@dataclass
class RepairReport:
    folder: Path | None
    moved: list[tuple[str, str]]  # (path relative to the profile, "damaged" / "readable")


def find_databases(profile: Path) -> list[Path]:
    """torrents.db / BEP.sqlite wherever qBittorrent keeps them under ``profile/qBittorrent``
    (4.4+: ``data/torrents.db``), with their -wal/-shm/-journal companions."""
    base = profile / "qBittorrent"
    if not base.is_dir():
        return []
    names = {n for db in DATABASE_NAMES for n in (db, *(db + s for s in SQLITE_COMPANIONS))}
    return sorted(
        p
        for p in base.rglob("*")
        if p.name in names
        and p.is_file()
        and not any(part.startswith("damaged-") for part in p.relative_to(base).parts)
    )


def database_health(path: Path) -> str:
    """``"readable"`` when sqlite3's quick_check passes, else ``"damaged"``."""
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=2)
        try:
            row = con.execute("PRAGMA quick_check").fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return "damaged"
    return "readable" if row and row[0] == "ok" else "damaged"


def repair_profile(
    profile: Path,
    *,
    now: datetime | None = None,
    running: RunningCheck = find_running,
) -> RepairReport:
    """The spec's scenario 4: move the databases aside (kept, not deleted) so qBittorrent rebuilds them."""
    now = now or datetime.now()
    profile = Path(os.path.abspath(profile))
    conf = conf_path(profile)
    if not (profile / "qBittorrent").is_dir():
        raise ProvisionError(
            f"{profile} holds no qBittorrent profile (no qBittorrent/ folder); check --profile"
        )
    webui = None
    with contextlib.suppress(OSError, UnicodeDecodeError):
        webui = _webui_of(conf.read_text(encoding="utf-8"))
    refuse_if_running(profile, webui, "repairing it (its databases are open)", running)
    found = find_databases(profile)
    if not found:
        return RepairReport(None, [])
    folder = profile / "qBittorrent" / f"damaged-{timestamp(now)}"
    n = 1
    while folder.exists():
        folder, n = profile / "qBittorrent" / f"damaged-{timestamp(now)}-{n}", n + 1
    targets: list[tuple[Path, Path]] = []
    try:
        for db in found:
            target = folder / db.relative_to(profile / "qBittorrent")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(db), str(target))
            targets.append((db, target))
    except OSError as exc:
        raise _os_error(exc, "move the databases aside") from exc
    # Checked only once moved: opening a WAL database creates a -shm file beside it.
    moved = [
        (
            db.relative_to(profile).as_posix(),
            "companion" if db.name.endswith(SQLITE_COMPANIONS) else database_health(target),
        )
        for db, target in targets
    ]
    return RepairReport(folder, moved)
