"""``qbfailover setup-secondary``: a new secondary instance profile, its conf and start scripts.

Everything is checked first (inputs, a running instance, busy ports, existing files), so a refusal
writes nothing; with ``force`` existing files are replaced and each keeps a timestamped backup.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from qbfailover.config import Secret
from qbfailover.errors import ProvisionError
from qbfailover.ops.provision.conf import ConfOptions, render_qbittorrent_conf
from qbfailover.ops.provision.files import backup_copy, chmod, os_error, write_file
from qbfailover.ops.provision.host import (
    RunningCheck,
    bt_port_is_free,
    find_running,
    port_is_free,
    refuse_if_running,
)
from qbfailover.ops.provision.inputs import (
    DEFAULT_BIND,
    DEFAULT_BT_PORTS,
    DEFAULT_VERSION,
    check_bind,
    check_password,
    check_port,
    check_username,
    choose_port,
    next_free_port,
    parse_port_range,
    parse_version,
    server_domains,
    url_host,
)
from qbfailover.ops.provision.layout import Layout, make_layout
from qbfailover.ops.provision.scripts import (
    SYSTEMD_FALLBACK_BINARY,
    Binary,
    detect_version,
    find_binary,
    render_start_bat,
    render_start_sh,
    render_systemd_unit,
)


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
        chmod(layout.config_dir, 0o700)
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
        raise os_error(exc, "write the profile") from exc
    return report
