"""The gateway's courier: delivers what adds recorded, in batches, off the request path.

An add is answered as soon as its items are in the ledger (record first: from then on nothing is
lost), and the courier is woken. It drains due items with the engine's own rules
(``process_queue``: claim, route, confirm by infohash, mark). Adds that keep arriving are gathered
into one drain: the courier waits until none came for ``linger``, but never longer than
``max_linger`` after the first, so a client that sends a thousand one-magnet requests in a row
pays a handful of drains (each with its health round, claim, check, add, confirmation and marks)
instead of one per few requests. A bulk add (``bulk`` items, 500 by default) is sent at once:
it already fills a request well, and waiting for more would only delay it. Each drain takes
its own health round (the VPN gate is checked at the time of sending, never from an older
report); when no instance is usable it stops and the watch loop drains on recovery. Two drains
never claim the same row, so it cannot race the watch loop's drain.
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

    def __init__(
        self,
        client: AsyncResilientClient,
        *,
        linger: float = 0.02,
        max_linger: float = 0.25,
        bulk: int = 500,
    ) -> None:
        self.client = client
        self.bulk = bulk
        """Items gathered that end the gathering at once (capped at a drain step)."""
        self.linger = linger
        """Quiet time that ends the gathering of adds: the stream of adds has paused."""
        self.max_linger = max_linger
        """The longest an add waits for others before it is sent (the reply never waits)."""
        self._wake = asyncio.Event()
        self._gathered = 0
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.batches = 0

    def start(self) -> None:
        """Run in the background until :meth:`stop`."""
        self._task = asyncio.create_task(self._run())

    def poke(self, items: int = 1) -> None:
        """``items`` were recorded: deliver them (soon, or right after the drain on its way)."""
        self._gathered += items
        self._wake.set()

    async def _gather(self) -> None:
        """Wait while adds keep coming (see the module's docstring); return at once for a big one."""
        loop = asyncio.get_running_loop()
        end = loop.time() + self.max_linger
        enough = min(self.bulk, self.client.drain_step)
        while not self._stopping and self._gathered < enough:
            self._wake.clear()
            left = end - loop.time()
            if left <= 0:
                return
            try:
                await asyncio.wait_for(self._wake.wait(), min(self.linger, left))
            except TimeoutError:
                return  # quiet for ``linger``: the stream paused

    async def _run(self) -> None:
        client = self.client
        while not self._stopping:
            await self._wake.wait()
            if self.linger > 0:
                await self._gather()
            if self._stopping:
                break  # a stop wakes us: what is recorded stays pending, no new drain starts
            self._wake.clear()
            self._gathered = 0
            try:
                result = await client.process_queue(limit=client.drain_step, health=None)
            except QbFailoverError as exc:  # e.g. the ledger is locked: the next poke retries
                log.error("delivery failed (items stay queued): %s", exc)
                continue
            self.batches += 1
            if len(result.items) >= client.drain_step and all(r.state != "queued" for r in result.items):
                self.poke(client.drain_step)  # a full step: more may be due, go on without waiting
            # Otherwise what is left waits for the next add (gathered afresh) or, when no instance
            # took it, for the watch loop's drain on recovery.

    async def stop(self, grace: float) -> None:
        """Finish the batch on its way (bounded by ``grace``); what is left stays pending."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._task, grace)
