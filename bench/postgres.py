"""Figure 8 (issue 18): the shared ledger on PostgreSQL beside the SQLite ledger, in the same run.

Both stores are durable the same way: SQLite with ``synchronous=FULL``, PostgreSQL with its
defaults (fsync and synchronous commit on; the cluster comes from ``tests/pgcluster.py`` in its
``durable`` form, on the same disk). Samples of the two alternate, so drift hits both alike.

- 8a/8b: enqueue rate, 1 and 8 producer processes recording batches of 500 (``record`` with
  claims, as ``add`` does), timed from a common start line to the last producer's end.
- 8c: draining queued items to a healthy instance (the same as figure 4b), on either store.
- 8d: latency from a record committed by one process to the start of its delivery (the send
  note) by a ``watch`` process elsewhere: PostgreSQL wakes it with NOTIFY (the watch polls every
  30 s, so only the wake-up can be quick); the baseline is SQLite's polling at ``--interval 1``.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

from pgcluster import PgCluster, running_cluster
from qbfailover import AddResult, AsyncResilientClient, Settings
from qbfailover.config import DatabaseUrl
from qbfailover.core.items import parse_magnet
from qbfailover.ledger import LedgerBackend, NewEntry, open_ledger

from .lab import BenchError, Lab
from .table import Row, sample

__all__ = ["fig_postgres"]

_PRODUCER = textwrap.dedent(
    """
    import sys, time
    from qbfailover.ledger import NewEntry, open_ledger
    where, tag, n, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    items = [
        NewEntry(f"{tag}{i:08x}".ljust(40, "0"), "magnet", f"magnet:?xt=urn:btih:{tag}{i:08x}".encode(),
                 f"bench {i}", {})
        for i in range(n)
    ]
    ledger = open_ledger(where)
    print("ready", flush=True)
    sys.stdin.readline()
    for start in range(0, n, batch):
        ledger.record(items[start:start + batch], reason="received")
    print("done", flush=True)
    ledger.close()
    """
)
_BATCH = 500


def _progress(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


class _Stores:
    """A fresh SQLite file or PostgreSQL database per sample, named the way QBFAILOVER_DB is."""

    def __init__(self, lab: Lab, cluster: PgCluster) -> None:
        self.lab = lab
        self.cluster = cluster

    def new(self, kind: str, label: str) -> str:
        return self.cluster.new_database() if kind == "postgresql" else str(self.lab.ledger(label))


def _enqueue_rate(where: str, producers: int, total: int, tag: str) -> float:
    """Items/s of ``producers`` processes recording ``total`` items into ``where`` at once."""
    per = total // producers
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _PRODUCER, where, f"{tag}{p:02x}", str(per), str(_BATCH)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for p in range(producers)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise BenchError(f"a producer could not open {where}")
        start = time.perf_counter()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for proc in procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "done":
                raise BenchError("a producer failed while recording")
        took = time.perf_counter() - start
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.wait(60)
    return per * producers / took


def _entries(n: int, tag: str) -> list[NewEntry]:
    return [
        NewEntry(
            f"{tag}{i:08x}".ljust(40, "0"), "magnet", f"magnet:?xt=urn:btih:{tag}{i:08x}".encode(), "", {}
        )
        for i in range(n)
    ]


def _location(where: str) -> Path | DatabaseUrl:
    return DatabaseUrl(where) if "://" in where else Path(where)


async def _drain(settings: Settings) -> AddResult:
    async with AsyncResilientClient(settings) as client:
        return await client.process_queue()


def _drain_seconds(lab: Lab, where: str, n: int, tag: str, host: str) -> float:
    from .figures import delivered, magnets

    with open_ledger(_location(where)) as ledger:
        parsed = [parse_magnet(m) for m in magnets(n, tag)]
        entries = [NewEntry(p.key, p.kind, p.payload(), p.name, {}) for p in parsed]
        for i in range(0, n, 1000):
            ledger.record(entries[i : i + 1000], reason="both down", claim=False)
    inst = lab.instance("drain", host)
    try:
        settings = Settings(instances=(lab.instance_config(inst, "recovered"),), db_path=_location(where))
        start = time.perf_counter()
        result = asyncio.run(_drain(settings))
        took = time.perf_counter() - start
        delivered(result, n, "recovered")
    finally:
        inst.kill()
    return took


@contextlib.contextmanager
def _watching(lab: Lab, where: str, interval: float, host: str) -> Iterator[None]:
    inst = lab.instance("latency", host)
    env = lab.env(primary=False)
    env.update(QBITTORRENT_URL=inst.url, QBFAILOVER_DB=where)
    log = lab.root / f"watch-{time.monotonic_ns()}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "qbfailover"),
                "watch",
                "--interval",
                str(interval),
                "--metrics-port",
                "0",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(30)
        if proc.poll() is None:
            proc.kill()
        inst.kill()


def _until(predicate: Callable[[], bool], timeout: float, what: str) -> float:
    deadline = time.perf_counter() + timeout
    while not predicate():
        if time.perf_counter() > deadline:
            raise BenchError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.001)
    return time.perf_counter()


def _latencies(lab: Lab, where: str, interval: float, samples: int, tag: str, host: str) -> list[float]:
    """Seconds from a committed record to its send note by a watch process (first: a warm-up)."""
    found: list[float] = []
    with _watching(lab, where, interval, host), open_ledger(_location(where)) as ledger:
        for i, entry in enumerate(_entries(samples + 1, tag)):
            [row] = ledger.record([entry], reason="queued elsewhere", claim=False)
            recorded = time.perf_counter()
            started = _until(partial(_sent, ledger, row.id), 120.0, "the watch to start the delivery")
            _until(partial(_done, ledger, row.id), 60.0, "the delivery to finish")
            if i:
                found.append(started - recorded)
    return found


def _sent(ledger: LedgerBackend, entry_id: int) -> bool:
    row = ledger.get(entry_id)
    return row is not None and (bool(row.uncertain) or row.state != "pending")


def _done(ledger: LedgerBackend, entry_id: int) -> bool:
    row = ledger.get(entry_id)
    return row is not None and row.state != "pending"


def fig_postgres(lab: Lab, plan: object) -> list[Row]:
    """Rows 8a–8d: PostgreSQL (ours) against SQLite (the baseline) in the same run."""
    quick = bool(getattr(plan, "quick", False))
    total, repeats = (4000, 1) if quick else (40_000, 3)
    drain_n = 500 if quick else 5000
    latency_n = 3 if quick else 20
    with running_cluster(durable=True) as cluster:
        stores = _Stores(lab, cluster)
        rates: dict[tuple[str, int], list[float]] = {}
        drains: dict[str, list[float]] = {"postgresql": [], "sqlite": []}
        for rep in range(repeats):
            for producers in (1, 8):
                _progress(f"8: enqueue {total:,} items with {producers} producer(s), repeat {rep + 1}")
                for kind in ("postgresql", "sqlite") if rep % 2 == 0 else ("sqlite", "postgresql"):
                    where = stores.new(kind, "enqueue")
                    tag = f"e{rep:x}{producers:x}{'a' if kind == 'sqlite' else 'b'}"
                    rates.setdefault((kind, producers), []).append(
                        _enqueue_rate(where, producers, total, tag)
                    )
            _progress(f"8: drain {drain_n:,} queued items to a healthy instance, repeat {rep + 1}")
            for kind, host in (("postgresql", "127.0.0.4"), ("sqlite", "127.0.0.5")):
                drains[kind].append(
                    _drain_seconds(lab, stores.new(kind, "drain"), drain_n, f"pgd{rep}{kind}", host)
                )
        _progress(f"8: record -> delivery start latency, {latency_n} samples each")
        notify = _latencies(lab, stores.new("postgresql", "lat"), 30.0, latency_n, "1a7e", "127.0.0.4")
        polled = _latencies(lab, stores.new("sqlite", "lat"), 1.0, latency_n, "2b7e", "127.0.0.5")

    def rate_row(figure: str, producers: int, goal: str, judge: Callable[[float, float | None], bool]) -> Row:
        return Row(
            figure,
            f"enqueue {total:,} items, {producers} producer process(es), batches of {_BATCH}",
            sample("PostgreSQL", rates[("postgresql", producers)], "items/s"),
            sample("SQLite", rates[("sqlite", producers)], "items/s"),
            goal,
            judge,
            higher_is_better=True,
        )

    return [
        rate_row("8a", 1, "measured", lambda o, b: True),
        rate_row("8b", 8, "≥ 10,000 items/s", lambda o, b: o >= 10_000),
        Row(
            "8c",
            f"drain {drain_n:,} queued items to a healthy instance",
            sample("PostgreSQL", drains["postgresql"]),
            sample("SQLite", drains["sqlite"]),
            "≤ 1.5x SQLite",
            lambda o, b: b is not None and o <= 1.5 * b,
        ),
        Row(
            "8d",
            "record on one host -> delivery start by a watch on another",
            sample("NOTIFY", notify),
            sample("SQLite polling, --interval 1", polled),
            "p50 ≤ 100 ms",
            lambda o, b: o <= 0.1,
            note="PostgreSQL durable (fsync on) like SQLite (synchronous=FULL); both on the same disk.",
        ),
    ]
