"""Failback against real qbittorrent-nox: items delivered to the secondary during an outage move
back to the primary once it is healthy, with add → confirm → remove, and never on no instance."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from conftest import VPN_GATEWAY, Topology
from harness import QbtInstance, bencode, blackholed, magnet
from qbfailover import AsyncResilientClient
from qbfailover.engine.failback import FailbackOptions, run_failback
from qbfailover.ledger.sqlite import Ledger

pytestmark = pytest.mark.integration

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@contextlib.asynccontextmanager
async def api(inst: QbtInstance) -> AsyncIterator[httpx.AsyncClient]:
    """A logged-in session of our own on the instance (the test's eyes, apart from the code's)."""
    async with httpx.AsyncClient(base_url=inst.url + "api/v2/", timeout=10) as http:
        r = await http.post("auth/login", data={"username": inst.username, "password": inst.password})
        assert r.status_code in (200, 204)
        yield http


async def torrents(inst: QbtInstance) -> dict[str, dict[str, Any]]:
    """Every torrent on an instance by hash, read with a fresh session of our own."""
    async with api(inst) as http:
        return {t["hash"]: t for t in (await http.get("torrents/info")).json()}


def hashes_of(links: list[str]) -> set[str]:
    return {m.split("btih:")[1].split("&")[0] for m in links}


async def deliver_during_outage(topology: Topology, links: list[str], **options: Any) -> None:
    """The VPN drops: the links land on the secondary, as the ledger records."""
    async with AsyncResilientClient(topology.settings()) as client:
        with blackholed(VPN_GATEWAY):
            result = await client.add_torrents(links, **options)
    assert {r.instance for r in result.items} == {"secondary"}


GRACE = 0.2  # between add and removal (10 s by default); the tests' instances are never restarted then


async def failback(topology: Topology, **options: Any) -> Any:
    async with AsyncResilientClient(topology.settings()) as client:
        return await run_failback(client, FailbackOptions(**{"persist_grace": GRACE, **options}))


def seeded_torrent(folder: Path, name: str) -> tuple[bytes, str]:
    """A real one-file torrent and its data on disk (two pieces), so qBittorrent can check it."""
    folder.mkdir(parents=True, exist_ok=True)
    data = hashlib.sha256(name.encode()).digest() * 1500  # 48,000 bytes
    (folder / name).write_bytes(data)
    piece = 32768
    pieces = b"".join(hashlib.sha1(data[i : i + piece]).digest() for i in range(0, len(data), piece))
    info = {b"length": len(data), b"name": name.encode(), b"piece length": piece, b"pieces": pieces}
    return bencode({b"info": info}), hashlib.sha1(bencode(info)).hexdigest()


async def seed_on_secondary(topology: Topology, folder: Path, data: bytes, infohash: str) -> None:
    """Add a torrent whose data is at ``folder`` to the secondary, tagged, seeding (checking skipped)."""
    async with api(topology.secondary) as http:
        r = await http.post(
            "torrents/add",
            data={"savepath": str(folder), "skip_checking": "true", "tags": "failover"},
            files={"torrents": ("seed.torrent", data, "application/x-bittorrent")},
        )
        assert r.status_code == 200
    for _ in range(100):
        t = (await torrents(topology.secondary)).get(infohash)
        if t is not None and t["progress"] == 1:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the seeding torrent never showed up complete")


@pytest.mark.compat
def test_magnets_move_back_with_their_category(topology: Topology, faults: None) -> None:
    """Dry run shows the plan and touches nothing; the run moves every item, confirmed, once."""
    links = [magnet(i, "fb-move") for i in range(5)]

    async def go() -> None:
        await deliver_during_outage(topology, links, category="books")
        dry = await failback(topology, dry_run=True)
        assert dry.plan.target == "primary"
        assert {m.candidate.infohash for m in dry.plan.moves} == hashes_of(links)
        assert not dry.outcomes
        assert hashes_of(links) <= set(await torrents(topology.secondary))
        done = await failback(topology)
        assert done.moved == len(links) and done.unfinished == 0
        on_primary, on_secondary = await torrents(topology.primary), await torrents(topology.secondary)
        assert hashes_of(links) <= set(on_primary)
        assert not hashes_of(links) & set(on_secondary)
        assert {on_primary[h]["category"] for h in hashes_of(links)} == {"books"}
        again = await failback(topology)
        assert not again.plan.moves  # nothing left to move

    run(go())
    with Ledger(topology.db) as ledger:
        moved = [m for m in ledger.moves() if m.state == "moved"]
        assert len(moved) == len(links)
        assert {(m.source, m.target) for m in moved} == {("secondary", "primary")}
        assert {e.instance for e in ledger.list(states=("delivered",))} == {"primary"}


def test_vpn_down_nothing_moves(topology: Topology, faults: None) -> None:
    """With the VPN down the primary is not usable: every item stays, nothing is journaled."""
    links = [magnet(i, "fb-vpn") for i in range(2)]

    async def go() -> None:
        await deliver_during_outage(topology, links)
        with blackholed(VPN_GATEWAY):
            result = await failback(topology)
        assert not result.plan.moves
        assert {str(s.reason) for s in result.plan.stays} == {"no usable instance ranks above it now"}
        assert hashes_of(links) <= set(await torrents(topology.secondary))
        assert not hashes_of(links) & set(await torrents(topology.primary))

    run(go())
    with Ledger(topology.db) as ledger:
        assert ledger.moves() == []


def test_item_removed_by_the_user_is_not_resurrected(topology: Topology, faults: None) -> None:
    """An item deleted on the secondary meanwhile is journaled gone and never re-added."""
    kept, removed = magnet(0, "fb-user"), magnet(1, "fb-user")

    async def go() -> None:
        await deliver_during_outage(topology, [kept, removed])
        async with api(topology.secondary) as http:
            gone = hashes_of([removed]).pop()
            r = await http.post("torrents/delete", data={"hashes": gone, "deleteFiles": "true"})
            assert r.status_code == 200
        result = await failback(topology)
        assert [m.candidate.infohash for m in result.plan.moves] == list(hashes_of([kept]))
        on_primary = set(await torrents(topology.primary))
        assert hashes_of([kept]) <= on_primary and gone not in on_primary
        rerun = await failback(topology)
        assert not rerun.plan.moves and not rerun.plan.stays

    run(go())
    with Ledger(topology.db) as ledger:
        assert sorted(m.state for m in ledger.moves()) == ["gone", "moved"]


def test_crash_after_the_add_is_finished_by_the_rerun(topology: Topology, faults: None) -> None:
    """A run killed between the add on the primary and the removal from the secondary (both hold
    it, the journal entry is open): the next run confirms it on the primary and removes the copy."""
    link = magnet(0, "fb-crash-point")

    async def go() -> None:
        await deliver_during_outage(topology, [link])
        with Ledger(topology.db) as ledger:
            [entry] = ledger.list(states=("delivered",))
            ledger.journal_move(entry.id, source="secondary", target="primary", state="moving")
        async with api(topology.primary) as http:  # what the killed run had done
            assert (await http.post("torrents/add", data={"urls": link})).status_code == 200
        h = hashes_of([link]).pop()
        for _ in range(100):
            if h in await torrents(topology.primary):
                break
            await asyncio.sleep(0.05)
        result = await failback(topology)
        assert [o.state for o in result.outcomes] == ["moved"]
        assert result.plan.moves[0].on_target and result.plan.moves[0].candidate.resume
        assert h in await torrents(topology.primary)
        assert h not in await torrents(topology.secondary)

    run(go())


@pytest.mark.compat
def test_torrent_file_with_metadata_moves(topology: Topology, faults: None, tmp_path: Path) -> None:
    """A .torrent delivered to the secondary moves with its metadata (exported from the source)."""
    data, infohash = seeded_torrent(tmp_path / "elsewhere", "book-with-metadata.bin")
    path = tmp_path / "book.torrent"
    path.write_bytes(data)

    async def go() -> None:
        await deliver_during_outage(topology, [str(path)], paused=True)
        result = await failback(topology)
        assert [o.state for o in result.outcomes] == ["moved"]
        on_primary = await torrents(topology.primary)
        assert on_primary[infohash]["name"] == "book-with-metadata.bin"
        assert infohash not in await torrents(topology.secondary)

    run(go())


def test_complete_torrent_stays_unless_included(topology: Topology, faults: None, tmp_path: Path) -> None:
    """A seeding torrent (tagged, not in the ledger) stays by default; with include_complete it is
    re-checked on the primary at the same data, moved, and its data kept."""
    folder = topology.secondary.downloads / "seed"
    data, infohash = seeded_torrent(folder, "seeding-book.bin")

    async def go() -> None:
        await seed_on_secondary(topology, folder, data, infohash)
        first = await failback(topology, tag="failover")
        assert not first.plan.moves
        assert [str(s.reason) for s in first.plan.stays] == [
            "complete (seeding): moving its data is your choice (--include-complete)"
        ]
        moved = await failback(topology, include_complete=True)
        assert [o.state for o in moved.outcomes] == ["moved"], moved.outcomes
        on_primary = await torrents(topology.primary)
        assert on_primary[infohash]["progress"] == 1
        assert infohash not in await torrents(topology.secondary)

    run(go())
    assert (folder / "seeding-book.bin").exists()  # complete data is never deleted


def failback_cli(topology: Topology, stdout: int = subprocess.PIPE) -> subprocess.Popen[bytes]:
    """``qbfailover failback --json`` as a separate process (to kill it, or stop an instance under it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "qbfailover", "failback", "--json", "--grace", str(GRACE)],
        env=topology.env(),
        stdout=stdout,
        stderr=subprocess.DEVNULL,
    )


