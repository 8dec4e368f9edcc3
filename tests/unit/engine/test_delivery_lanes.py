"""Two batches in flight to one instance: each failure is kept, and any "down" feeds the breaker.

The batches themselves are stubbed (their requests are exercised against real qBittorrent in
tests/integration); what is tested here is the lanes' bookkeeping when both fail at once.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from qbfailover.config import InstanceConfig, Secret
from qbfailover.core.items import parse_magnet
from qbfailover.engine import delivery
from qbfailover.engine.delivery import Pending
from qbfailover.errors import InstanceError, Rejected, Unreachable


class Host:
    def __init__(self) -> None:
        self.settings = SimpleNamespace(batch_size=1)
        self.probes: list[InstanceError | None] = []

    def record_probe(self, name: str, error: InstanceError | None) -> None:
        self.probes.append(error)


def pending(n: int) -> Pending:
    entry: Any = SimpleNamespace(id=n, options={}, uncertain=(), payload=b"magnet")
    return Pending(entry, parse_magnet(f"magnet:?xt=urn:btih:{n:040x}"))


def test_both_lanes_fail_each_keeps_its_error_and_the_breaker_hears_the_outage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Lane 1 gets an HTTP 500 (not a sign of an outage), lane 2 finds the instance unreachable."""
    errors = [Rejected("p", "torrents/add answered HTTP 500", 500), Unreachable("p", "connection refused")]
    started: list[int] = []
    both = asyncio.Event()

    async def batch(host: object, cfg: object, items: list[Pending], options: object) -> None:
        started.append(items[0].entry.id)
        if len(started) == 2:
            both.set()
        await both.wait()  # both batches are on their way before either fails
        raise errors[items[0].entry.id - 1]

    monkeypatch.setattr(delivery, "_deliver_batch", batch)
    host = Host()
    todo = [pending(1), pending(2), pending(3)]
    cfg = InstanceConfig("p", "http://127.0.0.1:1/", "u", Secret("pw"))
    asyncio.run(delivery._deliver_to(host, cfg, todo))  # type: ignore[arg-type]
    assert started == [1, 2]  # the third batch never starts: this instance's turn is over
    assert todo[0].errors == [str(errors[0])]
    assert todo[1].errors == [str(errors[1])]
    # the first failure (lane 2's: it opens the gate and goes on at once) is carried on
    assert todo[2].errors == [str(errors[1])]
    assert host.probes == [errors[1]]
