"""Every item kind end to end, and a frozen primary, against real qbittorrent-nox."""

from __future__ import annotations

import asyncio
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import Topology
from harness import bencode, magnet
from qbfailover import AsyncResilientClient, State, Status
from qbfailover.core.delivery import MAX_ADD_BYTES
from qbfailover.core.items import parse_torrent

pytestmark = pytest.mark.integration


def bencode_info(name: str) -> dict[str, object]:
    """The info dict of a single-file v1 torrent: one 16 KiB piece of a name-derived payload."""
    payload = hashlib.sha256(name.encode()).digest() * 512
    return {
        "name": name,
        "length": len(payload),
        "piece length": 16384,
        "pieces": hashlib.sha1(payload).digest(),
    }


def make_torrent(name: str) -> bytes:
    """A tracker-less single-file v1 torrent (one 16 KiB piece of a name-derived payload)."""
    return bencode({"info": bencode_info(name), "created by": "qbfailover tests"})


@pytest.fixture
def torrent_server(tmp_path: Path) -> Iterator[tuple[str, bytes]]:
    """Serve one .torrent over http on 127.0.0.1 (qBittorrent fetches URL items itself)."""
    data = make_torrent("served-over-http")
    (tmp_path / "served.torrent").write_bytes(data)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(tmp_path), **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/served.torrent", data
    finally:
        server.shutdown()
        server.server_close()


def test_torrent_file_confirmed_by_info_hash(topology: Topology, tmp_path: Path) -> None:
    """A .torrent path is sent as multipart and confirmed by the SHA-1 of its info dict."""
    path = tmp_path / "book.torrent"
    path.write_bytes(make_torrent("book"))
    expected = parse_torrent(path.read_bytes()).v1

    async def go() -> None:
        async with AsyncResilientClient(topology.settings()) as client:
            result = await client.add_torrents([str(path), magnet(1, "mixed")], category="mixed")
            assert [r.state for r in result.items] == ["delivered", "delivered"]
            assert result.items[0].infohash == expected
            assert result.items[0].instance == "primary"
            again = await client.add_torrents([str(path)])
            assert again.items[0].reason == "already there"

    asyncio.run(go())


def test_url_item_accepted(topology: Topology, torrent_server: tuple[str, bytes]) -> None:
    """An http URL is handed to qBittorrent, which fetches it; the reply is the receipt."""
    url, data = torrent_server

    async def go() -> None:
        async with AsyncResilientClient(topology.settings()) as client:
            result = await client.add_torrents([url])
            assert result.items[0].state == "delivered"
            assert result.items[0].reason == "accepted (URL)"
            ui = client.webui(topology.settings().instance("primary"))
            expected = parse_torrent(data).v1
            assert expected is not None
            for _ in range(200):  # qBittorrent downloads the URL in the background
                if expected in await ui.present([expected]):
                    break
                await asyncio.sleep(0.02)
            assert expected in await ui.present([expected])

    asyncio.run(go())


def test_frozen_primary_times_out_and_secondary_takes_over(topology: Topology) -> None:
    """A SIGSTOPped primary is TIMEOUT within the deadline; items go to the secondary."""

    async def go() -> None:
        settings = topology.settings(deadline=1.0)
        async with AsyncResilientClient(settings) as client:
            topology.primary.freeze()
            try:
                report = await client.health_check()
                assert report.instance("primary").status is Status.TIMEOUT  # type: ignore[union-attr]
                assert report.state is State.PRIMARY_DOWN
                result = await client.add_torrents([magnet(i, "frozen") for i in range(3)])
                assert {r.instance for r in result.items} == {"secondary"}
                # The breaker remembers: the next delivery does not wait on the frozen primary again.
                second = await client.health_check(respect_breakers=True)
                assert "breaker open" in second.instance("primary").detail  # type: ignore[union-attr]
            finally:
                topology.primary.thaw()

    asyncio.run(go())


def test_frozen_secondary_does_not_delay_the_primary(topology: Topology) -> None:
    """With a healthy primary, delivery does not wait for a frozen secondary's probe to time out."""

    async def go() -> None:
        async with AsyncResilientClient(topology.settings(deadline=2.0)) as client:
            topology.secondary.freeze()
            try:
                result = await client.add_torrents([magnet(i, "not-waiting") for i in range(3)])
                assert {r.instance for r in result.items} == {"primary"}
                # The secondary's probe was cancelled, not waited out: no failure was recorded.
                assert client.ledger.load_guard("secondary").failures == 0
                assert client.last_health is None
            finally:
                topology.secondary.thaw()

    asyncio.run(go())


class _CountingTransport(httpx.AsyncHTTPTransport):
    """The real transport, noting the body size of every torrents/add it carries."""

    def __init__(self) -> None:
        super().__init__()
        self.adds: list[int] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/torrents/add"):
            self.adds.append(len(await request.aread()))
        return await super().handle_async_request(request)


def test_large_torrent_files_go_in_requests_of_at_most_8_mib(topology: Topology, tmp_path: Path) -> None:
    """Three 3.5 MiB .torrent files (a long comment outside the info dict) with the default
    batch size: two adds (7 MiB, then 3.5 MiB), never one of 10.5 MiB, and all three land."""
    paths = []
    for n in range(3):
        data = bencode({"info": bencode_info(f"big-{n}"), "comment": "x" * (3_500 * 1024)})
        path = tmp_path / f"big-{n}.torrent"
        path.write_bytes(data)
        paths.append(path)
    counting = _CountingTransport()

    async def go() -> None:
        settings = topology.settings()
        assert settings.batch_size >= 3
        async with AsyncResilientClient(settings, transports={"primary": counting}) as client:
            result = await client.add_torrents([str(p) for p in paths])
            assert [r.state for r in result.items] == ["delivered"] * 3
            assert {r.instance for r in result.items} == {"primary"}

    asyncio.run(go())
    assert len(counting.adds) == 2
    assert max(counting.adds) <= MAX_ADD_BYTES + 64 * 1024  # the payload cap plus multipart framing
