"""Credentials under time: a wrong password for hours never earns a ban; a ban is waited out.

qBittorrent bans the client's IP (every tool on the host) after ``MaxAuthenticationFailCount`` failed
logins. Hours of watch cycles are simulated with an injected clock (30 s steps) against a real
instance; qBittorrent's own log ("WebAPI login failure") counts what actually reached it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from chaoslib import cli, env, figure, write_config

from conftest import Topology
from harness import QbtInstance
from qbfailover.config import Secret, Settings
from qbfailover.core.health import Status
from qbfailover.engine.client import AsyncResilientClient
from qbfailover.ops.provision.conf import conf_path

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

STEP = 30.0


def login_failures(inst: QbtInstance) -> int:
    """Failed logins as qBittorrent itself logged them (wrong credentials and banned attempts)."""
    return sum(
        p.read_text(errors="replace").count("WebAPI login failure") for p in inst.profile.rglob("*.log")
    )


def right_password_works(inst: QbtInstance) -> bool:
    with httpx.Client(base_url=inst.url + "api/v2/", trust_env=False) as http:
        r = http.post("auth/login", data={"username": inst.username, "password": inst.password})
        return r.status_code == 200 and r.text == "Ok."


class Clock:
    """Simulated time for the client; only the client's guards read it."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class CountingTransport(httpx.AsyncHTTPTransport):
    """The real network, counting the login requests that actually went out."""

    def __init__(self) -> None:
        super().__init__()
        self.logins = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/auth/login"):
            self.logins += 1
        return await super().handle_async_request(request)


def test_wrong_password_for_hours_never_bans(
    topology: Topology, tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    """6 simulated hours of 30 s watch cycles with a wrong password: < 5 failed logins, no ban."""
    primary = topology.primary
    settings = topology.settings(
        instances=(
            primary.config(priority=1, requires_vpn=True, password=Secret("not-the-password")),
            topology.secondary.config(priority=2),
        )
    )
    clock = Clock()
    cycles = int(6 * 3600 / STEP)
    statuses: set[Status] = set()

    async def watch() -> None:
        async with AsyncResilientClient(settings, clock=clock) as client:
            for _ in range(cycles):
                report = await client.health_check(respect_breakers=True)
                status = report.instance("primary")
                assert status is not None
                statuses.add(status.status)
                await client.process_queue(health=report)
                clock.now += STEP

    asyncio.run(watch())
    in_process = login_failures(primary)
    assert statuses == {Status.AUTH_FAILED}
    assert 1 <= in_process < primary.ban_count
    assert right_password_works(primary)  # the same host is not banned

    # One-shot processes (cron, hooks) share the budget through the ledger: 20 more runs add nothing.
    wrong = tmp_path / "wrong.toml"
    write_config(wrong, primary, topology.secondary, db=tmp_path / "cli.sqlite3")
    environ = env("not-the-password", wrong)
    codes = {cli(["status"], environ).returncode for _ in range(20)}
    assert codes == {2}  # both instances refuse the wrong password: critical
    by_cli = login_failures(primary) - in_process
    assert by_cli < primary.ban_count
    assert right_password_works(primary)
    figure(
        pytestconfig,
        "credentials",
        f"wrong password, {cycles} watch cycles = {cycles * STEP / 3600:g} simulated hours: "
        f"{in_process} failed logins reached qBittorrent (it bans after {primary.ban_count}); 20 "
        f"one-shot CLI runs: {by_cli} more; the right password still logs in",
    )


def test_banned_host_is_waited_out_not_hammered(
    qbt_factory: Callable[..., QbtInstance], tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    """A banned host reports BANNED and sends no login until the ban has run out, then logs in once."""
    ban_seconds = 3
    inst = qbt_factory("banme", start=False, ban_count=2)
    inst.write_profile()
    conf = conf_path(inst.profile)
    conf.write_text(conf.read_text().replace("WebUI\\BanDuration=3600", f"WebUI\\BanDuration={ban_seconds}"))
    inst.start()
    with httpx.Client(base_url=inst.url + "api/v2/", trust_env=False) as http:
        for _ in range(inst.ban_count):
            assert http.post("auth/login", data={"username": inst.username, "password": "x"}).text == "Fails."
    banned_at = time.monotonic()
    before = login_failures(inst)
    transport = CountingTransport()
    clock = Clock()
    settings = Settings(instances=(inst.config(),), db_path=tmp_path / "ledger.sqlite3")
    seen: list[Status] = []

    async def run() -> None:
        async with AsyncResilientClient(settings, clock=clock, transports={inst.name: transport}) as client:
            # An hour of 30 s cycles: qBittorrent's ban (we assume its default hour) is honoured.
            for _ in range(int(3600 / STEP) - 1):
                seen.append((await client.health_check()).instances[0].status)
                clock.now += STEP
            assert transport.logins == 1, "logins were sent while the host was banned"
            # Real time catches up with the (short) real ban, simulated time passes the hour.
            while time.monotonic() < banned_at + ban_seconds + 0.5:
                await asyncio.sleep(0.1)  # waiting out the ban itself is the behaviour under test
            clock.now += 2 * STEP
            seen.append((await client.health_check()).instances[0].status)

    asyncio.run(run())
    assert set(seen[:-1]) == {Status.BANNED}, sorted(set(seen))
    assert seen[-1] is Status.OK
    assert transport.logins == 2
    assert login_failures(inst) - before == 1  # the one login that discovered the ban
    figure(
        pytestconfig,
        "credentials",
        f"banned host: {len(seen) - 1} cycles over a simulated hour reported BANNED with "
        f"{transport.logins - 1} login sent; after the ban: 1 login, status OK",
    )
