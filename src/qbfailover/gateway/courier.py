"""The gateway's courier: delivers what adds recorded, in batches, off the request path.

An add is answered as soon as its items are in the ledger (record first: from then on nothing is
lost), and the courier is woken. It drains due items with the engine's own rules
(``process_queue``: claim, route, confirm by infohash, mark), so adds that arrive while a batch is
on its way (or within ``linger`` of the first) are coalesced into the next one: a thousand
one-magnet requests become a few ``torrents/add`` calls. Each batch takes its own health round
(the VPN gate is checked at the time of sending, never from an older report), so a probe is paid
per batch, not per request; when no instance is usable it stops and the watch loop drains on
recovery. Two drains never claim the same row, so it cannot race the watch loop's drain.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from qbfailover.errors import QbFailoverError

if TYPE_CHECKING:
    from qbfailover.engine.client import AsyncResilientClient

__all__ = ["Courier"]

log = logging.getLogger("qbfailover.serve")


class Courier:
    """One background task that delivers recorded items whenever it is woken."""

    def __init__(self, client: AsyncResilientClient, *, linger: float = 0.02) -> None:
        self.client = client
        self.linger = linger
        """How long a woken courier waits for more adds before it sends: one batch, not many."""
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.batches = 0

    def start(self) -> None:
        """Run in the background until :meth:`stop`."""
        self._task = asyncio.create_task(self._run())

    def poke(self) -> None:
        """Something was recorded: deliver it (now, or right after the batch on its way)."""
        self._wake.set()

    async def _run(self) -> None:
        client = self.client
        while not self._stopping:
            await self._wake.wait()
            if self.linger > 0:
                await asyncio.sleep(self.linger)
            self._wake.clear()
            while not self._stopping:
                try:
                    result = await client.process_queue(limit=client.settings.batch_size, health=None)
                except QbFailoverError as exc:  # e.g. the ledger is locked: the next poke retries
                    log.error("delivery failed (items stay queued): %s", exc)
                    break
                self.batches += 1
                if not result.items or any(r.state == "queued" for r in result.items):
                    break  # nothing due, or no instance took it: the watch loop drains on recovery

    async def stop(self, grace: float) -> None:
        """Finish the batch on its way (bounded by ``grace``); what is left stays pending."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._task, grace)
