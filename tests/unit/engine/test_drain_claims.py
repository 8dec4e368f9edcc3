"""A drain's claim taken while its health round runs: given back unless an instance is usable.

Real SQLite ledgers; the health round is a stand-in coroutine (real rounds against qBittorrent run
in tests/integration, where every drain goes through this path).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from qbfailover.core.health import HealthReport, InstanceHealth, State, Status, Verdict, VpnHealth, VpnStatus
from qbfailover.engine.drain import claim_while_checking
from qbfailover.ledger.base import NewEntry
from qbfailover.ledger.sqlite import Ledger


def report(status: Status) -> HealthReport:
    inst = InstanceHealth("primary", status)
    return HealthReport(VpnHealth(VpnStatus.UP), (inst,), State.BOTH_HEALTHY, Verdict.EXCELLENT, 0.0, 1.0)


def queued(ledger: Ledger, n: int) -> None:
    rows = [
        NewEntry(
            key=f"{i:040x}",
            kind="magnet",
            payload=f"magnet:?xt=urn:btih:{i:040x}".encode(),
            name=f"m{i}",
            options={},
        )
        for i in range(n)
    ]
    rows.append(NewEntry(key="bad", kind="magnet", payload=b"not a magnet", name="bad", options={}))
    ledger.record(rows, reason="both down", claim=False)


def claimable(path: Path) -> int:
    """How many rows another worker could claim right now."""
    with Ledger(path) as other:
        return len(other.claim_due(limit=1000))


def test_a_usable_instance_keeps_the_claim(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    with Ledger(path) as ledger:
        queued(ledger, 5)

        async def check() -> HealthReport:
            return report(Status.OK)

        health, (pending, rejected) = asyncio.run(claim_while_checking(ledger, check, 100))
        assert health.healthy and len(pending) + len(rejected) == 6
        assert [p.item.v1 for p in pending] == [f"{i:040x}" for i in range(5)]
        assert [r.outcome.value for r in rejected] == ["invalid_item"]
        assert claimable(path) == 0  # all held by this worker


def test_no_usable_instance_gives_the_claims_back_and_still_reports_rejections(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    with Ledger(path) as ledger:
        queued(ledger, 5)

        async def check() -> HealthReport:
            return report(Status.TIMEOUT)

        health, (pending, rejected) = asyncio.run(claim_while_checking(ledger, check, 100))
        assert not health.healthy and pending == []
        assert len(rejected) == 1  # the unreadable row is rejected whatever the health
        assert claimable(path) == 5  # given back at once, not after the lease


def test_a_failing_round_gives_the_claims_back(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite3"
    with Ledger(path) as ledger:
        queued(ledger, 3)

        async def check() -> HealthReport:
            await asyncio.sleep(0)
            raise RuntimeError("the round broke")

        with pytest.raises(RuntimeError):
            asyncio.run(claim_while_checking(ledger, check, 100))
        assert claimable(path) == 3


def test_a_failing_claim_stops_the_round(tmp_path: Path) -> None:
    """The ledger fails under the claim: the error comes through and the round is not left running."""
    path = tmp_path / "l.sqlite3"
    with Ledger(path) as ledger:
        queued(ledger, 1)
        started = asyncio.Event()
        finished: list[bool] = []

        async def check() -> HealthReport:
            started.set()
            try:
                await asyncio.Event().wait()  # a round that would never end by itself
            finally:
                finished.append(True)
            raise AssertionError("unreachable")

        def broken(limit: int, ids: object = None) -> list[object]:
            raise RuntimeError("disk gone")

        ledger.claim_due = broken  # type: ignore[method-assign,assignment]

        async def run() -> list[bool]:
            with pytest.raises(RuntimeError, match="disk gone"):
                await claim_while_checking(ledger, check, 10)
            return list(finished)  # before asyncio.run's own clean-up could end the round

        assert asyncio.run(run()) == [True]
        assert started.is_set()
