"""The spec's own client, drop-in, against real qbittorrent-nox in the spec's topology.

Every test calls only what the spec's crawler and scripts call (constructor, ``perform_health_check``,
``add_torrents_with_fallback``, ``process_queue_file``, ``health``, ``VPNHealthChecker``), with the
settings the crawler leaves to the environment (ledger, deadline, VPN gateway) set there.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from conftest import VPN_GATEWAY, Topology
from harness import QbtInstance, blackhole, blackholed, magnet, restore_all
from qbfailover import ResilientQBittorrentClient, VPNHealthChecker
from qbfailover.ledger.sqlite import Ledger

pytestmark = pytest.mark.integration

T = TypeVar("T")
HEALTH_KEYS = ["primary", "secondary", "vpn_connected", "last_check", "active_instance"]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def hashes_on(inst: QbtInstance) -> set[str]:
    """Every infohash on an instance, read with a fresh session of our own."""
    async with httpx.AsyncClient(base_url=inst.url + "api/v2/") as http:
        r = await http.post("auth/login", data={"username": inst.username, "password": inst.password})
        assert r.status_code in (200, 204)
        return {t["hash"] for t in (await http.get("torrents/info")).json()}


def infohash(link: str) -> str:
    return link.split("btih:")[1].split("&")[0]


@pytest.fixture
def spec_env(topology: Topology, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """What the crawler leaves to the environment: ledger, deadline, VPN gateway; no URLs."""
    monkeypatch.chdir(tmp_path)  # no stray .env, and the default queue file lands here
    for key in ("QBITTORRENT_URL", "QBITTORRENT_SECONDARY_URL", "QBFAILOVER_CONFIG"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("QBITTORRENT_VPN_GATEWAY", VPN_GATEWAY)
    monkeypatch.setenv("QBFAILOVER_DB", str(topology.db))
    monkeypatch.setenv("QBFAILOVER_DEADLINE", "2")
    return tmp_path / "qbittorrent_queue.json"


def client_for(topology: Topology, queue_file: Path, **kwargs: Any) -> ResilientQBittorrentClient:
    """The crawler's Phase 5 call, keyword for keyword."""
    return ResilientQBittorrentClient(
        primary_url=topology.primary.url,
        secondary_url=topology.secondary.url,
        username=topology.primary.username,
        password=topology.primary.password,
        queue_file=str(queue_file),
        **kwargs,
    )


def pending_count(topology: Topology) -> int:
    with Ledger(topology.db) as ledger:
        return ledger.counts()["pending"]


@pytest.mark.compat
def test_both_healthy(topology: Topology, spec_env: Path) -> None:
    """BOTH_HEALTHY: the spec's dict, every magnet on the primary, nothing queued."""
    links = [magnet(i, "spec-ok") for i in range(5)]

    async def go() -> None:
        async with client_for(topology, spec_env) as client:
            health = await client.perform_health_check()
            assert list(health) == HEALTH_KEYS
            assert health["primary"] == "OK" and health["secondary"] == "OK"
            assert health["vpn_connected"] is True
            assert health["active_instance"] == "primary"
            assert isinstance(health["last_check"], str)
            datetime.fromisoformat(health["last_check"])
            assert client.health is health
            successful, failed, queued = await client.add_torrents_with_fallback(links)
            assert (successful, failed, queued) == (links, [], [])
        assert {infohash(m) for m in links} <= await hashes_on(topology.primary)
        assert not await hashes_on(topology.secondary)

    run(go())
    assert not spec_env.exists()


def test_scenario_1_vpn_drops_then_returns(topology: Topology, spec_env: Path, faults: None) -> None:
    """Spec scenario 1: VPN down → primary VPN_DOWN, adds go to the secondary; back up → primary."""
    during = [magnet(i, "spec-vpn") for i in range(4)]
    after = [magnet(i, "spec-back") for i in range(3)]

    async def go() -> None:
        async with client_for(topology, spec_env) as client:
            with blackholed(VPN_GATEWAY):
                health = await client.perform_health_check()
                assert health["vpn_connected"] is False
                assert health["primary"] == "VPN_DOWN"
                assert health["secondary"] == "OK"
                assert health["active_instance"] == "secondary"
                assert await client.add_torrents_with_fallback(during) == (during, [], [])
            health = await client.perform_health_check()
            assert (health["vpn_connected"], health["primary"], health["active_instance"]) == (
                True,
                "OK",
                "primary",
            )
            assert await client.add_torrents_with_fallback(after) == (after, [], [])
        on_primary, on_secondary = await hashes_on(topology.primary), await hashes_on(topology.secondary)
        assert {infohash(m) for m in during} <= on_secondary
        assert not {infohash(m) for m in during} & on_primary  # never leaked outside the tunnel
        assert {infohash(m) for m in after} <= on_primary

    run(go())


