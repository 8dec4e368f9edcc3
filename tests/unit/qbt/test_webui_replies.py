"""qbt.replies and the WebUI client against replies recorded from real qBittorrent 4.5.2, 5.1.0 and 5.3.0.

Every status, header and body below was captured from a real server (tests/integration/test_compat.py
pins the same behaviour live). The pure reply functions are checked table by table, per dialect;
httpx.MockTransport replays the same replies so the client's mapping onto ``errors`` is tested
without a server. 5.1.0 answered byte for byte like 4.5.2 except for the order of the cookie
attributes, so "old" stands for both.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qs

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qbfailover.config import InstanceConfig, Secret
from qbfailover.core.items import Item, parse_magnet
from qbfailover.errors import AuthFailed, Banned, Rejected
from qbfailover.qbt.replies import (
    LoginReply,
    add_reply,
    info_hashes,
    login_reply,
    preferences,
    rejection,
)
from qbfailover.qbt.webui import AddOptions, WebUI

T = TypeVar("T")
TEXT = {"content-type": "text/plain; charset=UTF-8"}
JSON = {"content-type": "application/json"}
Reply = tuple[int, dict[str, str], str]

# Shared by every version (recorded identically on 4.5.2, 5.1.0 and 5.3.0).
FORBIDDEN: Reply = (403, TEXT, "Forbidden")  # any API call without a session (or with a wrong key)
HOST_CHECK: Reply = (401, TEXT, "Unauthorized")  # Host header not served (or a CSRF Origin)
BANNED: Reply = (403, TEXT, "Your IP address has been banned after too many failed authentication attempts.")
BAD_TORRENT: Reply = (415, TEXT, "Error: 'a.torrent' is not a valid torrent file.")

OLD: dict[str, Reply] = {  # qBittorrent 4.5.2, WebAPI 2.8.19 (Debian 12)
    "login_ok": (
        200,
        {**TEXT, "set-cookie": "SID=7Q82bPfVe3TVSLnmAytIrDWw7eMMBABD; HttpOnly; path=/; SameSite=Strict"},
        "Ok.",
    ),
    "login_bad": (200, TEXT, "Fails."),
    "version": (200, TEXT, "v4.5.2"),
    "add_two": (200, TEXT, "Ok."),
    "add_dup": (200, TEXT, "Fails."),
    "add_mixed": (200, TEXT, "Ok."),
    "add_zzz": (200, TEXT, "Ok."),  # 40 non-hex characters: "Ok." and nothing added
    "add_url": (200, TEXT, "Ok."),  # an http:// .torrent URL, fetched later (even a 404 one)
}
OLD_51_COOKIE = (
    "SID=gGhNZRmkOFZqi0Y3nM3pqLXceX6Bqiom; HttpOnly; SameSite=Strict; path=/"  # 5.1.0, WebAPI 2.11.4
)


def _expires_in(seconds: int) -> str:
    when = datetime.now(UTC) + timedelta(seconds=seconds)
    return when.strftime("%a, %d-%b-%Y %H:%M:%S GMT")


NEW: dict[str, Reply] = {  # qBittorrent 5.3.0, WebAPI 2.16.2 (Debian sid), WebUI on port 52095
    "login_ok": (
        204,
        {
            # Recorded on 5.3.0, except the date: it sends expires = now + WebUI\SessionTimeout,
            # and a literal recorded date would make the cookie jar drop the cookie an hour later.
            "set-cookie": "QBT_SID_52095=r7MuvH41xxFCiI5fy4h+RBY+Q1kGIGYf; HttpOnly; SameSite=Lax; "
            f"expires={_expires_in(3600)}; path=/"
        },
        "",
    ),
    "login_bad": (401, TEXT, "Unauthorized"),
    "version": (200, TEXT, "v5.3.0"),
    "add_two": (
        200,
        JSON,
        '{"added_torrent_ids":["a0bec3dd6fa33fb14aee39cf9fcfa6945d120a8b","4c7e47cd97aa496773c9860b34c24ee86b21bb50"],'
        '"failure_count":0,"pending_count":0,"success_count":2}',
    ),
    "add_dup": (409, TEXT, "Conflict"),
    "add_mixed": (
        200,
        JSON,
        '{"added_torrent_ids":["cad67171bd56332ec6eccb96ea09e8ca8e687924"],'
        '"failure_count":1,"pending_count":0,"success_count":1}',
    ),
    "add_zzz": (409, TEXT, "Conflict"),
    # An http:// .torrent URL is fetched later: 202 and pending_count (the same for a URL that 404s).
    "add_url": (202, JSON, '{"added_torrent_ids":[],"failure_count":0,"pending_count":1,"success_count":0}'),
    "rotate": (200, JSON, '{"apiKey":"qbt_qHBXIcdGQa4y3xe8fCXBgusPB4Se"}'),
}

# torrents/info?hashes=<v2 cut to 40> for a hybrid single-file torrent, as 4.5.2 and 5.3.0 answered.
HYBRID_V1 = "1f400e48bdc514f8606073ee81e89f46e4140649"
HYBRID_V2 = "6f649603170774f17fa3df4878c9c39e0f3bbdd20c923d6180aa2a7c797a4a27"
INFO_HYBRID_OLD = (
    '[{"added_on":1795512143,"amount_left":11,"auto_tmm":false,"availability":-1,"category":"","completed":0,'
    '"completion_on":0,"content_path":"hybrid.bin","dl_limit":0,"dlspeed":0,'
    '"download_path":"/tmp/qbx/run/x-downloads/.incomplete","downloaded":0,"downloaded_session":0,'
    '"eta":8640000,"f_l_piece_prio":false,"force_start":false,"hash":"6f649603170774f17fa3df4878c9c39e0f3bbdd2",'
    '"infohash_v1":"1f400e48bdc514f8606073ee81e89f46e4140649",'
    '"infohash_v2":"6f649603170774f17fa3df4878c9c39e0f3bbdd20c923d6180aa2a7c797a4a27","last_activity":1795512143,'
    '"magnet_uri":"magnet:?xt=urn:btih:1f400e48bdc514f8606073ee81e89f46e4140649&xt=urn:btmh:'
    '12206f649603170774f17fa3df4878c9c39e0f3bbdd20c923d6180aa2a7c797a4a27&dn=hybrid.bin","max_ratio":-1,'
    '"max_seeding_time":-1,"name":"hybrid.bin","num_complete":0,"num_incomplete":0,"num_leechs":0,"num_seeds":0,'
    '"priority":4,"progress":0,"ratio":0,"ratio_limit":-2,"save_path":"/tmp/qbx/run/x-downloads",'
    '"seeding_time":0,"seeding_time_limit":-2,"seen_complete":0,"seq_dl":false,"size":11,'
    '"state":"checkingResumeData","super_seeding":false,"tags":"","time_active":0,"total_size":11,"tracker":"",'
    '"trackers_count":0,"up_limit":0,"uploaded":0,"uploaded_session":0,"upspeed":0}]'
)
INFO_HYBRID_NEW = (
    '[{"added_on":1795512145,"amount_left":11,"auto_tmm":false,"availability":0,"category":"","comment":"",'
    '"completed":0,"completion_on":-1,"connections_count":0,"connections_limit":100,'
    '"content_path":"/tmp/qbx/x-downloads/.incomplete/hybrid.bin","created_by":"","creation_date":-1,'
    '"dl_limit":0,"dlspeed":0,"download_path":"/tmp/qbx/x-downloads/.incomplete","downloaded":0,'
    '"downloaded_session":0,"eta":8640000,"f_l_piece_prio":false,"force_start":false,"has_metadata":true,'
    '"hash":"6f649603170774f17fa3df4878c9c39e0f3bbdd2","inactive_seeding_time_limit":-2,'
    '"infohash_v1":"1f400e48bdc514f8606073ee81e89f46e4140649",'
    '"infohash_v2":"6f649603170774f17fa3df4878c9c39e0f3bbdd20c923d6180aa2a7c797a4a27","last_activity":1795512145,'
    '"magnet_uri":"magnet:?xt=urn:btih:1f400e48bdc514f8606073ee81e89f46e4140649&xt=urn:btmh:'
    '12206f649603170774f17fa3df4878c9c39e0f3bbdd20c923d6180aa2a7c797a4a27&dn=hybrid.bin&xl=11",'
    '"max_inactive_seeding_time":-1,"max_ratio":-1,"max_seeding_time":-1,"name":"hybrid.bin","num_complete":0,'
    '"num_incomplete":0,"num_leechs":0,"num_seeds":0,"piece_size":16384,"pieces_have":0,"pieces_num":1,'
    '"popularity":0,"priority":4,"private":false,"progress":0,"ratio":0,"ratio_limit":-2,"reannounce":0,'
    '"root_path":"","save_path":"/tmp/qbx/x-downloads","seeding_time":0,"seeding_time_limit":-2,'
    '"seen_complete":-1,"seq_dl":false,"share_limit_action":"Default","share_limits_mode":"Default","size":11,'
    '"state":"checkingResumeData","super_seeding":false,"tags":"","time_active":0,"total_size":11,'
    '"total_wasted":0,"tracker":"","trackers_count":0,"up_limit":0,"uploaded":0,"uploaded_session":0,"upspeed":0}]'
)

GENERATIONS = [pytest.param(OLD, id="4.5-5.1"), pytest.param(NEW, id="5.2+")]


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def response(reply: Reply) -> httpx.Response:
    status, headers, body = reply
    return httpx.Response(status, headers=headers, content=body.encode())


@dataclass
class Server:
    """Replays recorded replies per (method, path), in order; remembers every request."""

    script: dict[tuple[str, str], list[Reply]]
    requests: list[httpx.Request] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path.removeprefix("/api/v2/")
        queue = self.script.get((request.method, path))
        assert queue, f"unexpected {request.method} {path}"
        return response(queue.pop(0) if len(queue) > 1 else queue[0])

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.path.removeprefix('/api/v2/')}" for r in self.requests]


def client(server: Server, **overrides: Any) -> WebUI:
    values: dict[str, Any] = {
        "name": "qbt",
        "url": "http://127.0.0.1:52095/",
        "username": "tester",
        "password": Secret("right"),
    }
    values.update(overrides)
    return WebUI(InstanceConfig(**values), transport=httpx.MockTransport(server.handle))


def with_outcomes(ui: WebUI) -> list[str]:
    seen: list[str] = []
    ui.on_login = seen.append
    return seen


async def using(ui: WebUI, action: Callable[[WebUI], Coroutine[Any, Any, T]]) -> T:
    try:
        return await action(ui)
    finally:
        await ui.aclose()


# --- login and session ------------------------------------------------------------------------


@pytest.mark.parametrize("gen", GENERATIONS)
def test_login_keeps_the_generations_cookie(gen: dict[str, Reply]) -> None:
    """Login ok (200 'Ok.' or 204) stores SID / QBT_SID_<port>, which the next call sends back."""
    server = Server({("POST", "auth/login"): [gen["login_ok"]], ("GET", "app/version"): [gen["version"]]})
    ui = client(server)
    outcomes = with_outcomes(ui)
    version = run(using(ui, lambda ui: ui.fetch_version()))
    assert version == gen["version"][2]
    assert outcomes == ["ok"]
    cookie = server.requests[1].headers["cookie"]
    assert cookie.startswith("SID=" if gen is OLD else "QBT_SID_52095=")


def test_51_cookie_attribute_order_is_accepted() -> None:
    """5.1.0 orders the SID cookie's attributes differently from 4.5.2; the session still sticks."""
    login: Reply = (200, {**TEXT, "set-cookie": OLD_51_COOKIE}, "Ok.")
    server = Server({("POST", "auth/login"): [login], ("GET", "app/version"): [(200, TEXT, "v5.1.0")]})
    assert run(using(client(server), lambda ui: ui.fetch_version())) == "v5.1.0"
    assert server.requests[1].headers["cookie"] == "SID=gGhNZRmkOFZqi0Y3nM3pqLXceX6Bqiom"


