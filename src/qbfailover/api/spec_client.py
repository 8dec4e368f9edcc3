"""The spec's ``ResilientQBittorrentClient``, drop-in: same constructor, methods and return shapes.

Scripts written for the spec (its crawler's Phase 5, its monitor, its queue processor) change only
their import line. Behind the same calls runs the engine: every item is recorded in the durable
ledger before anything is sent, instances are probed in parallel under one deadline, the
VPN-bound primary gets nothing while the VPN is down, deliveries are confirmed by infohash, and
what no instance takes stays queued in the ledger and in the spec's queue file (merged, never
overwritten). Where the spec's client differs, README "Coming from the spec's
ResilientQBittorrentClient" lists it.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Self

import httpx

from qbfailover.api.health_dict import HealthDict, initial_health, spec_health
from qbfailover.api.spec_settings import gated_on, spec_settings
from qbfailover.api.vpn_checker import VPNHealthChecker
from qbfailover.config import Settings
from qbfailover.core.health import HealthReport
from qbfailover.core.items import Item, link_item, short
from qbfailover.core.outcomes import AddResult, ItemResult, Outcome
from qbfailover.engine.client import AsyncResilientClient
from qbfailover.errors import ItemError, StoreError
from qbfailover.ledger import LedgerBackend
from qbfailover.ledger.queue_mirror import QueueMirror

__all__ = ["ResilientQBittorrentClient"]

log = logging.getLogger("qbfailover.api")


class ResilientQBittorrentClient:
    """The spec's async client: ``perform_health_check``, ``add_torrents_with_fallback``,
    ``process_queue_file``, ``health``; usable with or without ``async with``."""

    def __init__(
        self,
        primary_url: str | None = None,
        username: str | None = None,
        password: str | None = None,
        secondary_url: str | None = None,
        queue_file: str | os.PathLike[str] = "qbittorrent_queue.json",
        savepath: str | os.PathLike[str] | None = None,
        *,
        vpn_checker: VPNHealthChecker | None = None,
        category: str | None = None,
        settings: Settings | None = None,
        ledger: LedgerBackend | None = None,
        transports: dict[str, httpx.AsyncBaseTransport] | None = None,
    ) -> None:
        """The spec's six arguments, then ours (keyword only).

        Missing values come from the settings, as for the CLI. ``vpn_checker`` gates the primary
        on that gateway instead of ``QBITTORRENT_VPN_GATEWAY``; ``category`` is set on every add
        (the spec's client hard-codes ``audiobooks``; here nothing is set unless asked);
        ``settings`` replaces the lookup entirely; ``ledger`` and ``transports`` are for tests.
        """
        vpn = vpn_checker.probe if vpn_checker is not None else None
        if settings is None:
            settings = spec_settings(
                primary_url=primary_url,
                username=username,
                password=password,
                secondary_url=secondary_url,
                vpn=vpn,
            )
        elif vpn is not None:
            settings = gated_on(settings, vpn)
        self.settings = settings
        first, *rest = settings.by_priority
        self.primary_url = first.url.rstrip("/")
        self.secondary_url = rest[0].url.rstrip("/") if rest else None
        self.username = first.username
        self.queue_file = Path(queue_file)
        self.savepath = str(savepath) if savepath is not None else None
        self.category = category
        self.vpn_checker = vpn_checker
        self.health: HealthDict = initial_health()
        self.last_report: HealthReport | None = None
        self._mirror = QueueMirror(self.queue_file)
        self._ledger = ledger
        self._transports = transports
        self._engine: AsyncResilientClient | None = None
        self._engine_loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return (
            f"ResilientQBittorrentClient(primary_url={self.primary_url!r}, "
            f"secondary_url={self.secondary_url!r}, username={self.username!r}, "
            f"queue_file={str(self.queue_file)!r})"
        )

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def engine(self) -> AsyncResilientClient:
        """The engine behind the spec's calls (opened on first use, closed by ``aclose``).

        Its sessions belong to one event loop; a caller that runs each call in its own
        ``asyncio.run`` gets a fresh engine per loop (the ledger is reopened, nothing is lost).
        """
        loop = _running_loop()
        if self._engine is not None and loop is not None and self._engine_loop is not loop:
            self._engine.drop()  # its loop is gone: its connections cannot be closed politely
            self._engine = None
        if self._engine is None:
            self._engine = AsyncResilientClient(
                self.settings, ledger=self._ledger, transports=self._transports
            )
            self._engine_loop = loop
        return self._engine

    @property
    def ledger(self) -> LedgerBackend:
        """The durable ledger every item is recorded in first (``qbfailover queue`` reads it too)."""
        return self.engine.ledger

    async def aclose(self) -> None:
        """Close the sessions and the ledger; the client reopens itself if used again."""
        if self._engine is not None:
            engine, self._engine = self._engine, None
            if self._engine_loop is _running_loop():
                await engine.aclose()
            else:
                engine.drop()  # opened under an event loop that has ended

    async def __aenter__(self) -> Self:
        """``async with`` closes the client however the block ends."""
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- the spec's calls ---------------------------------------------------------------------

    async def perform_health_check(self) -> HealthDict:
        """Probe the VPN and every instance in parallel, within the deadline; the spec's dict.

        The same dict object stays readable as ``client.health``.
        """
        report = await self.engine.health_check()
        self._note(report)
        log.info("health check: %s", self.health)
        return self.health

    async def add_torrents_with_fallback(
        self, magnet_links: Sequence[str], max_retries: int = 3
    ) -> tuple[list[str], list[str], list[str]]:
        """Deliver each link to the best healthy instance: ``(successful, failed, queued)``.

        Each input lands in exactly one list, as the caller's own string. ``failed`` holds only
        what can never be delivered (invalid input, or refused by every instance that answered);
        a link no instance could take now is ``queued``: in the ledger first, then in the queue
        file. ``max_retries`` bounds the attempts per instance: the engine makes one per instance
        per call (a second send of the same add could only duplicate it) and leaves the rest to
        the queue, so any value from 1 up gives the same result.
        """
        if max_retries < 1:
            log.debug("max_retries=%s: one attempt per instance is the least there is", max_retries)
        links = [str(link) for link in magnet_links]
        before = self.engine.last_health
        result = await self.engine.add_torrents(links, savepath=self.savepath, category=self.category)
        if self.engine.last_health is not None and self.engine.last_health is not before:
            self._note(self.engine.last_health)
        self._log_failed(result)
        queued = result.queued
        if queued:
            log.warning("%d magnet(s) queued: %s", len(queued), self._queue_note(result))
            await self._mirror_queued(queued)
        return result.successful, result.failed, queued

    async def process_queue_file(self) -> tuple[list[str], list[str]]:
        """Deliver the queue file's magnets and the ledger's pending items: ``(successful, failed)``.

        Exactly the delivered lines leave the file, which is deleted once empty. A corrupt file is
        renamed aside (one-line error) and the magnet links in its text are recorded.
        """
        in_file, salvaged = self._mirror.read()
        links = list(dict.fromkeys([*in_file, *salvaged]))
        from_file = AddResult()
        if links:
            log.info("processing %d queued magnet(s) from %s", len(links), self.queue_file)
            items: list[Item] = []
            for link in links:  # lines are links, never file paths to read
                try:
                    items.append(link_item(link))
                except ItemError as exc:
                    from_file.items.append(
                        ItemResult(link, short(link, 60), None, Outcome.INVALID_ITEM, error=str(exc))
                    )
            if items:
                added = await self.engine.add_torrents(items, savepath=self.savepath, category=self.category)
                from_file.items.extend(added.items)
        drained = await self.engine.process_queue(health=self.engine.last_health)
        if self.engine.last_health is not None:
            self._note(self.engine.last_health)
        results = [*from_file.items, *drained.items]
        self._log_failed(AddResult(results))
        delivered = {r.infohash or r.item for r in results if r.state == "delivered"}
        done = [m for m in in_file if _identity(m) in delivered]
        if in_file or self.queue_file.exists():
            gone = self._mirror.remove(set(done))
            if gone:
                log.info("queue file %s processed and removed", self.queue_file)
        successful = list(dict.fromkeys(_shown(r) for r in results if r.state == "delivered"))
        failed = list(dict.fromkeys(_shown(r) for r in results if r.state == "rejected"))
        return successful, failed

    # --- helpers ------------------------------------------------------------------------------

    async def _mirror_queued(self, queued: list[str]) -> None:
        """Merge the queued links into the spec's file; the ledger already holds them all.

        Only links go there (a .torrent path is no magnet for a person to paste, and the ledger
        delivers it); a file that cannot be written is logged, never raised, as in the spec.
        """
        links = [q for q in queued if _is_link(q)]
        try:
            salvaged = self._mirror.merge(links)
        except StoreError as exc:
            log.error("%s; the queued items are safe in the ledger (qbfailover queue list)", exc)
            return
        if salvaged:
            await self.engine.add_torrents(salvaged, savepath=self.savepath, category=self.category)

    def _note(self, report: HealthReport) -> None:
        self.last_report = report
        self.health.clear()
        self.health.update(spec_health(report, datetime.fromtimestamp(report.checked_at)))

    @staticmethod
    def _log_failed(result: AddResult) -> None:
        for r in result.items:
            if r.state == "rejected":
                log.error("not deliverable, not queued: %s: %s", r.name or r.item[:60], r.reason)

    @staticmethod
    def _queue_note(result: AddResult) -> str:
        reasons = sorted({r.reason for r in result.items if r.state == "queued"})
        return "; ".join(reasons)[:300]


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _is_link(text: str) -> bool:
    try:
        link_item(text)
    except ItemError:
        return False
    return True


def _identity(link: str) -> str:
    """What a queue-file line is known by in results: its infohash, else the line itself."""
    try:
        item = link_item(link)
    except ItemError:
        return link
    return item.v1 or item.v2 or item.source


def _shown(result: ItemResult) -> str:
    """The caller's own string for a result (a ledger item's magnet/URL, or its name for a file)."""
    return result.item if not result.item.startswith("ledger #") else (result.name or result.item)
