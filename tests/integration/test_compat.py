"""qBittorrent 4.5, 5.1 and 5.3 on real servers: every protocol difference the client depends on.

Tests marked ``compat`` run once per selected version (``--qbt-versions``/``QBF_QBT_VERSIONS``);
the mixed-version failover tests need 4.5 and 5.3 together. What differs is summarised in
the README; the recorded replies are unit-tested in tests/unit/test_webui_replies.py.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from conftest import (
    PRIMARY_HOST,
    SECONDARY_HOST,
    VPN_GATEWAY,
    WEBUI_PORT,
    Topology,
    qbt_runtime_of,
    qbt_versions,
)
from harness import QbtInstance, Runtime, bencode, blackholed, magnet
from qbfailover import AsyncResilientClient, State, Status
from qbfailover.config import Secret, load_settings
from qbfailover.core.items import Item, parse_magnet, parse_torrent
from qbfailover.errors import AuthFailed, Banned, Rejected
from qbfailover.ops.provision.conf import conf_path
from qbfailover.qbt.webui import AddOptions, WebUI

pytestmark = pytest.mark.integration

T = TypeVar("T")
Factory = Callable[..., QbtInstance]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def new_api(runtime: Runtime) -> bool:
    """qBittorrent 5.2 changed login, cookie and torrents/add replies (WebAPI 2.15)."""
    return runtime.version >= (5, 2)


@contextlib.asynccontextmanager
async def raw(inst: QbtInstance, *, login: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    """A plain httpx session of our own, to see exactly what the server answers."""
    async with httpx.AsyncClient(base_url=inst.url + "api/v2/", trust_env=False) as http:
        if login:
            r = await http.post("auth/login", data={"username": inst.username, "password": inst.password})
            assert r.status_code in (200, 204), r.text
        yield http


@contextlib.asynccontextmanager
async def webui(inst: QbtInstance, **overrides: Any) -> AsyncIterator[WebUI]:
    transport = overrides.pop("transport", None)
    ui = WebUI(inst.config(**overrides), transport=transport)
    try:
        yield ui
    finally:
        await ui.aclose()


async def poll(check: Callable[[], Awaitable[T]], ok: Callable[[T], bool], timeout: float = 10.0) -> T:
    """Re-run ``check`` until ``ok`` holds or the deadline passes; returns the last value."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        value = await check()
        if ok(value) or time.monotonic() >= deadline:
            return value
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.2)


async def info(http: httpx.AsyncClient, hashes: list[str] | None = None) -> list[dict[str, Any]]:
    params = {"hashes": "|".join(hashes)} if hashes is not None else None
    r = await http.get("torrents/info", params=params)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert isinstance(doc, list)
    return doc


# --- .torrent files: a minimal bencoder and v1 / v2-only / hybrid single-file torrents ------------


def make_torrent(kind: str, name: str) -> tuple[bytes, str, str]:
    """(torrent bytes, SHA-1 of info, SHA-256 of info) for a one-block file, v1, v2 or hybrid.

    One file smaller than a 16 KiB block keeps BEP 52 simple: its ``pieces root`` is the SHA-256 of
    the data and no ``piece layers`` entry is needed.
    """
    data = f"qbfailover compat {kind} {name}\n".encode()
    info: dict[str, object] = {"name": name, "piece length": 16384}
    if kind in ("v1", "hybrid"):
        info.update({"length": len(data), "pieces": hashlib.sha1(data).digest()})
    if kind in ("v2", "hybrid"):
        root = hashlib.sha256(data).digest()
        info.update(
            {"meta version": 2, "file tree": {name: {"": {"length": len(data), "pieces root": root}}}}
        )
    raw_info = bencode(info)
    meta: dict[str, object] = {"info": info}
    if kind != "v1":
        meta["piece layers"] = {}
    return bencode(meta), hashlib.sha1(raw_info).hexdigest(), hashlib.sha256(raw_info).hexdigest()


