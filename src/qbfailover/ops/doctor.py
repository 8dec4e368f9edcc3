"""``qbfailover doctor``: the spec's diagnostic commands as checks, each PASS / WARN / FAIL with a fix.

The spec's "Diagnostic Commands" (netstat for the port, Get-Process, Test-NetConnection for the VPN
and the WebUI) and its weekly maintenance (disk space of the download folder, queue backlog) become
one command with a stable JSON form. Judging is pure (``*_check`` functions, unit-tested); gathering
the facts (probes, psutil, disk usage) is in :func:`run_doctor`. Logins go through the client's
login budget, so running doctor repeatedly never brings a ban closer.
"""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from qbfailover.config import InstanceConfig, Settings
from qbfailover.core.health import InstanceHealth, Status, VpnHealth, VpnStatus
from qbfailover.errors import AuthFailed, Banned, ConfigError, InstanceError, QbFailoverError, Rejected

Result = Literal["PASS", "WARN", "FAIL"]
RESULT_CODES: dict[Result, int] = {"PASS": 0, "WARN": 1, "FAIL": 2}
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
        return {"check": self.check, "result": self.result, "detail": self.detail, "fix": self.fix}


def worst(checks: Iterable[Check]) -> Result:
    results = [c.result for c in checks]
    return max(results, key=RESULT_CODES.__getitem__, default="PASS")


def exit_code(checks: Iterable[Check]) -> int:
    """0 all PASS, 1 some WARN, 2 some FAIL."""
    return RESULT_CODES[worst(checks)]


# --- pure judges ------------------------------------------------------------------------------


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
                    "FAIL",
                    f"{endpoints[key]} and {inst.name} are the same WebUI ({inst.host}:{inst.port})",
                    "point the secondary at its own instance (QBITTORRENT_SECONDARY_URL / [[instances]] url)",
                )
            ]
        endpoints[key] = inst.name
    out.append(Check("settings", "PASS", f"{len(ordered)} instance(s): {desc}{vpn}"))
    if len(ordered) == 1:
        out.append(
            Check(
                "settings.secondary",
                "WARN",
                "only one instance: nothing to fail over to, items queue while it is down",
                "set QBITTORRENT_SECONDARY_URL (see 'qbfailover setup-secondary')",
            )
        )
    for inst in ordered:
        if not inst.password and inst.api_key is None:
            out.append(
                Check(
                    f"{inst.name}.credentials",
                    "WARN",
                    f"no password set for {inst.name}",
                    "set QBITTORRENT_PASSWORD (or password_env in the config file)",
                )
            )
    return out


def vpn_check(vpn: VpnHealth) -> Check:
    if vpn.status is VpnStatus.NOT_CONFIGURED:
        return Check("vpn", "PASS", "no VPN probe configured (no instance requires the VPN)")
    latency = f" ({vpn.latency_ms:.0f} ms)" if vpn.latency_ms is not None else ""
    where = f"{vpn.kind} {vpn.target}"
    if vpn.status is VpnStatus.UP:
        return Check("vpn", "PASS", f"{where}: {vpn.detail}{latency}")
    return Check(
        "vpn",
        "FAIL",
        f"{where}: {vpn.detail}; instances that require the VPN get no work",
        "reconnect the VPN, or correct QBITTORRENT_VPN_GATEWAY / [vpn] target",
    )


