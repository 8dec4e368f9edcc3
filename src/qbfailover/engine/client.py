"""The library's face: record every item, then deliver it now or leave it queued.

``AsyncResilientClient`` owns the resources (settings, ledger, one WebUI session per instance, the
persisted guards) and runs the steps: a health round (``health_round``), delivery (``delivery``),
decided by ``core``. ``SyncResilientClient`` runs the same coroutines on a private event loop for
synchronous callers, so nothing is written twice. (The spec's own name, ``ResilientQBittorrentClient``,
is its async drop-in in :mod:`qbfailover.api`.)
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import httpx

from qbfailover.config import InstanceConfig, Settings, load_settings
from qbfailover.core import breaker
from qbfailover.core.breaker import Guard
from qbfailover.core.health import HealthReport
from qbfailover.core.items import Item
from qbfailover.core.outcomes import AddResult, ItemResult, Outcome
from qbfailover.engine.delivery import LANES, Pending, deliver
from qbfailover.engine.drain import claim_items, claim_while_checking
from qbfailover.engine.health_round import HealthRound
from qbfailover.engine.inputs import parse_item
from qbfailover.errors import Banned, InstanceError, ItemError
from qbfailover.ledger import Entry, LedgerBackend, NewEntry, open_ledger
from qbfailover.qbt.session_cache import cache_for
from qbfailover.qbt.webui import AddOptions, WebUI

__all__ = ["AddResult", "AsyncResilientClient", "ItemResult", "SyncResilientClient"]

T = TypeVar("T")


class AsyncResilientClient:
    """Deliver items to the best healthy instance; record first, confirm by infohash, queue the rest."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        ledger: LedgerBackend | None = None,
        transports: dict[str, httpx.AsyncBaseTransport] | None = None,
        clock: Callable[[], float] = time.time,
        session_cache: bool = False,
    ) -> None:
        """``session_cache``: keep WebUI sessions beside the ledger for the next process (the CLI's)."""
        self.settings = settings if settings is not None else load_settings()
        self._ledger = ledger
        self._owns_ledger = ledger is None
        self._clock = clock
        self._webuis: dict[str, WebUI] = {}
        self._transports = transports or {}
        self._sessions = cache_for(self.settings.db_path) if session_cache else None
        self.last_health: HealthReport | None = None
        # Told each batch of items as soon as the ledger marks them delivered, whoever delivered
        # them: the gateway shows them before the instance's next list does.
        self.on_delivered: Callable[[list[tuple[Entry, ItemResult]]], None] | None = None

    # --- resources ----------------------------------------------------------------------------

    @property
    def ledger(self) -> LedgerBackend:
        """The ledger every item is recorded in first (opened on first use, closed by ``aclose``)."""
        if self._ledger is None:
            self._ledger = open_ledger(self.settings.db_path)
        return self._ledger

    def webui(self, cfg: InstanceConfig) -> WebUI:
        """The instance's one session, reused: one login and cookie jar per instance, guarded."""
        ui = self._webuis.get(cfg.name)
        if ui is None:
            stored = self._sessions.bind(self.ledger.salt(), cfg) if self._sessions is not None else None
            ui = WebUI(cfg, transport=self._transports.get(cfg.name), stored=stored)
            ui.login_gate = lambda: self._login_refusal(cfg)
            ui.on_login = lambda outcome: self._login_outcome(cfg, outcome)
            self._webuis[cfg.name] = ui
        return ui

    async def aclose(self) -> None:
        """Close every session, and the ledger if this client opened it."""
        for ui in self._webuis.values():
            await ui.aclose()
        self._webuis.clear()
        if self._owns_ledger and self._ledger is not None:
            self._ledger.close()
            self._ledger = None

    def drop(self) -> None:
        """Forget the sessions without closing them (their event loop is gone) and close the ledger."""
        self._webuis.clear()
        if self._owns_ledger and self._ledger is not None:
            self._ledger.close()
            self._ledger = None

    async def __aenter__(self) -> AsyncResilientClient:
        """``async with`` closes the sessions and the ledger however the block ends."""
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- guards (breaker + login budget), persisted in the ledger ------------------------------

    def now(self) -> float:
        """Wall-clock time from the injected clock, so guard rules can be tested without time."""
        return self._clock()

    def guard(self, name: str) -> Guard:
        """The instance's persisted breaker and login guard (shared with other processes)."""
        return self.ledger.load_guard(name)

    def _save_guard(self, name: str, guard: Guard) -> None:
        self.ledger.save_guard(name, guard)

    def _fingerprint(self, cfg: InstanceConfig) -> str:
        secret = cfg.api_key.reveal() if cfg.api_key else cfg.password.reveal()
        return breaker.credential_fingerprint(self.ledger.salt(), cfg.username, secret)

    def _login_refusal(self, cfg: InstanceConfig) -> str | Banned | None:
        guard = self.guard(cfg.name)
        fp = self._fingerprint(cfg)
        now = self._clock()
        if breaker.may_login(guard, fp, now, self.settings.auth_cooldown):
            return None
        reason = breaker.auth_block_reason(guard, fp, now, self.settings.auth_cooldown)
        return Banned(cfg.name, reason) if now < guard.banned_until else reason

    def _login_outcome(self, cfg: InstanceConfig, outcome: str) -> None:
        guard = self.guard(cfg.name)
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
        return await HealthRound(self, respect_breakers=respect_breakers).report()

    def record_probe(self, name: str, error: InstanceError | None) -> None:
        """Feed one probe (or delivery) result to the instance's breaker; saved only if it changed."""
        guard = self.guard(name)
        new = breaker.after_probe(guard, error, self._clock(), self.settings.cooldown)
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
        options: AddOptions | None = None,
    ) -> AddResult:
        """Record every item, then deliver it now or leave it queued; invalid input is rejected.

        ``options``: a full :class:`AddOptions` (every torrents/add field, as the gateway passes a
        client's add through); when given, the keyword options are ignored.
        """
        if options is None:
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
                result.items.append(ItemResult(raw, raw[:60], None, Outcome.INVALID_ITEM, error=str(exc)))
        if not valid:
            return result
        shared = options.as_dict()  # one object for all: the ledger and the batching encode it once
        entries = self.ledger.record(
            [
                NewEntry(key=i.key, kind=i.kind, payload=i.payload(), name=i.name, options=shared)
                for _, i in valid
            ],
            reason="received",
        )
        pending: list[Pending] = []
        busy: dict[int, ItemResult] = {}
        taken: set[int] = set()  # duplicates in ``items`` share one row: deliver it once (a set: O(n))
        for entry, (_, item) in zip(entries, valid, strict=True):
            if entry.claimed:
                if entry.id not in taken:
                    taken.add(entry.id)
                    pending.append(Pending(entry, item))
            else:
                busy[entry.id] = ItemResult(
                    item.source, item.name, item.v1 or item.v2, Outcome.BUSY, id=entry.id
                )
        if pending:
            outcomes = {**busy, **await deliver(self, pending, HealthRound(self, respect_breakers=True))}
        else:
            outcomes = busy
        for (raw, _), entry in zip(valid, entries, strict=True):
            done = outcomes[entry.id]
            result.items.append(done if done.item == raw else replace(done, item=raw))
        return result

    @property
    def drain_step(self) -> int:
        """Items one drain step claims: a batch for each delivery lane (two adds in flight)."""
        return self.settings.batch_size * LANES

    async def process_queue(
        self,
        *,
        limit: int | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        health: HealthReport | None = None,
    ) -> AddResult:
        """Drain pending items that are due, in batches, with the same rules as ``add_torrents``.

        It ends once a claim finds fewer due items than it asked for: chasing items that trickle
        in meanwhile (the gateway records adds while it drains) would send them one add request
        each; they wait for the next drain instead, which gathers them.

        ``on_progress(done, total)`` is called after each batch (the CLI draws a progress bar).
        ``health``: a report just taken (``watch``'s cycle), so the drain does not probe twice.
        """
        result = AddResult()
        done = 0
        total = self.ledger.counts().get("pending", 0) if on_progress else 0
        if limit is not None:
            total = min(total, limit)
        while limit is None or done < limit:
            size = self.drain_step if limit is None else min(self.drain_step, limit - done)
            last = self.last_health
            if health is None and (last is None or last.healthy):  # likely usable: claim meanwhile
                health, (pending, rejected) = await claim_while_checking(
                    self.ledger, lambda: self.health_check(respect_breakers=True), size
                )
            else:
                if health is None or not health.healthy:
                    health = await self.health_check(respect_breakers=True)
                if not health.healthy:
                    break
                pending, rejected = claim_items(self.ledger, size)
            result.items.extend(rejected)  # unreadable rows are rejected whatever the health
            if not health.healthy:  # the round found nothing usable: the claims were given back
                break
            claimed = len(pending) + len(rejected)
            if not claimed:
                break
            outcomes = await deliver(self, pending, HealthRound(self, report=health))
            for p in pending:
                result.items.append(outcomes[p.entry.id])
            done += claimed
            if on_progress is not None:
                on_progress(done, max(total, done))
            if claimed < size:
                break  # all that was due is done; items recorded since wait for the next drain
            if any(r.state == "queued" for r in outcomes.values()):
                health = None  # something failed: look again before the next batch
        return result

    # --- the spec's JSON queue file -----------------------------------------------------------

    async def process_queue_file(self, path: str | os.PathLike[str] | None = None) -> AddResult:
        """The spec's semantics: try each magnet, keep the failed ones, delete the file when empty."""
        from qbfailover.ledger.queue_mirror import QueueMirror
        from qbfailover.ledger.queuefile import read_queue_file

        file = Path(path) if path is not None else Path("qbittorrent_queue.json")
        queue = read_queue_file(file)
        result = await self.add_torrents(queue.magnets)
        # Queued items stay for later; rejected ones stay too: the file is the user's data, and
        # an invalid line deleted here would be gone with nothing but a printed reason. The
        # removal re-reads the file under its lock, so lines another process merged meanwhile stay.
        QueueMirror(file).remove({r.item for r in result.items if r.state == "delivered"})
        return result


