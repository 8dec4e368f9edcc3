"""``qbfailover watch`` as a real subprocess against real qbittorrent-nox in the spec's topology.

Synchronisation is by the daemon's own output: its stderr events (``--log-format json``) and its
``/metrics`` endpoint, polled until a condition holds or a deadline passes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import pty
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import PRIMARY_HOST, VPN_GATEWAY, Topology
from harness import blackhole, free_port, magnet, restore_all
from qbfailover.engine.inputs import parse_item
from qbfailover.ledger.sqlite import Ledger, NewEntry

pytestmark = pytest.mark.integration

QBF = [sys.executable, "-m", "qbfailover"]
DEADLINE = 90.0
T = TypeVar("T")


# --- helpers ----------------------------------------------------------------------------------


def write_config(topology: Topology, path: Path, **settings: object) -> Path:
    """The topology as a TOML file, for settings the spec's variables cannot express (cooldown…)."""
    lines = []
    for inst, prio, vpn in ((topology.primary, 1, True), (topology.secondary, 2, False)):
        lines += [
            "[[instances]]",
            f'name = "{inst.name}"',
            f'url = "{inst.url}"',
            f'username = "{inst.username}"',
            'password_env = "QBITTORRENT_PASSWORD"',
            f"priority = {prio}",
            f"requires_vpn = {'true' if vpn else 'false'}",
        ]
    lines += ["[vpn]", 'kind = "icmp"', f'target = "{VPN_GATEWAY}"', "[settings]", f'db = "{topology.db}"']
    lines += [f"{k} = {v}" for k, v in settings.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


class Watch:
    """``qbfailover watch`` in a subprocess; a thread collects its stderr lines as they come."""

    def __init__(self, env: dict[str, str], *args: str, metrics_port: int | None = None) -> None:
        self.port = metrics_port if metrics_port is not None else free_port("127.0.0.1")
        self.proc = subprocess.Popen(
            [*QBF, "watch", "--metrics-port", str(self.port), *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def events(self) -> list[dict[str, Any]]:
        out = []
        for line in list(self.lines):
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    def wait_event(self, predicate: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
        return poll(lambda: next((e for e in self.events() if predicate(e)), None), what, self)

    def wait_transition(self, old: str, new: str) -> dict[str, Any]:
        return self.wait_event(
            lambda e: e.get("event") == "transition" and e.get("from") == old and e.get("to") == new,
            f"transition {old} -> {new}",
        )

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5, trust_env=False).text
        out = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return out

    def metric(self, name: str, **labels: str) -> float | None:
        try:
            return self.metrics().get((name, tuple(sorted(labels.items()))))
        except httpx.HTTPError:
            return None  # not serving yet

    def wait_metric(self, name: str, predicate: Callable[[float], bool], **labels: str) -> float:
        def check() -> float | None:
            v = self.metric(name, **labels)
            return v if v is not None and predicate(v) else None

        return poll(check, f"{name}{labels}", self)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Send ``sig`` (if still running) and wait for the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait(timeout)

    def wait(self, timeout: float = 60) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(10)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def output(self) -> str:
        return "\n".join(self.lines)


def poll(
    check: Callable[[], T | None], what: str, watch: Watch | None = None, timeout: float = DEADLINE
) -> T:
    """Call ``check`` until it returns neither None nor False; at the deadline, fail with watch's output."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value is not None and value is not False:
            return value
        if watch is not None and watch.proc.poll() is not None:
            watch._reader.join(5)
            pytest.fail(f"watch exited ({watch.proc.returncode}) while waiting for {what}:\n{watch.output()}")
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}" + (f":\n{watch.output()}" if watch else ""))


@contextlib.contextmanager
def watching(env: dict[str, str], *args: str) -> Iterator[Watch]:
    w = Watch(env, *args)
    try:
        yield w
    finally:
        w.kill()


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*QBF, *args], env=env, capture_output=True, text=True, timeout=120)


async def _torrents_on(inst: Any) -> list[str]:
    async with httpx.AsyncClient(base_url=inst.url + "api/v2/", trust_env=False) as http:
        r = await http.post("auth/login", data={"username": inst.username, "password": inst.password})
        assert r.status_code in (200, 204)
        return [t["hash"] for t in (await http.get("torrents/info")).json()]


def torrents_on(inst: Any) -> list[str]:
    """Every infohash on an instance (a list: duplicates would show), with a fresh session."""
    return asyncio.run(_torrents_on(inst))


def failed_logins(inst: Any) -> int:
    """Failed logins qBittorrent itself counted, read from its own log."""
    return sum(
        p.read_text(errors="replace").count("invalid credentials") for p in inst.profile.rglob("*.log")
    )


def record_pending(db: Path, items: list[str]) -> list[str]:
    """Put items straight into the ledger as pending and due (as an earlier outage would have)."""
    parsed = [parse_item(i) for i in items]
    with Ledger(db) as ledger:
        ledger.record(
            [NewEntry(key=i.key, kind=i.kind, payload=i.payload(), name=i.name, options={}) for i in parsed],
            reason="test",
            claim=False,
        )
    return [i.key for i in parsed]


# --- tests ------------------------------------------------------------------------------------


def test_watch_follows_outages_and_drains_on_recovery(
    topology: Topology, faults: None, tmp_path: Path
) -> None:
    """Primary blackholed → PRIMARY_DOWN logged and counted, adds go to the secondary; both down →
    queued; primary back → the queue drains by itself in the cycle that sees it (or the next)."""
    env = {
        **topology.env(),
        "QBFAILOVER_CONFIG": str(write_config(topology, tmp_path / "q.toml", cooldown=0.5)),
    }
    with watching(env, "--interval", "0.2", "--log-format", "json") as w:
        w.wait_event(lambda e: e.get("event") == "state" and e.get("state") == "BOTH_HEALTHY", "first state")
        status = httpx.get(f"http://127.0.0.1:{w.port}/status", trust_env=False).json()
        reference = json.loads(cli(env, "status", "--json").stdout)
        assert set(status) == set(reference) and status["state"] == "BOTH_HEALTHY"
        assert [set(i) for i in status["instances"]] == [set(i) for i in reference["instances"]]

        blackhole(PRIMARY_HOST)
        down = w.wait_transition("BOTH_HEALTHY", "PRIMARY_DOWN")
        assert down["level"] == "WARNING" and down["message"].startswith(
            "BOTH_HEALTHY -> PRIMARY_DOWN (primary "
        )
        assert (
            w.metric("qbfailover_state_transitions_total", from_state="BOTH_HEALTHY", to_state="PRIMARY_DOWN")
            == 1
        )
        assert w.metric("qbfailover_instance_up", instance="primary") == 0
        first = [magnet(i, "watch-a") for i in range(5)]
        added = cli(env, "add", *first, "--json")
        assert added.returncode == 0, added.stderr
        assert {r["instance"] for r in json.loads(added.stdout)["items"]} == {"secondary"}

        topology.secondary.stop()
        w.wait_transition("PRIMARY_DOWN", "BOTH_DOWN")
        second = [magnet(i, "watch-b") for i in range(8)]
        queued = cli(env, "add", *second, "--json")
        assert queued.returncode == 3, queued.stderr
        w.wait_metric("qbfailover_queue_pending_items", lambda v: v == len(second))
        assert w.metric("qbfailover_state", state="BOTH_DOWN") == 1

        restore_all()
        back = w.wait_transition("BOTH_DOWN", "SECONDARY_DOWN")
        drained = w.wait_event(lambda e: e.get("event") == "drained", "drain finished")
        assert drained["delivered"] == len(second) and drained["queued"] == 0
        assert back["cycle"] <= drained["cycle"] <= back["cycle"] + 1
        w.wait_metric("qbfailover_queue_pending_items", lambda v: v == 0)
        assert w.metric("qbfailover_deliveries_total", instance="primary", outcome="delivered") == len(second)
        assert w.metric("qbfailover_queue_drains_total") == 1
        assert w.stop() == 0
    assert {parse_item(m).key for m in second} <= set(torrents_on(topology.primary))
    events = [e.get("event") for e in w.events()]
    assert events[0] == "started" and events[-1] == "stopped"
    assert topology.primary.password not in w.output()


def test_sigterm_during_drain_finishes_the_batch(topology: Topology, tmp_path: Path) -> None:
    """SIGTERM while a batch is in flight: the batch completes, the rest stays pending, nothing is lost."""
    items = [magnet(i, "term") for i in range(1500)]
    record_pending(topology.db, items)
    env = {
        **topology.env(),
        "QBFAILOVER_CONFIG": str(write_config(topology, tmp_path / "q.toml", batch_size=50)),
    }
    with watching(env, "--interval", "0.2", "--log-format", "json") as w:
        w.wait_event(lambda e: e.get("event") == "drain_batch", "first batch")
        topology.primary.freeze()  # the next request hangs: the drain is certainly mid-batch
        try:
            w.proc.send_signal(signal.SIGTERM)
            stopping = w.wait_event(lambda e: e.get("event") == "stopping", "stopping")
        finally:
            topology.primary.thaw()
        assert "finishing the batch in progress" in stopping["message"]
        assert w.wait() == 0  # no second signal: the batch in flight completes
    with Ledger(topology.db) as ledger:
        counts = ledger.counts()
        delivered = ledger.list(states=("delivered",))
        assert counts["rejected"] == 0
        assert counts["delivered"] + counts["pending"] == len(items)
        assert 0 < counts["delivered"] < len(items) and counts["delivered"] % 50 == 0
        claimable = ledger.claim_due(limit=len(items))
        assert len(claimable) == counts["pending"]  # due, and no claim left behind
        ledger.release([e.id for e in claimable])
    on_primary = torrents_on(topology.primary)
    assert {e.key for e in delivered} <= set(on_primary)
    assert len(on_primary) == counts["delivered"]
    rest = cli(topology.env(), "queue", "drain", "--json")
    assert rest.returncode == 0, rest.stderr
    final = torrents_on(topology.primary)
    assert sorted(final) == sorted({parse_item(m).key for m in items})  # every item, exactly once


def test_second_signal_cancels_the_batch_and_keeps_its_items(topology: Topology, tmp_path: Path) -> None:
    """Two signals: the batch in flight is abandoned, its items stay pending; a later drain delivers
    each item exactly once (the unanswered send is reconciled, not repeated)."""
    items = [magnet(i, "twice") for i in range(600)]
    record_pending(topology.db, items)
    env = {
        **topology.env(),
        "QBFAILOVER_CONFIG": str(write_config(topology, tmp_path / "q.toml", batch_size=50)),
    }
    with watching(env, "--interval", "0.2", "--log-format", "json") as w:
        w.wait_event(lambda e: e.get("event") == "drain_batch", "first batch")
        topology.primary.freeze()
        try:
            w.proc.send_signal(signal.SIGTERM)
            w.wait_event(lambda e: e.get("event") == "stopping", "first stop")
            w.proc.send_signal(signal.SIGTERM)
            assert w.stop() == 0  # exits while the primary is still frozen
        finally:
            topology.primary.thaw()
    assert any("unfinished items stay pending" in e.get("message", "") for e in w.events())
    with Ledger(topology.db) as ledger:
        counts = ledger.counts()
        assert counts["delivered"] + counts["pending"] == len(items) and counts["pending"] > 0
    assert cli(topology.env(), "queue", "retry", "--all").returncode == 0  # skip the backoff
    rest = cli(topology.env(), "queue", "drain", "--json")
    assert rest.returncode == 0, rest.stderr
    final = torrents_on(topology.primary)
    assert sorted(final) == sorted({parse_item(m).key for m in items})
    assert torrents_on(topology.secondary) == []


def test_wrong_password_for_200_cycles_never_bans(topology: Topology) -> None:
    """A wrong primary password under watch (200 cycles at 0.05 s): one failed login in total, one
    log line, and the right password still logs in from this host afterwards."""
    env = {
        **topology.env(),
        "QBITTORRENT_PASSWORD": "definitely-wrong",
        "QBITTORRENT_SECONDARY_PASSWORD": topology.secondary.password,
    }
    with watching(env, "--interval", "0.05") as w:
        w.wait_metric("qbfailover_health_checks_total", lambda v: v >= 200)
        assert w.metric("qbfailover_instance_status", instance="primary", status="AUTH_FAILED") == 1
        assert w.stop() == 0
    assert failed_logins(topology.primary) == 1
    assert torrents_on(topology.primary) == []  # not banned: the right password works
    auth_lines = [line for line in w.lines if line.startswith("WARNING instance primary AUTH_FAILED")]
    assert len(auth_lines) == 1
    assert "event=instance" in auth_lines[0] and "instance=primary" in auth_lines[0]
    state = next(line for line in w.lines if " event=state " in line)
    assert state.startswith("INFO state PRIMARY_DOWN: ")  # text format: LEVEL message key=value…
    assert "definitely-wrong" not in w.output()
    assert "\x1b[" not in w.output()  # no colour when stderr is not a terminal


class Receiver:
    """A webhook endpoint on loopback recording each JSON POST (path, body)."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, Any]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.posts.append((self.path, json.loads(body or b"{}")))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_notifications_on_transition_and_rejection(topology: Topology, faults: None) -> None:
    """A transition and a rejected item each reach the JSON webhook and Apprise (json:// on loopback)."""
    receiver = Receiver()
    try:
        with Ledger(topology.db) as ledger:
            ledger.record(
                [
                    NewEntry(
                        key="f" * 40,
                        kind="torrent",
                        payload=b"not bencode",
                        name="broken.torrent",
                        options={},
                    )
                ],
                reason="test",
                claim=False,
            )
        env = {
            **topology.env(),
            "QBFAILOVER_WEBHOOK_URL": f"http://127.0.0.1:{receiver.port}/hook",
            "QBFAILOVER_NOTIFY_URLS": f"json://127.0.0.1:{receiver.port}/apprise",
        }
        with watching(env, "--interval", "0.2", "--log-format", "json") as w:
            w.wait_event(lambda e: e.get("event") == "drained" and e.get("rejected") == 1, "rejection")
            blackhole(VPN_GATEWAY)
            w.wait_transition("BOTH_HEALTHY", "PRIMARY_DOWN")
            w.wait_metric(
                "qbfailover_notifications_total", lambda v: v == 2, channel="webhook", outcome="sent"
            )
            w.wait_metric(
                "qbfailover_notifications_total", lambda v: v == 2, channel="apprise", outcome="sent"
            )
            assert w.stop() == 0
        hooks = [body for path, body in receiver.posts if path == "/hook"]
        assert [h["event"] for h in hooks] == ["rejected", "transition"]
        assert hooks[0]["items"][0]["name"] == "broken.torrent" and hooks[0]["count"] == 1
        assert (hooks[1]["from"], hooks[1]["to"]) == ("BOTH_HEALTHY", "PRIMARY_DOWN")
        assert hooks[1]["status"]["state"] == "PRIMARY_DOWN"
        titles = [body["title"] for path, body in receiver.posts if path == "/apprise"]
        assert titles == ["qbfailover: 1 item(s) rejected", "qbfailover: PRIMARY_DOWN"]
    finally:
        receiver.close()


def test_failing_webhook_never_stops_watch(topology: Topology) -> None:
    """A webhook that refuses connections: the failure is logged and counted, and watch goes on."""
    env = {**topology.env(), "QBFAILOVER_WEBHOOK_URL": "http://127.0.0.1:1/hook-token"}
    with watching(env, "--interval", "0.1", "--log-format", "json") as w:
        w.wait_event(lambda e: e.get("event") == "state", "first cycle")
        topology.secondary.stop()
        w.wait_transition("BOTH_HEALTHY", "SECONDARY_DOWN")
        w.wait_metric("qbfailover_notifications_total", lambda v: v == 1, channel="webhook", outcome="failed")
        cycles = w.metric("qbfailover_health_checks_total") or 0
        w.wait_metric("qbfailover_health_checks_total", lambda v: v >= cycles + 3)
        assert w.stop() == 0
    failure = next(e for e in w.events() if e.get("message") == "notification failed")
    assert failure["target"] == "http://127.0.0.1" and failure["level"] == "WARNING"
    assert "hook-token" not in w.output()


def test_watch_cannot_start_gives_one_line(topology: Topology) -> None:
    """Metrics port taken, or Apprise URLs with an unknown scheme: one line on stderr, exit 5."""
    taken = Watch(topology.env(), "--interval", "1", "--log-format", "json")
    try:
        taken.wait_event(lambda e: e.get("event") == "state", "first watch running")
        clash = cli(topology.env(), "watch", "--metrics-port", str(taken.port))
        assert clash.returncode == 5
        assert clash.stderr.strip().splitlines()[-1].startswith("qbfailover: error: cannot serve metrics on")
        assert "Traceback" not in clash.stderr
        bad = cli(
            {**topology.env(), "QBFAILOVER_NOTIFY_URLS": "nosuchscheme://x"}, "watch", "--metrics-port", "0"
        )
        assert bad.returncode == 5 and "Apprise URL #1 (nosuchscheme://…)" in bad.stderr
        assert "Traceback" not in bad.stderr
        assert taken.stop() == 0
    finally:
        taken.kill()


def test_status_watch_redraws_in_a_terminal(topology: Topology) -> None:
    """status --watch redraws in a terminal until Ctrl-C (exit 0); without a terminal it refuses (exit 2)."""
    piped = cli(topology.env(), "status", "--watch")
    assert piped.returncode == 2 and "needs a terminal" in piped.stderr and "Traceback" not in piped.stderr
    master, slave = pty.openpty()
    env = {**topology.env(), "TERM": "xterm", "COLUMNS": "140", "LINES": "40"}
    proc = subprocess.Popen(
        [*QBF, "status", "--watch", "--interval", "0.2"],
        env=env,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
    )
    os.close(slave)
    screen = b""
    try:

        def read() -> bool:
            nonlocal screen
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                with contextlib.suppress(OSError):
                    screen += os.read(master, 65536)
            return screen.count(b"State:") >= 3

        poll(read, "three redraws of the status")
        proc.send_signal(signal.SIGINT)

        def exited() -> bool:
            # Keep reading, as a terminal does: a redraw blocked on a full pty holds up the exit
            # (asyncio raises the KeyboardInterrupt only once that write returns).
            read()
            return proc.poll() is not None

        poll(exited, "status --watch to exit after Ctrl-C")
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    text = screen.decode(errors="replace")
    assert "BOTH_HEALTHY" in text and "Ctrl-C to quit" in text
    assert "Traceback" not in text and topology.primary.password not in text
