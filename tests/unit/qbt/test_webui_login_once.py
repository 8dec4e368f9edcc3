"""Calls in flight together that all meet an expired session cost one login between them.

Two delivery lanes share one session: if both re-logged in, a wrong password would count twice
towards qBittorrent's ban (five failures) and the login guard could not stop the second attempt.
"""

from __future__ import annotations

import asyncio

import httpx

from qbfailover.config import InstanceConfig, Secret
from qbfailover.errors import AuthFailed
from qbfailover.qbt.webui import WebUI


def run(password_ok: bool) -> tuple[int, list[object]]:
    logins: list[str] = []
    waiting = 0
    both = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal waiting
        if request.url.path.endswith("auth/login"):
            logins.append(request.url.path)
            if password_ok:
                return httpx.Response(200, text="Ok.", headers={"set-cookie": "SID=renewed; path=/"})
            return httpx.Response(200, text="Fails.")
        if "SID=renewed" in request.headers.get("cookie", ""):
            return httpx.Response(200, json=[])
        waiting += 1
        if waiting == 2:
            both.set()
        await both.wait()  # both requests are out before either sees its 403
        return httpx.Response(403, text="Forbidden")

    async def go() -> list[object]:
        cfg = InstanceConfig("p", "http://127.0.0.1:1/", "u", Secret("pw"))
        ui = WebUI(cfg, transport=httpx.MockTransport(handler))
        failed: list[str] = []
        ui.login_gate = lambda: "one wrong password already: not re-tried" if failed else None
        ui.on_login = lambda outcome: failed.append(outcome) if outcome != "ok" else None
        ui.logged_in = True  # a session that has just expired on the instance
        try:
            return list(
                await asyncio.gather(ui.present(["a" * 40]), ui.present(["b" * 40]), return_exceptions=True)
            )
        finally:
            await ui.aclose()

    results = asyncio.run(go())
    return len(logins), results


def test_an_expired_session_is_renewed_once_for_both_calls() -> None:
    logins, results = run(password_ok=True)
    assert logins == 1
    assert results == [set(), set()]


def test_a_changed_password_costs_one_failed_login_not_two() -> None:
    logins, results = run(password_ok=False)
    assert logins == 1
    assert all(isinstance(r, AuthFailed) for r in results)