async def rerun_leaves_all_on_the_primary(topology: Topology, links: list[str]) -> None:
    """After an interrupted run, a rerun finishes: every item on the primary, none on the secondary."""
    result = await failback(topology)
    assert result.unfinished == 0
    assert hashes_of(links) <= set(await torrents(topology.primary))
    assert not hashes_of(links) & set(await torrents(topology.secondary))


def watch_moves(db: Path, at_least: int, proc: subprocess.Popen[bytes]) -> int:
    """Poll the journal until ``at_least`` moves are closed (or the run ended); how many were."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        with Ledger(db) as ledger:
            closed = sum(1 for m in ledger.moves() if m.state != "moving")
        if closed >= at_least:
            return closed
        time.sleep(0.01)
    raise AssertionError(f"the failback run ended or stalled before {at_least} moves")


def test_kill_9_mid_run_and_rerun(topology: Topology, faults: None) -> None:
    """kill -9 of a failback run mid-way: the rerun finishes; every item ends on the primary only."""
    links = [magnet(i, "fb-kill") for i in range(150)]
    run(deliver_during_outage(topology, links))
    proc = failback_cli(topology, stdout=subprocess.DEVNULL)
    try:
        closed = watch_moves(topology.db, 5, proc)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert closed < len(links)  # the kill did land mid-run

    async def go() -> None:
        await rerun_leaves_all_on_the_primary(topology, links)

    run(go())
    with Ledger(topology.db) as ledger:
        assert ledger.moves(open_only=True) == []
        assert {e.instance for e in ledger.list(states=("delivered",))} == {"primary"}


def test_primary_failing_mid_run_leaves_items_where_they_were(topology: Topology, faults: None) -> None:
    """The primary dies during a run: the run ends, nothing is lost; after it returns, a rerun
    leaves every item on exactly one instance (the primary)."""
    links = [magnet(i, "fb-primary-dies") for i in range(150)]
    run(deliver_during_outage(topology, links))
    proc = failback_cli(topology)
    try:
        watch_moves(topology.db, 5, proc)
        topology.primary.stop()  # SIGTERM: qBittorrent saves what it holds (see the note on kill -9)
        stdout, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3  # unfinished moves, said so
    doc = json.loads(stdout)
    assert 0 < doc["moved"] < len(links)
    topology.primary.start()

    async def go() -> None:
        on_secondary = set(await torrents(topology.secondary))
        on_primary = set(await torrents(topology.primary))
        assert hashes_of(links) <= on_primary | on_secondary  # on some instance, always
        await rerun_leaves_all_on_the_primary(topology, links)

    run(go())


def test_complete_torrent_whose_data_the_target_cannot_reach_stays(
    topology: Topology, faults: None, tmp_path: Path
) -> None:
    """--include-complete with the data mapped where the primary finds nothing: the copy on the
    primary is removed again (files untouched) and the torrent stays seeding on the secondary."""
    folder = topology.secondary.downloads / "unreachable"
    data, infohash = seeded_torrent(folder, "far-away-book.bin")

    async def go() -> None:
        await seed_on_secondary(topology, folder, data, infohash)
        result = await failback(
            topology,
            tag="failover",
            include_complete=True,
            path_map=((str(folder), str(tmp_path / "nowhere")),),
        )
        assert [o.state for o in result.outcomes] == ["kept"]
        assert "not reachable from primary" in result.outcomes[0].reason
        assert infohash not in await torrents(topology.primary)
        assert (await torrents(topology.secondary))[infohash]["progress"] == 1

    run(go())
    assert (folder / "far-away-book.bin").exists()


def test_watch_failback_moves_back_after_the_primary_settles(topology: Topology, faults: None) -> None:
    """``watch --failback``: nothing moves while the VPN is down; once the primary has been healthy
    for the settle time, the items move back, logged and counted."""
    from test_watch import Receiver, watching

    links = [magnet(i, "fb-watch") for i in range(6)]
    run(deliver_during_outage(topology, links))
    args = ["--failback", "--failback-settle", "1", "--failback-grace", str(GRACE), "--interval", "0.3"]
    args += ["--log-format", "json"]
    with blackholed(VPN_GATEWAY), watching(topology.env(), *args) as w:
        w.wait_event(lambda e: e.get("event") == "state" and e.get("state") == "PRIMARY_DOWN", "PRIMARY_DOWN")
        w.wait_event(lambda e: e.get("event") == "instance" and e.get("to") == "VPN_DOWN", "primary VPN_DOWN")
        w.wait_metric("qbfailover_health_checks_total", lambda v: v >= 8)  # well past the settle time
        assert not [e for e in w.events() if e.get("event") == "failback"]
    with Ledger(topology.db) as ledger:
        assert ledger.moves() == []
    receiver = Receiver()
    try:
        env = {**topology.env(), "QBFAILOVER_WEBHOOK_URL": f"http://127.0.0.1:{receiver.port}/hook"}
        with watching(env, *args) as w:
            done = w.wait_event(lambda e: e.get("event") == "failback", "a failback run")
            assert (done["moved"], done["unfinished"], done["target"]) == (6, 0, "primary")
            assert w.wait_metric("qbfailover_failback_moves_total", lambda v: v == 6, outcome="moved") == 6
            w.wait_metric(
                "qbfailover_notifications_total", lambda v: v >= 1, channel="webhook", outcome="sent"
            )
            assert w.stop() == 0
        hooks = [body for path, body in receiver.posts if body.get("event") == "failback"]
        assert len(hooks) == 1 and hooks[0]["target"] == "primary" and len(hooks[0]["moved"]) == 6
    finally:
        receiver.close()

    async def check() -> None:
        assert hashes_of(links) <= set(await torrents(topology.primary))
        assert not hashes_of(links) & set(await torrents(topology.secondary))

    run(check())


def test_status_page_previews_what_failback_would_move(topology: Topology, faults: None) -> None:
    """Plain ``watch`` (no --failback) moves nothing but shows the plan on its status page."""
    from test_watch import poll, watching

    links = [magnet(i, "fb-page") for i in range(3)]
    run(deliver_during_outage(topology, links))
    with watching(topology.env(), "--interval", "0.3", "--log-format", "json") as w:

        def preview() -> list[dict[str, Any]] | None:
            try:
                doc = httpx.get(
                    f"http://127.0.0.1:{w.port}/status/page.json", timeout=5, trust_env=False
                ).json()
            except httpx.HTTPError:
                return None
            return doc.get("failback") or None

        moves = poll(preview, "the failback preview", w)
        assert {(m["from_instance"], m["to_instance"]) for m in moves} == {("secondary", "primary")}
        assert len(moves) == len(links)
        page = httpx.get(f"http://127.0.0.1:{w.port}/", timeout=5, trust_env=False).text
        assert "What failback would move now" in page
    assert hashes_of(links) <= set(run(torrents(topology.secondary)))  # nothing moved