def test_old_wrong_password_is_auth_failed_in_one_request() -> None:
    """4.x/5.1: 200 'Fails.' is a wrong password; no second request, the failure is reported once."""
    server = Server({("POST", "auth/login"): [OLD["login_bad"]]})
    ui = client(server)
    outcomes = with_outcomes(ui)
    with pytest.raises(AuthFailed, match="wrong username or password"):
        run(using(ui, lambda ui: ui.login()))
    assert server.paths() == ["POST auth/login"]
    assert outcomes == ["failed"]


def test_new_wrong_password_401_is_told_from_the_host_check() -> None:
    """5.2+: login 401 + an unauthenticated app/version 403 (checks passed) → AuthFailed."""
    server = Server({("POST", "auth/login"): [NEW["login_bad"]], ("GET", "app/version"): [FORBIDDEN]})
    ui = client(server)
    outcomes = with_outcomes(ui)
    with pytest.raises(AuthFailed, match="wrong username or password"):
        run(using(ui, lambda ui: ui.login()))
    assert server.paths() == ["POST auth/login", "GET app/version"]
    probe = server.requests[1]
    assert "cookie" not in probe.headers and "authorization" not in probe.headers
    assert outcomes == ["failed"]


def test_host_check_401_is_rejected_not_a_failed_login() -> None:
    """A 401 whose unauthenticated probe is 401 too is the Host/CSRF check: Rejected, no failure counted."""
    server = Server({("POST", "auth/login"): [HOST_CHECK], ("GET", "app/version"): [HOST_CHECK]})
    ui = client(server)
    outcomes = with_outcomes(ui)
    with pytest.raises(Rejected, match="Host-header check") as caught:
        run(using(ui, lambda ui: ui.login()))
    assert caught.value.status == 401
    assert outcomes == []


