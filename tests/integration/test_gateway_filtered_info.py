"""torrents/info with a ``hashes`` filter through the gateway app, against real qbittorrent-nox.

The app runs in-process (httpx's ASGI transport) so the view's clock can be moved by hand and the
view's calls to the instances can be seen: ``WebUI.request`` is wrapped by a recorder that calls
the real method, so every answer still comes from qBittorrent. Synchronisation with qBittorrent
is by polling it with a deadline; nothing waits a fixed time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest

from conftest import Topology
from harness import QbtInstance, magnet
from qbfailover.engine.client import AsyncResilientClient
from qbfailover.gateway.listing import WAITING_STATE
from qbfailover.gateway.routes import build_app
from qbfailover.gateway.security import Credentials
from qbfailover.gateway.service import Gateway
from qbfailover.gateway.view import MergedView
from qbfailover.qbt.webui import WebUI

pytestmark = pytest.mark.integration

T = TypeVar("T")
DEADLINE = 60.0
TTL = 1.0
GW_USER = "gwuser"
GW_PASS = "gw-pass-filtered-7q"
FIELDS = ("hash", "name", "state", "added_on", "save_path", "category")


@dataclass(frozen=True)
class Call:
    """One request the view made to an instance."""

    instance: str
    method: str
    path: str
    data: dict[str, str] | None


class Recorder:
    """The calls made through ``WebUI.request``; each one still goes to the real instance."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    def info(self) -> list[Call]:
        """The torrents/info calls only (a login is not made through ``request``)."""
        return [c for c in self.calls if c.path == "torrents/info"]


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """Wrap ``WebUI.request`` so the test sees what the gateway asks each instance."""
    rec = Recorder()
    real = WebUI.request

    async def recording(
        self: WebUI, method: str, path: str, *, idempotent: bool, timeout: float | None = None, **kw: Any
    ) -> httpx.Response:
        data = kw.get("data")
        rec.calls.append(Call(self.name, method, path, dict(data) if data is not None else None))
        return await real(self, method, path, idempotent=idempotent, timeout=timeout, **kw)

    monkeypatch.setattr(WebUI, "request", recording)
    return rec


class Clock:
    """The view's monotonic clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def poll(check: Callable[[], Awaitable[T | None]], what: str) -> T:
    """Await ``check`` until it returns something truthy, or fail naming ``what``."""
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.asynccontextmanager
async def direct(inst: QbtInstance) -> AsyncIterator[httpx.AsyncClient]:
    """A session straight to an instance (not through the gateway)."""
    async with httpx.AsyncClient(base_url=inst.url + "api/v2/", timeout=10, trust_env=False) as c:
        r = await c.post("auth/login", data={"username": inst.username, "password": inst.password})
        assert r.status_code in (200, 204), r.text
        yield c


async def listed_on(inst: QbtInstance, hash_: str) -> dict[str, Any] | None:
    """The torrent as the instance itself lists it, or None."""
    async with direct(inst) as c:
        found = (await c.get("torrents/info", params={"hashes": hash_})).json()
    return found[0] if found else None


async def add_on(inst: QbtInstance, link: str) -> dict[str, Any]:
    """Add a magnet (paused, so its state stays put) directly on an instance; its own listing."""
    async with direct(inst) as c:
        r = await c.post("torrents/add", data={"urls": link, "paused": "true", "category": ""})
        assert (r.status_code, r.text) == (200, "Ok.")
    return await poll(lambda: listed_on(inst, h(link)), f"{h(link)} on {inst.name}")


def h(link: str) -> str:
    return link.split("btih:")[1].split("&")[0]


@dataclass
class Gw:
    """The gateway app over real instances, a logged-in client of it, and the view's clock."""

    gw: Gateway
    web: httpx.AsyncClient
    clock: Clock

    async def info(self, hashes: str | None = None) -> dict[str, dict[str, Any]]:
        """torrents/info through the gateway, by hash."""
        r = await self.web.get("torrents/info", params={"hashes": hashes} if hashes else None)
        assert r.status_code == 200, r.text
        return {t["hash"]: t for t in r.json()}

    async def queue(self, link: str) -> None:
        """torrents/add through the gateway: recorded in the ledger (no courier delivers it here)."""
        r = await self.web.post("torrents/add", data={"urls": link})
        assert (r.status_code, r.text) == (200, "Ok.")
        assert [e.key for e in self.gw.client.ledger.list()] == [h(link)]


@contextlib.asynccontextmanager
async def gateway(topology: Topology) -> AsyncIterator[Gw]:
    """A Gateway and its Starlette app in this process, the view on a hand-moved clock."""
    clock = Clock()
    client = AsyncResilientClient(topology.settings())
    gw = Gateway(client, Credentials(GW_USER, GW_PASS), "127.0.0.1", 80, ("testserver",))
    gw.view = MergedView(client, ttl=TTL, clock=clock)
    gw.view.on_reachable = gw.replay_to
    transport = httpx.ASGITransport(app=build_app(gw))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver/api/v2/") as web:
            r = await web.post("auth/login", data={"username": GW_USER, "password": GW_PASS})
            assert (r.status_code, r.text) == (200, "Ok.")
            yield Gw(gw, web, clock)
    finally:
        await gw.aclose(5.0)
        await client.aclose()


