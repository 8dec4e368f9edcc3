"""Failback's edge cases, against real qbittorrent-nox: v2 and hybrid torrents, a copy the user
already has on the target, data shared by both instances, the VPN dropping mid-run, tagged
torrents in a dry run, items added by URL."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from pathlib import Path

import pytest
from test_failback import (
    api,
    deliver_during_outage,
    failback,
    failback_cli,
    run,
    seeded_torrent,
    torrents,
    watch_moves,
)

from conftest import VPN_GATEWAY, Topology
from harness import bencode, blackhole, magnet
from qbfailover import AsyncResilientClient
from qbfailover.ledger.sqlite import Ledger

pytestmark = pytest.mark.integration


def v2_torrent(folder: Path, name: str, *, hybrid: bool) -> tuple[bytes, str]:
    """A one-block v2 (or hybrid) torrent and its data; returns the bytes and the v2 hash."""
    folder.mkdir(parents=True, exist_ok=True)
    data = hashlib.sha256(name.encode()).digest() * 300  # 9,600 bytes: one block
    (folder / name).write_bytes(data)
    tree = {name.encode(): {b"": {b"length": len(data), b"pieces root": hashlib.sha256(data).digest()}}}
    info: dict[bytes, object] = {
        b"file tree": tree,
        b"meta version": 2,
        b"name": name.encode(),
        b"piece length": 16384,
    }
    if hybrid:
        info[b"length"] = len(data)
        info[b"pieces"] = hashlib.sha1(data).digest()
    return bencode({b"info": info}), hashlib.sha256(bencode(info)).hexdigest()


async def add_direct(inst: object, data: bytes, **fields: str) -> None:
    async with api(inst) as http:  # type: ignore[arg-type]
        r = await http.post(
            "torrents/add", data=fields, files={"torrents": ("t.torrent", data, "application/x-bittorrent")}
        )
        assert r.status_code == 200


async def until(check: object, what: str) -> None:
    for _ in range(200):
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("hybrid", [False, True], ids=["v2-only", "hybrid"])
def test_v2_and_hybrid_torrents_move(topology: Topology, faults: None, tmp_path: Path, hybrid: bool) -> None:
    """qBittorrent knows these by the v2 hash cut to 40 hex: found, moved, removed from the source."""
    data, v2 = v2_torrent(tmp_path / "src", f"v2book-{hybrid}.bin", hybrid=hybrid)
    path = tmp_path / "v2.torrent"
    path.write_bytes(data)

    async def go() -> None:
        await deliver_during_outage(topology, [str(path)], paused=True)
        result = await failback(topology)
        assert [o.state for o in result.outcomes] == ["moved"], result.plan.stays
        assert v2[:40] in await torrents(topology.primary)
        assert not await torrents(topology.secondary)

    run(go())


def test_a_copy_the_user_has_on_the_target_is_never_touched(
    topology: Topology, faults: None, tmp_path: Path
) -> None:
    """A seeding torrent whose own, incomplete copy is also on the primary: both stay as they are."""
    folder = topology.secondary.downloads / "seed-both"
    data, infohash = seeded_torrent(folder, "both-book.bin")

    async def go() -> None:
        await add_direct(
            topology.secondary, data, savepath=str(folder), skip_checking="true", tags="failover"
        )
        await add_direct(
            topology.primary, data, savepath=str(tmp_path / "lib"), paused="true", stopped="true"
        )

        async def both() -> bool:
            t = (await torrents(topology.secondary)).get(infohash)
            return t is not None and t["progress"] == 1 and infohash in await torrents(topology.primary)

        await until(both, "the torrent on both instances")
        result = await failback(topology, tag="failover", include_complete=True)
        assert [o.state for o in result.outcomes] == ["kept"]
        assert "left for you to decide" in result.outcomes[0].reason
        assert infohash in await torrents(topology.primary)
        assert (await torrents(topology.secondary))[infohash]["progress"] == 1

    run(go())


def test_data_the_target_now_uses_is_never_deleted(topology: Topology, faults: None) -> None:
    """An incomplete torrent mapped to the same folder on the target: moved, its partial data kept."""
    folder = topology.secondary.downloads / "shared"
    data, infohash = seeded_torrent(folder, "partial-book.bin")
    file = folder / "partial-book.bin"
    raw = bytearray(file.read_bytes())
    raw[-10:] = b"X" * 10  # the second piece is wrong: the torrent is incomplete
    file.write_bytes(bytes(raw))

    async def go() -> None:
        await add_direct(
            topology.secondary, data, savepath=str(folder), tags="failover", paused="true", stopped="true"
        )

        async def partial() -> bool:
            t = (await torrents(topology.secondary)).get(infohash)
            return t is not None and 0 < t["progress"] < 1 and not t["state"].startswith("checking")

        async with api(topology.secondary) as http:
            await until(lambda: _listed(topology, infohash), "the torrent on the secondary")
            assert (await http.post("torrents/recheck", data={"hashes": infohash})).status_code == 200
        await until(partial, "the partial check")
        result = await failback(topology, tag="failover", path_map=((str(folder), str(folder)),))
        assert [o.state for o in result.outcomes] == ["moved"]
        assert (await torrents(topology.primary))[infohash]["save_path"].rstrip("/") == str(folder)

    run(go())
    # Still on disk (qBittorrent's own temp-folder setting may have moved it aside, never us).
    assert list(topology.secondary.downloads.rglob(file.name))


async def _listed(topology: Topology, infohash: str) -> bool:
    return infohash in await torrents(topology.secondary)


def test_vpn_dropping_mid_run_stops_the_moves(topology: Topology, faults: None) -> None:
    """The VPN drops during a run: the run stops at the next health check, nothing is lost."""
    links = [magnet(i, "fb-vpn-mid") for i in range(150)]
    run(deliver_during_outage(topology, links))
    proc = failback_cli(topology)
    try:
        watch_moves(topology.db, 5, proc)
        blackhole(VPN_GATEWAY)
        dropped = time.time()
        stdout, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 3
    doc = json.loads(stdout)
    assert doc["moved"] < len(links)
    with Ledger(topology.db) as ledger:
        late = [m for m in ledger.moves() if m.started_at > dropped + 5.0]  # a batch and a check later
        assert not late
        assert {e.instance for e in ledger.list(states=("delivered",))} <= {"primary", "secondary"}
    on_primary, on_secondary = run(torrents(topology.primary)), run(torrents(topology.secondary))
    hashes = {m.split("btih:")[1].split("&")[0] for m in links}
    assert hashes <= set(on_primary) | set(on_secondary)


def test_dry_run_with_a_tag_plans_what_a_run_moves(topology: Topology, faults: None) -> None:
    """``--dry-run --tag`` lists the tagged torrents (id 0: not adopted yet) without recording them."""
    link = magnet(0, "fb-tagged")

    async def go() -> None:
        async with api(topology.secondary) as http:
            assert (
                await http.post("torrents/add", data={"urls": link, "tags": "failover"})
            ).status_code == 200
        await until(lambda: _listed(topology, link.split("btih:")[1].split("&")[0]), "the tagged torrent")
        dry = await failback(topology, tag="failover", dry_run=True)
        assert [(m.candidate.entry_id, m.target) for m in dry.plan.moves] == [(0, "primary")]
        with Ledger(topology.db) as ledger:
            assert ledger.counts()["delivered"] == 0
        done = await failback(topology, tag="failover")
        assert [o.state for o in done.outcomes] == ["moved"]

    run(go())


def test_url_items_stay_and_say_why(topology: Topology, faults: None) -> None:
    """An item delivered by URL cannot be confirmed elsewhere: it stays, with its reason."""
    with Ledger(topology.db) as ledger:
        from qbfailover.ledger.base import NewEntry

        [e] = ledger.record(
            [
                NewEntry(
                    key="http://127.0.0.1:9/x.torrent",
                    kind="url",
                    payload=b"http://127.0.0.1:9/x.torrent",
                    name="x",
                    options={},
                )
            ],
            reason="received",
        )
        ledger.mark_delivered([e.id], instance="secondary", reason="accepted (URL)")

    async def go() -> None:
        async with AsyncResilientClient(topology.settings()) as client:
            from qbfailover.engine.failback import FailbackOptions, run_failback

            result = await run_failback(client, FailbackOptions(dry_run=True))
        assert [str(s.reason) for s in result.plan.stays] == [
            "added by URL: its infohash is unknown, so it cannot be confirmed elsewhere"
        ]

    run(go())
