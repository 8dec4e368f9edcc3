"""Several qbfailover processes sharing one ledger deliver every item exactly once."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chaos"))

from chaoslib import concurrency, figure, seeded

from conftest import Topology
from harness import QbtInstance
from qbfailover.config import Settings
from qbfailover.core.health import Status
from qbfailover.engine.client import AsyncResilientClient
from qbfailover.ledger.sqlite import Ledger

pytestmark = pytest.mark.integration


def test_four_adders_two_drains_exactly_once(
    topology: Topology, faults: None, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    """4 processes adding and 2 draining through an outage: every item on exactly one instance."""
    seed, rand = seeded()
    v, note = concurrency(
        topology, tmp_path, producers=4, per_producer=200, drains=2, spread=6.0, flap=False, rand=rand
    )
    figure(pytestconfig, "4 adders + 2 drains (integration)", f"seed {seed}: {note}")
    assert v.ok and not v.uncertain_duplicates, v.explain()
    assert v.pending == 0 and sum(v.delivered.values()) == 800, v.explain()


def test_processes_probing_one_outage_step_the_breaker_once(
    qbt_factory: Callable[..., QbtInstance], tmp_path: Path
) -> None:
    """Six processes timing out on one frozen instance at once step its breaker once, not 2**6-fold."""
    inst = qbt_factory("frozen")
    inst.freeze()
    db = tmp_path / "ledger.sqlite3"
    settings = Settings(instances=(inst.config(read_timeout=0.5),), db_path=db, cooldown=10.0, deadline=1.0)

    async def probe_together() -> None:
        # One Ledger connection per client, like one per process; the guard lives in the file.
        clients = [AsyncResilientClient(settings, ledger=Ledger(db)) for _ in range(6)]
        try:
            reports = await asyncio.gather(*(c.health_check(respect_breakers=True) for c in clients))
            assert all(r.instances[0].status is Status.TIMEOUT for r in reports)
        finally:
            for c in clients:
                await c.aclose()
                c.ledger.close()

    before = time.time()
    asyncio.run(probe_together())
    with Ledger(db) as ledger:
        guard = ledger.load_guard("frozen")
    assert guard.failures == 1
    assert guard.open_until - before <= settings.cooldown + 5
