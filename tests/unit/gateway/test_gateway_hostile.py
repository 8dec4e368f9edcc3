"""Hostile input against the gateway app, and what it sends upstream (captured at the transport).

The instance is an httpx MockTransport here only to *see* the requests the gateway makes; the real
behaviour against qbittorrent-nox is covered by tests/integration/test_gateway*.py.
"""

from __future__ import annotations

import base64
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

with warnings.catch_warnings():  # starlette 1.x nudges towards httpx2; httpx is what we ship
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from qbfailover.config import InstanceConfig, Secret, Settings
from qbfailover.engine.client import AsyncResilientClient
from qbfailover.gateway.routes import MAX_BODY, build_app
from qbfailover.gateway.security import Credentials
from qbfailover.gateway.service import Gateway

INSTANCE_SID = "instance-secret-sid-1234"
INSTANCE_PW = "instance-pw-5678"


class Upstream:
    """A stand-in WebUI that records every request the gateway sends it."""

    def __init__(self) -> None:
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        path = request.url.path.removeprefix("/api/v2/")
        if path == "auth/login":
            return httpx.Response(
                200, text="Ok.", headers={"set-cookie": f"SID={INSTANCE_SID}; HttpOnly; path=/"}
            )
        if path == "app/version":
            return httpx.Response(200, text="v4.5.2")
        if path in ("torrents/info", "torrents/categories", "torrents/tags"):
            return httpx.Response(200, json=[] if path != "torrents/categories" else {})
        if path == "app/buildInfo":
            return httpx.Response(200, json={"qt": "5"}, headers={"set-cookie": "SID=leak; path=/"})
        return httpx.Response(200, text="Ok.")


@pytest.fixture
def upstream() -> Upstream:
    return Upstream()


@pytest.fixture
def web(tmp_path: Path, upstream: Upstream) -> Iterator[TestClient]:
    settings = Settings(
        instances=(InstanceConfig("primary", "http://127.0.0.1:1/", "u", Secret(INSTANCE_PW)),),
        db_path=tmp_path / "ledger.sqlite3",
        deadline=0.5,
        confirm_timeout=0.2,
    )
    client = AsyncResilientClient(settings, transports={"primary": httpx.MockTransport(upstream)})
    gw = Gateway(client, Credentials("gw", "gw-pw"), "127.0.0.1", 80, ("testserver",))
    with TestClient(build_app(gw), base_url="http://testserver") as tc:
        yield tc
    client.ledger.close()


def login(web: TestClient) -> None:
    r = web.post("/api/v2/auth/login", data={"username": "gw", "password": "gw-pw"})
    assert (r.status_code, r.text) == (200, "Ok.")


def test_client_headers_never_reach_the_instance_and_its_session_never_reaches_the_client(
    web: TestClient, upstream: Upstream
) -> None:
    login(web)
    gw_sid = web.cookies["SID"]
    hostile = {
        "Origin": "http://testserver",
        "Referer": "http://testserver/page",
        "Authorization": "Basic " + base64.b64encode(b"gw:gw-pw").decode(),
        "Cookie": f"SID={gw_sid}; tracking=1",
    }
    r = web.get("/api/v2/app/buildInfo", headers=hostile)
    assert r.status_code == 200 and r.json() == {"qt": "5"}
    assert "set-cookie" not in r.headers, "an instance's cookie must not reach the client"
    r2 = web.get("/api/v2/torrents/info", headers=hostile)
    assert r2.status_code == 200
    for resp in (r, r2):
        assert INSTANCE_SID not in resp.text and INSTANCE_SID not in str(resp.headers)
    assert upstream.seen
    for req in upstream.seen:
        for name in ("origin", "referer", "authorization"):
            assert name not in req.headers, f"{name} forwarded to the instance"
        assert gw_sid not in req.headers.get("cookie", "") and "tracking" not in req.headers.get("cookie", "")
        if req.url.path != "/api/v2/auth/login":
            assert INSTANCE_PW.encode() not in req.content


def test_no_session_wrong_host_foreign_origin(web: TestClient) -> None:
    assert web.get("/api/v2/app/version").status_code == 403
    login(web)
    assert web.get("/api/v2/app/version").text == "v4.6.7"
    assert web.get("/api/v2/app/version", headers={"Host": "evil.example"}).status_code == 401
    assert web.get("/api/v2/app/version", headers={"Origin": "http://evil.example"}).status_code == 401
    assert web.get("/api/v2/app/version", headers={"Referer": "http://evil.example/"}).status_code == 401
    web.cookies.clear()
    web.cookies.set("SID", "forged")
    assert web.get("/api/v2/app/version").status_code == 403


def test_basic_auth_opens_a_session_as_qbittorrent_does(web: TestClient) -> None:
    good = "Basic " + base64.b64encode(b"gw:gw-pw").decode()
    r = web.get("/api/v2/app/webapiVersion", headers={"Authorization": good})
    assert r.text == "2.9.3" and "SameSite=Strict" in r.headers["set-cookie"]
    bad = "Basic " + base64.b64encode(b"gw:nope").decode()
    web.cookies.clear()
    assert web.get("/api/v2/app/version", headers={"Authorization": bad}).status_code == 403
    assert web.get("/api/v2/app/version", headers={"Authorization": "Basic !!!"}).status_code == 403


def test_wrong_password_until_banned(web: TestClient) -> None:
    for _ in range(5):
        assert web.post("/api/v2/auth/login", data={"username": "gw", "password": "x"}).text == "Fails."
    r = web.post("/api/v2/auth/login", data={"username": "gw", "password": "gw-pw"})
    assert r.status_code == 403 and "banned" in r.text
    assert "set-cookie" not in r.headers


def test_oversized_and_malformed_bodies(web: TestClient) -> None:
    login(web)
    big = web.post(
        "/api/v2/torrents/add",
        content=b"x" * (MAX_BODY + 1),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert big.status_code == 413
    broken = web.post(
        "/api/v2/torrents/add",
        content=b"--b\r\nContent-Disposition: form-data\r\n\r\nx",
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert broken.status_code in (200, 400)
    assert "Traceback" not in broken.text
    junk = web.post(
        "/api/v2/torrents/add",
        content=b"\xff\xfe\x00garbage",
        headers={"Content-Type": "multipart/form-data"},
    )
    assert junk.status_code == 400


def test_header_injection_and_bad_hashes(web: TestClient) -> None:
    login(web)
    r = web.post(
        "/api/v2/torrents/add",
        data={
            "urls": "magnet:?xt=urn:btih:" + "a" * 40 + "\r\nX-Evil: 1",
            "category": "tv\r\nSet-Cookie: evil=1",
        },
    )
    assert r.status_code == 200
    assert "x-evil" not in r.headers and "evil=1" not in str(r.headers)
    assert web.get("/api/v2/torrents/properties", params={"hash": "../../etc/passwd"}).status_code == 404
    assert web.get("/api/v2/torrents/properties", params={"hash": ""}).status_code == 404
    assert web.post("/api/v2/torrents/pause", data={"hashes": "zz|<script>|" + "b" * 40}).status_code == 200
    assert web.post("/api/v2/torrents/rename", data={"hash": "nothex", "name": "x"}).status_code == 404
    assert web.get("/api/v2/../../etc/passwd").status_code == 404