def test_scenario_2_secondary_crashes(topology: Topology, spec_env: Path) -> None:
    """Spec scenario 2: the secondary's process dies → it reports an error, the primary carries on."""
    links = [magnet(i, "spec-sec-down") for i in range(3)]
    topology.secondary.kill()

    async def go() -> None:
        async with client_for(topology, spec_env) as client:
            health = await client.perform_health_check()
            assert health["primary"] == "OK"
            # The spec's text says TIMEOUT; its code (and ours) reports a refused port as an error.
            assert str(health["secondary"]).startswith("ERROR: ")
            assert health["active_instance"] == "primary"
            assert await client.add_torrents_with_fallback(links) == (links, [], [])
            topology.secondary.start()
            health = await client.perform_health_check()
            assert health["secondary"] == "OK"
        assert {infohash(m) for m in links} <= await hashes_on(topology.primary)

    run(go())


@pytest.mark.compat
def test_scenario_3_both_down_then_process_queue_file(
    topology: Topology, spec_env: Path, faults: None
) -> None:
    """Spec scenario 3: VPN down + secondary stopped → queued to JSON; recovery → processed, file gone."""
    links = [magnet(i, "spec-both") for i in range(4)]
    topology.secondary.stop()

    async def go() -> None:
        async with client_for(topology, spec_env) as client:
            with blackholed(VPN_GATEWAY):
                health = await client.perform_health_check()
                assert health["primary"] == "VPN_DOWN"
                assert str(health["secondary"]).startswith("ERROR: ")
                assert health["active_instance"] is None
                assert await client.add_torrents_with_fallback(links) == ([], [], links)
                doc = json.loads(spec_env.read_text())
                assert list(doc) == ["saved_at", "reason", "magnets", "instructions"]
                assert doc["magnets"] == links
                assert doc["reason"] == "VPN/qBittorrent unavailable"
                assert pending_count(topology) == len(links)  # in the ledger first
                topology.secondary.start()
                successful, failed = await client.process_queue_file()
            assert sorted(successful) == sorted(links) and failed == []
        assert not spec_env.exists()
        assert pending_count(topology) == 0
        assert {infohash(m) for m in links} <= await hashes_on(topology.secondary)

    run(go())


def test_two_outage_calls_keep_both_batches(topology: Topology, spec_env: Path, faults: None) -> None:
    """Two calls queuing while both are down: the file holds both batches (the spec kept the last)."""
    first = [magnet(i, "spec-first") for i in range(3)]
    second = [magnet(i, "spec-second") for i in range(2)]
    topology.secondary.stop()

    async def go() -> None:
        with blackholed(VPN_GATEWAY):
            async with client_for(topology, spec_env) as client:
                assert (await client.add_torrents_with_fallback(first))[2] == first
            async with client_for(topology, spec_env) as client:  # a later crawler run
                assert (await client.add_torrents_with_fallback(second + first[:1]))[2] == second + first[:1]
        assert json.loads(spec_env.read_text())["magnets"] == first + second
        assert pending_count(topology) == len(first) + len(second)
        async with client_for(topology, spec_env) as client:  # VPN back: the primary takes all
            successful, failed = await client.process_queue_file()
        assert sorted(successful) == sorted(first + second) and failed == []
        assert not spec_env.exists()
        assert {infohash(m) for m in first + second} <= await hashes_on(topology.primary)

    run(go())


