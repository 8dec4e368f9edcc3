"""What this machine says about a profile: free ports, and a qBittorrent already running on it.

qBittorrent rewrites its conf on exit, so any command that edits a profile must first know that no
instance holds it (by ``--profile`` on its command line, or by listening on its WebUI port).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from qbfailover.errors import ProvisionError


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


# How commands ask "is qBittorrent running on this profile (or WebUI address)?"; tests inject one.
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


def same_netns(pid: int) -> bool:
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
            if webui is not None and same_netns(proc.pid):
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
    """Refuse ``action`` (a ProvisionError naming the pid) while qBittorrent holds the profile."""
    found = running(profile, webui)
    if found is not None:
        raise ProvisionError(
            f"qBittorrent is running (pid {found.pid}, {found.why}); stop it before {action}"
        )
