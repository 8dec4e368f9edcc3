"""The shared ledger when PostgreSQL itself fails: restarted mid-run, or refusing from the start.

A restart (``pg_ctl stop -m fast``, then start: every session is cut, as an admin's restart or a
failover does) must cost nothing: producers and the watcher reconnect and carry on, and every
item ends on exactly one instance. A database that refuses connections when a command starts is
one line on stderr, exit 5, no traceback and no password (documented in ``docs/postgresql.md``).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "chaos"))

from chaoslib import QBF, env, figure, hashes_on, kill9, magnet_hash, magnet_uri, spawn, wait_for, write_items

from conftest import Topology
from pgcluster import shared_config, shared_verdict
from qbfailover.config import DatabaseUrl
from qbfailover.ledger.postgres import PostgresLedger

pytestmark = pytest.mark.integration

WATCH = ["watch", "--interval", "0.5", "--metrics-port", "0", "--log-format", "json"]


def _rows(url: str) -> int:
    try:
        with PostgresLedger(DatabaseUrl(url), reconnect_seconds=0) as ledger:
            return sum(ledger.counts().values())
    except Exception:
        return 0  # the server is restarting


def test_postgres_restarted_mid_run_loses_nothing(
    topology: Topology, pg_cluster: Any, pg_url: str, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    """2 producers x 300 items and a watcher while PostgreSQL restarts: all reconnect, nothing lost."""
    config = shared_config(tmp_path / "qbf.toml", topology.primary, topology.secondary, pg_url)
    base = env(topology.primary.password, config)
    watcher = spawn(WATCH, base, tmp_path / "watch.log")
    keys: list[str] = []
    workers: list[subprocess.Popen[bytes]] = []
    try:
        for p in range(2):
            items = [magnet_uri(i, f"restart-{p}") for i in range(300)]
            keys += [magnet_hash(i) for i in items]
            path = write_items(tmp_path / f"items-{p}.txt", items)
            args = ["worker", "produce", str(path), "--chunk", "20", "--spread", "6"]
            workers.append(spawn(args, base, tmp_path / f"produce-{p}.log"))
        wait_for(lambda: _rows(pg_url) >= 100, 60.0, "the first items to be recorded", 0.05)
        started = time.monotonic()
        pg_cluster.stop("fast")  # every session cut mid-run
        time.sleep(2.0)  # the outage itself (fault injection): longer than several batches
        pg_cluster.start()
        restart = time.monotonic() - started
        for w in workers:
            w.wait(180)
        assert [w.returncode for w in workers] == [0, 0], "a producer failed: see produce-*.log"
        with PostgresLedger(DatabaseUrl(pg_url)) as ledger:
            wait_for(lambda: ledger.counts()["pending"] == 0, 120.0, "the watcher to drain what was queued")
        assert watcher.poll() is None, "watch exited: see watch.log"
        watcher.terminate()
        assert watcher.wait(60) == 0
    finally:
        for w in [*workers, watcher]:
            if w.poll() is None:
                kill9(w)
    on = {"primary": hashes_on(topology.primary), "secondary": hashes_on(topology.secondary)}
    v = shared_verdict(keys, pg_url, on)
    figure(pytestconfig, "shared ledger (PostgreSQL)", f"restart mid-run ({restart:.1f} s down): {v.line()}")
    assert v.ok, v.line()


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    "command", [["add", "magnet:?xt=urn:btih:" + "ab" * 20], ["queue", "list"]], ids=["add", "queue-list"]
)
def test_connection_refused_at_start_is_one_line_and_exit_5(
    topology: Topology, tmp_path: Path, command: list[str]
) -> None:
    """Nothing listens at the URL: one ``qbfailover: error:`` line naming the fix, exit 5, no
    traceback, the password masked. (``add`` records first, so it refuses before any send.)"""
    url = f"postgresql://qbf:pw-4711@127.0.0.1:{_closed_port()}/queue"
    environ = {**topology.env(), "QBFAILOVER_DB": url}
    done = subprocess.run([*QBF, *command], env=environ, capture_output=True, text=True, timeout=120)
    assert done.returncode == 5, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("qbfailover: error:")]
    assert len(errors) == 1, done.stderr
    assert "cannot reach ledger postgresql://qbf:***@127.0.0.1" in errors[0]
    assert "start PostgreSQL or fix QBFAILOVER_DB" in errors[0]
    assert "Traceback" not in done.stderr and "pw-4711" not in done.stderr + done.stdout
    assert hashes_on(topology.primary) == set() and hashes_on(topology.secondary) == set()


def test_watch_with_the_database_refusing_logs_one_line_per_cycle_and_keeps_running(
    topology: Topology, tmp_path: Path
) -> None:
    """A service outlives a database outage: each cycle logs the one-line error (password masked),
    and SIGTERM still stops it cleanly (exit 0)."""
    url = f"postgresql://qbf:pw-4711@127.0.0.1:{_closed_port()}/queue"
    log = tmp_path / "watch.log"
    watcher = spawn(WATCH, {**topology.env(), "QBFAILOVER_DB": url}, log)
    try:

        def failed_cycles() -> list[str]:
            return [line for line in log.read_text().splitlines() if "cannot reach ledger" in line]

        wait_for(lambda: len(failed_cycles()) >= 2, 60.0, "two failed cycles in the log")
        assert watcher.poll() is None, log.read_text()[-2000:]
        watcher.terminate()
        assert watcher.wait(60) == 0, log.read_text()[-2000:]
    finally:
        if watcher.poll() is None:
            kill9(watcher)
    text = log.read_text()
    assert "pw-4711" not in text and "Traceback" not in text
    assert "postgresql://qbf:***@127.0.0.1" in failed_cycles()[0]