class WrongHost(httpx.AsyncBaseTransport):
    """Sends a Host header qBittorrent does not serve (what a port remap or a proxy does)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.headers["Host"] = "qbf-wrong-host.invalid:1"
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


# --- per version ------------------------------------------------------------------------------


@pytest.mark.compat
def test_login_reply_cookie_and_version(qbt_factory: Factory, qbt_runtime: Runtime) -> None:
    """Login is 200 'Ok.' + SID up to 5.1 and 204 + QBT_SID_<port> from 5.2; the client logs in on both."""
    inst = qbt_factory("c")

    async def go() -> None:
        async with raw(inst, login=False) as http:
            r = await http.post("auth/login", data={"username": inst.username, "password": inst.password})
            if new_api(qbt_runtime):
                assert (r.status_code, r.text) == (204, "")
                assert list(http.cookies.keys()) == [f"QBT_SID_{inst.port}"]
            else:
                assert (r.status_code, r.text) == (200, "Ok.")
                assert list(http.cookies.keys()) == ["SID"]
            assert (await http.get("app/version")).status_code == 200
        async with webui(inst) as ui:
            assert (await ui.fetch_version()).startswith(f"v{qbt_runtime.label}.")
            api = tuple(int(p) for p in (await ui.fetch_api_version()).split("."))
            assert (api >= (2, 15)) == new_api(qbt_runtime)

    run(go())


@pytest.mark.compat
def test_wrong_password_is_auth_failed_and_host_check_is_rejected(
    qbt_factory: Factory, qbt_runtime: Runtime
) -> None:
    """Wrong password → AuthFailed on every version (5.2+ says 401); a Host-check 401 → Rejected."""
    inst = qbt_factory("c")

    async def go() -> None:
        async with raw(inst, login=False) as http:
            r = await http.post("auth/login", data={"username": inst.username, "password": "wrong"})
            expected = (401, "Unauthorized") if new_api(qbt_runtime) else (200, "Fails.")
            assert (r.status_code, r.text) == expected
        async with webui(inst, password=Secret("wrong")) as ui:
            with pytest.raises(AuthFailed, match="wrong username or password"):
                await ui.login()
        async with webui(inst, transport=WrongHost()) as ui:
            with pytest.raises(Rejected) as caught:
                await ui.login()
            assert caught.value.status == 401 and "Host-header" in str(caught.value)
        async with webui(inst) as ui:  # two failures (the Host check counts none): still not banned
            assert (await ui.fetch_version()).startswith("v")

    run(go())


@pytest.mark.compat
def test_ban_is_banned_and_live_sessions_survive(qbt_factory: Factory, qbt_runtime: Runtime) -> None:
    """After MaxAuthenticationFailCount failures every login is 403 'banned'; open sessions keep working."""
    inst = qbt_factory("c", ban_count=2)

    async def go() -> None:
        async with webui(inst) as before:
            await before.fetch_version()
            async with raw(inst, login=False) as http:
                for _ in range(2):
                    await http.post("auth/login", data={"username": inst.username, "password": "wrong"})
                r = await http.post("auth/login", data={"username": inst.username, "password": inst.password})
                assert r.status_code == 403 and "banned" in r.text
            async with webui(inst) as fresh:
                with pytest.raises(Banned):
                    await fresh.login()
            assert (await before.fetch_version()).startswith(f"v{qbt_runtime.label}.")

    run(go())


@pytest.mark.compat
def test_add_replies_duplicates_and_bad_input(qbt_factory: Factory, qbt_runtime: Runtime) -> None:
    """torrents/add: 'Ok.'/'Fails.' up to 5.1, JSON counts and 409 from 5.2; only infohashes are proof."""
    inst = qbt_factory("c")
    m1, m2, m3 = (parse_magnet(magnet(i, "add")) for i in range(3))
    bad_hash = Item(kind="magnet", source="magnet:?xt=urn:btih:" + "z" * 40, name="z")
    bad_file = Item(kind="torrent", source="bad.torrent", name="bad", v1="0" * 40, data=b"not bencoded")
    new = new_api(qbt_runtime)

    async def go() -> None:
        async with webui(inst) as ui:
            two = await ui.add([m1, m2], AddOptions())
            # qBittorrent adds a magnet asynchronously: it refuses a duplicate only once the first
            # copy is in its session, so the duplicates below wait until it is visible (5.3 under
            # load answered an immediate duplicate with 200 and success_count 1).
            first = [h for m in (m1, m2) for h in m.hashes]
            assert len(await poll(lambda: ui.present(first), lambda found: len(found) == 2)) == 2
            dup = await ui.add([m1], AddOptions())
            mixed = await ui.add([m1, m3], AddOptions())
            zzz = await ui.add([bad_hash], AddOptions())
            broken = await ui.add([bad_file], AddOptions())
            wanted = [h for m in (m1, m2, m3) for h in m.hashes]  # visible soon, not at once
            found = await poll(lambda: ui.present(wanted), lambda found: len(found) == 3)
        assert two.accepted and mixed.accepted and not dup.accepted and not broken.accepted
        assert broken.status == 415
        if new:
            assert two.counts == {"success_count": 2, "failure_count": 0, "pending_count": 0}
            assert mixed.counts == {"success_count": 1, "failure_count": 1, "pending_count": 0}
            assert (dup.status, dup.text) == (409, "Conflict")
            assert (zzz.status, zzz.accepted) == (409, False)
        else:
            assert (two.status, two.text, mixed.text) == (200, "Ok.", "Ok.")
            assert (dup.status, dup.text) == (200, "Fails.")
            assert (zzz.text, zzz.accepted) == ("Ok.", True)  # says Ok. and adds nothing
        assert found == {m1.v1, m2.v1, m3.v1}
        async with raw(inst) as http:
            assert len(await info(http)) == 3

    run(go())


@pytest.mark.compat
def test_paused_option_stops_the_torrent(qbt_factory: Factory, qbt_runtime: Runtime) -> None:
    """paused=True stops the torrent: 4.5 reads only 'paused' (pausedDL), 5.x only 'stopped' (stoppedDL)."""
    inst = qbt_factory("c")
    stopped_state = "stoppedDL" if qbt_runtime.version >= (5, 0) else "pausedDL"
    via_client, only_paused, only_stopped = (magnet(i, "pause")[20:60] for i in range(3))

    async def go() -> None:
        async with webui(inst) as ui:
            await ui.add([parse_magnet(magnet(0, "pause"))], AddOptions(paused=True))
        async with raw(inst) as http:
            await http.post("torrents/add", data={"urls": magnet(1, "pause"), "paused": "true"})
            await http.post("torrents/add", data={"urls": magnet(2, "pause"), "stopped": "true"})

            async def states() -> dict[str, str]:
                return {t["hash"]: t["state"] for t in await info(http)}

            got = await poll(states, lambda s: s == expected)
        assert got == expected

    new_key = qbt_runtime.version >= (5, 0)  # each version reads only its own key; "metaDL" = running
    expected = {
        via_client: stopped_state,
        only_paused: "metaDL" if new_key else "pausedDL",
        only_stopped: "stoppedDL" if new_key else "metaDL",
    }

    run(go())


@pytest.mark.compat
def test_v1_v2_and_hybrid_torrents_confirmed(qbt_factory: Factory, qbt_runtime: Runtime) -> None:
    """v2 and hybrid .torrent files: 'hash' is the v2 hash cut to 40; the client still confirms all three."""
    inst = qbt_factory("c")
    made = {kind: make_torrent(kind, f"{kind}.bin") for kind in ("v1", "v2", "hybrid")}
    items = {kind: parse_torrent(data, f"{kind}.torrent") for kind, (data, _, _) in made.items()}
    for kind, (_, v1, v2) in made.items():
        assert items[kind].v1 == (v1 if kind != "v2" else None)
        assert items[kind].v2 == (v2 if kind != "v1" else None)
    wanted = [h for item in items.values() for h in item.hashes]

    async def go() -> None:
        async with webui(inst) as ui:
            reply = await ui.add(list(items.values()), AddOptions())
            assert reply.accepted
            present = await poll(
                lambda: ui.present(wanted), lambda p: all(i.hashes & p for i in items.values())
            )
            assert all(i.hashes & present for i in items.values())
            again = await ui.add(list(items.values()), AddOptions())
            assert not again.accepted and again.status == (409 if new_api(qbt_runtime) else 200)
        async with raw(inst) as http:
            rows = {t["name"]: (t["hash"], t["infohash_v1"], t["infohash_v2"]) for t in await info(http)}
            hybrid_v1 = await info(http, [made["hybrid"][1]])
        _, v1, _ = made["v1"]
        _, _, v2 = made["v2"]
        _, hv1, hv2 = made["hybrid"]
        assert rows == {
            "v1.bin": (v1, v1, ""),
            "v2.bin": (v2[:40], "", v2),
            "hybrid.bin": (hv2[:40], hv1, hv2),
        }
        assert hybrid_v1 == []  # the hashes= filter matches only 'hash': present() asks for every hash

    run(go())


@pytest.mark.compat
def test_info_filter_takes_any_case_and_1000_hashes(qbt_factory: Factory, qbt_runtime: Runtime) -> None:
    """torrents/info hashes=: hex in either case; 1,000 of them in one POSTed form (present's one
    request per batch); no base32."""
    inst = qbt_factory("c")
    magnets = [magnet(i, "info") for i in range(1000)]
    hashes = [m[20:60] for m in magnets]

    async def go() -> None:
        async with raw(inst) as http:
            r = await http.post("torrents/add", data={"urls": "\n".join(magnets)})
            assert r.status_code == 200
            rows = await poll(lambda: info(http, hashes), lambda rows: len(rows) == 1000)
            assert len(rows) == 1000
            assert len(await info(http, [h.upper() for h in hashes[:50]])) == 50
            posted = await http.post("torrents/info", data={"hashes": "|".join(hashes)})
            assert posted.status_code == 200 and len(posted.json()) == 1000
            b32 = base64.b32encode(bytes.fromhex(hashes[0])).decode()
            assert await info(http, [b32]) == []
        async with webui(inst) as ui:
            assert await ui.present(hashes) == set(hashes)

    run(go())


CONF_KEY = "qbt_" + "conf" * 7  # qBittorrent ignores a key that is not "qbt_" + 28 characters


async def key_status(toml: Path, key: str) -> tuple[Status, str]:
    """The health of instance "c" for a client configured with ``api_key_env`` = ``key``."""
    async with AsyncResilientClient(load_settings(toml, env={"QBF_TEST_API_KEY": key})) as client:
        health = (await client.health_check()).instance("c")
    assert health is not None
    return health.status, health.detail


@pytest.mark.compat
def test_api_key_end_to_end(qbt_factory: Factory, qbt_runtime: Runtime, tmp_path: Path) -> None:
    """5.2+: a key (from the conf or app/rotateAPIKey) delivers via TOML api_key_env; older: AUTH_FAILED."""
    inst = qbt_factory("c", ban_count=2, start=False)
    inst.write_profile()
    conf = conf_path(inst.profile)
    conf.write_text(
        conf.read_text().replace("[Preferences]\n", f"[Preferences]\nWebUI\\APIKey={CONF_KEY}\n", 1)
    )
    inst.start()
    toml = tmp_path / "qbfailover.toml"
    toml.write_text(
        f'[settings]\ndb = "{tmp_path / "ledger.sqlite3"}"\n\n'
        f'[[instances]]\nname = "c"\nurl = "{inst.url}"\napi_key_env = "QBF_TEST_API_KEY"\n'
    )

    async def go() -> str | None:
        if not new_api(qbt_runtime):
            status, detail = await key_status(toml, CONF_KEY)
            assert status is Status.AUTH_FAILED and "before 5.2" in detail
            async with raw(inst) as http:
                assert (await http.post("app/rotateAPIKey")).status_code == 404
            return None
        async with AsyncResilientClient(load_settings(toml, env={"QBF_TEST_API_KEY": CONF_KEY})) as client:
            item = magnet(1, "key")
            result = await client.add_torrents([item])
            assert result.successful == [item]
        async with httpx.AsyncClient(base_url=inst.url + "api/v2/", trust_env=False) as bearer:
            headers = {"Authorization": f"Bearer {CONF_KEY}"}
            r = await bearer.post("auth/login", headers=headers, data={"username": inst.username})
            assert r.status_code == 403  # auth/* is closed to keys
            r = await bearer.get("app/version", headers=headers)
            assert r.status_code == 200 and not bearer.cookies  # a key needs no session cookie
        async with raw(inst) as http:
            r = await http.post("app/rotateAPIKey")
            assert r.status_code == 200
            key = r.json()["apiKey"]
        assert isinstance(key, str) and key.startswith("qbt_") and len(key) == 32
        assert (await key_status(toml, key))[0] is Status.OK
        assert (await key_status(toml, CONF_KEY))[0] is Status.AUTH_FAILED  # rotated out
        for _ in range(3):  # more than ban_count: a wrong key is not a failed login
            assert (await key_status(toml, "qbt_" + "w" * 28))[0] is Status.AUTH_FAILED
        return key

    key = run(go())

    async def password_still_logs_in() -> None:
        async with raw(inst):
            pass

    run(password_still_logs_in())
    inst.stop()
    if key is not None:  # 5.3 rewrites the key into its new [WebUI] section
        assert f"APIKey={key}" in conf.read_text().splitlines()


@pytest.mark.compat
def test_rendered_conf_is_what_each_version_runs(qbt_factory: Factory, qbt_runtime: Runtime) -> None:
    """The qBittorrent.conf we render for this version starts, logs in, and each setting is in effect."""
    inst = qbt_factory("c", ban_count=4)  # written by provision.conf.render_qbittorrent_conf(version=...)
    downloads = (
        "/" + str(inst.downloads.relative_to(qbt_runtime.chroot))
        if qbt_runtime.chroot
        else str(inst.downloads)
    )

    async def go() -> dict[str, Any]:
        async with raw(inst) as http:
            r = await http.get("app/preferences")
            assert r.status_code == 200
            prefs = r.json()
            assert isinstance(prefs, dict)
            return prefs

    prefs = run(go())
    expected = {
        "save_path": downloads,
        "temp_path_enabled": True,
        "temp_path": downloads + "/.incomplete",
        "dht": False,
        "pex": False,
        "lsd": False,
        "upnp": False,
        "web_ui_upnp": False,
        "add_trackers_enabled": False,
        "queueing_enabled": False,
        "resolve_peer_countries": False,
        "current_network_interface": "lo",
        "current_interface_address": inst.host,
        "web_ui_address": inst.host,
        "web_ui_port": inst.port,
        "web_ui_username": inst.username,
        "bypass_local_auth": False,
        "bypass_auth_subnet_whitelist_enabled": False,
        "web_ui_csrf_protection_enabled": True,
        "web_ui_host_header_validation_enabled": True,
        "web_ui_clickjacking_protection_enabled": True,
        "web_ui_secure_cookie_enabled": True,
        "web_ui_max_auth_fail_count": 4,
        "web_ui_ban_duration": 3600,
        "web_ui_session_timeout": 3600,
        "web_ui_domain_list": f"localhost;127.0.0.1;{inst.host}",
        "use_https": False,
        "locale": "en",
    }
    assert {k: prefs.get(k) for k in expected} == expected
    assert prefs["listen_port"] > 0
    # 5.3 reports the finished-.torrent export under a new name; the conf key we write is still read.
    export = "torrent_files_finished_backup_dir" if qbt_runtime.version >= (5, 3) else "export_dir_fin"
    assert prefs[export] == downloads + "/.torrents/completed"


# --- mixed versions in one failover topology --------------------------------------------------

MIXES = [("5.3", "4.5"), ("4.5", "5.3")]


@pytest.mark.parametrize(("primary_version", "secondary_version"), MIXES, ids=["p5.3-s4.5", "p4.5-s5.3"])
def test_mixed_versions_failover(
    qbt_factory: Factory,
    tmp_path: Path,
    faults: None,
    request: pytest.FixtureRequest,
    primary_version: str,
    secondary_version: str,
) -> None:
    """Primary and secondary on different generations: routing, 'already there', VPN failover all hold."""
    selected = qbt_versions(request.config)
    if not {primary_version, secondary_version} <= set(selected):
        pytest.skip(f"needs qBittorrent {primary_version} and {secondary_version} (selected: {selected})")
    primary = qbt_factory("primary", PRIMARY_HOST, WEBUI_PORT, runtime=qbt_runtime_of(primary_version))
    secondary = qbt_factory(
        "secondary",
        SECONDARY_HOST,
        WEBUI_PORT,
        runtime=qbt_runtime_of(secondary_version),
        password=primary.password,
    )
    topology = Topology(primary, secondary, tmp_path / "ledger.sqlite3")
    data, _, _ = make_torrent("hybrid", "mixed.bin")
    hybrid = parse_torrent(data, "mixed.torrent")

    async def go() -> None:
        async with AsyncResilientClient(topology.settings()) as client:
            report = await client.health_check()
            assert report.state is State.BOTH_HEALTHY
            versions = [(i.name, (i.version or "").lstrip("v").rsplit(".", 1)[0]) for i in report.instances]
            assert versions == [("primary", primary_version), ("secondary", secondary_version)]
            healthy = [magnet(i, "mixed") for i in range(5)]
            first = await client.add_torrents([*healthy, hybrid], paused=True)
            assert [(r.state, r.instance, r.reason) for r in first.items] == [
                ("delivered", "primary", "added")
            ] * 6
            again = await client.add_torrents([healthy[0], hybrid])
            assert [(r.instance, r.reason) for r in again.items] == [("primary", "already there")] * 2
            with blackholed(VPN_GATEWAY):
                down = [magnet(i, "mixed-vpn") for i in range(5)]
                moved = await client.add_torrents([*down, healthy[1]])
            assert [r.instance for r in moved.items] == ["secondary"] * 6
            assert [r.reason for r in moved.items] == ["added"] * 6  # the secondary had none of them
        async with raw(primary) as p, raw(secondary) as s:
            on_primary = {t["hash"] for t in await info(p)}
            on_secondary = {t["hash"] for t in await info(s)}
        assert on_primary == {m[20:60] for m in healthy} | {hybrid.v2[:40] if hybrid.v2 else ""}
        assert on_secondary == {m[20:60] for m in [*down, healthy[1]]}

    run(go())


def test_every_selected_version_is_runnable(request: pytest.FixtureRequest) -> None:
    """Each selected version has a runtime that really runs it (a missing or moved-on chroot fails here)."""
    for label in qbt_versions(request.config):
        assert qbt_runtime_of(label).label == label


# --- setup-secondary --qbittorrent-version on each real version -------------------------------


def setup_secondary(inst: QbtInstance, runtime: Runtime, *args: str, password: str) -> None:
    """Run the CLI on ``inst``'s profile; paths are made chroot-relative, as the chroot will see them."""
    env = dict(os.environ, QBF_TEST_PW=password)
    cmd = [sys.executable, "-m", "qbfailover", "setup-secondary", "--profile", str(inst.profile)]
    done = subprocess.run(
        [*cmd, *args, "--password-env", "QBF_TEST_PW"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert password not in done.stdout + done.stderr
    if runtime.chroot is not None:
        conf = conf_path(inst.profile)
        conf.write_text(conf.read_text().replace(str(runtime.chroot), ""))


async def login_status(inst: QbtInstance, password: str) -> int:
    async with raw(inst, login=False) as http:
        r = await http.post("auth/login", data={"username": inst.username, "password": password})
        return r.status_code if r.text != "Fails." else 401


@pytest.mark.compat
def test_setup_secondary_conf_starts_and_password_reset_applies(
    qbt_factory: Factory, qbt_runtime: Runtime
) -> None:
    """setup-secondary --qbittorrent-version X.Y starts and logs in; --reset-password applies after a run."""
    inst = qbt_factory("s", start=False, password="first-password")
    version = f"{qbt_runtime.version[0]}.{qbt_runtime.version[1]}"
    setup_secondary(
        inst,
        qbt_runtime,
        *("--webui-port", str(inst.port), "--username", inst.username, "--bind", inst.host),
        *("--qbittorrent-version", version, "--bt-ports", f"{inst.port + 1}-{inst.port + 200}"),
        password="first-password",
    )
    inst.start()
    assert run(login_status(inst, "first-password")) in (200, 204)
    inst.stop()  # qBittorrent has now rewritten (and 5.3 migrated) its conf
    setup_secondary(inst, qbt_runtime, "--reset-password", password="second-password")
    inst.start()
    assert run(login_status(inst, "second-password")) in (200, 204)
    assert run(login_status(inst, "first-password")) == 401