def test_ban_is_banned() -> None:
    """403 'Your IP address has been banned…' on login → Banned, on every version."""
    server = Server({("POST", "auth/login"): [BANNED]})
    ui = client(server)
    outcomes = with_outcomes(ui)
    with pytest.raises(Banned):
        run(using(ui, lambda ui: ui.login()))
    assert outcomes == ["banned"]


@pytest.mark.parametrize("gen", GENERATIONS)
def test_expired_session_403_logs_in_again_once(gen: dict[str, Reply]) -> None:
    """A 403 on a call (session expired) is never applied: one fresh login, then the call again."""
    server = Server(
        {
            ("POST", "auth/login"): [gen["login_ok"]],
            ("GET", "app/version"): [gen["version"], FORBIDDEN, gen["version"]],
        }
    )

    async def twice(ui: WebUI) -> str:
        await ui.fetch_version()
        return await ui.fetch_version()

    assert run(using(client(server), twice)) == gen["version"][2]
    assert server.paths() == [
        "POST auth/login",
        "GET app/version",
        "GET app/version",
        "POST auth/login",
        "GET app/version",
    ]


# --- API keys (5.2+) --------------------------------------------------------------------------

KEY = json.loads(NEW["rotate"][2])["apiKey"]


def test_api_key_is_a_bearer_header_and_never_a_login() -> None:
    """With an API key every call carries 'Authorization: Bearer qbt_…' and auth/login is never called."""
    server = Server({("GET", "app/version"): [NEW["version"]]})
    ui = client(server, username="", password=Secret(""), api_key=Secret(KEY))
    assert run(using(ui, lambda ui: ui.fetch_version())) == "v5.3.0"
    assert server.paths() == ["GET app/version"]
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_refused_api_key_is_auth_failed_without_a_login() -> None:
    """A wrong key (5.2+) or any key before 5.2 is 403 Forbidden: AuthFailed after one request."""
    server = Server({("GET", "app/version"): [FORBIDDEN]})
    ui = client(server, api_key=Secret("qbt_" + "w" * 28))
    outcomes = with_outcomes(ui)
    with pytest.raises(AuthFailed, match="API key refused") as caught:
        run(using(ui, lambda ui: ui.fetch_version()))
    assert "before 5.2" in str(caught.value) and "qbt_www" not in str(caught.value)
    assert server.paths() == ["GET app/version"]
    assert outcomes == []


