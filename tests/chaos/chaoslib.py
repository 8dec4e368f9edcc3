"""What the reliability tests share: configs, CLI runs, what each instance holds, and the verdict.

The verdict is the promise in numbers: for every item handed to qbfailover, after the final drain,
it is on exactly one instance (or on two only where the ledger recorded the first send as
uncertain), and an item that never reached the ledger reached no instance either (record first).
Figures go to :func:`figure`, which prints them in pytest's terminal summary, so they show up in
CI's ``-q`` output without ``-s``. (No conftest.py here: pytest imports every conftest.py as the one
module ``conftest``, and ``from conftest import Topology`` elsewhere would then find the wrong one.)
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

from qbfailover.ledger.sqlite import Ledger

QBF = [sys.executable, "-m", "qbfailover"]
WORKER = Path(__file__).with_name("worker.py")
FIGURES: list[tuple[str, str]] = []


def full() -> bool:
    """True for the full (long) form: ``QBF_CHAOS_FULL=1 ./scripts/test -m chaos``."""
    return os.environ.get("QBF_CHAOS_FULL", "") == "1"


def sized(ci: int, full_size: int) -> int:
    return full_size if full() else ci


class _Summary:
    """A plugin registered on first use: prints the figures after the test results."""

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not FIGURES:
            return
        form = "full form" if full() else "bounded CI form; QBF_CHAOS_FULL=1 for the full one"
        terminalreporter.write_sep("=", f"qbfailover reliability figures ({form})")
        for test, line in FIGURES:
            terminalreporter.write_line(f"{test}: {line}")


def figure(config: pytest.Config, test: str, line: str) -> None:
    """Record one line of measured figures for the end-of-run summary (``config``: pytestconfig)."""
    if not config.pluginmanager.has_plugin("qbfailover-figures"):
        config.pluginmanager.register(_Summary(), "qbfailover-figures")
    FIGURES.append((test, line))


class Instance(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def username(self) -> str: ...
    @property
    def password(self) -> str: ...


def write_config(
    path: Path,
    primary: Instance,
    secondary: Instance,
    *,
    db: Path,
    vpn_gateway: str = "127.0.0.3",
    cooldown: float = 30.0,
    deadline: float = 2.0,
    read_timeout: float = 10.0,
    confirm_timeout: float = 3.0,
    batch_size: int = 500,
) -> Path:
    """A TOML config for the spec's topology; passwords come from QBF_TEST_PASSWORD (see env())."""
    text = f"""
[settings]
db = "{db}"
deadline = {deadline}
cooldown = {cooldown}
confirm_timeout = {confirm_timeout}
batch_size = {batch_size}

[vpn]
kind = "icmp"
target = "{vpn_gateway}"

[[instances]]
name = "{primary.name}"
url = "{primary.url}"
username = "{primary.username}"
password_env = "QBF_TEST_PASSWORD"
priority = 1
requires_vpn = true
read_timeout = {read_timeout}

[[instances]]
name = "{secondary.name}"
url = "{secondary.url}"
username = "{secondary.username}"
password_env = "QBF_TEST_PASSWORD"
priority = 2
read_timeout = {read_timeout}
"""
    path.write_text(text)
    return path


def env(password: str, config: Path) -> dict[str, str]:
    """The environment of a CLI or worker process using ``config``."""
    out = {k: v for k, v in os.environ.items() if not k.startswith(("QBITTORRENT_", "QBFAILOVER_"))}
    out.update(QBF_TEST_PASSWORD=password, QBFAILOVER_CONFIG=str(config), PYTHONUNBUFFERED="1")
    return out


def cli(
    args: Sequence[str], environ: dict[str, str], timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*QBF, *args], env=environ, capture_output=True, text=True, timeout=timeout)


