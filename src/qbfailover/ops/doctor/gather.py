"""doctor's fact gathering: probes through the client, psutil, disk usage, the ledger, notify.

Logins go through the client's login budget (kept in the ledger), so running doctor repeatedly
never brings a ban closer. Every fact that cannot be had leaves its check WARN or FAIL with a fix;
``run_doctor`` never raises for what it diagnoses.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from qbfailover.config import Settings
from qbfailover.errors import ConfigError, InstanceError, QbFailoverError
from qbfailover.ops.doctor.checks import (
    Check,
    Listener,
    Result,
    auth_bypass_check,
    disk_check,
    is_local,
    process_check,
    queue_check,
    settings_checks,
    version_check,
    vpn_check,
    webui_checks,
)

if TYPE_CHECKING:
    from qbfailover.engine.client import AsyncResilientClient

T = TypeVar("T")


def local_addresses() -> list[str]:
    """This machine's interface addresses: an instance at one of them gets the local checks."""
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
    """Free bytes on the disk holding ``path``; None when that path is not visible from here."""
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


async def run_doctor(load: Callable[[], Settings], clock: Callable[[], float] = time.time) -> list[Check]:
    """Every check, in a stable order; never raises for what it diagnoses."""
    try:
        settings = load()
    except ConfigError as exc:
        return [Check("settings", Result.FAIL, str(exc), "correct the setting the message names")]
    checks = settings_checks(settings)
    if checks[0].result is Result.FAIL:
        return checks
    from qbfailover.engine.client import AsyncResilientClient
    from qbfailover.ledger import LedgerBackend, open_ledger

    ledger: LedgerBackend | None = None
    ledger_read = False
    try:
        ledger = open_ledger(settings.db_path)
        counts = ledger.counts()
        oldest = ledger.oldest_pending()
        ledger_read = True
        checks.append(Check("ledger", Result.PASS, f"{settings.db_path} ({sum(counts.values())} item(s))"))
    except QbFailoverError as exc:
        checks.append(
            Check("ledger", Result.FAIL, str(exc), "fix the ledger file's permissions, or set QBFAILOVER_DB")
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
    if ledger_read:
        checks.append(queue_check(counts.get("pending", 0), oldest, counts.get("rejected", 0), clock()))
    checks.append(notify_check(settings))
    return checks


async def _probe_everything(
    client: AsyncResilientClient, settings: Settings, clock: Callable[[], float], *, use_guards: bool
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
        ui = uis[cfg.name]
        checks += webui_checks(cfg, health, error, now, banned_until, blocked=ui.login_blocked)
        prefs: dict[str, Any] | None = None
        if error is None:
            api = await _quiet(ui.fetch_api_version(timeout=deadline))
            checks.append(version_check(cfg.name, health.version, api))
            prefs = await _quiet(ui.fetch_preferences(timeout=deadline))
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
    """Whether the configured notifications can be sent (apprise installed, its URLs understood)."""
    from qbfailover.observe.notify import INSTALL_HINT, apprise_for, apprise_installed, redact

    parts = []
    try:
        ap = apprise_for(settings.notify_apprise, 5.0)
    except ConfigError as exc:
        fix = "correct the Apprise URL" if apprise_installed() else INSTALL_HINT
        return Check("notify", Result.FAIL, str(exc), fix)
    if ap is not None:
        parts.append(f"apprise ({len(settings.notify_apprise)} URL(s))")
    if settings.notify_webhook is not None:
        parts.append(f"webhook {redact(settings.notify_webhook.reveal())}")
    return Check("notify", Result.PASS, ", ".join(parts) if parts else "no notifications configured")


async def _quiet(coro: Awaitable[T]) -> T | None:
    """An optional detail: an error leaves it unknown instead of failing the whole report."""
    try:
        return await coro
    except InstanceError:
        return None
