"""``qbfailover serve`` as a real subprocess in front of real qbittorrent-nox, used by real clients.

Clients: qbittorrent-api from PyPI, and plain httpx replaying the calls Sonarr's qBittorrent client
makes. Synchronisation is by the server's own output (its ``serve started`` event) and by polling
the API with a bounded deadline; nothing waits a fixed time.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest
import qbittorrentapi

from conftest import VPN_GATEWAY, Topology
from harness import QbtInstance, blackholed, free_port, magnet
from qbfailover.ledger.sqlite import Ledger

pytestmark = pytest.mark.integration

T = TypeVar("T")
DEADLINE = 60.0
GW_USER = "gwuser"
GW_PASS = "gw-" + "pass-8f3k2"


def poll(check: Callable[[], T | None], what: str, timeout: float = DEADLINE) -> T:
    """Call ``check`` until it returns something truthy, or fail naming ``what``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Serve:
    """``qbfailover serve`` in a subprocess; a thread collects its stderr (JSON log lines)."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.port = free_port("127.0.0.1")
        env = {
            **env,
            "QBFAILOVER_GATEWAY_USERNAME": GW_USER,
            "QBFAILOVER_GATEWAY_PASSWORD": GW_PASS,
        }
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "qbfailover", "serve", "--listen", f"127.0.0.1:{self.port}"),
                *("--log-format", "json", "--interval", "0.2", *args),
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        poll(lambda: self.started() or self._died(), "serve started")

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def _died(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"serve exited {self.proc.returncode}:\n{self.output()}")
        return False

    def started(self) -> bool:
        return any('"event": "started"' in line or '"event":"started"' in line for line in self.lines)

    def events(self) -> list[dict[str, Any]]:
        out = []
        for line in list(self.lines):
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @contextlib.contextmanager
    def http(self) -> Iterator[httpx.Client]:
        """A logged-in plain client (a fresh cookie jar)."""
        with httpx.Client(base_url=self.url + "/api/v2/", timeout=30, trust_env=False) as c:
            r = c.post("auth/login", data={"username": GW_USER, "password": GW_PASS})
            assert (r.status_code, r.text) == (200, "Ok.")
            yield c

    def api(self) -> qbittorrentapi.Client:
        client = qbittorrentapi.Client(
            host="127.0.0.1",
            port=self.port,
            username=GW_USER,
            password=GW_PASS,
            REQUESTS_ARGS={"timeout": (5, 30)},
            VERIFY_WEBUI_CERTIFICATE=False,
        )
        client.auth_log_in()
        return client

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self._reader.join(10)
        return code

    def output(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def serve(topology: Topology) -> Iterator[Callable[..., Serve]]:
    started: list[Serve] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Serve:
        s = Serve(env or topology.env(), *args)
        started.append(s)
        return s

    yield start
    for s in started:
        if s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()


def direct_get(inst: QbtInstance, path: str) -> Any:
    """One GET straight to an instance (own session), to check what it really holds."""
    with httpx.Client(base_url=inst.url + "api/v2/", timeout=10, trust_env=False) as c:
        r = c.post("auth/login", data={"username": inst.username, "password": inst.password})
        assert r.status_code in (200, 204), r.text
        return c.get(path).json()


def hashes_on(inst: QbtInstance) -> dict[str, dict[str, Any]]:
    return {t["hash"]: t for t in direct_get(inst, "torrents/info")}


def h(m: str) -> str:
    return m.split("btih:")[1].split("&")[0]


# --- both up ----------------------------------------------------------------------------------


@pytest.mark.compat
def test_qbittorrent_api_adds_lists_and_commands_through_the_gateway(
    topology: Topology, serve: Callable[..., Serve]
) -> None:
    """qbittorrent-api (PyPI) logs in, adds with options, finds its hashes, and its commands land."""
    gw = serve()
    client = gw.api()
    assert client.app.version == "v4.6.7"
    assert client.app.web_api_version == "2.9.3"
    m1, m2 = magnet(1, "qa"), magnet(2, "qa")
    assert client.torrents_add(urls=[m1, m2], category="tv", tags="a,b", is_paused=True) == "Ok."
    info = poll(lambda: len(client.torrents_info(torrent_hashes=[h(m1), h(m2)])) == 2 or None, "both listed")
    assert info
    on_primary = poll(
        lambda: (lambda d: d if h(m1) in d and h(m2) in d else None)(hashes_on(topology.primary)),
        "both on the primary",
    )
    assert on_primary[h(m1)]["category"] == "tv"
    assert set(on_primary[h(m1)]["tags"].split(", ")) == {"a", "b"}
    assert h(m1) not in hashes_on(topology.secondary)
    assert [t.hash for t in client.torrents_info(category="tv", torrent_hashes=h(m1))] == [h(m1)]
    client.torrents_create_category(name="movies")
    client.torrents_set_category(category="movies", torrent_hashes=h(m2))
    assert poll(lambda: hashes_on(topology.primary)[h(m2)]["category"] == "movies", "category moved")
    client.torrents_add_tags(tags="c", torrent_hashes=h(m2))
    assert poll(lambda: "c" in hashes_on(topology.primary)[h(m2)]["tags"], "tag added")
    client.torrents_delete(delete_files=False, torrent_hashes=h(m1))
    assert poll(lambda: h(m1) not in hashes_on(topology.primary), "deleted on the primary")
    assert client.torrents_properties(torrent_hash=h(m2)).hash == h(m2)
    prefs = client.app_preferences()
    assert "save_path" in prefs
    assert gw.stop() == 0


def test_login_session_and_checks_as_qbittorrent_does_them(
    serve: Callable[..., Serve], topology: Topology
) -> None:
    """403 without a session, 401 for a foreign Origin or a wrong Host, a ban after wrong passwords;
    the SID cookie is HttpOnly and SameSite=Strict, and no instance secret reaches the client or log."""
    gw = serve()
    base = gw.url + "/api/v2/"
    with httpx.Client(base_url=base, timeout=10, trust_env=False) as anon:
        assert anon.get("app/version").status_code == 403
        assert anon.get("torrents/info").status_code == 403
        r = anon.post(
            "auth/login",
            data={"username": GW_USER, "password": GW_PASS},
            headers={"Origin": "http://evil.example"},
        )
        assert (r.status_code, r.text) == (401, "Unauthorized")
        r = anon.post(
            "auth/login",
            data={"username": GW_USER, "password": GW_PASS},
            headers={"Host": f"127.0.0.1:{gw.port + 1}"},
        )
        assert r.status_code == 401
        r = anon.post(
            "auth/login",
            data={"username": GW_USER, "password": GW_PASS},
            headers={"Host": f"attacker.example:{gw.port}"},
        )
        assert r.status_code == 401
        r = anon.post("auth/login", data={"username": GW_USER, "password": GW_PASS})
        assert (r.status_code, r.text) == (200, "Ok.")
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("SID=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert anon.get("app/version").text == "v4.6.7"
    # The client's own cookie and Authorization are never sent on: the instance session is the engine's.
    with gw.http() as c:
        r = c.get("torrents/info", headers={"Authorization": "Bearer nope", "Referer": gw.url + "/"})
        assert r.status_code == 200
        assert "set-cookie" not in r.headers
    with httpx.Client(base_url=base, timeout=10, trust_env=False) as bad:
        for _ in range(5):
            r = bad.post("auth/login", data={"username": GW_USER, "password": "wrong"})
            assert (r.status_code, r.text) == (200, "Fails.")
        r = bad.post("auth/login", data={"username": GW_USER, "password": GW_PASS})
        assert r.status_code == 403 and "banned" in r.text
    assert gw.stop() == 0
    log = gw.output()
    assert topology.primary.password not in log and GW_PASS not in log


# --- outages ----------------------------------------------------------------------------------


@pytest.mark.compat
@pytest.mark.usefixtures("faults")
def test_both_down_add_is_answered_visible_amended_and_delivered_on_recovery(
    topology: Topology, serve: Callable[..., Serve]
) -> None:
    """VPN down and secondary stopped: adds answer Ok., show as queued with their names, take
    follow-up commands; a deleted queued item is never delivered; recovery delivers the rest with
    the commands applied."""
    gw = serve()
    keep, cancel = magnet(1, "bd"), magnet(2, "bd")
    with gw.http() as c:
        seen = c.post("torrents/add", data={"urls": magnet(9, "bd"), "category": "early"})
        assert seen.text == "Ok."
        poll(
            lambda: any(
                t["hash"] == h(magnet(9, "bd")) and t["state"] != "queuedDL"
                for t in c.get("torrents/info").json()
            ),
            "an early torrent listed",
        )
        topology.secondary.stop()
        with blackholed(VPN_GATEWAY):
            # The watch loop's drain uses the report its cycle just took: a cycle whose report came
            # just before the blackhole could still send an add made now to the primary. Once it
            # has logged the outage, every later drain sees it (cycles run one after another).
            both_down = {"event": "transition", "to": "BOTH_DOWN"}
            poll(
                lambda: any(both_down.items() <= e.items() for e in gw.events()),
                "the gateway seeing both instances down",
            )
            r = c.post("torrents/add", data={"urls": f"{keep}\n{cancel}", "category": "tv", "paused": "true"})
            assert (r.status_code, r.text) == (200, "Ok.")
            listed = {t["hash"]: t for t in c.get("torrents/info").json()}
            assert listed[h(keep)]["name"] == "test-bd1"
            assert listed[h(keep)]["state"] in ("queuedDL", "pausedDL")
            assert h(magnet(9, "bd")) in listed, "a torrent of an unreachable instance stays in the view"
            assert c.get("torrents/properties", params={"hash": h(keep)}).status_code == 200
            assert c.get("torrents/files", params={"hash": h(keep)}).json() == []
            assert (
                c.post("torrents/setCategory", data={"hashes": h(keep), "category": "later"}).status_code
                == 200
            )
            assert c.post("torrents/addTags", data={"hashes": h(keep), "tags": "x"}).status_code == 200
            assert (
                c.post("torrents/delete", data={"hashes": h(cancel), "deleteFiles": "false"}).status_code
                == 200
            )
            assert h(cancel) not in {t["hash"] for t in c.get("torrents/info").json()}
            assert (
                c.post("torrents/createCategory", data={"category": "replayed", "savePath": ""}).status_code
                == 200
            )
            topology.secondary.start()
            on_secondary = poll(
                lambda: (lambda d: d if h(keep) in d else None)(hashes_on(topology.secondary)),
                "queued item delivered to the secondary",
            )
        assert on_secondary[h(keep)]["category"] == "later"
        assert "x" in on_secondary[h(keep)]["tags"]
        assert poll(
            lambda: "replayed" in direct_get(topology.secondary, "torrents/categories"),
            "category replayed to the secondary",
        )
    assert h(cancel) not in hashes_on(topology.secondary) and h(cancel) not in hashes_on(topology.primary)
    assert gw.stop() == 0


def test_invalid_input_is_answered_as_qbittorrent_answers_it(serve: Callable[..., Serve]) -> None:
    """A malformed magnet alone: Fails.; a file that is not a torrent: 415 naming it."""
    gw = serve()
    with gw.http() as c:
        r = c.post("torrents/add", data={"urls": "magnet:?xt=urn:btih:nothex"})
        assert (r.status_code, r.text) == (200, "Fails.")
        r = c.post(
            "torrents/add", files={"torrents": ("junk.torrent", b"not bencode", "application/x-bittorrent")}
        )
        assert r.status_code == 415 and "junk.torrent" in r.text
        r = c.post(
            "torrents/add",
            content=b"--x\r\nbroken",
            headers={"Content-Type": "multipart/form-data; boundary=x"},
        )
        assert r.status_code in (200, 400)
        assert c.get("torrents/properties", params={"hash": "0" * 40}).status_code == 404
    assert gw.stop(signal.SIGINT) == 0


@pytest.mark.compat
def test_sonarr_call_sequence(topology: Topology, serve: Callable[..., Serve]) -> None:
    """The calls Sonarr's QBittorrentProxyV2 makes, in its order, with its parameters (4.5, 5.x)."""
    gw = serve()
    m = magnet(1, "sonarr")
    with httpx.Client(base_url=gw.url, timeout=30, trust_env=False) as s:
        assert s.get("/api/v2/app/webapiVersion").status_code == 403  # IsApiSupported: 403 = v2 there
        r = s.post("/api/v2/auth/login", data={"username": GW_USER, "password": GW_PASS})
        assert r.text == "Ok."
        assert s.get("/api/v2/app/webapiVersion").text == "2.9.3"
        assert s.get("/api/v2/app/version").text.lstrip("v").startswith("4.")
        assert "save_path" in s.get("/api/v2/app/preferences").json()
        assert isinstance(s.get("/api/v2/torrents/categories").json(), dict)
        assert s.post("/api/v2/torrents/createCategory", data={"category": "tv-sonarr"}).status_code == 200
        r = s.post(
            "/api/v2/torrents/add",
            data={
                "urls": m,
                "category": "tv-sonarr",
                "paused": "false",
                "ratioLimit": "2",
                "seedingTimeLimit": "60",
            },
        )
        assert r.text == "Ok."
        poll(
            lambda: s.get("/api/v2/torrents/properties", params={"hash": h(m)}).status_code == 200,
            "properties",
        )
        listed = s.get("/api/v2/torrents/info", params={"category": "tv-sonarr"}).json()
        assert [t["hash"] for t in listed] == [h(m)]
        assert (
            s.post(
                "/api/v2/torrents/setShareLimits",
                data={"hashes": h(m), "ratioLimit": "3", "seedingTimeLimit": "120"},
            ).status_code
            == 200
        )
        assert s.post("/api/v2/torrents/topPrio", data={"hashes": h(m)}).status_code in (200, 409)
        assert (
            s.post("/api/v2/torrents/delete", data={"hashes": h(m), "deleteFiles": "true"}).status_code == 200
        )
        poll(
            lambda: h(m) not in hashes_on(topology.primary) and h(m) not in hashes_on(topology.secondary),
            "gone",
        )
    assert gw.stop() == 0