# --- torrents/add -----------------------------------------------------------------------------

MAGNETS = [
    parse_magnet("magnet:?xt=urn:btih:a0bec3dd6fa33fb14aee39cf9fcfa6945d120a8b&dn=one"),
    parse_magnet("magnet:?xt=urn:btih:4c7e47cd97aa496773c9860b34c24ee86b21bb50&dn=two"),
]


@pytest.mark.parametrize(
    ("key", "old", "new"),
    [
        (
            "add_two",
            (200, True, None),
            (200, True, {"success_count": 2, "failure_count": 0, "pending_count": 0}),
        ),
        ("add_dup", (200, False, None), (409, False, None)),
        (
            "add_mixed",
            (200, True, None),
            (200, True, {"success_count": 1, "failure_count": 1, "pending_count": 0}),
        ),
        ("add_zzz", (200, True, None), (409, False, None)),
        (
            "add_url",
            (200, True, None),
            (202, True, {"success_count": 0, "failure_count": 0, "pending_count": 1}),
        ),
    ],
)
def test_add_replies_of_both_generations(
    key: str, old: tuple[int, bool, object], new: tuple[int, bool, object]
) -> None:
    """'Ok.'/'Fails.' and JSON counts/409 map to (status, accepted, counts); 'Ok.' for junk stays a lie."""
    for gen, expected in ((OLD, old), (NEW, new)):
        status, _, body = gen[key]
        reply = add_reply("qbt", status, body)
        assert (reply.status, reply.accepted, reply.counts) == expected


