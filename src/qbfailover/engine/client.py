"""Wiring: record → health → route → deliver → confirm → mark, or queue. Failover lives here only.

``AsyncResilientClient`` is the engine; ``ResilientQBittorrentClient`` (the spec's name) runs the
same coroutines on a private event loop for synchronous callers, so nothing is written twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import httpx

from qbfailover.config import InstanceConfig, Settings, load_settings
from qbfailover.core import breaker
from qbfailover.core.breaker import Guard
from qbfailover.core.health import (
    VERDICTS,
    HealthReport,
    InstanceHealth,
    Status,
    VpnHealth,
    VpnStatus,
    gate_on_vpn,
    overall_state,
)
from qbfailover.core.items import Item, item_from_ledger, parse_item
from qbfailover.engine.probes import probe_instance, probe_vpn
from qbfailover.errors import (
    Banned,
    InstanceError,
    ItemError,
    QbFailoverError,
    Uncertain,
    Unreachable,
)
from qbfailover.ledger.sqlite import Entry, Ledger, NewEntry
from qbfailover.qbt.webui import AddOptions, WebUI

T = TypeVar("T")
ItemState = Literal["delivered", "queued", "rejected"]


@dataclass(frozen=True, slots=True)
class ItemResult:
    """What became of one item handed to us."""

    item: str
    name: str
    infohash: str | None
    state: ItemState
    instance: str | None
    reason: str
    id: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "item": self.item,
            "name": self.name,
            "infohash": self.infohash,
            "state": self.state,
            "instance": self.instance,
            "reason": self.reason,
        }


@dataclass(slots=True)
class AddResult:
    """The spec's ``successful / failed / queued`` lists, plus per-item detail."""

    items: list[ItemResult] = field(default_factory=list)

    @property
    def successful(self) -> list[str]:
        return [r.item for r in self.items if r.state == "delivered"]

    @property
    def failed(self) -> list[str]:
        return [r.item for r in self.items if r.state == "rejected"]

    @property
    def queued(self) -> list[str]:
        return [r.item for r in self.items if r.state == "queued"]

    @property
    def exit_code(self) -> int:
        """0 all delivered (or already there), 4 some rejected, else 3 some queued."""
        if self.failed:
            return 4
        return 3 if self.queued else 0

    def as_dict(self) -> dict[str, object]:
        return {
            "successful": self.successful,
            "failed": self.failed,
            "queued": self.queued,
            "items": [r.as_dict() for r in self.items],
        }


@dataclass(slots=True)
class _Pending:
    """One ledger entry on its way through the instances."""

    entry: Entry
    item: Item
    refusals: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    result: ItemResult | None = None