def test_serve_exits_zero_on_sigterm_and_refuses_a_taken_port(topology: Topology) -> None:
    """A clean stop is exit 0; a port already in use is one line and exit 5."""
    first = Serve(topology.env())
    env = {**topology.env(), "QBFAILOVER_GATEWAY_USERNAME": GW_USER, "QBFAILOVER_GATEWAY_PASSWORD": GW_PASS}
    second = subprocess.run(
        [sys.executable, "-m", "qbfailover", "serve", "--listen", f"127.0.0.1:{first.port}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 5
    assert "cannot listen on" in second.stderr and "Traceback" not in second.stderr
    metrics = httpx.get(first.url + "/metrics", timeout=10, trust_env=False).text
    assert 'qbfailover_instance_up{instance="primary"}' in metrics
    assert first.stop() == 0
    assert os.environ.get("QBFAILOVER_GATEWAY_PASSWORD") != GW_PASS


# --- the status page behind the login, and serve --failback ------------------------------------


def test_status_page_needs_the_gateways_login(serve: Callable[..., Serve]) -> None:
    """No credentials: 401 asking for Basic; the gateway's pair: the page, its headers, a session
    cookie that serves the refresh feed; a wrong pair: 401 again."""
    s = serve()
    page = s.url + "/qbfailover/"
    with httpx.Client(timeout=10, trust_env=False) as c:
        r = c.get(page)
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
        wrong = base64.b64encode(f"{GW_USER}:nope".encode()).decode()
        assert c.get(page, headers={"Authorization": f"Basic {wrong}"}).status_code == 401
        good = base64.b64encode(f"{GW_USER}:{GW_PASS}".encode()).decode()
        r = c.get(page, headers={"Authorization": f"Basic {good}"})
        assert r.status_code == 200 and "qbfailover" in r.text
        assert r.headers["x-frame-options"] == "DENY"
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert GW_PASS not in r.text
        feed = poll(lambda: c.get(s.url + "/qbfailover/status/page.json").json().get("status"), "a status")
        assert feed["state"] == "BOTH_HEALTHY"
        assert c.get(s.url + "/qbfailover/static/page.css").status_code == 200
        assert c.post(page).status_code == 405
    with httpx.Client(timeout=10, trust_env=False) as c:  # a foreign Host, as qBittorrent refuses it
        assert c.get(page, headers={"Host": "evil.example"}).status_code == 401


def test_serve_failback_moves_items_back(
    topology: Topology,
    serve: Callable[..., Serve],
    faults: None,
) -> None:
    """``serve --failback``: what an outage put on the secondary moves back once the primary settles."""
    links = [magnet(i, "gw-fb") for i in range(4)]
    from test_failback import deliver_during_outage

    asyncio.run(deliver_during_outage(topology, links))
    s = serve("--failback", "--failback-settle", "0.5", "--failback-grace", "0.2")
    poll(lambda: any(e.get("event") == "failback" for e in s.events()), "a failback run")
    assert {h(m) for m in links} <= set(hashes_on(topology.primary))
    assert not {h(m) for m in links} & set(hashes_on(topology.secondary))
    assert s.stop() == 0
    with Ledger(topology.db) as ledger:
        assert sum(m.state == "moved" for m in ledger.moves()) == len(links)
