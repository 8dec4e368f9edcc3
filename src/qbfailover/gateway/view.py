"""The merged view: every torrent of every instance once, what an unreachable one last said, and the queue.

Each instance's ``torrents/info`` is fetched on its own session (concurrently, bounded by the
health deadline) and kept; when an instance cannot be reached its last list stays, so a torrent
never vanishes from a client's view because the VPN dropped. An instance whose last fetch failed
is re-tried in the background instead of being waited for, so polling clients never pay its
timeout. Pending ledger rows appear as torrents in a waiting state with the name from the magnet.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from qbfailover.config import InstanceConfig
from qbfailover.errors import InstanceError, QbFailoverError
from qbfailover.gateway.listing import Listed, split_list
from qbfailover.gateway.waiting import waiting_listed
from qbfailover.ledger.base import Entry

if TYPE_CHECKING:
    from qbfailover.engine.client import AsyncResilientClient

__all__ = ["MergedView"]


_LIBC: list[ctypes.CDLL] = []


_M_MMAP_THRESHOLD = -3


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    if not _LIBC:
        try:
            libc = ctypes.CDLL("libc.so.6")
            # Megabyte-sized buffers (a 10,000-torrent list, its reply) straight from mmap, always:
            # glibc otherwise raises this threshold after the first big free, serves the next ones
            # from its heap, and keeps that high-water mark as RSS long after they are gone.
            libc.mallopt(_M_MMAP_THRESHOLD, 1024 * 1024)
        except (OSError, AttributeError):
            return None
        _LIBC.append(libc)
    return _LIBC[0]


def _give_back_memory() -> None:
    """Return freed heap to the OS (glibc): the lists of every instance are replaced each refresh."""
    libc = _libc()
    if libc is not None:
        with contextlib.suppress(OSError, AttributeError):
            libc.malloc_trim(0)


QUEUE_TTL = 1.0
"""How long listings reuse one read of the pending rows, kept up to date with this process's own
adds and deliveries meanwhile: what other processes record or deliver shows within it, as an
instance's changes show within ``ttl``."""


