"""``qbfailover doctor``: the spec's diagnostic commands as checks, each PASS / WARN / FAIL with a fix.

The spec's "Diagnostic Commands" (netstat for the port, Get-Process, Test-NetConnection for the VPN
and the WebUI) and its weekly maintenance (disk space of the download folder, queue backlog) become
one command with a stable JSON form. Judging is pure (``checks``: facts in, a ``Check`` out, unit
tested); gathering the facts (probes, psutil, disk usage) is ``gather.run_doctor``.
"""

from qbfailover.ops.doctor.checks import (
    DISK_FAIL_BYTES,
    DISK_WARN_BYTES,
    QUEUE_FAIL_AGE,
    QUEUE_WARN_AGE,
    RESULT_CODES,
    Check,
    Listener,
    Result,
    auth_bypass_check,
    disk_check,
    exit_code,
    is_local,
    process_check,
    queue_check,
    render_text,
    settings_checks,
    version_check,
    vpn_check,
    webui_checks,
    worst,
)
from qbfailover.ops.doctor.gather import free_bytes, listeners, local_addresses, notify_check, run_doctor

__all__ = [
    "DISK_FAIL_BYTES",
    "DISK_WARN_BYTES",
    "QUEUE_FAIL_AGE",
    "QUEUE_WARN_AGE",
    "RESULT_CODES",
    "Check",
    "Listener",
    "Result",
    "auth_bypass_check",
    "disk_check",
    "exit_code",
    "free_bytes",
    "is_local",
    "listeners",
    "local_addresses",
    "notify_check",
    "process_check",
    "queue_check",
    "render_text",
    "run_doctor",
    "settings_checks",
    "version_check",
    "vpn_check",
    "webui_checks",
    "worst",
]