class AsyncResilientClient:
    """Deliver items to the best healthy instance; record first, confirm by infohash, queue the rest."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        ledger: Ledger | None = None,
        transports: dict[str, httpx.AsyncBaseTransport] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings if settings is not None else load_settings()
        self._ledger = ledger
        self._owns_ledger = ledger is None
        self._clock = clock
        self._webuis: dict[str, WebUI] = {}
        self._transports = transports or {}
        self.last_health: HealthReport | None = None

    # --- resources ----------------------------------------------------------------------------

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            self._ledger = Ledger(self.settings.db_path)
        return self._ledger

    def webui(self, cfg: InstanceConfig) -> WebUI:
        ui = self._webuis.get(cfg.name)
        if ui is None:
            ui = WebUI(cfg, transport=self._transports.get(cfg.name))
            ui.login_gate = lambda: self._login_refusal(cfg)
            ui.on_login = lambda outcome: self._login_outcome(cfg, outcome)
            self._webuis[cfg.name] = ui
        return ui

    async def aclose(self) -> None:
        for ui in self._webuis.values():
            await ui.aclose()
        self._webuis.clear()
        if self._owns_ledger and self._ledger is not None:
            self._ledger.close()
            self._ledger = None

    async def __aenter__(self) -> AsyncResilientClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- guards (breaker + login budget), persisted in the ledger ------------------------------

    def _guard(self, name: str) -> Guard:
        return self.ledger.load_guard(name)

    def _save_guard(self, name: str, guard: Guard) -> None:
        self.ledger.save_guard(name, guard)

    def _fingerprint(self, cfg: InstanceConfig) -> str:
        secret = cfg.api_key.reveal() if cfg.api_key else cfg.password.reveal()
        return breaker.credential_fingerprint(self.ledger.salt(), cfg.username, secret)

    def _login_refusal(self, cfg: InstanceConfig) -> str | Banned | None:
        guard = self._guard(cfg.name)
        fp = self._fingerprint(cfg)
        now = self._clock()
        if breaker.may_login(guard, fp, now, self.settings.auth_cooldown):
            return None
        reason = breaker.auth_block_reason(guard, fp, now, self.settings.auth_cooldown)
        return Banned(cfg.name, reason) if now < guard.banned_until else reason

    def _login_outcome(self, cfg: InstanceConfig, outcome: str) -> None:
        guard = self._guard(cfg.name)
        now = self._clock()
        if outcome == "ok":
            guard = breaker.on_login_ok(guard)
        elif outcome == "failed":
            guard = breaker.on_auth_failed(guard, self._fingerprint(cfg), now)
        elif outcome == "banned":
            guard = breaker.on_banned(guard, now, 3600.0)
        self._save_guard(cfg.name, guard)

    def unblock(self, name: str | None = None) -> list[str]:
        """Forget login failures, bans and open breakers (after the user fixed the cause)."""
        names = [name] if name else self.settings.names
        for n in names:
            self.settings.instance(n)
            self._save_guard(n, Guard())
        return names

    # --- health -------------------------------------------------------------------------------

    async def health_check(self, *, respect_breakers: bool = False) -> HealthReport:
        """VPN and every instance probed concurrently; done within the deadline.

        ``respect_breakers`` (delivery) skips instances whose breaker is open instead of paying
        their timeout again; ``status``, ``doctor`` and ``watch`` probe everything.
        """
        return await _Round(self, respect_breakers=respect_breakers).report()

    def _record_probe(self, name: str, error: InstanceError | None) -> None:
        guard = self._guard(name)
        if error is None:
            new = breaker.on_success(guard)
        elif isinstance(error, Unreachable | Uncertain) and "refused" not in error.detail:
            # A refused connection costs < 1 ms to find out again, so it never opens the breaker:
            # a restarted instance is used on the very next call. Timeouts, DNS and TLS do.
            now = self._clock()
            if not breaker.may_connect(guard, now):
                return  # another process opened it while we probed: one outage is one step, not N
            new = breaker.on_unreachable(guard, now, self.settings.cooldown, error.detail)
        else:
            return
        if new != guard:
            self._save_guard(name, new)

    # --- adding -------------------------------------------------------------------------------

    async def add_torrents(
        self,
        items: Iterable[str | Item],
        *,
        category: str | None = None,
        tags: str | Sequence[str] | None = None,
        savepath: str | None = None,
        paused: bool = False,
        rename: str | None = None,
    ) -> AddResult:
        """Record every item, then deliver it now or leave it queued; invalid input is rejected."""
        options = AddOptions(
            category=category,
            tags=",".join(tags) if isinstance(tags, list | tuple) else tags,  # type: ignore[arg-type]
            savepath=savepath,
            paused=paused,
            rename=rename,
        )
        result = AddResult()
        valid: list[tuple[str, Item]] = []
        for raw in items:
            if isinstance(raw, Item):
                valid.append((raw.source, raw))
                continue
            try:
                valid.append((raw, parse_item(raw)))
            except ItemError as exc:
                result.items.append(ItemResult(raw, raw[:60], None, "rejected", None, str(exc)))
        if not valid:
            return result
        entries = self.ledger.record(
            [
                NewEntry(key=i.key, kind=i.kind, payload=i.payload(), name=i.name, options=options.as_dict())
                for _, i in valid
            ],
            reason="received",
        )
        pending: list[_Pending] = []
        busy: dict[int, ItemResult] = {}
        taken: set[int] = set()  # duplicates in ``items`` share one row: deliver it once (a set: O(n))
        for entry, (_, item) in zip(entries, valid, strict=True):
            if entry.claimed:
                if entry.id not in taken:
                    taken.add(entry.id)
                    pending.append(_Pending(entry, item))
            else:
                busy[entry.id] = ItemResult(
                    item.source,
                    item.name,
                    item.v1 or item.v2,
                    "queued",
                    None,
                    "already queued and being delivered by another qbfailover process",
                    entry.id,
                )
        if pending:
            outcomes = {**busy, **await self._deliver(pending, _Round(self, respect_breakers=True))}
        else:
            outcomes = busy
        for (raw, _), entry in zip(valid, entries, strict=True):
            r = outcomes[entry.id]
            result.items.append(ItemResult(raw, r.name, r.infohash, r.state, r.instance, r.reason, r.id))
        return result

    async def process_queue(
        self,
        *,
        limit: int | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        health: HealthReport | None = None,
    ) -> AddResult:
        """Drain pending items that are due, in batches, with the same rules as ``add_torrents``.

        ``on_progress(done, total)`` is called after each batch (the CLI draws a progress bar).
        ``health``: a report just taken (``watch``'s cycle), so the drain does not probe twice.
        """
        result = AddResult()
        done = 0
        total = self.ledger.counts().get("pending", 0) if on_progress else 0
        if limit is not None:
            total = min(total, limit)
        while limit is None or done < limit:
            if health is None or not health.healthy:
                health = await self.health_check(respect_breakers=True)
            if not health.healthy:
                break
            size = self.settings.batch_size if limit is None else min(self.settings.batch_size, limit - done)
            entries = self.ledger.claim_due(limit=size)
            if not entries:
                break
            pending = []
            for entry in entries:
                try:
                    item = item_from_ledger(entry.kind, entry.payload, source=f"ledger #{entry.id}")
                except ItemError as exc:
                    self.ledger.mark_rejected(entry.id, reason=str(exc))
                    result.items.append(
                        ItemResult(
                            entry.payload.decode(errors="replace")[:80],
                            entry.name,
                            None,
                            "rejected",
                            None,
                            str(exc),
                            entry.id,
                        )
                    )
                    continue
                pending.append(_Pending(entry, item))
            outcomes = await self._deliver(pending, _Round(self, report=health))
            for p in pending:
                result.items.append(outcomes[p.entry.id])
            done += len(entries)
            if on_progress is not None:
                on_progress(done, max(total, done))
            if any(r.state == "queued" for r in outcomes.values()):
                health = None  # something failed: look again before the next batch
        return result

    async def _deliver(self, pending: list[_Pending], health: _Round) -> dict[int, ItemResult]:
        """Try instances in priority order; what no instance took stays pending with the reason.

        Each instance's probe is awaited only when delivery reaches it, so a slow or frozen
        lower-priority instance never delays items the primary takes at once.
        """
        out: dict[int, ItemResult] = {}
        tried = 0
        try:
            for cfg in self.settings.by_priority:
                if all(p.result is not None for p in pending):
                    break
                if not (await health.instance(cfg)).ok:
                    continue
                tried += 1
                await self._reconcile_uncertain(pending, cfg)
                todo = [p for p in pending if p.result is None]
                if todo:
                    await self._deliver_to(cfg, todo)
            needed = any(p.result is None for p in pending)
            report = await health.report() if needed or health.settled() else None
        except BaseException:
            self._release_unresolved(pending, "interrupted")
            await asyncio.shield(health.cancel())
            raise
        if report is None:
            await health.cancel()  # everything delivered: the other probes are not needed
        for p in pending:
            if p.result is None and p.refusals and len(p.refusals) >= max(1, tried):
                reason = "refused by " + "; ".join(p.refusals)
                self.ledger.mark_rejected(p.entry.id, reason=reason)
                p.result = self._result(p, "rejected", None, reason)
        unresolved = [p for p in pending if p.result is None]
        if unresolved:
            assert report is not None
            why = _queue_reason(report)
            error = "; ".join(sorted({e for p in unresolved for e in p.errors})) or why
            self.ledger.mark_failed(
                [p.entry.id for p in unresolved],
                reason=why,
                error=error[:500],
                backoff=bool(report.healthy),
            )
            for p in unresolved:
                p.result = self._result(p, "queued", None, why if not p.errors else f"{why}; {p.errors[-1]}")
        for p in pending:
            assert p.result is not None
            out[p.entry.id] = p.result
        return out

    def _release_unresolved(self, pending: list[_Pending], why: str) -> None:
        ids = [p.entry.id for p in pending if p.result is None]
        if ids:
            # If even this fails, the claim dies with our process: the items are still pending.
            with contextlib.suppress(QbFailoverError):
                self.ledger.mark_failed(ids, reason=why, error=why)

    async def _reconcile_uncertain(self, pending: list[_Pending], cfg: InstanceConfig) -> None:
        """Items an earlier attempt sent to ``cfg`` without an answer: if they arrived, done."""
        suspects = [
            p for p in pending if p.result is None and cfg.name in p.entry.uncertain and p.item.confirmable
        ]
        if not suspects:
            return
        try:
            present = await self.webui(cfg).present(h for p in suspects for h in p.item.hashes)
        except InstanceError:
            return
        found = [p for p in suspects if p.item.hashes & present]
        if found:
            self.ledger.mark_delivered([p.entry.id for p in found], instance=cfg.name, reason="added")
            for p in found:
                p.result = self._result(p, "delivered", cfg.name, "added")

    async def _deliver_to(self, cfg: InstanceConfig, todo: list[_Pending]) -> None:
        groups: dict[str, list[_Pending]] = {}
        for p in todo:
            groups.setdefault(json.dumps(p.entry.options, sort_keys=True), []).append(p)
        size = self.settings.batch_size
        for group in groups.values():
            options = AddOptions.from_mapping(group[0].entry.options)
            for start in range(0, len(group), size):
                try:
                    await self._deliver_batch(cfg, group[start : start + size], options)
                except InstanceError as exc:
                    for p in group[start:]:
                        if p.result is None:
                            p.errors.append(str(exc))
                    if isinstance(exc, Unreachable | Uncertain):
                        self._record_probe(cfg.name, exc)
                    return  # this instance is done for this round: next instance

    async def _deliver_batch(self, cfg: InstanceConfig, batch: list[_Pending], options: AddOptions) -> None:
        ui = self.webui(cfg)
        ledger = self.ledger
        hashed = [p for p in batch if p.item.confirmable]
        before = await ui.present(h for p in hashed for h in p.item.hashes) if hashed else set()
        there = [p for p in hashed if p.item.hashes & before]
        if there:
            ledger.mark_delivered([p.entry.id for p in there], instance=cfg.name, reason="already there")
            for p in there:
                p.result = self._result(p, "delivered", cfg.name, "already there")
        send = [p for p in hashed if p.result is None]
        if send:
            ids = [p.entry.id for p in send]
            ledger.note_sent(ids, cfg.name)
            try:
                reply = await ui.add([p.item for p in send], options)
            except Unreachable:
                ledger.clear_sent(ids, cfg.name)  # never reached the instance
                raise
            present = await self._confirm(ui, send)
            added = [p for p in send if p.item.hashes & present]
            if added:
                ledger.mark_delivered([p.entry.id for p in added], instance=cfg.name, reason="added")
                for p in added:
                    p.result = self._result(p, "delivered", cfg.name, "added")
            for p in send:
                if p.result is not None:
                    continue
                if p.item.kind == "torrent" and reply.status == 415:
                    reason = f"{cfg.name} refused the .torrent file (HTTP 415: invalid torrent)"
                    ledger.mark_rejected(p.entry.id, reason=reason)
                    p.result = self._result(p, "rejected", None, reason)
                elif not reply.accepted:
                    ledger.clear_sent([p.entry.id], cfg.name)
                    p.refusals.append(f"{cfg.name} ({reply.text or reply.status})")
                else:
                    p.errors.append(
                        f"{cfg.name} accepted but did not show it within {self.settings.confirm_timeout:g} s"
                    )
        for p in batch:
            if p.result is None and not p.item.confirmable:
                await self._deliver_unhashed(cfg, ui, p, options)

    async def _deliver_unhashed(
        self, cfg: InstanceConfig, ui: WebUI, p: _Pending, options: AddOptions
    ) -> None:
        """URLs: qBittorrent fetches them itself, so its reply is all the receipt there is."""
        self.ledger.note_sent([p.entry.id], cfg.name)
        try:
            reply = await ui.add([p.item], options)
        except Unreachable:
            self.ledger.clear_sent([p.entry.id], cfg.name)
            raise
        if reply.accepted:
            self.ledger.mark_delivered([p.entry.id], instance=cfg.name, reason="accepted (URL)")
            p.result = self._result(p, "delivered", cfg.name, "accepted (URL)")
        else:
            self.ledger.clear_sent([p.entry.id], cfg.name)
            p.refusals.append(f"{cfg.name} ({reply.text or reply.status})")

    async def _confirm(self, ui: WebUI, send: list[_Pending]) -> set[str]:
        """Poll torrents/info until every item shows up (magnets appear asynchronously)."""
        wanted = {h for p in send for h in p.item.hashes}
        deadline = time.monotonic() + self.settings.confirm_timeout
        delay = 0.005
        while True:
            present = await ui.present(wanted)
            if all(p.item.hashes & present for p in send) or time.monotonic() >= deadline:
                return present
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)

    def _result(self, p: _Pending, state: ItemState, instance: str | None, reason: str) -> ItemResult:
        return ItemResult(
            item=p.item.source,
            name=p.item.name,
            infohash=p.item.v1 or p.item.v2,
            state=state,
            instance=instance,
            reason=reason,
            id=p.entry.id,
        )

    # --- the spec's JSON queue file -----------------------------------------------------------

    async def process_queue_file(self, path: str | os.PathLike[str] | None = None) -> AddResult:
        """The spec's semantics: try each magnet, keep the failed ones, delete the file when empty."""
        from qbfailover.ledger.queuefile import QueueFile, now_iso, read_queue_file, write_queue_file

        file = Path(path) if path is not None else Path("qbittorrent_queue.json")
        queue = read_queue_file(file)
        result = await self.add_torrents(queue.magnets)
        # Queued items stay for later; rejected ones stay too: the file is the user's data, and
        # an invalid line deleted here would be gone with nothing but a printed reason.
        keep = [r.item for r in result.items if r.state != "delivered"]
        if keep:
            write_queue_file(
                file,
                QueueFile(
                    saved_at=now_iso(), reason=queue.reason, magnets=keep, instructions=queue.instructions
                ),
            )
        else:
            file.unlink(missing_ok=True)
        return result


class _Round:
    """One health check in flight: the VPN and every instance probed concurrently.

    Delivery awaits instances one by one in priority order (``instance``), so it can start on the
    primary while a frozen secondary's probe is still waiting for its timeout; ``report`` awaits
    them all. Probes for instances that need the VPN are cancelled as soon as the VPN is down.
    """

    def __init__(
        self,
        client: AsyncResilientClient,
        *,
        respect_breakers: bool = False,
        report: HealthReport | None = None,
    ) -> None:
        """Start every probe, or, given a ``report`` just taken, answer from it and probe nothing."""
        self._client = client
        settings = client.settings
        self._started = time.perf_counter()
        self._now = report.checked_at if report else client._clock()
        self._results: dict[str, InstanceHealth] = {h.name: h for h in report.instances} if report else {}
        self._report = report
        self._vpn: VpnHealth | None = report.vpn if report else None
        self._vpn_task: asyncio.Future[VpnHealth] | None = None
        self._tasks: dict[str, asyncio.Future[tuple[InstanceHealth, InstanceError | None]]] = {}
        if report is not None:
            return
        self._vpn_task = asyncio.ensure_future(probe_vpn(settings.vpn, settings.deadline))
        for cfg in settings.instances:
            guard = client._guard(cfg.name)
            if respect_breakers and not breaker.may_connect(guard, self._now):
                self._results[cfg.name] = InstanceHealth(
                    cfg.name,
                    Status.TIMEOUT if "timeout" in guard.last_error else Status.ERROR,
                    detail=f"not tried for {guard.open_until - self._now:.0f} s (breaker open): "
                    f"{guard.last_error}",
                    priority=cfg.priority,
                    requires_vpn=cfg.requires_vpn,
                    url=cfg.base_url,
                )
                continue
            self._tasks[cfg.name] = asyncio.ensure_future(
                probe_instance(client.webui(cfg), settings.deadline)
            )

    async def vpn(self) -> VpnHealth:
        if self._vpn is None:
            assert self._vpn_task is not None
            self._vpn = await self._vpn_task
        return self._vpn

    async def instance(self, cfg: InstanceConfig) -> InstanceHealth:
        """This instance's health, gated on the VPN if it needs it."""
        if cfg.name not in self._results:
            vpn = await self.vpn() if cfg.requires_vpn else None
            task = self._tasks[cfg.name]
            if vpn is not None and vpn.status is VpnStatus.DOWN and not task.done():
                task.cancel()  # no point waiting for an instance we may not use anyway
                health = InstanceHealth(
                    cfg.name,
                    Status.VPN_DOWN,
                    detail="VPN down: not probed",
                    priority=cfg.priority,
                    requires_vpn=True,
                    url=cfg.base_url,
                )
            else:
                health, error = await task
                self._client._record_probe(cfg.name, error)
            self._results[cfg.name] = health
        health = self._results[cfg.name]
        if cfg.requires_vpn:
            return _gated(health, cfg, await self.vpn())
        return health

    async def report(self) -> HealthReport:
        if self._report is None:
            settings = self._client.settings
            vpn = await self.vpn()
            instances = tuple([await self.instance(cfg) for cfg in settings.by_priority])
            state = overall_state(instances)
            self._report = HealthReport(
                vpn=vpn,
                instances=instances,
                state=state,
                verdict=VERDICTS[state],
                checked_at=self._now,
                duration_ms=round((time.perf_counter() - self._started) * 1000, 2),
            )
            self._client.last_health = self._report
        return self._report

    def settled(self) -> bool:
        """Every probe has answered already (a full report costs nothing more)."""
        tasks = [*self._tasks.values(), self._vpn_task]
        return all(t is None or t.done() for t in tasks)

    async def cancel(self) -> None:
        """Stop probes nobody needs any more (their instances were not reached), and reap them."""
        pending = [t for t in (*self._tasks.values(), self._vpn_task) if t is not None and not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


def _gated(h: InstanceHealth, cfg: InstanceConfig, vpn: VpnHealth) -> InstanceHealth:
    status = gate_on_vpn(h.status, cfg.requires_vpn, vpn)
    if status is h.status:
        return h
    from dataclasses import replace

    return replace(h, status=status, detail=f"VPN probe failed ({vpn.detail})")


def _queue_reason(health: HealthReport) -> str:
    parts = [f"{i.name} {i.status}" for i in health.instances if not i.ok]
    if not health.healthy:
        return "no instance available: " + ", ".join(parts)
    return "not delivered: " + (", ".join(parts) or "every instance failed")


class ResilientQBittorrentClient:
    """The spec's client for synchronous callers: same engine, on a private event loop.

    With no arguments it reads the spec's variables from the environment and ``.env``.
    """

    def __init__(self, settings: Settings | None = None, **kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._async = AsyncResilientClient(settings, **kwargs)

    @property
    def settings(self) -> Settings:
        return self._async.settings

    @property
    def ledger(self) -> Ledger:
        return self._async.ledger

    def _run(self, coro: Awaitable[T]) -> T:
        return self._loop.run_until_complete(coro)

    def health_check(self) -> HealthReport:
        return self._run(self._async.health_check())

    def add_torrents(self, items: Iterable[str | Item], **options: Any) -> AddResult:
        return self._run(self._async.add_torrents(items, **options))

    def process_queue(
        self, *, limit: int | None = None, on_progress: Callable[[int, int], None] | None = None
    ) -> AddResult:
        return self._run(self._async.process_queue(limit=limit, on_progress=on_progress))

    def process_queue_file(self, path: str | os.PathLike[str] | None = None) -> AddResult:
        return self._run(self._async.process_queue_file(path))

    def unblock(self, name: str | None = None) -> list[str]:
        return self._async.unblock(name)

    def close(self) -> None:
        if not self._loop.is_closed():
            self._run(self._async.aclose())
            self._loop.close()

    def __enter__(self) -> ResilientQBittorrentClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
