"""Notifications from ``watch``: state transitions and rejected items, to Apprise URLs and a JSON webhook.

Sending never blocks the watch loop and never crashes it: each notification runs in the
background, failures are logged (with the target's scheme and host only: these URLs carry tokens)
and counted. Apprise is an optional extra, imported only when Apprise URLs are configured.

Webhook body (one POST per event, ``Content-Type: application/json``)::

    {"event": "transition", "from": "BOTH_HEALTHY", "to": "PRIMARY_DOWN", "message": "...",
     "summary": "...", "reason": "...", "at": 1700000000.0, "host": "nas", "status": {...}}
    {"event": "rejected", "count": 2, "items": [{"id", "name", "infohash", "reason"}],
     "message": "...", "at": ..., "host": "nas"}
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from qbfailover.config import Secret, Settings
from qbfailover.core.health import VERDICT_TEXT, VERDICTS, InstanceHealth, State, Verdict, describe_transition
from qbfailover.core.outcomes import ItemResult
from qbfailover.errors import ConfigError
from qbfailover.observe.logs import event

log = logging.getLogger("qbfailover.notify")

WEBHOOK_TIMEOUT = 5.0
INSTALL_HINT = "pip install 'qbfailover[notify]'"


@dataclass(frozen=True, slots=True)
class Notice:
    """One event, as a title/body for people (Apprise) and a JSON document for machines (webhook)."""

    event: str
    title: str
    body: str
    severity: Verdict
    payload: dict[str, object] = field(default_factory=dict)


def transition_notice(
    old: State,
    new: State,
    instances: Sequence[InstanceHealth],
    at: float,
    status: Mapping[str, object] | None = None,
) -> Notice:
    """The notice for a state change: severity from the new state's verdict, the status attached."""
    message = describe_transition(old, new, instances)
    down = "; ".join(f"{i.name} {i.status}" for i in instances if not i.ok)
    payload: dict[str, object] = {
        "event": "transition",
        "from": str(old),
        "to": str(new),
        "message": message,
        "summary": VERDICT_TEXT[new],
        "reason": down or "all instances OK",
        "at": at,
        "host": socket.gethostname(),
    }
    if status is not None:
        payload["status"] = dict(status)
    return Notice(
        "transition", f"qbfailover: {new}", f"{VERDICT_TEXT[new]}\n{message}", VERDICTS[new], payload
    )


def rejected_notice(items: Sequence[ItemResult], at: float) -> Notice:
    """The notice for items a drain rejected: they need a person, nothing retries them."""
    names = ", ".join(r.name or (r.infohash or "?") for r in items[:5])
    more = f" and {len(items) - 5} more" if len(items) > 5 else ""
    message = f"{len(items)} item(s) rejected: {names}{more}"
    reasons = sorted({r.reason for r in items})
    payload: dict[str, object] = {
        "event": "rejected",
        "count": len(items),
        "items": [{"id": r.id, "name": r.name, "infohash": r.infohash, "reason": r.reason} for r in items],
        "message": message,
        "at": at,
        "host": socket.gethostname(),
    }
    body = message + "\n" + "\n".join(reasons[:5])
    return Notice("rejected", f"qbfailover: {len(items)} item(s) rejected", body, Verdict.CRITICAL, payload)


def failback_notice(target: str, moved: Sequence[str], left: Sequence[str], at: float) -> Notice:
    """The notice for one automatic failback run: what moved back, and what did not and why."""
    message = f"{len(moved)} item(s) moved back to {target}" + (f", {len(left)} not" if left else "")
    payload: dict[str, object] = {
        "event": "failback",
        "target": target,
        "moved": list(moved),
        "not_moved": list(left),
        "message": message,
        "at": at,
        "host": socket.gethostname(),
    }
    body = "\n".join([message, *moved[:5], *left[:5]])
    severity = Verdict.WARNING if left else Verdict.INFO
    return Notice("failback", f"qbfailover: {message}", body, severity, payload)