def test_bad_torrent_file_is_415_on_every_version() -> None:
    """A .torrent qBittorrent cannot parse: 415 (other items of the request may still be added)."""
    reply = add_reply("qbt", BAD_TORRENT[0], BAD_TORRENT[2])
    assert (reply.status, reply.accepted) == (415, False)
    assert "not a valid torrent file" in reply.text


@pytest.mark.parametrize("gen", GENERATIONS)
def test_add_sends_one_request_with_both_pause_keys(gen: dict[str, Reply]) -> None:
    """paused=True sends 'paused' (read by 4.x) and 'stopped' (read by 5.x) in one torrents/add."""
    server = Server({("POST", "auth/login"): [gen["login_ok"]], ("POST", "torrents/add"): [gen["add_two"]]})
    reply = run(using(client(server), lambda ui: ui.add(MAGNETS, AddOptions(paused=True, category="books"))))
    assert reply.accepted
    add = server.requests[-1]
    form = dict(pair.split("=", 1) for pair in add.content.decode().split("&"))
    assert (form["paused"], form["stopped"], form["category"]) == ("true", "true", "books")
    assert server.paths() == ["POST auth/login", "POST torrents/add"]


# --- torrents/info ----------------------------------------------------------------------------


@pytest.mark.parametrize("body", [INFO_HYBRID_OLD, INFO_HYBRID_NEW], ids=["4.5", "5.3"])
def test_hybrid_torrent_is_found_under_every_hash(body: str) -> None:
    """A hybrid's 'hash' is its v2 hash cut to 40; info_hashes also yields infohash_v1/_v2."""
    found = info_hashes("qbt", 200, body)
    assert found == {HYBRID_V2[:40], HYBRID_V1, HYBRID_V2}
    hybrid = Item(kind="torrent", source="h.torrent", name="hybrid.bin", v1=HYBRID_V1, v2=HYBRID_V2)
    assert hybrid.hashes <= found
    # A v1 magnet of the same torrent (no btmh) is still recognised through infohash_v1.
    assert parse_magnet(f"magnet:?xt=urn:btih:{HYBRID_V1}").hashes <= found


