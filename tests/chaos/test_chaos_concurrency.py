"""Concurrency in numbers: 8 producer processes and 2 drains on one ledger, through outages.

Full form (``QBF_CHAOS_FULL=1``): 8 x 1,000 items; CI form: 8 x 150. The run starts with both
instances unusable (secondary stopped, VPN probe blackholed), so the first items queue; then the
secondary returns and the VPN probe flaps every 0.3–1 s, so processes route to different instances
at the same moment. No fault here makes a send uncertain, so the bar is strict: exactly once.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from chaoslib import concurrency, figure, seeded, sized

from conftest import Topology

pytestmark = [pytest.mark.chaos, pytest.mark.integration]


def test_eight_producers_two_drains_exactly_once(
    topology: Topology, faults: None, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    """8 producer processes and 2 drains with a flapping VPN: every item delivered exactly once."""
    per = sized(150, 1000)
    seed, rand = seeded()
    v, note = concurrency(
        topology,
        tmp_path,
        producers=8,
        per_producer=per,
        drains=2,
        spread=float(sized(10, 40)),
        flap=True,
        rand=rand,
    )
    figure(pytestconfig, "concurrency", f"seed {seed}: {note}")
    assert v.ok and not v.uncertain_duplicates, v.explain()
    assert v.pending == 0 and sum(v.delivered.values()) == 8 * per, v.explain()