class MergedView:
    """Per-instance last-known torrent lists plus the ledger's pending rows, merged on demand."""

    def __init__(
        self, client: AsyncResilientClient, *, ttl: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.client = client
        self.ttl = ttl
        self._clock = clock
        self.known: dict[str, dict[str, Listed]] = {name: {} for name in client.settings.names}
        self.reachable: dict[str, bool] = {}
        self.on_reachable: Callable[[InstanceConfig], Any] | None = None
        self.on_listed: Callable[[InstanceConfig], Any] | None = None
        self._fetched_at = -1e18
        self._inflight: dict[str, asyncio.Task[None]] = {}
        # Torrents just delivered, kept until a list fetched after the delivery shows them: a list
        # requested before it would otherwise hide them (they are no longer pending either).
        self._recent: dict[str, dict[str, tuple[Listed, float]]] = {}
        self._queued: tuple[float, dict[str, Entry]] | None = None
        self._rendered: dict[int, tuple[float, Listed]] = {}  # waiting rows by id, as last rendered
        self._checked: dict[str, float] = {}  # hashes fetched on their own (see refresh_for)
        _libc()  # set the allocator up before the first big list

    def invalidate(self) -> None:
        """The next read fetches again, the pending rows too (a command changed what instances hold)."""
        self._fetched_at = -1e18
        self._queued = None

    def note_recorded(self, entries: list[Entry]) -> None:
        """Rows this process just recorded: listed as waiting at once, without reading the ledger."""
        if self._queued is not None:
            for e in entries:
                if e.kind != "url" and e.state == "pending":
                    self._queued[1][e.key[:40]] = e

    async def refresh(self) -> None:
        """Fetch every instance's list unless fetched within ``ttl``; wait only for the healthy ones."""
        if self._clock() - self._fetched_at < self.ttl:
            return
        waits = []
        for cfg in self.client.settings.by_priority:
            task = self._inflight.get(cfg.name)
            if task is None or task.done():
                task = asyncio.create_task(self._fetch(cfg))
                self._inflight[cfg.name] = task
            if self.reachable.get(cfg.name, True):
                waits.append(task)
        if waits:
            await asyncio.wait(waits, timeout=self.client.settings.deadline + 0.5)
        self._fetched_at = self._clock()
        self._checked.clear()

    async def refresh_for(self, wanted: set[str]) -> None:
        """A read of some hashes: fetch just those, and only those not known fresh already.

        Queued hashes need no instance, a hash delivered (or fetched) within ``ttl`` is fresh, and
        the rest are asked for by a ``hashes`` filter: a client polling for what it just added
        costs qBittorrent the torrents it asks about, not a full list of every instance each
        second (on 4.5 each listed torrent costs it 0.1-0.3 ms).
        """
        now = self._clock()
        if now - self._fetched_at < self.ttl:
            return
        entries = self._waiting()
        stale = {
            h
            for h in wanted
            if h not in entries
            and now - self._checked.get(h, -1e18) >= self.ttl
            and not any(now - r[h][1] < self.ttl for r in self._recent.values() if h in r)
        }
        if not stale:
            return
        tasks = [
            asyncio.create_task(self._fetch_some(cfg, stale))
            for cfg in self.client.settings.by_priority
            if self.reachable.get(cfg.name, True)
        ]
        if tasks:
            await asyncio.wait(tasks, timeout=self.client.settings.deadline + 0.5)
        for h in stale:
            self._checked[h] = now

    async def _fetch_some(self, cfg: InstanceConfig, hashes: set[str]) -> None:
        started = self._clock()
        try:
            resp = await self.client.webui(cfg).request(
                "POST",
                "torrents/info",
                idempotent=True,
                timeout=self.client.settings.deadline,
                data={"hashes": "|".join(sorted(hashes))},
            )
            torrents = {t.hash: t for t in split_list(resp.text)} if resp.status_code == 200 else None
        except (InstanceError, ValueError):
            torrents = None
        if torrents is None:
            self.reachable[cfg.name] = False  # the next full refresh re-tries it in the background
            return
        self.reachable[cfg.name] = True
        known = self.known.setdefault(cfg.name, {})
        recent = self._recent.get(cfg.name, {})
        for h in hashes:
            if h in torrents:
                known[h] = torrents[h]
                recent.pop(h, None)
            elif h not in recent or recent[h][1] < started:
                known.pop(h, None)  # asked for after any delivery here: it is not there
                recent.pop(h, None)
        if self.on_listed is not None and torrents:
            with contextlib.suppress(QbFailoverError):
                await self.on_listed(cfg)

    async def _fetch(self, cfg: InstanceConfig) -> None:
        started = self._clock()
        ui = self.client.webui(cfg)
        deadline = self.client.settings.deadline
        try:
            # No wait_for here: its inner task would keep the (megabytes of) reply alive as its
            # result; the session's timeouts, clamped to the deadline, bound the call instead.
            resp = await ui.request("GET", "torrents/info", idempotent=True, timeout=deadline)
            torrents = {t.hash: t for t in split_list(resp.text)} if resp.status_code == 200 else None
            del resp
        except (InstanceError, ValueError):
            torrents = None
        if torrents is None:
            self.reachable[cfg.name] = False
            return
        was = self.reachable.get(cfg.name)
        self.reachable[cfg.name] = True
        recent = self._recent.get(cfg.name, {})
        for h, (t, noted) in list(recent.items()):
            if h in torrents or noted < started:
                del recent[h]  # this list was asked for after the delivery: it is the truth
            else:
                torrents[h] = t
        self.known[cfg.name] = torrents
        _give_back_memory()
        if was is False and self.on_reachable is not None:
            with contextlib.suppress(QbFailoverError):
                await self.on_reachable(cfg)
        if self.on_listed is not None:
            with contextlib.suppress(QbFailoverError):
                await self.on_listed(cfg)

    def note_delivered(self, instance: str, listed: Listed) -> None:
        """Show a torrent just delivered before the instance's next list (never hide a fresh add)."""
        self.known.setdefault(instance, {}).setdefault(listed.hash, listed)
        self._recent.setdefault(instance, {})[listed.hash] = (listed, self._clock())
        if self._queued is not None:
            self._queued[1].pop(listed.hash, None)
        # No refresh forced: the view is complete as it is, and a full list of every instance
        # after each delivered batch would cost qBittorrent more than the delivery itself.

    def forget(self, instance: str, hashes: set[str] | None) -> None:
        """Drop deleted torrents from an instance's last-known list (``None``: all of them)."""
        if hashes is None:
            self.known[instance] = {}
            self._recent.pop(instance, None)
        else:
            for h in hashes:
                self.known.get(instance, {}).pop(h, None)
                self._recent.get(instance, {}).pop(h, None)
        self.invalidate()

    def locate(self, hash_: str) -> str | None:
        """The instance that holds ``hash_`` (by priority when two do), from the last lists."""
        h = hash_.lower()
        for cfg in self.client.settings.by_priority:
            if h in self.known.get(cfg.name, {}):
                return cfg.name
        return None

    def pending(self) -> dict[str, Entry]:
        """Pending ledger rows by the hash qBittorrent will show for them (v2: its first 40 hex)."""
        out: dict[str, Entry] = {}
        for entry in self.client.ledger.list(states=("pending",)):
            if entry.kind != "url":
                out[entry.key[:40]] = entry
        return out

    def torrents(self, only: set[str] | None = None) -> list[Listed]:
        """Every torrent once: instances by priority (the first holder wins), then waiting items.

        ``only``: just these hashes (a ``hashes`` filter), looked up instead of walking every list,
        so a client polling for its few hashes costs nothing per torrent the instances hold.
        """
        seen: set[str] = set()
        out: list[Listed] = []
        for cfg in self.client.settings.by_priority:
            known = self.known.get(cfg.name, {})
            pairs = known.items() if only is None else ((h, known[h]) for h in only if h in known)
            for h, t in pairs:
                if h not in seen:
                    seen.add(h)
                    out.append(t)
        entries = self._waiting()
        for h, entry in entries.items() if only is None else ((h, entries[h]) for h in only if h in entries):
            if h not in seen:
                out.append(self._render(entry, h))
        return out

    def _render(self, entry: Entry, hash_: str) -> Listed:
        """A waiting row as a torrent, rendered again only when the row changed (its options)."""
        done = self._rendered.get(entry.id)
        if done is None or done[0] != entry.updated_at:
            done = self._rendered[entry.id] = (entry.updated_at, waiting_listed(entry, hash_))
        return done[1]

    def _waiting(self) -> dict[str, Entry]:
        """The pending rows for listings, read again after ``QUEUE_TTL`` or a command.

        A client polling every few milliseconds for the hashes it just added would otherwise make
        every poll read and render all pending rows, on the loop that delivers them. Commands read
        :meth:`pending` itself (they need each row's claim as it is now).
        """
        now = self._clock()
        if self._queued is None or now - self._queued[0] >= QUEUE_TTL:
            entries = self.pending()
            ids = {e.id for e in entries.values()}
            self._rendered = {i: r for i, r in self._rendered.items() if i in ids}
            self._queued = (now, entries)
        return self._queued[1]