@pytest.mark.parametrize("gen", GENERATIONS)
def test_present_asks_for_every_hash_of_a_hybrid(gen: dict[str, Reply]) -> None:
    """The hashes= filter matches only 'hash', so present() asks for v1, v2 and v2[:40] together
    (in one POSTed form: a batch's hashes never make an over-long URL)."""
    body = INFO_HYBRID_OLD if gen is OLD else INFO_HYBRID_NEW
    server = Server(
        {("POST", "auth/login"): [gen["login_ok"]], ("POST", "torrents/info"): [(200, JSON, body)]}
    )
    hybrid = Item(kind="torrent", source="h.torrent", name="hybrid.bin", v1=HYBRID_V1, v2=HYBRID_V2)
    found = run(using(client(server), lambda ui: ui.present(hybrid.hashes)))
    assert hybrid.hashes & found
    form = parse_qs(server.requests[-1].content.decode())
    asked = set(form["hashes"][0].split("|"))
    assert asked == {HYBRID_V1, HYBRID_V2, HYBRID_V2[:40]}


# --- the pure reply functions, table by table -------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "meaning"),
    [
        pytest.param(OLD["login_ok"], LoginReply.OK, id="4.5-5.1 ok"),
        pytest.param((200, {**TEXT, "set-cookie": OLD_51_COOKIE}, "Ok."), LoginReply.OK, id="5.1 ok"),
        pytest.param(OLD["login_bad"], LoginReply.WRONG_CREDENTIALS, id="4.5-5.1 bad"),
        pytest.param(NEW["login_ok"], LoginReply.OK, id="5.2+ ok"),
        pytest.param(NEW["login_bad"], LoginReply.UNAUTHORIZED, id="5.2+ bad"),
        pytest.param(HOST_CHECK, LoginReply.UNAUTHORIZED, id="host check (every version)"),
        pytest.param(BANNED, LoginReply.BANNED, id="banned (every version)"),
        pytest.param(FORBIDDEN, LoginReply.OTHER, id="plain 403"),
        pytest.param((500, TEXT, "Internal Server Error"), LoginReply.OTHER, id="5xx"),
        pytest.param((200, TEXT, "<html>"), LoginReply.OTHER, id="not a WebUI"),
    ],
)
def test_login_reply(reply: Reply, meaning: LoginReply) -> None:
    """Each generation's login replies classify alike; a 401 alone is left for the follow-up probe."""
    status, _, body = reply
    assert login_reply(status, body) is meaning


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        pytest.param(200, "Ok.", (True, None), id="4.x ok"),
        pytest.param(200, "Fails.", (False, None), id="4.x fails"),
        pytest.param(
            200,
            ' {"success_count":0,"failure_count":2} ',
            (False, {"success_count": 0, "failure_count": 2}),
            id="5.2+ all failed",
        ),
        pytest.param(202, '{"pending_count":1}', (True, {"pending_count": 1}), id="5.2+ pending url"),
        pytest.param(200, '{"success_count":"x"}', (False, {}), id="5.2+ junk count ignored"),
        pytest.param(200, "[1]", (True, None), id="unknown 200 body"),
        pytest.param(409, "Conflict", (False, None), id="5.2+ nothing added"),
        pytest.param(415, "", (False, None), id="bad torrent, empty body"),
    ],
)
def test_add_reply_table(status: int, body: str, expected: tuple[bool, object]) -> None:
    """torrents/add replies of both dialects map to (accepted, counts); neither is proof by itself."""
    reply = add_reply("qbt", status, body)
    assert (reply.accepted, reply.counts) == expected
    assert reply.status == status


def test_add_reply_text_for_an_empty_415() -> None:
    """An empty 415 still says what went wrong."""
    assert add_reply("qbt", 415, "").text == "invalid torrent file"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 500, 503])
