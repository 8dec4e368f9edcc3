"""The failover decision tree against real qbittorrent-nox in the spec's topology."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import httpx
import pytest

from conftest import VPN_GATEWAY, Topology
from harness import blackholed, magnet
from qbfailover import AsyncResilientClient, State, Status
from qbfailover.ledger.sqlite import Ledger

pytestmark = pytest.mark.integration


async def torrents_on(inst: object) -> set[str]:
    """Every infohash on an instance, read with a fresh session of our own."""
    async with httpx.AsyncClient(base_url=inst.url + "api/v2/") as http:  # type: ignore[attr-defined]
        r = await http.post("auth/login", data={"username": inst.username, "password": inst.password})  # type: ignore[attr-defined]
        assert r.status_code in (200, 204)
        info = await http.get("torrents/info")
        return {t["hash"] for t in info.json()}


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_healthy_goes_to_primary(topology: Topology) -> None:
    """BOTH_HEALTHY: every item lands on the primary, confirmed, and nowhere else."""

    async def go() -> None:
        async with AsyncResilientClient(topology.settings()) as client:
            report = await client.health_check()
            assert report.state is State.BOTH_HEALTHY
            assert [i.status for i in report.instances] == [Status.OK, Status.OK]
            items = [magnet(i, "healthy") for i in range(20)]
            result = await client.add_torrents(items, category="books", paused=True)
            assert result.successful == items and not result.queued and not result.failed
            assert {r.instance for r in result.items} == {"primary"}
            assert {r.reason for r in result.items} == {"added"}
        on_primary = await torrents_on(topology.primary)
        assert {r.infohash for r in result.items} <= on_primary
        assert not await torrents_on(topology.secondary)

    run(go())


def test_vpn_down_goes_to_secondary_within_deadline(topology: Topology, faults: None) -> None:
    """VPN probe blackholed: the primary is VPN_DOWN, items go to the secondary, within the deadline."""

    async def go() -> None:
        settings = topology.settings()
        async with AsyncResilientClient(settings) as client:
            with blackholed(VPN_GATEWAY):
                report = await client.health_check()
                assert report.vpn.status == "DOWN"
                assert report.state is State.PRIMARY_DOWN
                assert report.instance("primary").status is Status.VPN_DOWN  # type: ignore[union-attr]
                assert report.duration_ms <= (settings.deadline + 0.5) * 1000
                items = [magnet(i, "vpn") for i in range(5)]
                result = await client.add_torrents(items)
            assert result.successful == items
            assert {r.instance for r in result.items} == {"secondary"}
        assert not await torrents_on(topology.primary)

    run(go())


def test_primary_refused_goes_to_secondary(topology: Topology) -> None:
    """Primary process gone (connection refused): delivered to the secondary."""
    topology.primary.stop()

    async def go() -> None:
        async with AsyncResilientClient(topology.settings()) as client:
            result = await client.add_torrents([magnet(1, "refused")])
            assert result.items[0].state == "delivered"
            assert result.items[0].instance == "secondary"
            report = client.last_health
            assert report is not None and report.state is State.PRIMARY_DOWN

    run(go())


def test_both_down_queues_then_drain_delivers(topology: Topology) -> None:
    """Both instances down: items are queued with a reason; once one recovers a drain delivers them."""
    topology.primary.stop()
    topology.secondary.stop()
    items = [magnet(i, "down") for i in range(10)]

    async def go_down() -> None:
        async with AsyncResilientClient(topology.settings()) as client:
            result = await client.add_torrents(items)
            assert result.queued == items
            assert all("no instance available" in r.reason for r in result.items)
            assert client.last_health is not None and client.last_health.state is State.BOTH_DOWN

    run(go_down())
    with Ledger(topology.db) as ledger:
        assert ledger.counts().get("pending") == 10
        ledger.retry(None)  # skip the backoff: the instance is back now
    topology.secondary.start()

    async def go_up() -> None:
        async with AsyncResilientClient(topology.settings()) as client:
            client.unblock()  # the breaker opened while it was down; we just restarted it
            result = await client.process_queue()
            assert sorted(result.successful) == sorted(items)
            assert {r.instance for r in result.items} == {"secondary"}

    run(go_up())
    with Ledger(topology.db) as ledger:
        assert ledger.counts().get("pending", 0) == 0


def test_duplicate_is_already_there(topology: Topology) -> None:
    """An item already on the instance is reported 'already there' and not added twice."""
    item = magnet(7, "dup")

    async def go() -> None:
        async with AsyncResilientClient(topology.settings()) as client:
            first = await client.add_torrents([item])
            second = await client.add_torrents([item])
            assert first.items[0].reason == "added"
            assert second.items[0].state == "delivered"
            assert second.items[0].reason == "already there"
            assert second.items[0].instance == "primary"

    run(go())


def test_invalid_magnet_rejected_without_failover(topology: Topology) -> None:
    """A malformed magnet is rejected with its reason before any network call, nothing is queued."""

    async def go() -> None:
        async with AsyncResilientClient(topology.settings()) as client:
            result = await client.add_torrents(["magnet:?xt=urn:btih:nothex", magnet(3, "ok")])
            assert result.failed == ["magnet:?xt=urn:btih:nothex"]
            assert "40 hex or 32 base32" in result.items[0].reason
            assert result.items[1].state == "delivered"
            assert not result.queued

    run(go())


def test_wrong_password_one_attempt_per_cooldown(topology: Topology) -> None:
    """Wrong password: AUTH_FAILED, and repeated checks do not send more failed logins."""
    bad = topology.settings(
        instances=(
            topology.primary.config(priority=1, requires_vpn=True, password=_secret("wrong")),
            topology.secondary.config(priority=2),
        )
    )

    async def go() -> None:
        async with AsyncResilientClient(bad) as client:
            for _ in range(20):
                report = await client.health_check()
                assert report.instance("primary").status is Status.AUTH_FAILED  # type: ignore[union-attr]

    run(go())
    failures = _failed_login_count(topology)
    assert failures == 1
    # The right password still logs in from this host: no ban was triggered.
    assert run(torrents_on(topology.primary)) == set()


def _secret(value: str) -> object:
    from qbfailover.config import Secret

    return Secret(value)


def _failed_login_count(topology: Topology) -> int:
    """Failed logins qBittorrent itself counted, read from its own log."""
    logs = list(topology.primary.profile.rglob("qbittorrent.log"))
    text = "".join(p.read_text(errors="replace") for p in logs)
    return text.count("invalid credentials")


def test_cli_add_and_status_json(topology: Topology) -> None:
    """The CLI with the spec's variables: add exits 0 with a line per item; status --json is stable."""
    env = topology.env()
    exe = [sys.executable, "-m", "qbfailover"]
    items = [magnet(i, "cli") for i in range(3)]
    add = subprocess.run([*exe, "add", *items, "--json"], env=env, capture_output=True, text=True, timeout=60)
    assert add.returncode == 0, add.stderr
    doc = json.loads(add.stdout)
    assert doc["successful"] == items
    status = subprocess.run([*exe, "status", "--json"], env=env, capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    st = json.loads(status.stdout)
    assert st["state"] == "BOTH_HEALTHY" and st["verdict"] == "Excellent"
    assert [i["name"] for i in st["instances"]] == ["primary", "secondary"]
    assert all(set(i) >= {"name", "status", "version", "latency_ms"} for i in st["instances"])
    assert st["queue"]["pending"] == 0
    assert st["vpn"]["status"] == "UP"
    assert topology.primary.password not in add.stdout + add.stderr + status.stdout + status.stderr