def spawn(args: Sequence[str], environ: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a CLI command (``args`` after ``qbfailover``) or ``worker.py`` (``args[0] == "worker"``)."""
    cmd = [sys.executable, str(WORKER), *args[1:]] if args[0] == "worker" else [*QBF, *args]
    with log.open("ab") as fh:
        return subprocess.Popen(
            cmd, env=environ, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )


def kill9(proc: subprocess.Popen[bytes]) -> bool:
    """SIGKILL and reap; True if the process was still running when the signal went out."""
    alive = proc.poll() is None
    if alive:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return alive


def wait_for(predicate: Any, timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll ``predicate()`` until true; AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


# --- what the instances hold ------------------------------------------------------------------


@contextlib.contextmanager
def _session(inst: Instance) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=inst.url + "api/v2/", timeout=30.0, trust_env=False) as http:
        r = http.post("auth/login", data={"username": inst.username, "password": inst.password})
        assert r.status_code in (200, 204) and r.text.strip() in ("Ok.", ""), (
            f"test login to {inst.name}: {r}"
        )
        yield http


def hashes_on(inst: Instance) -> set[str]:
    """Every infohash on an instance, read with a session of our own."""
    with _session(inst) as http:
        r = http.get("torrents/info")
        r.raise_for_status()
        return {str(t["hash"]).lower() for t in r.json()}


def clear(inst: Instance) -> None:
    """Remove every torrent (not files) so the next round starts from an empty instance."""
    with _session(inst) as http:
        http.post("torrents/delete", data={"hashes": "all", "deleteFiles": "false"}).raise_for_status()

        def empty() -> bool:
            return not http.get("torrents/info").json()

        wait_for(empty, 60.0, f"{inst.name} to drop its torrents")


def magnet_hash(uri: str) -> str:
    return uri.split("urn:btih:", 1)[1].split("&", 1)[0].lower()


# --- the verdict ------------------------------------------------------------------------------


@dataclass
class Verdict:
    """Where every handed-over item ended, judged against what the ledger says."""

    items: int = 0
    recorded: int = 0
    not_recorded: int = 0
    delivered: dict[str, int] = field(default_factory=dict)
    pending: int = 0
    rejected: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    uncertain_duplicates: int = 0
    uncertain_rows: int = 0
    unrecorded_sent: list[str] = field(default_factory=list)
    false_delivered: list[str] = field(default_factory=list)
    queued_seconds: list[float] = field(default_factory=list)

    def add(self, other: Verdict) -> None:
        self.items += other.items
        self.recorded += other.recorded
        self.not_recorded += other.not_recorded
        for name, n in other.delivered.items():
            self.delivered[name] = self.delivered.get(name, 0) + n
        self.pending += other.pending
        self.rejected += other.rejected
        self.lost += other.lost
        self.duplicated += other.duplicated
        self.uncertain_duplicates += other.uncertain_duplicates
        self.uncertain_rows += other.uncertain_rows
        self.unrecorded_sent += other.unrecorded_sent
        self.false_delivered += other.false_delivered
        self.queued_seconds += other.queued_seconds

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.unrecorded_sent or self.false_delivered)

    def line(self) -> str:
        per = ", ".join(f"{k} {v}" for k, v in sorted(self.delivered.items()))
        return (
            f"items {self.items}, recorded {self.recorded} (never recorded: {self.not_recorded}); "
            f"delivered: {per or 'none'}; lost {len(self.lost)}, duplicated {len(self.duplicated)}, "
            f"duplicates recorded uncertain {self.uncertain_duplicates}, rows with uncertainty "
            f"{self.uncertain_rows}, sent without record {len(self.unrecorded_sent)}, "
            f"ledger says delivered but absent {len(self.false_delivered)}, pending {self.pending}, "
            f"rejected {self.rejected}"
        )

    def queued_line(self) -> str:
        waited = sorted(self.queued_seconds)
        if not waited:
            return "no item waited in the queue"
        p95 = waited[min(len(waited) - 1, int(len(waited) * 0.95))]
        return (
            f"{len(waited)} items waited in the queue: median {statistics.median(waited):.1f} s, "
            f"p95 {p95:.1f} s, max {waited[-1]:.1f} s"
        )

    def explain(self) -> str:
        return (
            f"{self.line()}; lost e.g. {self.lost[:3]}, duplicated e.g. {self.duplicated[:3]}, "
            f"unrecorded e.g. {self.unrecorded_sent[:3]}, false e.g. {self.false_delivered[:3]}"
        )


def judge(keys: Iterable[str], db: Path, on: dict[str, set[str]]) -> Verdict:
    """Compare the ledger at ``db`` with what each instance holds (``on``: name → hashes).

    An item counts as having waited in the queue if its first attempt failed (``attempts`` ≥ 1);
    its wait is from being recorded to being delivered.
    """
    rows: dict[str, list[Any]] = {}
    if db.exists():
        with Ledger(db) as ledger:
            for e in ledger.list(states=("pending", "delivered", "rejected")):
                rows.setdefault(e.key, []).append(e)
    v = Verdict()
    for key in keys:
        v.items += 1
        where = {name for name, hashes in on.items() if key in hashes}
        entries = rows.get(key, [])
        if not entries:
            v.not_recorded += 1
            if where:
                v.unrecorded_sent.append(key)
            continue
        v.recorded += 1
        delivered = [e for e in entries if e.state == "delivered"]
        uncertain = {u for e in entries for u in e.uncertain}
        if uncertain:
            v.uncertain_rows += 1
        if any(e.state == "pending" for e in entries):
            v.pending += 1
        if any(e.state == "rejected" for e in entries):
            v.rejected += 1
        if not where:
            v.lost.append(key)
        for e in delivered:
            v.delivered[e.instance] = v.delivered.get(e.instance, 0) + 1
            if e.instance not in where:
                v.false_delivered.append(key)
            if e.delivered_at is not None and e.attempts:
                v.queued_seconds.append(e.delivered_at - e.created_at)
        if len(where) > 1:
            homes = {e.instance for e in delivered}
            if (where - homes) <= uncertain:
                v.uncertain_duplicates += 1
            else:
                v.duplicated.append(key)
    return v


def write_items(path: Path, uris: Sequence[str]) -> Path:
    path.write_text("".join(u + "\n" for u in uris))
    return path


def pending_count(db: Path) -> int:
    with Ledger(db) as ledger:
        return ledger.counts()["pending"]


def make_due_and_unblock(db: Path) -> None:
    """The operator's move once faults end: clear backoffs and breakers (``queue retry --all``,
    ``unblock``) so the final drain does not wait out timers that only model real outages."""
    from qbfailover.core.breaker import Guard

    with Ledger(db) as ledger:
        ledger.retry(None)
        for name in ("primary", "secondary"):
            ledger.save_guard(name, Guard())


def seeded(seed_env: str = "QBF_CHAOS_SEED") -> tuple[int, random.Random]:
    """A seeded RNG; the seed is printed with the figures so a failing run can be replayed."""
    seed = int(os.environ.get(seed_env) or random.SystemRandom().randrange(1 << 30))
    return seed, random.Random(seed)


def dump(doc: object) -> str:
    return json.dumps(doc, sort_keys=True)


def in_flight(db: Path) -> tuple[int, int]:
    """(pending rows, pending rows sent without a known outcome): what a crash left to sort out."""
    if not db.exists():
        return 0, 0
    with Ledger(db) as ledger:
        rows = ledger.list(states=("pending",))
    return len(rows), sum(1 for e in rows if e.uncertain)


def rows_in(db: Path) -> int:
    """How many items the ledger holds (read-only: safe while another process writes)."""
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    except sqlite3.Error:
        return 0
    try:
        return int(conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0])
    except sqlite3.Error:
        return 0  # not initialised yet
    finally:
        conn.close()


def wait_recorded(db: Path, total: int, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Poll until the ledger holds ``total`` rows (or the process ended): the items were accepted."""
    wait_for(
        lambda: rows_in(db) >= total or proc.poll() is not None, timeout, "the items to be recorded", 0.005
    )