def test_wrong_password_is_auth_failed_and_loses_nothing(
    topology: Topology, spec_env: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A wrong password: AUTH_FAILED for both, links queued (never failed), the password nowhere."""
    caplog.set_level(logging.DEBUG)
    wrong = "not-the-" + topology.primary.password
    links = [magnet(i, "spec-auth") for i in range(2)]

    async def go() -> None:
        client = ResilientQBittorrentClient(
            primary_url=topology.primary.url,
            username=topology.primary.username,
            password=wrong,
            secondary_url=topology.secondary.url,
            queue_file=str(spec_env),
        )
        async with client:
            health = await client.perform_health_check()
            assert (health["primary"], health["secondary"]) == ("AUTH_FAILED", "AUTH_FAILED")
            assert await client.add_torrents_with_fallback(links) == ([], [], links)
            shown = repr(client) + repr(client.health) + repr(vars(client))
        assert wrong not in shown

    run(go())
    assert pending_count(topology) == len(links)
    assert json.loads(spec_env.read_text())["magnets"] == links
    assert wrong not in caplog.text
    assert wrong not in spec_env.read_text()


def test_no_secondary_is_not_configured(topology: Topology, spec_env: Path) -> None:
    """Only the primary given (positional, as the spec's docs call it): secondary NOT_CONFIGURED."""
    links = [magnet(0, "spec-single")]

    async def go() -> None:
        client = ResilientQBittorrentClient(
            topology.primary.url, topology.primary.username, topology.primary.password
        )
        try:  # no ``async with``: the client opens itself; aclose() closes it
            health = await client.perform_health_check()
            assert health["secondary"] == "NOT_CONFIGURED"
            assert health["primary"] == "OK" and health["active_instance"] == "primary"
            assert await client.add_torrents_with_fallback(links) == (links, [], [])
        finally:
            await client.aclose()

    run(go())


def test_queue_file_from_the_spec(topology: Topology, spec_env: Path) -> None:
    """A file as the spec's own code writes it, plus a malformed line: delivered ones leave it."""
    good = [magnet(i, "spec-file") for i in range(3)]
    bad = "magnet:?xt=urn:btih:abc123def456...&dn=Audiobook+Title+1"  # the spec's placeholder
    spec_env.write_text(
        json.dumps(
            {
                "saved_at": "2025-11-28T15:30:00.123456",
                "reason": "VPN/qBittorrent unavailable",
                "magnets": [good[0], bad, *good[1:]],
                "instructions": "Manually add these to qBittorrent when available, or paste into web UI",
            },
            indent=2,
        )
    )

    async def go() -> None:
        async with client_for(topology, spec_env) as client:
            successful, failed = await client.process_queue_file()
            assert sorted(successful) == sorted(good)
            assert failed == [bad]

    run(go())
    doc = json.loads(spec_env.read_text())
    assert doc["magnets"] == [bad]  # exactly the delivered lines left; the bad one is kept for a person
    assert doc["instructions"].startswith("Manually add")


def test_corrupt_queue_file_is_set_aside_and_its_links_delivered(
    topology: Topology, spec_env: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A truncated file: renamed aside with a one-line error, the links in its text still delivered."""
    link = magnet(0, "spec-corrupt")
    spec_env.write_text('{"saved_at": "x", "magnets": ["' + link + '", "magnet:?xt=urn:bt')
    original = spec_env.read_bytes()

    async def go() -> tuple[list[str], list[str]]:
        async with client_for(topology, spec_env) as client:
            return await client.process_queue_file()

    successful, _ = run(go())
    assert successful == [link]
    aside = list(spec_env.parent.glob("qbittorrent_queue.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == original
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("not valid JSON" in e and "\n" not in e for e in errors)


def test_frozen_primary_goes_to_the_secondary_and_is_never_added_twice(
    topology: Topology, spec_env: Path
) -> None:
    """A SIGSTOPped primary: the call goes on to the secondary (bench/ measures how soon); after the
    thaw, nothing is added twice."""
    links = [magnet(i, "spec-frozen") for i in range(3)]
    topology.primary.freeze()

    async def go() -> None:
        try:
            async with client_for(topology, spec_env) as client:
                successful, failed, queued = await client.add_torrents_with_fallback(links)
                assert (successful, failed, queued) == (links, [], [])
                assert client.health["active_instance"] == "secondary"
        finally:
            topology.primary.thaw()
        async with client_for(topology, spec_env) as client:
            await client.add_torrents_with_fallback(links)  # the crawler's next run hands them again
        assert not {infohash(m) for m in links} & await hashes_on(topology.primary)
        assert {infohash(m) for m in links} <= await hashes_on(topology.secondary)

    run(go())


def test_settings_and_vpn_checker_from_the_caller(
    topology: Topology, spec_env: Path, faults: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing passed but an explicit VPNHealthChecker: URLs from the environment, gate from the checker."""
    links = [magnet(i, "spec-env") for i in range(2)]
    elsewhere = "127.0.0.4"  # the checker's gateway, blackholed; the environment's stays up

    async def go() -> None:
        client = ResilientQBittorrentClient(vpn_checker=VPNHealthChecker(gateway_ip=elsewhere, timeout=1))
        async with client:
            health = await client.perform_health_check()
            assert (health["vpn_connected"], health["primary"], health["active_instance"]) == (
                False,
                "VPN_DOWN",
                "secondary",
            )
            assert await client.add_torrents_with_fallback(links) == (links, [], [])

    monkeypatch.setenv("QBITTORRENT_URL", topology.primary.url)
    monkeypatch.setenv("QBITTORRENT_SECONDARY_URL", topology.secondary.url)
    monkeypatch.setenv("QBITTORRENT_USERNAME", topology.primary.username)
    monkeypatch.setenv("QBITTORRENT_PASSWORD", topology.primary.password)
    with blackholed(elsewhere):
        run(go())

    async def on_secondary() -> set[str]:
        return await hashes_on(topology.secondary)

    assert {infohash(m) for m in links} <= run(on_secondary())


def test_vpn_health_checker_up_down_and_waiting(faults: None) -> None:
    """check_vpn_connectivity up and down; wait_for_vpn_reconnect succeeding and timing out."""
    checker = VPNHealthChecker(gateway_ip=VPN_GATEWAY, timeout=1)

    async def go() -> None:
        assert await checker.check_vpn_connectivity() is True
        assert checker.is_connected and checker.last_check is not None
        blackhole(VPN_GATEWAY)
        assert await checker.check_vpn_connectivity() is False
        assert await checker.wait_for_vpn_reconnect(max_wait=1) is False
        waiting = asyncio.create_task(checker.wait_for_vpn_reconnect(max_wait=60))
        await asyncio.sleep(0)  # let the wait start (its outcome does not depend on when)
        restore_all()  # the VPN comes back while the wait is running
        assert await waiting is True
        assert checker.is_connected is True

    run(go())


def test_each_call_in_its_own_event_loop(topology: Topology, spec_env: Path) -> None:
    """``asyncio.run`` per call on one client (as the spec's docs do): each works, nothing leaks."""
    client = client_for(topology, spec_env)
    links = [magnet(i, "spec-loops") for i in range(2)]
    assert asyncio.run(client.perform_health_check())["primary"] == "OK"
    assert asyncio.run(client.add_torrents_with_fallback(links, max_retries=0)) == (links, [], [])
    assert asyncio.run(client.process_queue_file()) == ([], [])
    asyncio.run(client.aclose())


def test_queued_torrent_file_stays_in_the_ledger_not_the_file(
    topology: Topology, spec_env: Path, faults: None, tmp_path: Path
) -> None:
    """A .torrent path queued during an outage: the file holds only links; the ledger delivers it."""
    from harness import bencode

    info = {b"length": 5, b"name": b"queued-book.bin", b"piece length": 16384, b"pieces": b"\x01" * 20}
    path = tmp_path / "queued-book.torrent"
    path.write_bytes(bencode({b"info": info}))
    link = magnet(0, "spec-with-file")
    topology.secondary.stop()

    async def go() -> None:
        async with client_for(topology, spec_env) as client:
            with blackholed(VPN_GATEWAY):
                assert await client.add_torrents_with_fallback([link, str(path)]) == (
                    [],
                    [],
                    [link, str(path)],
                )
            assert json.loads(spec_env.read_text())["magnets"] == [link]
            successful, failed = await client.process_queue_file()
        assert failed == [] and link in successful and len(successful) == 2
        assert not spec_env.exists()
        assert len(await hashes_on(topology.primary)) == 2

    run(go())


def test_unwritable_queue_file_still_returns_the_lists(
    topology: Topology, spec_env: Path, faults: None
) -> None:
    """The queue file cannot be written: one logged error, the call returns, the ledger holds all."""
    links = [magnet(i, "spec-nofile") for i in range(2)]
    topology.secondary.stop()

    async def go() -> None:
        client = client_for(topology, spec_env.parent / "missing-dir" / "q.json")
        async with client:
            with blackholed(VPN_GATEWAY):
                assert await client.add_torrents_with_fallback(links) == ([], [], links)

    run(go())
    assert pending_count(topology) == len(links)