def redact(url: str) -> str:
    """``scheme://host`` only: the rest of a notification URL is usually a token."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "<invalid url>"
    if not parts.scheme:
        return "<invalid url>"
    return f"{parts.scheme}://{host}" if host else f"{parts.scheme}://…"


class Notifier:
    """Sends notices in the background; ``on_result(channel, ok)`` feeds the metrics."""

    def __init__(
        self,
        settings: Settings,
        *,
        on_result: Callable[[str, bool], None] | None = None,
        timeout: float = WEBHOOK_TIMEOUT,
    ) -> None:
        self._webhook: Secret | None = settings.notify_webhook
        self._apprise: Any = apprise_for(settings.notify_apprise, timeout)
        self._on_result = on_result
        self._timeout = timeout
        self._http: httpx.AsyncClient | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def enabled(self) -> bool:
        """Whether any channel is configured (watch builds no notice otherwise)."""
        return self._webhook is not None or self._apprise is not None

    @property
    def channels(self) -> list[str]:
        """The channels for the start-up log line, redacted (their URLs carry tokens)."""
        out = []
        if self._apprise is not None:
            out.append(f"apprise ({len(self._apprise)} URL(s))")
        if self._webhook is not None:
            out.append(f"webhook {redact(self._webhook.reveal())}")
        return out

    def send(self, notice: Notice) -> None:
        """Schedule delivery of ``notice`` on every channel; returns at once."""
        if self._webhook is not None:
            self._spawn(self._post_webhook(self._webhook, notice))
        if self._apprise is not None:
            self._spawn(self._notify_apprise(notice))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _done(self, channel: str, ok: bool, notice: Notice, target: str, error: str = "") -> None:
        if ok:
            event(
                log, logging.DEBUG, "notification sent", channel=channel, notice=notice.event, target=target
            )
        else:
            event(
                log,
                logging.WARNING,
                "notification failed",
                channel=channel,
                notice=notice.event,
                target=target,
                error=error,
            )
        if self._on_result is not None:
            self._on_result(channel, ok)

    async def _post_webhook(self, url: Secret, notice: Notice) -> None:
        target = redact(url.reveal())
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=self._timeout, trust_env=False, headers={"User-Agent": "qbfailover"}
            )
        try:
            resp = await self._http.post(url.reveal(), json=notice.payload)
        except httpx.HTTPError as exc:
            self._done("webhook", False, notice, target, type(exc).__name__)
            return
        if resp.status_code >= 300:
            self._done("webhook", False, notice, target, f"HTTP {resp.status_code}")
        else:
            self._done("webhook", True, notice, target)

    async def _notify_apprise(self, notice: Notice) -> None:
        """Apprise is synchronous: run it in a daemon thread so a stuck target never holds exit."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()

        def work() -> None:
            try:
                ok = bool(
                    self._apprise.notify(
                        title=notice.title, body=notice.body, notify_type=_apprise_type(notice.severity)
                    )
                )
            except Exception:  # apprise plugins raise anything; a notification must not
                ok = False
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
                loop.call_soon_threadsafe(_resolve, future, ok)

        threading.Thread(target=work, name="apprise", daemon=True).start()
        ok = await future
        self._done("apprise", ok, notice, "apprise", "" if ok else "apprise reported a failure")

    async def aclose(self, grace: float = WEBHOOK_TIMEOUT) -> None:
        """Give notices in flight up to ``grace`` seconds, then drop them (they are only notices)."""
        if self._tasks:
            _, still = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in still:
                task.cancel()
        if self._http is not None:
            await self._http.aclose()
            self._http = None


def _resolve(future: asyncio.Future[bool], ok: bool) -> None:
    if not future.done():
        future.set_result(ok)


def apprise_installed() -> bool:
    """Whether apprise imports (installed and its own dependencies working): the doctor's fix hint."""
    try:
        import apprise  # noqa: F401
    except ImportError:
        return False
    return True


def apprise_for(urls: Sequence[Secret], timeout: float) -> Any:
    """An Apprise object for ``urls``, or None; ConfigError if apprise is missing or a URL is unknown."""
    if not urls:
        return None
    try:
        import apprise
    except ImportError:
        raise ConfigError(
            f"Apprise URLs are configured (QBFAILOVER_NOTIFY_URLS / [notify] apprise) but apprise is "
            f"not installed: {INSTALL_HINT}"
        ) from None
    # Apprise logs the URLs it fails on; they hold tokens. Our own line names the scheme only.
    logging.getLogger("apprise").setLevel(logging.CRITICAL)
    ap = apprise.Apprise()
    for index, url in enumerate(urls, 1):
        if not ap.add(url.reveal()):
            scheme = url.reveal().split("://", 1)[0]
            raise ConfigError(
                f"Apprise URL #{index} ({scheme}://…) is not understood by apprise; check its syntax "
                "in apprise's documentation"
            )
    return ap


def _apprise_type(severity: Verdict) -> str:
    return {
        Verdict.EXCELLENT: "success",
        Verdict.INFO: "info",
        Verdict.WARNING: "warning",
        Verdict.CRITICAL: "failure",
    }[severity]