def webui_checks(
    cfg: InstanceConfig, health: InstanceHealth, error: InstanceError | None, now: float, banned_until: float
) -> list[Check]:
    """Reachable, logs in, not banned: one FAIL where the chain breaks, later links left out."""
    name = cfg.name
    where = f"{cfg.host}:{cfg.port}"
    if error is None and health.status is Status.OK:
        return [
            Check(f"{name}.reachable", "PASS", f"{cfg.base_url} answers ({health.latency_ms or 0:.0f} ms)"),
            Check(f"{name}.login", "PASS", f"logged in as {cfg.username or '(no user)'}"),
            Check(f"{name}.banned", "PASS", "not banned"),
        ]
    if isinstance(error, Banned) or now < banned_until:
        ends = f"; ends in about {(banned_until - now) / 60:.0f} min" if banned_until > now else ""
        return [
            Check(f"{name}.reachable", "PASS", f"{cfg.base_url} answers"),
            Check(
                f"{name}.banned",
                "FAIL",
                f"qBittorrent has banned this host's IP after failed logins{ends}",
                "fix the password first; then wait for WebUI\\BanDuration (default 1 h) or restart that "
                "qBittorrent, and run 'qbfailover unblock " + name + "'",
            ),
        ]
    if isinstance(error, AuthFailed):
        blocked = "not retried" in error.detail or "next try" in error.detail
        return [
            Check(
                f"{name}.reachable",
                "PASS",
                f"{cfg.base_url} answers" + (" (not re-tried)" if blocked else ""),
            ),
            Check(
                f"{name}.login",
                "FAIL",
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
            Check(f"{name}.reachable", "PASS", f"{cfg.base_url} answers"),
            Check(f"{name}.login", "FAIL", error.detail, fix),
        ]
    detail = error.detail if error is not None else (health.detail or str(health.status))
    fix = (
        f"start qBittorrent for {name} (port {cfg.port}) or restore the network path to {where}"
        if health.status in (Status.TIMEOUT, Status.ERROR)
        else "see the detail"
    )
    return [Check(f"{name}.reachable", "FAIL", detail, fix)]


def version_check(name: str, version: str | None, api_version: str | None) -> Check:
    """qBittorrent 4.1+ (WebAPI 2.x) is what qbfailover speaks."""
    text = f"qBittorrent {version or '?'}" + (f", WebAPI {api_version}" if api_version else "")
    major = _leading_int(api_version)
    if major is None:
        return Check(
            f"{name}.version", "WARN", f"{text}: WebAPI version unknown", "upgrade to qBittorrent 4.1+"
        )
    if major < 2:
        return Check(
            f"{name}.version", "FAIL", f"{text}: WebAPI 1.x is not supported", "upgrade to qBittorrent 4.1+"
        )
    return Check(f"{name}.version", "PASS", text)


def auth_bypass_check(name: str, preferences: dict[str, Any]) -> Check | None:
    """The spec's trap: ``LocalHostAuth=false`` lets localhost callers in without any password."""
    if preferences.get("bypass_local_auth") is True:
        return Check(
            f"{name}.localhost_auth",
            "WARN",
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
            check, "WARN", "cannot list listening sockets here", "run doctor as root/administrator to check"
        )
    wanted = _address_set(host)
    holders = [
        li for li in listeners if li.port == port and (li.ip in wanted or li.ip in ("0.0.0.0", "::", ""))
    ]
    if not holders:
        return Check(
            check,
            "FAIL",
            f"nothing listens on {host}:{port}",
            f"start {name}'s qBittorrent (e.g. its start script) with --webui-port={port}",
        )
    for li in holders:
        if li.process and "qbittorrent" in li.process.lower():
            return Check(check, "PASS", f"{li.process} (pid {li.pid}) listens on {li.ip}:{port}")
    li = holders[0]
    who = f"{li.process} (pid {li.pid})" if li.process else f"pid {li.pid}" if li.pid else "another process"
    return Check(
        check,
        "FAIL",
        f"{host}:{port} is held by {who}, not qBittorrent",
        f"stop that process or move {name} to another port (WebUI\\Port and the URL setting)",
    )


def disk_check(name: str, path: str, free_bytes: int | None) -> Check:
    """Free space in the instance's download folder: WARN under 5 GiB, FAIL under 1 GiB."""
    check = f"{name}.disk"
    if free_bytes is None:
        return Check(
            check,
            "WARN",
            f"download folder {path} is not visible from here",
            "check the folder exists on this machine (or run doctor where qBittorrent runs)",
        )
    free = f"{free_bytes / GIB:.1f} GiB free in {path}"
    if free_bytes < DISK_FAIL_BYTES:
        return Check(check, "FAIL", free, "free space on that disk or change the download folder")
    if free_bytes < DISK_WARN_BYTES:
        return Check(check, "WARN", free, "free space soon: downloads stop when the disk is full")
    return Check(check, "PASS", free)


def queue_check(pending: int, oldest: float | None, rejected: int, now: float) -> Check:
    """Backlog: WARN when an item has waited over an hour, FAIL over a day."""
    tail = f"; {rejected} rejected (see 'qbfailover queue list --all')" if rejected else ""
    if not pending or oldest is None:
        return Check("queue", "PASS", "no pending items" + tail)
    age = max(0.0, now - oldest)
    text = f"{pending} pending, oldest waiting {_age(age)}{tail}"
    fix = "bring an instance back (see the checks above); 'qbfailover watch' or 'queue drain' delivers them"
    if age >= QUEUE_FAIL_AGE:
        return Check("queue", "FAIL", text, fix)
    if age >= QUEUE_WARN_AGE:
        return Check("queue", "WARN", text, fix)
    return Check("queue", "PASS", text)


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


# --- gathering the facts ----------------------------------------------------------------------


def local_addresses() -> list[str]:
    import psutil

    return [a.address.split("%", 1)[0] for addrs in psutil.net_if_addrs().values() for a in addrs]


def listeners() -> list[Listener] | None:
    """Listening TCP sockets with their process names; None when the OS refuses to tell."""
    import psutil

    try:
        conns = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        return None
    names: dict[int, str | None] = {}
    out: list[Listener] = []
    for c in conns:
        if c.status != psutil.CONN_LISTEN or not c.laddr:
            continue
        pid = c.pid
        if pid is not None and pid not in names:
            try:
                names[pid] = psutil.Process(pid).name()
            except psutil.Error:
                names[pid] = None
        out.append(Listener(str(c.laddr.ip), int(c.laddr.port), pid, names.get(pid) if pid else None))
    return out


def free_bytes(path: str) -> int | None:
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


async def run_doctor(load: Callable[[], Settings], clock: Callable[[], float] = time.time) -> list[Check]:
    """Every check, in a stable order; never raises for what it diagnoses."""
    try:
        settings = load()
    except ConfigError as exc:
        return [Check("settings", "FAIL", str(exc), "correct the setting the message names")]
    checks = settings_checks(settings)
    if checks[0].result == "FAIL":
        return checks
    from qbfailover.engine.client import AsyncResilientClient
    from qbfailover.ledger.sqlite import Ledger

    ledger: Ledger | None = None
    try:
        ledger = Ledger(settings.db_path)
        counts = ledger.counts()
        oldest = ledger.oldest_pending()
        checks.append(Check("ledger", "PASS", f"{settings.db_path} ({sum(counts.values())} item(s))"))
    except QbFailoverError as exc:
        checks.append(
            Check("ledger", "FAIL", str(exc), "fix the ledger file's permissions, or set QBFAILOVER_DB")
        )
        counts, oldest = {}, None
        if ledger is not None:
            ledger.close()
            ledger = None
    client = AsyncResilientClient(settings, ledger=ledger, clock=clock)
    try:
        checks += await _probe_everything(client, settings, clock, use_guards=ledger is not None)
    finally:
        await client.aclose()
        if ledger is not None:
            ledger.close()
    if "ledger" in {c.check for c in checks if c.result == "PASS"}:
        checks.append(queue_check(counts.get("pending", 0), oldest, counts.get("rejected", 0), clock()))
    checks.append(notify_check(settings))
    return checks


async def _probe_everything(
    client: Any, settings: Settings, clock: Callable[[], float], *, use_guards: bool
) -> list[Check]:
    from qbfailover.engine.probes import probe_instance, probe_vpn
    from qbfailover.qbt.webui import WebUI

    deadline = settings.deadline
    uis: dict[str, WebUI] = {}
    for cfg in settings.by_priority:
        # Through the client: the login budget (ledger) applies. Without a ledger, a bare session.
        uis[cfg.name] = client.webui(cfg) if use_guards else WebUI(cfg)
    vpn_task = asyncio.ensure_future(probe_vpn(settings.vpn, deadline))
    probes = await asyncio.gather(*(probe_instance(uis[c.name], deadline) for c in settings.by_priority))
    vpn = await vpn_task
    checks = [vpn_check(vpn)]
    now = clock()
    here = local_addresses()
    sockets: list[Listener] | None = None
    gathered = False  # sockets are listed once, and only if an instance is local
    for cfg, (health, error) in zip(settings.by_priority, probes, strict=True):
        banned_until = client.ledger.load_guard(cfg.name).banned_until if use_guards else 0.0
        checks += webui_checks(cfg, health, error, now, banned_until)
        ui = uis[cfg.name]
        prefs: dict[str, Any] | None = None
        if error is None:
            api = await _quiet(ui.fetch_api_version(timeout=deadline))
            checks.append(version_check(cfg.name, health.version, api))
            prefs = await _quiet(_preferences(ui, deadline))
            if prefs is not None and (bypass := auth_bypass_check(cfg.name, prefs)) is not None:
                checks.append(bypass)
        if is_local(cfg.host, here):
            if not gathered:
                sockets, gathered = listeners(), True
            checks.append(process_check(cfg.name, cfg.host, cfg.port, sockets))
            save = str(prefs.get("save_path", "")) if prefs else ""
            if save:
                checks.append(disk_check(cfg.name, save, free_bytes(save)))
        if not use_guards:
            await ui.aclose()
    return checks


def notify_check(settings: Settings) -> Check:
    from qbfailover.observe.notify import INSTALL_HINT, apprise_for, redact

    parts = []
    try:
        ap = apprise_for(settings.notify_apprise, 5.0)
    except ConfigError as exc:
        fix = INSTALL_HINT if "not installed" in str(exc) else "correct the Apprise URL"
        return Check("notify", "FAIL", str(exc), fix)
    if ap is not None:
        parts.append(f"apprise ({len(settings.notify_apprise)} URL(s))")
    if settings.notify_webhook is not None:
        parts.append(f"webhook {redact(settings.notify_webhook.reveal())}")
    return Check("notify", "PASS", ", ".join(parts) if parts else "no notifications configured")


async def _preferences(ui: Any, deadline: float) -> dict[str, Any] | None:
    """GET app/preferences through the instance's session (save_path, bypass_local_auth)."""
    resp = await ui._call("GET", "app/preferences", idempotent=True, timeout=deadline)
    if resp.status_code != 200:
        return None
    try:
        doc = resp.json()
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


async def _quiet(coro: Any) -> Any:
    """An optional detail: an error leaves it unknown instead of failing the whole report."""
    try:
        return await coro
    except InstanceError:
        return None


def render_text(checks: Sequence[Check]) -> list[str]:
    """Rich-markup lines: ``PASS  check  detail`` and an indented ``fix:`` under anything not PASS."""
    colour = {"PASS": "green", "WARN": "yellow", "FAIL": "red"}
    width = max((len(c.check) for c in checks), default=10)
    from rich.markup import escape

    lines = []
    for c in checks:
        lines.append(f"[{colour[c.result]}]{c.result}[/]  {escape(c.check):<{width}}  {escape(c.detail)}")
        if c.result != "PASS" and c.fix:
            lines.append(f"{'':6}{'':<{width}}  fix: {escape(c.fix)}")
    counts = {r: sum(1 for c in checks if c.result == r) for r in RESULT_CODES}
    lines.append(f"doctor: {counts['PASS']} PASS, {counts['WARN']} WARN, {counts['FAIL']} FAIL")
    return lines


__all__ = [
    "Check",
    "Listener",
    "auth_bypass_check",
    "disk_check",
    "exit_code",
    "is_local",
    "process_check",
    "queue_check",
    "run_doctor",
    "settings_checks",
    "version_check",
    "vpn_check",
    "webui_checks",
    "worst",
]
