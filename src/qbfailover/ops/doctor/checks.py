"""doctor's judges: facts in, one PASS / WARN / FAIL ``Check`` with its fix out (pure, table-tested).

Each judge looks at one fact the spec's diagnostic commands show (netstat for the port,
Get-Process, Test-NetConnection for the VPN and the WebUI, disk space, the queue backlog) and says
what to do about it; ``doctor.gather`` collects the facts. Decisions rest on error types, statuses
and flags, never on the wording of a message.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from qbfailover.config import InstanceConfig, Settings
from qbfailover.core.health import InstanceHealth, Status, VpnHealth, VpnStatus
from qbfailover.errors import AuthFailed, Banned, InstanceError, Rejected


class Result(StrEnum):
    """A check's verdict; its value is what ``--json`` and the text report print."""

    PASS = "PASS"
    WARN = "WARN"
    FAIL = "FAIL"


RESULT_CODES: dict[Result, int] = {Result.PASS: 0, Result.WARN: 1, Result.FAIL: 2}
GIB = 1024**3
DISK_WARN_BYTES = 5 * GIB
DISK_FAIL_BYTES = 1 * GIB
QUEUE_WARN_AGE = 3600.0
QUEUE_FAIL_AGE = 24 * 3600.0


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report: ``check`` names what was looked at, ``fix`` what to do about it."""

    check: str
    result: Result
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        """The ``doctor --json`` form of this line (keys check, result, detail, fix)."""
        return {"check": self.check, "result": self.result.value, "detail": self.detail, "fix": self.fix}


def worst(checks: Iterable[Check]) -> Result:
    """The most serious result of a report (PASS when empty): what the exit code is made from."""
    results = [c.result for c in checks]
    return max(results, key=RESULT_CODES.__getitem__, default=Result.PASS)


def exit_code(checks: Iterable[Check]) -> int:
    """0 all PASS, 1 some WARN, 2 some FAIL."""
    return RESULT_CODES[worst(checks)]


# --- judges ------------------------------------------------------------------------------


def settings_checks(settings: Settings) -> list[Check]:
    """Sanity of the configuration itself (it loaded, so every value is well-formed)."""
    out: list[Check] = []
    ordered = settings.by_priority
    desc = ", ".join(
        f"{i.name} {i.base_url}" + (" (requires VPN)" if i.requires_vpn else "") for i in ordered
    )
    vpn = f"; VPN probe {settings.vpn.kind} {settings.vpn.target}" if settings.vpn else ""
    endpoints: dict[tuple[str, int], str] = {}
    for inst in ordered:
        key = (inst.host.lower(), inst.port)
        if key in endpoints:
            return [
                Check(
                    "settings",
                    Result.FAIL,
                    f"{endpoints[key]} and {inst.name} are the same WebUI ({inst.host}:{inst.port})",
                    "point the secondary at its own instance (QBITTORRENT_SECONDARY_URL / [[instances]] url)",
                )
            ]
        endpoints[key] = inst.name
    out.append(Check("settings", Result.PASS, f"{len(ordered)} instance(s): {desc}{vpn}"))
    if len(ordered) == 1:
        out.append(
            Check(
                "settings.secondary",
                Result.WARN,
                "only one instance: nothing to fail over to, items queue while it is down",
                "set QBITTORRENT_SECONDARY_URL (see 'qbfailover setup-secondary')",
            )
        )
    for inst in ordered:
        if not inst.password and inst.api_key is None:
            out.append(
                Check(
                    f"{inst.name}.credentials",
                    Result.WARN,
                    f"no password set for {inst.name}",
                    "set QBITTORRENT_PASSWORD (or password_env in the config file)",
                )
            )
    return out


def vpn_check(vpn: VpnHealth) -> Check:
    """The VPN probe's answer: down FAILs, because instances that require the VPN then get no work."""
    if vpn.status is VpnStatus.NOT_CONFIGURED:
        return Check("vpn", Result.PASS, "no VPN probe configured (no instance requires the VPN)")
    latency = f" ({vpn.latency_ms:.0f} ms)" if vpn.latency_ms is not None else ""
    where = f"{vpn.kind} {vpn.target}"
    if vpn.status is VpnStatus.UP:
        return Check("vpn", Result.PASS, f"{where}: {vpn.detail}{latency}")
    return Check(
        "vpn",
        Result.FAIL,
        f"{where}: {vpn.detail}; instances that require the VPN get no work",
        "reconnect the VPN, or correct QBITTORRENT_VPN_GATEWAY / [vpn] target",
    )


