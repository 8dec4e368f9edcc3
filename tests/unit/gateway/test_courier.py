"""The courier: a big add is sent at once, small ones are gathered, and a stop never starts a drain.

Its client is a stand-in that counts drains (real drains through the gateway are exercised
against qBittorrent in tests/integration/test_gateway*.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

from qbfailover.core.outcomes import AddResult
from qbfailover.gateway.courier import Courier


class Client:
    drain_step = 1000

    def __init__(self) -> None:
        self.drains = 0
        self.drained = asyncio.Event()

    async def process_queue(self, **_: object) -> AddResult:
        self.drains += 1
        self.drained.set()
        return AddResult()


def test_an_add_of_a_whole_step_is_sent_without_waiting_for_more() -> None:
    async def go() -> int:
        client = Client()
        courier = Courier(client, linger=3600, max_linger=3600)  # type: ignore[arg-type]
        courier.start()
        courier.poke(client.drain_step)
        await asyncio.wait_for(client.drained.wait(), 30)  # would wait an hour if it lingered
        await courier.stop(grace=5)
        return client.drains

    assert asyncio.run(go()) == 1


def test_a_bulk_add_is_sent_without_waiting_for_a_whole_step() -> None:
    """A request of ``bulk`` items (far below a drain step of 10,000) is not held back for more."""

    async def go() -> int:
        client = Client()
        client.drain_step = 10_000
        courier = Courier(client, linger=3600, max_linger=3600, bulk=500)  # type: ignore[arg-type]
        courier.start()
        courier.poke(500)
        await asyncio.wait_for(client.drained.wait(), 30)  # would wait an hour if it lingered
        await courier.stop(grace=5)
        return client.drains

    assert asyncio.run(go()) == 1


def test_small_adds_wait_for_the_pause() -> None:
    """Fewer than ``bulk`` items: the courier lingers (here an hour), so nothing is drained yet."""

    async def go() -> int:
        client = Client()
        courier = Courier(client, linger=3600, max_linger=3600, bulk=500)  # type: ignore[arg-type]
        courier.start()
        courier.poke(499)
        for _ in range(20):  # loop turns in which an eager courier would have drained
            await asyncio.sleep(0)
        drains = client.drains
        await courier.stop(grace=5)
        return drains

    assert asyncio.run(go()) == 0


def test_a_stop_starts_no_drain() -> None:
    """Stopping: what is recorded stays pending for the next start; nothing new is sent."""

    async def go() -> int:
        client: Any = Client()
        courier = Courier(client)
        courier.start()
        await asyncio.sleep(0)  # one scheduling step: the courier task starts and awaits a poke
        await courier.stop(grace=5)
        return int(client.drains)

    assert asyncio.run(go()) == 0
