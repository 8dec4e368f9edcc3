"""Failback's torrent calls build bounded requests (httpx MockTransport: request shapes only;
the calls themselves are exercised against real qBittorrent in tests/integration/test_failback*)."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qs

import httpx

from qbfailover.config import InstanceConfig, Secret
from qbfailover.qbt.torrents import list_facts, torrent_ids
from qbfailover.qbt.webui import WebUI


def test_listing_thousands_of_hashes_is_one_posted_form() -> None:
    """1,700 hashes (a long outage): one POST with the hashes in its body, never an over-long URL."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("auth/login"):
            return httpx.Response(200, text="Ok.", headers={"set-cookie": "SID=x"})
        seen.append(request)
        hashes = parse_qs(request.content.decode())["hashes"][0].split("|")
        return httpx.Response(
            200, text=json.dumps([{"hash": h, "progress": 0.5, "state": "stoppedDL"} for h in hashes])
        )

    cfg = InstanceConfig("secondary", "http://127.0.0.1:1/", "u", Secret("p"))
    wanted = [f"{n:040x}" for n in range(1700)]

    async def go() -> dict[str, object]:
        ui = WebUI(cfg, transport=httpx.MockTransport(answer))
        try:
            return dict(await list_facts(ui, wanted))
        finally:
            await ui.aclose()

    facts = asyncio.run(go())
    assert set(facts) == set(wanted)
    assert [(r.method, r.url.query) for r in seen] == [("POST", b"")]


def test_ids_are_the_40_hex_forms() -> None:
    assert torrent_ids({"AA" * 20, "bb" * 32, "bb" * 20}) == ["aa" * 20, "bb" * 20]