def webui_checks(
    cfg: InstanceConfig,
    health: InstanceHealth,
    error: InstanceError | None,
    now: float,
    banned_until: float,
    *,
    blocked: bool = False,
) -> list[Check]:
    """Reachable, logs in, not banned: one FAIL where the chain breaks, later links left out.

    ``blocked``: the login budget refused to try (no request sent), so "answers" is not re-checked.
    """
    name = cfg.name
    where = f"{cfg.host}:{cfg.port}"
    if error is None and health.status is Status.OK:
        return [
            Check(
                f"{name}.reachable", Result.PASS, f"{cfg.base_url} answers ({health.latency_ms or 0:.0f} ms)"
            ),
            Check(f"{name}.login", Result.PASS, f"logged in as {cfg.username or '(no user)'}"),
            Check(f"{name}.banned", Result.PASS, "not banned"),
        ]
    if isinstance(error, Banned) or now < banned_until:
        ends = f"; ends in about {(banned_until - now) / 60:.0f} min" if banned_until > now else ""
        return [
            Check(f"{name}.reachable", Result.PASS, f"{cfg.base_url} answers"),
            Check(
                f"{name}.banned",
                Result.FAIL,
                f"qBittorrent has banned this host's IP after failed logins{ends}",
                "fix the password first; then wait for WebUI\\BanDuration (default 1 h) or restart that "
                "qBittorrent, and run 'qbfailover unblock " + name + "'",
            ),
        ]
    if isinstance(error, AuthFailed):
        return [
            Check(
                f"{name}.reachable",
                Result.PASS,
                f"{cfg.base_url} answers" + (" (not re-tried)" if blocked else ""),
            ),
            Check(
                f"{name}.login",
                Result.FAIL,
                error.detail,
                f"set the right username/password for {name}, then run 'qbfailover unblock {name}'",
            ),
        ]
    if isinstance(error, Rejected):
        if error.status == 401:
            fix = (
                f"use the exact host:port qBittorrent serves ({where}); check WebUI\\ServerDomains and "
                "that no proxy rewrites the Host header"
            )
        elif error.status == 404:
            fix = "check the URL: it does not look like a qBittorrent WebUI"
        else:
            fix = "look at that qBittorrent's log; restart it if it keeps failing"
        return [
            Check(f"{name}.reachable", Result.PASS, f"{cfg.base_url} answers"),
            Check(f"{name}.login", Result.FAIL, error.detail, fix),
        ]
    detail = error.detail if error is not None else (health.detail or str(health.status))
    fix = (
        f"start qBittorrent for {name} (port {cfg.port}) or restore the network path to {where}"
        if health.status in (Status.TIMEOUT, Status.ERROR)
        else "see the detail"
    )
    return [Check(f"{name}.reachable", Result.FAIL, detail, fix)]


def version_check(name: str, version: str | None, api_version: str | None) -> Check:
    """qBittorrent 4.1+ (WebAPI 2.x) is what qbfailover speaks."""
    text = f"qBittorrent {version or '?'}" + (f", WebAPI {api_version}" if api_version else "")
    major = _leading_int(api_version)
    if major is None:
        return Check(
            f"{name}.version", Result.WARN, f"{text}: WebAPI version unknown", "upgrade to qBittorrent 4.1+"
        )
    if major < 2:
        return Check(
            f"{name}.version",
            Result.FAIL,
            f"{text}: WebAPI 1.x is not supported",
            "upgrade to qBittorrent 4.1+",
        )
    return Check(f"{name}.version", Result.PASS, text)


def auth_bypass_check(name: str, preferences: dict[str, Any]) -> Check | None:
    """The spec's trap: ``LocalHostAuth=false`` lets localhost callers in without any password."""
    if preferences.get("bypass_local_auth") is True:
        return Check(
            f"{name}.localhost_auth",
            Result.WARN,
            "WebUI\\LocalHostAuth=false: callers on that machine skip the password entirely",
            "set 'Bypass authentication for clients on localhost' off (WebUI\\LocalHostAuth=true)",
        )
    return None


@dataclass(frozen=True, slots=True)
class Listener:
    """A listening TCP socket and the process holding it (from psutil)."""

    ip: str
    port: int
    pid: int | None
    process: str | None


