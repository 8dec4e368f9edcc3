"""The start scripts of a secondary instance (shell, systemd user unit, .bat) and the binary they run.

Rendering is pure and quotes for each target (sh, systemd, cmd.exe); finding the binary and asking
its version are the only I/O, both injectable for tests.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath

from qbfailover.ops.provision.inputs import version_from_output

WINDOWS_DEFAULT_BINARY = r"C:\Program Files\qBittorrent\qbittorrent.exe"
WINDOWS_X86_BINARY = r"C:\Program Files (x86)\qBittorrent\qbittorrent.exe"
SYSTEMD_FALLBACK_BINARY = "/usr/bin/qbittorrent-nox"


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
