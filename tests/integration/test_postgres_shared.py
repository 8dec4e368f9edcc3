"""One queue for several hosts: producers and ``watch`` processes sharing a PostgreSQL ledger.

Real parts throughout: qbittorrent-nox in the spec's topology, a throwaway PostgreSQL cluster
(``pg_cluster``), the ``qbfailover watch`` CLI and producer processes (``tests/chaos/worker.py``)
with homes of their own, so nothing but the database can connect them. The verdict is read from
the instances and the ledger: every item on exactly one instance, one row per item, none pending.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chaos"))

from chaoslib import QBF, env, figure, kill9, magnet_hash, magnet_uri, seeded, spawn, wait_for, write_items

from conftest import VPN_GATEWAY, Topology
from harness import blackhole, restore_all
from pgcluster import shared_config, shared_verdict
from qbfailover.config import DatabaseUrl
from qbfailover.core.breaker import Guard
from qbfailover.ledger import NewEntry
from qbfailover.ledger.postgres import PostgresLedger

pytestmark = pytest.mark.integration

WATCH = ["watch", "--interval", "0.5", "--metrics-port", "0", "--log-format", "json"]


def on_instances(topology: Topology) -> dict[str, set[str]]:
    from chaoslib import hashes_on

    return {"primary": hashes_on(topology.primary), "secondary": hashes_on(topology.secondary)}


def pending_in(url: str) -> int:
    with PostgresLedger(DatabaseUrl(url)) as ledger:
        return ledger.counts()["pending"]


def settle(url: str, watchers: list[subprocess.Popen[bytes]], timeout: float) -> None:
    """After the faults, the operator's move (``queue retry --all``, ``unblock``) until the
    watchers have emptied the queue: backoffs and breakers model long outages, not this test's."""

    def drained() -> bool:
        assert all(w.poll() is None for w in watchers), "a watch process exited early"
        with PostgresLedger(DatabaseUrl(url)) as ledger:
            if ledger.counts()["pending"] == 0:
                return True
            ledger.retry(None)
            for name in ("primary", "secondary"):
                ledger.save_guard(name, Guard())
        return False

    wait_for(drained, timeout, f"the watchers to empty the queue ({pending_in(url)} pending)", 1.0)


