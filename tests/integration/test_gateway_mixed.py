"""One gateway over qBittorrent 4.5 (primary, behind the VPN) and 5.3 (secondary), and 20 clients
adding in parallel while the VPN flaps: every hash ends on exactly one instance, none is lost."""

from __future__ import annotations

import concurrent.futures
import os
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from test_gateway import GW_PASS, GW_USER, Serve, h, hashes_on, poll

from conftest import PRIMARY_HOST, SECONDARY_HOST, VPN_GATEWAY, WEBUI_PORT, Topology, qbt_runtime_of
from harness import QbtInstance, blackhole, in_private_netns, magnet, restore_all

pytestmark = pytest.mark.integration


@pytest.fixture
def mixed(qbt_factory: Callable[..., QbtInstance], tmp_path: Path) -> Topology:
    if not in_private_netns():
        pytest.skip("the spec's topology binds port 52095 on two loopback addresses: run ./scripts/test")
    primary = qbt_factory("primary", PRIMARY_HOST, WEBUI_PORT, runtime=qbt_runtime_of("4.5"))
    secondary = qbt_factory(
        "secondary", SECONDARY_HOST, WEBUI_PORT, password=primary.password, runtime=qbt_runtime_of("5.3")
    )
    return Topology(primary, secondary, tmp_path / "ledger.sqlite3")


def state_on(inst: QbtInstance, hash_: str) -> str:
    return str(hashes_on(inst).get(hash_, {}).get("state", ""))


@pytest.mark.usefixtures("faults")
def test_both_dialects_behind_one_gateway(mixed: Topology) -> None:
    """Clients say pause/resume (4.x) or stop/start (5.x); each instance gets its own names, and
    5.x states are shown in the 4.x names the gateway reports."""
    gw = Serve(mixed.env())
    try:
        on_4, on_5 = magnet(1, "mx"), magnet(2, "mx")
        with gw.http() as c:
            assert c.post("torrents/add", data={"urls": on_4}).text == "Ok."
            poll(lambda: h(on_4) in hashes_on(mixed.primary), "first add on the 4.5 primary")
            blackhole(VPN_GATEWAY)
            poll(
                lambda: (
                    c.post("torrents/add", data={"urls": on_5}).text == "Ok."
                    and h(on_5) in hashes_on(mixed.secondary)
                ),
                "second add on the 5.3 secondary",
            )
            both = f"{h(on_4)}|{h(on_5)}"
            assert c.post("torrents/stop", data={"hashes": both}).status_code == 200
            poll(lambda: state_on(mixed.primary, h(on_4)).startswith("paused"), "4.5 paused by 'stop'")
            poll(lambda: state_on(mixed.secondary, h(on_5)).startswith("stopped"), "5.3 stopped by 'stop'")
            shown = poll(
                lambda: (
                    {t["hash"]: t["state"] for t in c.get("torrents/info").json()}
                    if all(t["state"].startswith("paused") for t in c.get("torrents/info").json())
                    else None
                ),
                "both shown paused",
            )
            assert set(shown) >= {h(on_4), h(on_5)}
            assert [t["hash"] for t in c.get("torrents/info", params={"filter": "paused"}).json()] != []
            assert c.post("torrents/resume", data={"hashes": both}).status_code == 200
            poll(
                lambda: not state_on(mixed.secondary, h(on_5)).startswith("stopped"),
                "5.3 started by 'resume'",
            )
            poll(lambda: not state_on(mixed.primary, h(on_4)).startswith("paused"), "4.5 resumed")
        restore_all()
    finally:
        restore_all()
        assert gw.stop() == 0


@pytest.mark.usefixtures("faults")
def test_twenty_clients_add_in_parallel_while_the_vpn_flaps(mixed: Topology) -> None:
    """20 clients, 10 adds each, while the VPN goes down and up: all 200 end on exactly one instance."""
    gw = Serve(mixed.env())
    stop = threading.Event()

    def flap() -> None:
        down = False
        while not stop.wait(0.3):
            restore_all() if down else blackhole(VPN_GATEWAY)
            down = not down
        restore_all()

    def client(n: int) -> list[str]:
        sent = []
        with httpx.Client(base_url=gw.url + "/api/v2/", timeout=60, trust_env=False) as c:
            assert c.post("auth/login", data={"username": GW_USER, "password": GW_PASS}).text == "Ok."
            for i in range(10):
                m = magnet(i, f"par{n}-")
                r = c.post("torrents/add", data={"urls": m})
                assert (r.status_code, r.text) == (200, "Ok.")
                sent.append(h(m))
        return sent

    flapper = threading.Thread(target=flap)
    flapper.start()
    try:
        with concurrent.futures.ThreadPoolExecutor(20) as pool:
            sent = [x for batch in pool.map(client, range(20)) for x in batch]
    finally:
        stop.set()
        flapper.join()
    assert len(set(sent)) == 200

    def placed() -> tuple[set[str], set[str]] | None:
        p, s = set(hashes_on(mixed.primary)), set(hashes_on(mixed.secondary))
        return (p, s) if set(sent) <= p | s else None

    p, s = poll(placed, "all 200 delivered", timeout=120)
    assert not (set(sent) & p & s), "a hash on both instances"
    assert gw.stop() == 0
    assert os.environ.get("QBFAILOVER_GATEWAY_PASSWORD") != GW_PASS