def test_a_filtered_read_fetches_only_the_stale_hashes_with_the_instances_real_fields(
    topology: Topology, recorder: Recorder
) -> None:
    """A torrent asked for by hash is listed as its instance lists it, and each instance is asked
    for just the hashes it may hold (a hashes-filtered torrents/info, not a full list); a queued
    hash in the same request is not sent to any instance."""

    async def run() -> None:
        on_primary, queued = magnet(1, "fa"), magnet(2, "fa")
        real = await add_on(topology.primary, on_primary)
        async with gateway(topology) as g:
            await g.queue(queued)
            recorder.calls.clear()
            got = await g.info(f"{h(on_primary)}|{h(queued)}")
            assert set(got) == {h(on_primary), h(queued)}
            assert {k: got[h(on_primary)][k] for k in FIELDS} == {k: real[k] for k in FIELDS}
            assert "qbfailover_queued" not in got[h(on_primary)]
            asked = {"hashes": h(on_primary)}
            assert sorted(recorder.info(), key=lambda c: c.instance) == [
                Call("primary", "POST", "torrents/info", asked),
                Call("secondary", "POST", "torrents/info", asked),
            ]

    asyncio.run(run())


def test_a_torrent_deleted_on_qbittorrent_leaves_a_filtered_read_once_the_ttl_passed(
    topology: Topology, recorder: Recorder
) -> None:
    """Within the view's ttl a hash just fetched is answered from the view without asking again;
    after the ttl the instance is asked again, and a torrent deleted there is no longer listed."""

    async def run() -> None:
        link = magnet(3, "fa")
        await add_on(topology.primary, link)
        async with gateway(topology) as g:
            assert set(await g.info(h(link))) == {h(link)}
            async with direct(topology.primary) as c:
                r = await c.post("torrents/delete", data={"hashes": h(link), "deleteFiles": "false"})
                assert r.status_code == 200
            await poll(lambda: _gone(topology.primary, h(link)), "deleted on the primary")
            recorder.calls.clear()
            g.clock.now += TTL / 2
            assert set(await g.info(h(link))) == {h(link)}
            assert recorder.info() == []
            g.clock.now += TTL / 2
            assert await g.info(h(link)) == {}
            assert {c.instance for c in recorder.info()} == {"primary", "secondary"}

    asyncio.run(run())


async def _gone(inst: QbtInstance, hash_: str) -> bool:
    return await listed_on(inst, hash_) is None


def test_a_queued_hash_is_listed_waiting_without_asking_any_instance(
    topology: Topology, recorder: Recorder
) -> None:
    """A hash only the ledger knows is answered from the queue: listed waiting, no instance asked."""

    async def run() -> None:
        link = magnet(4, "fa")
        async with gateway(topology) as g:
            await g.queue(link)
            recorder.calls.clear()
            got = await g.info(h(link))
            assert list(got) == [h(link)]
            assert (got[h(link)]["state"], got[h(link)]["qbfailover_queued"]) == (WAITING_STATE, True)
            assert recorder.calls == []

    asyncio.run(run())


def test_an_unreachable_instance_keeps_its_last_known_torrent_in_a_filtered_read(
    topology: Topology, recorder: Recorder
) -> None:
    """A torrent never vanishes because its instance dropped: the instance is asked, fails, and the
    filtered read still lists what it last said about the hash."""

    async def run() -> None:
        link = magnet(5, "fa")
        real = await add_on(topology.primary, link)
        async with gateway(topology) as g:
            before = await g.info(h(link))
            assert {k: before[h(link)][k] for k in FIELDS} == {k: real[k] for k in FIELDS}
            topology.primary.kill()
            recorder.calls.clear()
            g.clock.now += TTL
            assert await g.info(h(link)) == before
            assert Call("primary", "POST", "torrents/info", {"hashes": h(link)}) in recorder.info()
            assert g.gw.view.reachable["primary"] is False

    asyncio.run(run())


def test_an_unfiltered_read_still_lists_every_instances_torrents_and_the_queue(
    topology: Topology, recorder: Recorder
) -> None:
    """torrents/info without hashes is one full list of each instance plus the waiting items."""

    async def run() -> None:
        first, second, queued = magnet(6, "fa"), magnet(7, "fa"), magnet(8, "fa")
        on_primary = await add_on(topology.primary, first)
        on_secondary = await add_on(topology.secondary, second)
        async with gateway(topology) as g:
            await g.queue(queued)
            recorder.calls.clear()
            got = await g.info()
            assert set(got) == {h(first), h(second), h(queued)}
            assert {k: got[h(first)][k] for k in FIELDS} == {k: on_primary[k] for k in FIELDS}
            assert {k: got[h(second)][k] for k in FIELDS} == {k: on_secondary[k] for k in FIELDS}
            assert got[h(queued)]["state"] == WAITING_STATE
            assert sorted(recorder.info(), key=lambda c: c.instance) == [
                Call("primary", "GET", "torrents/info", None),
                Call("secondary", "GET", "torrents/info", None),
            ]

    asyncio.run(run())