def stop_all(procs: list[subprocess.Popen[bytes]]) -> list[int]:
    """SIGTERM, then the exit codes (a watch stops cleanly with 0)."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    return [p.wait(60) for p in procs]


def test_four_producers_two_watchers_one_queue_through_a_flapping_vpn(
    topology: Topology, faults: None, pg_url: str, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    """4 producer processes x 500 items, each with its own home, while 2 ``watch`` processes drain
    and the VPN probe flaps: every hash on exactly one instance, ledger rows = items handed in."""
    producers, per = 4, 500
    seed, rand = seeded()
    config = shared_config(tmp_path / "qbf.toml", topology.primary, topology.secondary, pg_url)
    base = env(topology.primary.password, config)
    topology.secondary.stop()
    blackhole(VPN_GATEWAY)  # both unusable at first: the first items queue in the shared ledger
    watchers = [spawn(WATCH, base, tmp_path / f"watch-{i}.log") for i in range(2)]
    workers: list[subprocess.Popen[bytes]] = []
    keys: list[str] = []
    homes = [tmp_path / f"home-{p}" for p in range(producers)]
    try:
        for p, home in enumerate(homes):
            home.mkdir()
            items = [magnet_uri(i, f"pg-{p}") for i in range(per)]
            keys += [magnet_hash(i) for i in items]
            path = write_items(tmp_path / f"items-{p}.txt", items)
            own = {**base, "HOME": str(home), "XDG_STATE_HOME": str(home / "state")}
            args = ["worker", "produce", str(path), "--chunk", "50", "--spread", "8"]
            workers.append(spawn(args, own, tmp_path / f"produce-{p}.log"))
        start = time.monotonic()
        secondary_back, vpn_down, flips = False, True, 0
        next_flip = start + 4.0
        while any(w.poll() is None for w in workers):
            now = time.monotonic()
            assert now - start < 300, "the producers did not finish"
            if not secondary_back and now - start >= 2.0:
                topology.secondary.start()
                secondary_back = True
            if now >= next_flip:
                if vpn_down:
                    restore_all()
                else:
                    blackhole(VPN_GATEWAY)
                vpn_down, flips = not vpn_down, flips + 1
                next_flip = now + rand.uniform(0.3, 1.0)
            time.sleep(0.05)  # the fault scheduler's tick
        restore_all()
        if not secondary_back:
            topology.secondary.start()
        assert [w.returncode for w in workers] == [0] * producers, "a producer failed: see produce-*.log"
        settle(pg_url, watchers, 180.0)
        assert stop_all(watchers) == [0, 0], "a watch did not stop cleanly: see watch-*.log"
    finally:
        for w in [*workers, *watchers]:
            if w.poll() is None:
                kill9(w)
    v = shared_verdict(keys, pg_url, on_instances(topology))
    figure(pytestconfig, "shared ledger (PostgreSQL)", f"seed {seed}, {flips} VPN flips: {v.line()}")
    assert v.ok, v.line()
    local = [p for h in homes for p in h.rglob("*.sqlite3")]
    assert not local, f"a producer wrote a local ledger: {local}"


def _held_by(url: str, host: str) -> dict[int, float]:
    """Pending rows whose claim names ``host``, with the lease end written on each."""
    import psycopg

    with psycopg.connect(url) as conn:
        found = conn.execute(
            "SELECT id, claim_until FROM qbfailover.entries WHERE state = 'pending' "
            "AND claim_owner LIKE %s AND claim_until IS NOT NULL",
            (host + "/%",),
        ).fetchall()
    return {int(r[0]): float(r[1]) for r in found}


def test_a_killed_watchers_rows_are_delivered_by_the_other_after_its_lease(
    topology: Topology, faults: None, pg_url: str, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    """Watcher A (on "another host": its own UTS namespace) is kill -9'd with a batch claimed and
    sent; watcher B, on this host, cannot prove A dead, so it takes A's rows only once A's lease
    ends, and delivers each exactly once (A's sends were noted, so B checks there first)."""
    lease, count = 3.0, 600
    config = shared_config(
        tmp_path / "qbf.toml", topology.primary, topology.secondary, pg_url, lease=lease, read_timeout=60
    )
    base = env(topology.primary.password, config)
    blackhole(VPN_GATEWAY)  # only the secondary is usable: A's batches all go there
    uris = [magnet_uri(i, "lease") for i in range(count)]
    with PostgresLedger(DatabaseUrl(pg_url)) as ledger:
        ledger.record(
            [NewEntry(magnet_hash(u), "magnet", u.encode(), f"lease {n}", {}) for n, u in enumerate(uris)],
            reason="queued",
            claim=False,
        )
    other_host = [*("unshare", "--uts", "sh", "-c", 'hostname other-host && exec "$@"', "sh")]
    with (tmp_path / "watch-a.log").open("ab") as log:
        a = subprocess.Popen([*other_host, *QBF, *WATCH], env=base, stdout=log, stderr=subprocess.STDOUT)
    b: subprocess.Popen[bytes] | None = None
    try:
        wait_for(lambda: bool(_held_by(pg_url, "other-host")), 60.0, "watcher A to claim a batch", 0.01)
        topology.secondary.freeze()  # A's add now hangs: it holds its claimed, noted batch
        wait_for(lambda: bool(_held_by(pg_url, "other-host")), 30.0, "A to hold a batch while stuck", 0.05)
        kill9(a)
        held = _held_by(pg_url, "other-host")
        topology.secondary.thaw()
        b = spawn(WATCH, base, tmp_path / "watch-b.log")
        wait_for(lambda: pending_in(pg_url) == 0, 120.0, "watcher B to drain everything")
        assert stop_all([b]) == [0]
    finally:
        topology.secondary.thaw()
        for p in (a, b):
            if p is not None and p.poll() is None:
                kill9(p)
    with PostgresLedger(DatabaseUrl(pg_url)) as ledger:
        rows = {i: ledger.get(i) for i in held}
    taken: list[Any] = [e for e in rows.values() if e is not None]
    assert held and len(taken) == len(held)
    assert all(e.state == "delivered" for e in taken)
    early = [e.id for e in taken if e.delivered_at is None or e.delivered_at < held[e.id]]
    assert not early, f"rows delivered before A's lease ended: {early[:5]}"
    v = shared_verdict([magnet_hash(u) for u in uris], pg_url, on_instances(topology))
    figure(
        pytestconfig,
        "shared ledger (PostgreSQL)",
        f"kill -9 of a watcher holding {len(held)} rows; lease {lease:g} s; {v.line()}",
    )
    assert v.ok, v.line()
