"""The secondary qBittorrent instance: profile layout, qBittorrent.conf, start scripts, backup, repair.

One module per concern, each with pure rendering and choices first and its I/O edges after (which
raise only ``ProvisionError``):

- ``inputs``: what the user asks for, checked (ports, version, user, password, bind address)
- ``layout``: where everything of one instance lives (the spec's FILE SYSTEM LAYOUT)
- ``scripts``: start-secondary.sh, the systemd user unit, start_secondary.bat, the binary
- ``host``: free ports and a qBittorrent already running on the profile
- ``files``: atomic writes with their mode, timestamped backups
- ``create``: ``setup-secondary``; ``repair``: reset-password and repair; ``backup``: the archive
- ``qbfailover.ops.provision.conf``: the conf itself (rendering and editing, shared with the tests)

The names the CLI and the tests use are re-exported here.
"""

from qbfailover.ops.provision.backup import BackupReport, backup_profile, plan_backup
from qbfailover.ops.provision.create import SetupReport, SetupRequest, conf_options, setup_secondary
from qbfailover.ops.provision.files import backup_copy, write_file
from qbfailover.ops.provision.host import (
    Running,
    RunningCheck,
    bt_port_is_free,
    find_running,
    port_is_free,
    refuse_if_running,
    same_listener,
    same_netns,
)
from qbfailover.ops.provision.inputs import (
    DEFAULT_BIND,
    DEFAULT_BT_PORTS,
    DEFAULT_VERSION,
    MIN_PASSWORD,
    MIN_VERSION,
    check_bind,
    check_password,
    check_port,
    check_username,
    choose_port,
    next_free_port,
    parse_port_range,
    parse_version,
    password_from_env,
    server_domains,
    url_host,
    version_from_output,
)
from qbfailover.ops.provision.layout import Layout, default_downloads, make_layout, timestamp
from qbfailover.ops.provision.repair import (
    RepairReport,
    ResetReport,
    database_health,
    find_databases,
    repair_profile,
    reset_password,
)
from qbfailover.ops.provision.scripts import (
    SYSTEMD_FALLBACK_BINARY,
    WINDOWS_DEFAULT_BINARY,
    WINDOWS_X86_BINARY,
    Binary,
    detect_version,
    find_binary,
    render_start_bat,
    render_start_sh,
    render_systemd_unit,
)

__all__ = [
    "DEFAULT_BIND",
    "DEFAULT_BT_PORTS",
    "DEFAULT_VERSION",
    "MIN_PASSWORD",
    "MIN_VERSION",
    "SYSTEMD_FALLBACK_BINARY",
    "WINDOWS_DEFAULT_BINARY",
    "WINDOWS_X86_BINARY",
    "BackupReport",
    "Binary",
    "Layout",
    "RepairReport",
    "ResetReport",
    "Running",
    "RunningCheck",
    "SetupReport",
    "SetupRequest",
    "backup_copy",
    "backup_profile",
    "bt_port_is_free",
    "check_bind",
    "check_password",
    "check_port",
    "check_username",
    "choose_port",
    "conf_options",
    "database_health",
    "default_downloads",
    "detect_version",
    "find_binary",
    "find_databases",
    "find_running",
    "make_layout",
    "next_free_port",
    "parse_port_range",
    "parse_version",
    "password_from_env",
    "plan_backup",
    "port_is_free",
    "refuse_if_running",
    "render_start_bat",
    "render_start_sh",
    "render_systemd_unit",
    "repair_profile",
    "reset_password",
    "same_listener",
    "same_netns",
    "server_domains",
    "setup_secondary",
    "timestamp",
    "url_host",
    "version_from_output",
    "write_file",
]