# --- scenarios shared by the integration and chaos forms ------------------------------------


class TopologyLike(Protocol):
    @property
    def primary(self) -> Any: ...
    @property
    def secondary(self) -> Any: ...
    @property
    def db(self) -> Path: ...


def on_instances(topology: TopologyLike) -> dict[str, set[str]]:
    return {"primary": hashes_on(topology.primary), "secondary": hashes_on(topology.secondary)}


def settle(db: Path, timeout: float, workers: Sequence[subprocess.Popen[bytes]] = ()) -> None:
    """After the faults: clear backoffs and breakers (``queue retry --all``, ``unblock``) until the
    drains have emptied the queue, so the test does not wait out timers that model long outages."""

    def drained() -> bool:
        if pending_count(db) == 0:
            return True
        assert all(w.poll() is None for w in workers), "a drain process exited early"
        make_due_and_unblock(db)
        return False

    wait_for(drained, timeout, f"the drains to empty the queue ({pending_count(db)} pending)", 1.0)


def concurrency(
    topology: TopologyLike,
    tmp_path: Path,
    *,
    producers: int,
    per_producer: int,
    drains: int,
    spread: float,
    flap: bool,
    rand: random.Random,
) -> tuple[Verdict, str]:
    """Producers and drains at once, through an outage and (``flap``) a flapping VPN probe.

    Start: the secondary is stopped and the VPN probe blackholed, so the first items queue. After
    ~2 s the secondary comes back; after ~4 s the VPN; with ``flap`` the VPN probe then drops every
    0.3–1 s, so concurrent processes route to different instances. Returns the verdict and the log.
    """
    from harness import blackhole, restore_all

    config = write_config(
        tmp_path / "qbf.toml",
        topology.primary,
        topology.secondary,
        db=topology.db,
        cooldown=1,
        batch_size=100,
    )
    environ = env(topology.primary.password, config)
    stop = tmp_path / "stop"
    topology.secondary.stop()
    blackhole("127.0.0.3")
    vpn_down = True
    drainers = [
        spawn(["worker", "drain", str(stop)], environ, tmp_path / f"drain-{i}.log") for i in range(drains)
    ]
    workers: list[subprocess.Popen[bytes]] = []
    try:
        keys: list[str] = []
        for p in range(producers):
            items = [magnet_uri(i, f"conc-{p}") for i in range(per_producer)]
            keys += [magnet_hash(i) for i in items]
            path = write_items(tmp_path / f"items-{p}.txt", items)
            args = ["worker", "produce", str(path), "--chunk", "50", "--spread", str(spread)]
            workers.append(spawn(args, environ, tmp_path / f"produce-{p}.log"))
        start = time.monotonic()
        secondary_back = flips = 0
        next_flip = start + 4.0
        while any(w.poll() is None for w in workers):
            now = time.monotonic()
            assert now - start < spread + 300, "producers did not finish"
            if not secondary_back and now - start >= 2.0:
                topology.secondary.start()
                secondary_back = 1
            if now >= next_flip and (flap or vpn_down):
                if vpn_down:
                    restore_all()
                else:
                    blackhole("127.0.0.3")
                vpn_down = not vpn_down
                flips += 1
                next_flip = now + rand.uniform(0.3, 1.0)
            time.sleep(0.05)  # the fault scheduler's tick
        restore_all()
        if not secondary_back:
            topology.secondary.start()
        assert all(w.returncode == 0 for w in workers), "a producer failed: see produce-*.log"
        settle(topology.db, 180.0, drainers)
        stop.touch()
        for d in drainers:
            d.wait(60)
            assert d.returncode == 0, "a drain failed: see drain-*.log"
    finally:  # a failed run leaves no worker behind (they would drain on after the test)
        for w in [*workers, *drainers]:
            if w.poll() is None:
                w.kill()
                w.wait()
    produced = [json.loads(p.read_text().splitlines()[-1]) for p in sorted(tmp_path.glob("produce-*.log"))]
    drained = [json.loads(p.read_text().splitlines()[-1]) for p in sorted(tmp_path.glob("drain-*.log"))]
    at_add = {k: sum(d[k] for d in produced) for k in ("delivered", "queued", "rejected")}
    by_drains = sum(d["delivered"] for d in drained)
    v = judge(keys, topology.db, on_instances(topology))
    note = (
        f"{producers} producers x {per_producer} items + {drains} drains, {flips} VPN flips: delivered at "
        f"add {at_add['delivered']}, queued at add {at_add['queued']}, delivered by drains {by_drains}; "
        f"{v.line()}"
    )
    return v, note


def magnet_uri(n: int, prefix: str) -> str:
    from harness import magnet

    return magnet(n, prefix)