def process_check(name: str, host: str, port: int, listeners: Sequence[Listener] | None) -> Check:
    """The spec's ``netstat -ano | findstr 52095`` + ``Get-Process qbittorrent``."""
    check = f"{name}.process"
    if listeners is None:
        return Check(
            check,
            Result.WARN,
            "cannot list listening sockets here",
            "run doctor as root/administrator to check",
        )
    wanted = _address_set(host)
    holders = [
        li for li in listeners if li.port == port and (li.ip in wanted or li.ip in ("0.0.0.0", "::", ""))
    ]
    if not holders:
        return Check(
            check,
            Result.FAIL,
            f"nothing listens on {host}:{port}",
            f"start {name}'s qBittorrent (e.g. its start script) with --webui-port={port}",
        )
    for li in holders:
        if li.process and "qbittorrent" in li.process.lower():
            return Check(check, Result.PASS, f"{li.process} (pid {li.pid}) listens on {li.ip}:{port}")
    li = holders[0]
    who = f"{li.process} (pid {li.pid})" if li.process else f"pid {li.pid}" if li.pid else "another process"
    return Check(
        check,
        Result.FAIL,
        f"{host}:{port} is held by {who}, not qBittorrent",
        f"stop that process or move {name} to another port (WebUI\\Port and the URL setting)",
    )


def disk_check(name: str, path: str, free_bytes: int | None) -> Check:
    """Free space in the instance's download folder: WARN under 5 GiB, FAIL under 1 GiB."""
    check = f"{name}.disk"
    if free_bytes is None:
        return Check(
            check,
            Result.WARN,
            f"download folder {path} is not visible from here",
            "check the folder exists on this machine (or run doctor where qBittorrent runs)",
        )
    free = f"{free_bytes / GIB:.1f} GiB free in {path}"
    if free_bytes < DISK_FAIL_BYTES:
        return Check(check, Result.FAIL, free, "free space on that disk or change the download folder")
    if free_bytes < DISK_WARN_BYTES:
        return Check(check, Result.WARN, free, "free space soon: downloads stop when the disk is full")
    return Check(check, Result.PASS, free)


def queue_check(pending: int, oldest: float | None, rejected: int, now: float) -> Check:
    """Backlog: WARN when an item has waited over an hour, FAIL over a day."""
    tail = f"; {rejected} rejected (see 'qbfailover queue list --all')" if rejected else ""
    if not pending or oldest is None:
        return Check("queue", Result.PASS, "no pending items" + tail)
    age = max(0.0, now - oldest)
    text = f"{pending} pending, oldest waiting {_age(age)}{tail}"
    fix = "bring an instance back (see the checks above); 'qbfailover watch' or 'queue drain' delivers them"
    if age >= QUEUE_FAIL_AGE:
        return Check("queue", Result.FAIL, text, fix)
    if age >= QUEUE_WARN_AGE:
        return Check("queue", Result.WARN, text, fix)
    return Check("queue", Result.PASS, text)


def is_local(host: str, local_addresses: Iterable[str] = ()) -> bool:
    """Loopback, ``localhost``, this machine's name, or one of its interface addresses."""
    name = host.strip("[]").lower()
    if name in ("localhost", "localhost.localdomain") or name == socket.gethostname().lower():
        return True
    try:
        if ipaddress.ip_address(name).is_loopback:
            return True
    except ValueError:
        return False
    return name in {a.lower() for a in local_addresses}


def _address_set(host: str) -> set[str]:
    name = host.strip("[]").lower()
    if name == "localhost":
        return {"127.0.0.1", "::1"}
    return {name, f"::ffff:{name}"}


def _leading_int(text: str | None) -> int | None:
    head = (text or "").lstrip("v").split(".", 1)[0]
    return int(head) if head.isdigit() else None


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def render_text(checks: Sequence[Check]) -> list[str]:
    """Rich-markup lines: ``PASS  check  detail`` and an indented ``fix:`` under anything not PASS."""
    colour = {Result.PASS: "green", Result.WARN: "yellow", Result.FAIL: "red"}
    width = max((len(c.check) for c in checks), default=10)
    from rich.markup import escape

    lines = []
    for c in checks:
        lines.append(f"[{colour[c.result]}]{c.result}[/]  {escape(c.check):<{width}}  {escape(c.detail)}")
        if c.result is not Result.PASS and c.fix:
            lines.append(f"{'':6}{'':<{width}}  fix: {escape(c.fix)}")
    counts = {r: sum(1 for c in checks if c.result == r) for r in RESULT_CODES}
    lines.append(
        f"doctor: {counts[Result.PASS]} PASS, {counts[Result.WARN]} WARN, {counts[Result.FAIL]} FAIL"
    )
    return lines
