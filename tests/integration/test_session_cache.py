"""The CLI's session cache against real qBittorrent: reused without a login, replaced when stale, never shown.

Each ``AsyncResilientClient(..., session_cache=True)`` below stands for one cold ``qbfailover``
process (a new client, a new cookie jar, only the ledger and its ``.sessions`` file shared).
Logins are counted at the transport, where every request passes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from harness import QbtInstance, magnet
from qbfailover.config import Secret, Settings
from qbfailover.core.outcomes import AddResult
from qbfailover.engine.client import AsyncResilientClient
from qbfailover.errors import QbFailoverError

pytestmark = [pytest.mark.integration, pytest.mark.compat]


class Counting(httpx.AsyncBaseTransport):
    """A real transport that counts the requests per API path."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path.removeprefix("/api/v2/"))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    @property
    def logins(self) -> int:
        return self.paths.count("auth/login")


def one_process(settings: Settings, items: list[str]) -> tuple[AddResult, Counting, list[str], list[str]]:
    """One cold command's worth: add ``items``; the transport, the session ids held and the reprs."""
    transport = Counting()
    sids: list[str] = []
    reprs: list[str] = []

    async def go() -> AddResult:
        name = settings.instances[0].name
        async with AsyncResilientClient(settings, transports={name: transport}, session_cache=True) as client:
            result = await client.add_torrents(items)
            for ui in client._webuis.values():
                sids.extend(ui.session_ids())
                reprs.extend([repr(ui), repr(ui._stored), repr(ui._stored.load() if ui._stored else None)])
            reprs.extend([repr(client), repr(result)])
            return result

    return asyncio.run(go()), transport, sids, reprs


@pytest.fixture
def instance(qbt_factory: Callable[..., QbtInstance]) -> QbtInstance:
    return qbt_factory("sc")


@pytest.fixture
def settings(instance: QbtInstance, tmp_path: Path) -> Settings:
    return Settings(instances=(instance.config(name="secondary"),), db_path=tmp_path / "ledger.sqlite3")


def cache_file(settings: Settings) -> Path:
    assert isinstance(settings.db_path, Path)
    return settings.db_path.with_name(settings.db_path.name + ".sessions")


def on_instance(instance: QbtInstance, infohash: str) -> int:
    with httpx.Client(base_url=instance.url + "api/v2/", trust_env=False) as http:
        http.post("auth/login", data={"username": instance.username, "password": instance.password})
        return len(http.get("torrents/info", params={"hashes": infohash}).json())


def test_a_second_process_reuses_the_session_without_logging_in(settings: Settings) -> None:
    """The first command logs in once and keeps the session (mode 0600); the next one never logs in."""
    first, t1, _, _ = one_process(settings, [magnet(1, "sc")])
    assert first.successful and t1.logins == 1
    path = cache_file(settings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second, t2, _, _ = one_process(settings, [magnet(2, "sc")])
    assert second.successful, second.items
    assert t2.logins == 0, t2.paths
    assert t2.paths[0] == "app/version"  # the probe itself proves the kept session valid


def test_a_forged_session_costs_one_login_and_the_add_lands_once(
    settings: Settings, instance: QbtInstance
) -> None:
    """A stale or forged cookie: one 403, one fresh login, the item added exactly once, a new session kept."""
    one_process(settings, [magnet(3, "sc")])
    path = cache_file(settings)
    doc = json.loads(path.read_text())
    for entry in doc.values():
        for cookie in entry["cookies"]:
            cookie["value"] = "forged" + cookie["value"][6:]
    path.write_text(json.dumps(doc))
    os.chmod(path, 0o600)
    item = magnet(4, "sc")
    result, transport, sids, _ = one_process(settings, [item])
    assert result.successful, result.items
    assert transport.logins == 1, transport.paths
    assert transport.paths.count("torrents/add") == 1
    infohash = result.items[0].infohash
    assert infohash and on_instance(instance, infohash) == 1
    kept = [c["value"] for e in json.loads(path.read_text()).values() for c in e["cookies"]]
    assert kept == sids and not any(v.startswith("forged") for v in kept)
    # and the replacement is reused by the next process
    _, again, _, _ = one_process(settings, [magnet(5, "sc")])
    assert again.logins == 0


def test_changed_credentials_never_reuse_a_session(settings: Settings) -> None:
    """A wrong password or username gets its own (failed) login, never the session kept for the right one.

    (That a changed URL or instance name changes the key too is tests/unit/qbt/test_session_file.py.)
    """
    one_process(settings, [magnet(6, "sc")])
    cfg = settings.instances[0]
    for changed in (
        dataclasses.replace(cfg, password=Secret("not-it")),
        dataclasses.replace(cfg, username="x"),
    ):
        result, transport, _, _ = one_process(
            dataclasses.replace(settings, instances=(changed,)), [magnet(7, "sc")]
        )
        assert not result.successful
        assert transport.logins == 1 and "torrents/add" not in transport.paths, transport.paths
    # the right credentials still find their own session
    _, transport, _, _ = one_process(settings, [magnet(8, "sc")])
    assert transport.logins == 0


def test_the_kept_session_never_leaks(
    settings: Settings, instance: QbtInstance, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Not in DEBUG logs, reprs, --json output, the ledger or error messages: only in the 0600 file."""
    caplog.set_level(logging.DEBUG)
    _, _, sids1, reprs1 = one_process(settings, [magnet(9, "sc")])
    _, _, sids2, reprs2 = one_process(settings, [magnet(10, "sc")])  # the reused session
    assert sids1 and sids1 == sids2
    cfg = settings.instances[0]
    wrong = dataclasses.replace(settings, instances=(dataclasses.replace(cfg, password=Secret("not-it")),))
    failed, _, _, reprs3 = one_process(wrong, [magnet(11, "sc")])
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("QBITTORRENT_", "QBFAILOVER_"))},
        "QBITTORRENT_URL": instance.url,
        "QBITTORRENT_USERNAME": instance.username,
        "QBITTORRENT_PASSWORD": instance.password,
        "QBFAILOVER_DB": str(settings.db_path),
    }
    cli = subprocess.run(
        [sys.executable, "-m", "qbfailover", "add", magnet(12, "sc"), "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    errors: list[str] = []
    for item in failed.items:
        errors += [item.error, item.reason, repr(item)]
    try:
        raise QbFailoverError(str(failed.items[0].error))
    except QbFailoverError as exc:
        errors.append(repr(exc))
    texts = [caplog.text, cli.stdout, cli.stderr, *reprs1, *reprs2, *reprs3, *errors]
    for sid in sids1:
        for text in texts:
            assert sid not in text, text[:300]
        for path in settings.db_path.parent.glob("ledger.sqlite3*"):  # type: ignore[union-attr]
            if path != cache_file(settings):
                assert sid.encode() not in path.read_bytes(), f"{path} holds the session id"
        assert sid in cache_file(settings).read_text()