def test_add_reply_hard_refusals_raise(status: int) -> None:
    """Any other status is the instance refusing the request: Rejected, carrying the status."""
    with pytest.raises(Rejected, match=f"torrents/add answered HTTP {status}") as caught:
        add_reply("qbt", status, "nope")
    assert caught.value.status == status


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param("[]", set(), id="empty"),
        pytest.param('[{"hash":"ABC"}]', {"abc"}, id="lower-cased"),
        pytest.param(
            '[{"hash":"a","infohash_v1":"b","infohash_v2":""}, 3, null]', {"a", "b"}, id="skips junk"
        ),
    ],
)
def test_info_hashes_table(body: str, expected: set[str]) -> None:
    """torrents/info: every hash of every entry, lower-case; entries that are not objects are skipped."""
    assert info_hashes("qbt", 200, body) == expected


@pytest.mark.parametrize(("body", "match"), [("not json", "did not answer JSON"), ("{}", "JSON list")])
def test_info_hashes_refuses_what_is_not_a_list(body: str, match: str) -> None:
    """An instance that cannot list what it holds cannot confirm a delivery: Rejected."""
    with pytest.raises(Rejected, match=match):
        info_hashes("qbt", 200, body)


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (
            200,
            '{"save_path":"/d","bypass_local_auth":false}',
            {"save_path": "/d", "bypass_local_auth": False},
        ),
        (200, "[]", Rejected),
        (200, "nope", Rejected),
        (403, "Forbidden", Rejected),
    ],
)
def test_preferences(status: int, body: str, outcome: object) -> None:
    """app/preferences is a JSON object; anything else is Rejected (doctor then leaves the detail out)."""
    if outcome is Rejected:
        with pytest.raises(Rejected):
            preferences("qbt", status, body)
    else:
        assert preferences("qbt", status, body) == outcome


@pytest.mark.parametrize(
    ("status", "hint"),
    [(401, "Host-header check"), (404, "is this URL a qBittorrent WebUI?"), (500, None)],
)
def test_rejection_hints(status: int, hint: str | None) -> None:
    """A refusal names the call, the status and the body, with a hint where the status has one."""
    error = rejection("qbt", "login", status, "line one\nline two")
    assert error.status == status
    assert f"login answered HTTP {status} 'line one line two'" in error.detail
    assert (hint in error.detail) if hint else error.detail.endswith("'line one line two'")


def test_fetch_preferences_through_the_session() -> None:
    """fetch_preferences logs in first and returns the document (doctor's save path and auth checks)."""
    server = Server(
        {
            ("POST", "auth/login"): [OLD["login_ok"]],
            ("GET", "app/preferences"): [(200, JSON, '{"save_path":"/d"}')],
        }
    )
    assert run(using(client(server), lambda ui: ui.fetch_preferences())) == {"save_path": "/d"}
    assert server.paths() == ["POST auth/login", "GET app/preferences"]


def test_login_refused_by_the_budget_sends_nothing() -> None:
    """A login the budget refuses raises AuthFailed with its reason, sends no request, sets login_blocked."""
    server = Server({})
    ui = client(server)
    ui.login_gate = lambda: "no more tries"
    with pytest.raises(AuthFailed, match="no more tries"):
        run(using(ui, lambda ui: ui.login()))
    assert ui.login_blocked and server.requests == []


@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "hash": st.from_regex(r"[0-9a-f]{40}", fullmatch=True),
                "name": st.text(max_size=30),
                "category": st.sampled_from(['"hash":"' + "f" * 40 + '"', "a\\", '\\"hash\\":\\"', ""]),
                "infohash_v2": st.sampled_from(["", "e" * 64]),
            }
        ),
        max_size=5,
    ),
    st.sampled_from([(",", ":"), (", ", ": ")]),
)
def test_info_hashes_reads_what_a_json_parse_reads(
    torrents: list[dict[str, str]], seps: tuple[str, str]
) -> None:
    """Names and categories holding quotes, backslashes or a whole ``"hash":"…"`` never add a hash."""
    body = json.dumps(torrents, separators=seps, ensure_ascii=False)
    expected = {v for t in torrents for k, v in t.items() if k in ("hash", "infohash_v2") and v}
    assert info_hashes("qbt", 200, body) == expected
