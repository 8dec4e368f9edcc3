"""Crash safety in numbers: the producer SIGKILLed at random moments, then one drain, many times.

Full form (``QBF_CHAOS_FULL=1``): 50 runs x 1,000 items; CI form: 5 runs x 200 items. Every third
drain runs while the VPN probe fails, so it goes to the secondary: an item the killed producer had
already sent to the primary may then be on both, and that is allowed only where the ledger recorded
the send as uncertain.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from chaoslib import (
    Verdict,
    clear,
    cli,
    env,
    figure,
    in_flight,
    judge,
    kill9,
    magnet_hash,
    magnet_uri,
    on_instances,
    seeded,
    sized,
    spawn,
    wait_recorded,
    write_config,
    write_items,
)

from conftest import VPN_GATEWAY, Topology
from harness import blackholed

pytestmark = [pytest.mark.chaos, pytest.mark.integration]


def test_producer_sigkilled_then_one_drain(
    topology: Topology, faults: None, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    """`add --from-file` killed -9 at a random moment, then one drain: none lost, no unrecorded duplicate."""
    runs, per_run = sized(5, 50), sized(200, 1000)
    seed, rand = seeded()

    def setup(n: int) -> tuple[Path, dict[str, str], list[str], Path]:
        db = tmp_path / f"ledger-{n}.sqlite3"
        config = write_config(tmp_path / f"qbf-{n}.toml", topology.primary, topology.secondary, db=db)
        items = [magnet_uri(i, f"crash-{n}") for i in range(per_run)]
        return (
            db,
            env(topology.primary.password, config),
            items,
            write_items(tmp_path / f"items-{n}.txt", items),
        )

    # One undisturbed run measures how long a producer lives and when its items are recorded.
    db, environ, items, path = setup(-1)
    start = time.monotonic()
    proc = spawn(["add", "--from-file", str(path)], environ, tmp_path / "add.log")
    wait_recorded(db, per_run, proc)
    recorded_at = time.monotonic() - start
    assert proc.wait(120) == 0
    lifetime = time.monotonic() - start
    clear(topology.primary)

    total = Verdict()
    killed = after_record = left = unsure = to_secondary = 0
    for n in range(runs):
        db, environ, items, path = setup(n)
        proc = spawn(["add", "--from-file", str(path)], environ, tmp_path / "add.log")
        if n % 2:  # a random moment after the items were accepted: the interesting half
            wait_recorded(db, per_run, proc)
            time.sleep(rand.uniform(0.0, max(0.0, lifetime - recorded_at)))
            after_record += 1
        else:  # a random moment in the producer's whole life
            time.sleep(rand.uniform(0.0, lifetime))
        killed += kill9(proc)
        pending, uncertain = in_flight(db)
        left, unsure = left + pending, unsure + uncertain
        if n % 3 == 2:
            with blackholed(VPN_GATEWAY):
                drained = cli(["queue", "drain"], environ)
            to_secondary += 1
        else:
            drained = cli(["queue", "drain"], environ)
        assert drained.returncode == 0, drained.stdout + drained.stderr
        v = judge([magnet_hash(i) for i in items], db, on_instances(topology))
        assert v.ok and v.pending == 0, f"run {n}, seed {seed}: {v.explain()}"
        total.add(v)
        clear(topology.primary)
        clear(topology.secondary)
    figure(
        pytestconfig,
        "crash safety",
        f"{runs} runs x {per_run} items (seed {seed}); producer lifetime {lifetime:.2f} s, items recorded "
        f"at {recorded_at:.2f} s; {killed} killed mid-run ({after_record} aimed after recording); "
        f"{to_secondary} drains forced to the secondary; left by the crashes: {left} pending, {unsure} "
        f"sent without answer",
    )
    figure(
        pytestconfig,
        "crash safety",
        f"lost {len(total.lost)}, duplicated {len(total.duplicated)}, uncertain (on two instances, "
        f"recorded) {total.uncertain_duplicates}; {total.line()}",
    )
    assert total.ok and total.pending == 0, total.explain()
