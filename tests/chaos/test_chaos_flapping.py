"""A flapping network: the primary's path blackholed and restored every second, the secondary frozen.

Full form (``QBF_CHAOS_FULL=1``): 10,000 items over ~120 s; CI form: 1,000 items over ~15 s. One
producer process hands items over in chunks while one drain process retries what was queued; the
test itself is the fault injector. Afterwards (faults over) the queue is drained and every item must
be on an instance, on two only where the ledger recorded the first send as uncertain.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from chaoslib import (
    env,
    figure,
    judge,
    magnet_hash,
    magnet_uri,
    on_instances,
    seeded,
    settle,
    sized,
    spawn,
    write_config,
    write_items,
)

from conftest import VPN_GATEWAY, Topology
from harness import blackhole, restore_all

pytestmark = [pytest.mark.chaos, pytest.mark.integration]


def test_flapping_primary_and_frozen_secondary(
    topology: Topology, faults: None, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    """Blackholed-every-second primary, randomly SIGSTOPped secondary: zero lost, no unrecorded duplicate."""
    count, spread, chunk = sized(1000, 10_000), float(sized(15, 120)), sized(25, 100)
    seed, rand = seeded()
    config = write_config(
        tmp_path / "qbf.toml",
        topology.primary,
        topology.secondary,
        db=topology.db,
        cooldown=1,
        read_timeout=2,
        batch_size=100,
    )
    environ = env(topology.primary.password, config)
    items = [magnet_uri(i, "flap") for i in range(count)]
    path = write_items(tmp_path / "items.txt", items)
    stop = tmp_path / "stop"
    drain = spawn(["worker", "drain", str(stop)], environ, tmp_path / "drain.log")
    producer = spawn(
        ["worker", "produce", str(path), "--chunk", str(chunk), "--spread", str(spread)],
        environ,
        tmp_path / "produce.log",
    )
    start = time.monotonic()
    blackholed = with_gateway = freezes = 0
    frozen_for = 0.0
    path_down = False
    thaw_at: float | None = None
    next_flip = start
    try:
        while producer.poll() is None:
            now = time.monotonic()
            assert now - start < spread + 600, "the producer did not finish"
            if now >= next_flip:
                # Every second the primary's path flips; half of the outages take the VPN probe
                # down too (failover is then immediate), half leave it up (timeouts, uncertainty).
                if path_down:
                    restore_all()
                else:
                    blackhole(topology.primary.host)
                    blackholed += 1
                    if rand.random() < 0.5:
                        blackhole(VPN_GATEWAY)
                        with_gateway += 1
                path_down = not path_down
                next_flip += 1.0
            if thaw_at is not None and now >= thaw_at:
                topology.secondary.thaw()
                thaw_at = None
            elif thaw_at is None and rand.random() < 0.02:
                pause = rand.uniform(0.3, 2.5)
                topology.secondary.freeze()
                thaw_at = now + pause
                freezes += 1
                frozen_for += pause
            time.sleep(0.05)  # the fault scheduler's tick
    finally:
        restore_all()
        topology.secondary.thaw()
    produced_in = time.monotonic() - start
    assert producer.returncode == 0, (tmp_path / "produce.log").read_text()[-2000:]
    settle(topology.db, 300.0, [drain])
    stop.touch()
    assert drain.wait(60) == 0, (tmp_path / "drain.log").read_text()[-2000:]
    at_add = json.loads((tmp_path / "produce.log").read_text().splitlines()[-1])
    by_drain = json.loads((tmp_path / "drain.log").read_text().splitlines()[-1])
    v = judge([magnet_hash(i) for i in items], topology.db, on_instances(topology))
    figure(
        pytestconfig,
        "flapping network",
        f"{count} items in chunks of {chunk} over {produced_in:.0f} s (seed {seed}); primary path "
        f"blackholed {blackholed} times ({with_gateway} with the VPN probe), secondary frozen "
        f"{freezes} times ({frozen_for:.0f} s in all); at add: delivered {at_add['delivered']}, queued "
        f"{at_add['queued']}; delivered by the drain {by_drain['delivered']}",
    )
    figure(
        pytestconfig,
        "flapping network",
        f"lost {len(v.lost)}, duplicated {len(v.duplicated)}, on two instances as recorded uncertain "
        f"{v.uncertain_duplicates}; per instance: "
        + ", ".join(f"{k} {n}" for k, n in sorted(v.delivered.items()))
        + f"; {v.queued_line()}",
    )
    assert v.ok and v.pending == 0 and v.recorded == count, v.explain()