class SyncResilientClient:
    """The engine for synchronous callers: same coroutines, on a private event loop.

    With no arguments it reads the spec's variables from the environment and ``.env``.
    """

    def __init__(self, settings: Settings | None = None, **kwargs: Any) -> None:
        """``kwargs`` go to :class:`AsyncResilientClient` (``ledger``, ``transports``, ``clock``)."""
        self._loop = asyncio.new_event_loop()
        self._async = AsyncResilientClient(settings, **kwargs)

    @property
    def settings(self) -> Settings:
        """The settings the engine runs with (read from the environment when none were given)."""
        return self._async.settings

    @property
    def ledger(self) -> LedgerBackend:
        """The engine's ledger, for callers that list or count what is queued."""
        return self._async.ledger

    def _run(self, coro: Awaitable[T]) -> T:
        return self._loop.run_until_complete(coro)

    def health_check(self) -> HealthReport:
        """Probe the VPN and every instance concurrently, within the deadline."""
        return self._run(self._async.health_check())

    def add_torrents(self, items: Iterable[str | Item], **options: Any) -> AddResult:
        """Record every item, then deliver it now or leave it queued (see the async method)."""
        return self._run(self._async.add_torrents(items, **options))

    def process_queue(
        self, *, limit: int | None = None, on_progress: Callable[[int, int], None] | None = None
    ) -> AddResult:
        """Drain due pending items in batches, with the same rules as ``add_torrents``."""
        return self._run(self._async.process_queue(limit=limit, on_progress=on_progress))

    def process_queue_file(self, path: str | os.PathLike[str] | None = None) -> AddResult:
        """The spec's queue-file semantics: deliver its magnets, keep the failed ones."""
        return self._run(self._async.process_queue_file(path))

    def unblock(self, name: str | None = None) -> list[str]:
        """Forget login failures, bans and open breakers (after the user fixed the cause)."""
        return self._async.unblock(name)

    def close(self) -> None:
        """Close sessions, ledger and the private event loop (safe to call twice)."""
        if not self._loop.is_closed():
            self._run(self._async.aclose())
            self._loop.close()

    def __enter__(self) -> SyncResilientClient:
        """``with`` closes the client however the block ends."""
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
