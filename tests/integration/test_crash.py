"""Crash safety of the CLI against real qbittorrent-nox: queue through an outage, kill -9 mid-add/drain.

The promise tested: an item the ledger accepted is never lost and never lands on two instances,
however the process that holds it dies; an item the ledger never accepted reached no instance.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chaos"))

from chaoslib import (
    cli,
    env,
    figure,
    hashes_on,
    in_flight,
    judge,
    kill9,
    magnet_hash,
    seeded,
    spawn,
    write_config,
    write_items,
)

from conftest import Topology
from harness import magnet
from qbfailover.ledger.queuefile import QueueFile, now_iso, write_queue_file

pytestmark = pytest.mark.integration


def _on(topology: Topology) -> dict[str, set[str]]:
    return {"primary": hashes_on(topology.primary), "secondary": hashes_on(topology.secondary)}


def test_queued_while_both_down_then_drain_delivers_after_recovery(
    topology: Topology, tmp_path: Path
) -> None:
    """Both down: `add` queues (exit 3); once the secondary is back, `queue drain` delivers all of it."""
    config = write_config(
        tmp_path / "qbf.toml", topology.primary, topology.secondary, db=topology.db, cooldown=1
    )
    environ = env(topology.primary.password, config)
    topology.primary.stop()
    topology.secondary.stop()
    items = [magnet(i, "outage") for i in range(25)]
    added = cli(["add", "--from-file", str(write_items(tmp_path / "items.txt", items)), "--json"], environ)
    assert added.returncode == 3, added.stderr
    doc = json.loads(added.stdout)
    assert doc["queued"] == items and not doc["successful"]
    assert all("no instance available" in r["reason"] for r in doc["items"])

    topology.secondary.start()
    # No manual unblock or retry: items nothing could take get no backoff, and a refused
    # connection opens no breaker, so a drain delivers everything once the secondary is back.
    deadline = time.monotonic() + 60
    delivered: list[str] = []
    while len(delivered) < len(items):
        assert time.monotonic() < deadline, f"only {len(delivered)} of {len(items)} delivered"
        drained = cli(["queue", "drain", "--json"], environ)
        assert drained.returncode in (0, 3), drained.stderr
        result = json.loads(drained.stdout)
        assert {r["instance"] for r in result["items"] if r["state"] == "delivered"} <= {"secondary"}
        delivered += result["successful"]
        if len(delivered) < len(items):
            time.sleep(0.5)  # pacing between drain runs (cron would wait minutes)
    assert sorted(delivered) == sorted(items)
    v = judge([magnet_hash(i) for i in items], topology.db, {"secondary": hashes_on(topology.secondary)})
    assert v.ok and v.pending == 0 and v.delivered == {"secondary": 25}, v.explain()


def test_refused_is_named_and_a_restarted_instance_takes_the_next_add(
    topology: Topology, tmp_path: Path
) -> None:
    """Connection refused is named and opens no breaker: a restarted secondary takes the next add."""
    config = write_config(
        tmp_path / "qbf.toml", topology.primary, topology.secondary, db=topology.db, cooldown=30
    )
    environ = env(topology.primary.password, config)
    topology.primary.stop()
    topology.secondary.stop()
    first = cli(["add", magnet(1, "restart"), "--json"], environ)
    assert first.returncode == 3, first.stderr
    status = json.loads(cli(["status", "--json"], environ).stdout)
    details = [i["detail"] for i in status["instances"] if i["name"] == "secondary"]
    assert details and "connection refused" in details[0], details
    topology.secondary.start()
    second = cli(["add", magnet(2, "restart"), "--json"], environ)
    assert second.returncode == 0, second.stdout + second.stderr
    assert json.loads(second.stdout)["items"][0]["instance"] == "secondary"


def test_kill9_during_add_loses_and_duplicates_nothing(
    topology: Topology, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    """SIGKILL of `add --from-file` at random moments, each followed by a drain: nothing lost or doubled."""
    config = write_config(tmp_path / "qbf.toml", topology.primary, topology.secondary, db=topology.db)
    environ = env(topology.primary.password, config)
    seed, rand = seeded()
    per_round, rounds = 200, 6
    calibration = [magnet(i, "calibrate") for i in range(per_round)]
    start = time.monotonic()
    assert (
        cli(["add", "--from-file", str(write_items(tmp_path / "c.txt", calibration))], environ).returncode
        == 0
    )
    duration = time.monotonic() - start
    keys: list[str] = [magnet_hash(i) for i in calibration]
    killed = left = unsure = 0
    for n in range(rounds):
        items = [magnet(i, f"kill-add-{n}") for i in range(per_round)]
        keys += [magnet_hash(i) for i in items]
        path = write_items(tmp_path / f"{n}.txt", items)
        proc = spawn(["add", "--from-file", str(path)], environ, tmp_path / "add.log")
        time.sleep(rand.uniform(0.0, duration))  # the random moment of the crash
        killed += kill9(proc)
        pending, uncertain = in_flight(topology.db)
        left, unsure = left + pending, unsure + uncertain
        drained = cli(["queue", "drain"], environ)
        assert drained.returncode == 0, drained.stdout + drained.stderr
    v = judge(keys, topology.db, _on(topology))
    figure(
        pytestconfig,
        "kill -9 during add (integration)",
        f"{rounds} rounds x {per_round} items, {killed} killed mid-run, seed {seed}; left by the crashes: "
        f"{left} pending, {unsure} sent without answer; after the drains: {v.line()}",
    )
    assert v.ok and not v.uncertain_duplicates and v.pending == 0, v.explain()
    assert v.recorded + v.not_recorded == len(keys)


def test_kill9_during_drain_loses_and_duplicates_nothing(
    topology: Topology, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    """SIGKILL of `queue drain` at random moments, repeatedly, then one clean drain: all there once."""
    config = write_config(
        tmp_path / "qbf.toml", topology.primary, topology.secondary, db=topology.db, batch_size=50
    )
    environ = env(topology.primary.password, config)
    seed, rand = seeded()
    per_round, rounds = 300, 6

    def queue(n: int) -> list[str]:
        items = [magnet(i, f"kill-drain-{n}") for i in range(per_round)]
        path = tmp_path / f"queue-{n}.json"
        write_queue_file(path, QueueFile(saved_at=now_iso(), reason="test", magnets=items))
        imported = cli(["queue", "import", str(path)], environ)
        assert imported.returncode == 0, imported.stderr
        return items

    items = queue(-1)
    start = time.monotonic()
    assert cli(["queue", "drain"], environ).returncode == 0
    duration = time.monotonic() - start
    killed = left = unsure = 0
    for n in range(rounds):
        items += queue(n)
        proc = spawn(["queue", "drain"], environ, tmp_path / "drain.log")
        time.sleep(rand.uniform(0.0, duration))  # the random moment of the crash
        killed += kill9(proc)
        pending, uncertain = in_flight(topology.db)
        left, unsure = left + pending, unsure + uncertain
    final = cli(["queue", "drain"], environ)
    assert final.returncode == 0, final.stdout + final.stderr
    v = judge([magnet_hash(i) for i in items], topology.db, _on(topology))
    figure(
        pytestconfig,
        "kill -9 during drain (integration)",
        f"{rounds} drains of {per_round} new + leftover items killed at random ({killed} mid-run), seed "
        f"{seed}; left by the crashes: {left} pending, {unsure} sent without answer; {v.line()}",
    )
    assert v.ok and not v.uncertain_duplicates and v.pending == 0, v.explain()
    assert v.recorded == len(items)
