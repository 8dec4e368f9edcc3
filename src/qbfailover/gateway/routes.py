"""The Starlette app: qBittorrent's request pipeline, then one handler per endpoint.

Order of checks, as in qBittorrent's ``WebApplication::processRequest``: body size (413), CSRF and
Host header (401 ``Unauthorized``), session (403 ``Forbidden`` for everything but ``auth/login``),
then the endpoint. Endpoints the gateway does not model are forwarded to the first instance that
answers (503 with a one-line text when none does). No handler echoes a client's header back, and
no instance's header (its ``Set-Cookie`` above all) is ever passed to a client.

``extra_routes`` is where later pages (the status page) mount; they get the same login check.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Sequence
from typing import Final

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message

from qbfailover.config import InstanceConfig
from qbfailover.errors import QbFailoverError
from qbfailover.gateway import adding, commands, reads
from qbfailover.gateway.security import BAN_TEXT, SESSION_COOKIE, cross_site, host_allowed
from qbfailover.gateway.service import GATEWAY_API_VERSION, GATEWAY_VERSION, Gateway, Reply, Upload, text
from qbfailover.observe.page_data import PageData

__all__ = ["MAX_BODY", "build_app"]

MAX_BODY: Final = 64 * 1024 * 1024
"""Largest request body accepted (qBittorrent's own limit for a .torrent upload is in this range)."""
FANOUT: Final = frozenset({"createCategory", "editCategory", "removeCategories", "createTags", "deleteTags"})

log = logging.getLogger("qbfailover.serve")


def _respond(reply: Reply, extra: dict[str, str] | None = None) -> Response:
    resp = Response(reply.body, status_code=reply.status, media_type=reply.media_type)
    for key, value in (extra or {}).items():
        resp.headers.append(key, value)
    return resp


async def _read_body(request: Request) -> bytes | None:
    """The body, or None past MAX_BODY (counted as it arrives: no Content-Length is trusted)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _fields(request: Request, body: bytes) -> tuple[dict[str, str], list[tuple[str, Upload]]]:
    """Query (GET) or form fields (POST: urlencoded or multipart) and the uploaded files."""
    if request.method != "POST":
        return dict(request.query_params), []
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    replay = Request(request.scope, receive)
    form = await replay.form(max_files=10_000, max_fields=10_000, max_part_size=MAX_BODY)
    fields: dict[str, str] = {}
    files: list[tuple[str, Upload]] = []
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            files.append((key, (value.filename or "upload.torrent", await value.read())))
        elif key == "urls" and key in fields:
            fields[key] += "\n" + value  # some clients send one ``urls`` field per link
        else:
            fields[key] = value
    await form.close()
    return fields, files


def _sid(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE)


def _cookie(sid: str) -> str:
    return f"{SESSION_COOKIE}={sid}; HttpOnly; SameSite=Strict; path=/"


def _basic(gw: Gateway, request: Request, address: str) -> str | None:
    """qBittorrent's HTTP Basic fallback (Sonarr sends it): a session for the right pair."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or gw.bans.banned(address):
        return None
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    if not sep or not gw.credentials.match(user, password):
        gw.bans.failed(address)
        return None
    gw.bans.succeeded(address)
    return gw.sessions.start()


def _login(gw: Gateway, fields: dict[str, str], address: str) -> Response:
    if gw.bans.banned(address):
        log.warning("login refused: %s is banned", address)
        return _respond(text(403, BAN_TEXT))
    if gw.credentials.match(fields.get("username", ""), fields.get("password", "")):
        gw.bans.succeeded(address)
        return _respond(text(200, "Ok."), {"set-cookie": _cookie(gw.sessions.start())})
    gw.bans.failed(address)
    log.warning("login failed from %s", address)
    return _respond(text(200, "Fails."))


async def _endpoint(
    gw: Gateway, scope: str, action: str, method: str, fields: dict[str, str], files: list[tuple[str, Upload]]
) -> Reply:
    """The gateway's answer to one authenticated API call."""
    if scope == "app" and action == "version":
        return text(200, GATEWAY_VERSION)
    if scope == "app" and action == "webapiVersion":
        return text(200, GATEWAY_API_VERSION)
    if scope == "app" and action == "preferences":
        return await reads.preferences(gw)
    if scope == "torrents":
        if action == "add":
            return await adding.add(gw, fields, files)
        if action == "info":
            return await reads.info(gw, fields)
        if action in reads.DETAIL_ACTIONS:
            return await reads.detail(gw, action, fields)
        if action == "categories":
            return await reads.categories(gw)
        if action == "tags":
            return await reads.tags(gw)
        if action in FANOUT:
            return await gw.fanout(f"torrents/{action}", fields)
        if action in commands.HASHES_ACTIONS or action in commands.HASH_ACTIONS:
            return await commands.run_command(gw, action, fields)
    if scope == "transfer" and action == "info":
        return await reads.transfer(gw)
    if scope == "sync" and action == "maindata":
        rid = fields.get("rid", "0")
        return await reads.maindata(gw, int(rid) if rid.isdigit() else 0)
    return await gw.forward(method, f"{scope}/{action}", fields, files)


def build_app(
    gw: Gateway,
    *,
    metrics: Callable[[], bytes] | None = None,
    extra_routes: Sequence[BaseRoute] = (),
    page: Callable[[], PageData] | None = None,
    refresh: float = 5.0,
) -> Starlette:
    """The ASGI app serving qBittorrent's Web API v2 (plus ``/metrics`` and the status page when given)."""

    async def listed(cfg: InstanceConfig) -> None:
        await commands.apply_followups(gw, cfg.name)

    gw.view.on_listed = listed

    def checks_fail(request: Request) -> bool:
        host = request.headers.get("host")
        origin, referer = request.headers.get("origin"), request.headers.get("referer")
        if cross_site(host or "", origin, referer):
            return True
        return not host_allowed(host, gw.port, gw.bound, gw.domains)

    async def api(request: Request) -> Response:
        scope, action = request.path_params["scope"], request.path_params["action"]
        address = request.client.host if request.client else ""
        body = await _read_body(request)
        if body is None:
            return _respond(text(413, "Request Entity Too Large"))
        if checks_fail(request):
            return _respond(text(401, "Unauthorized"))
        try:
            fields, files = await _fields(request, body)
        except Exception:  # malformed multipart / form: qBittorrent answers 400
            return _respond(text(400, "Bad Request"))
        if (scope, action) == ("auth", "login"):
            return _login(gw, fields, address)
        sid = _sid(request)
        new_sid = None
        if not gw.sessions.valid(sid):
            new_sid = _basic(gw, request, address)
            if new_sid is None:
                return _respond(text(403, "Forbidden"))
        if (scope, action) == ("auth", "logout"):
            gw.sessions.end(sid)
            return _respond(
                Reply(200), {"set-cookie": f"{SESSION_COOKIE}=; HttpOnly; SameSite=Strict; path=/; Max-Age=0"}
            )
        try:
            reply = await _endpoint(gw, scope, action, request.method, fields, files)
        except QbFailoverError as exc:
            log.error("%s/%s failed: %s", scope, action, exc)
            reply = text(503, f"qbfailover: {exc}")
        return _respond(reply, {"set-cookie": _cookie(new_sid)} if new_sid else None)

    async def root(request: Request) -> Response:
        if checks_fail(request):
            return _respond(text(401, "Unauthorized"))
        return _respond(text(200, "qbfailover gateway: point your qBittorrent client here (Web API v2)"))

    async def metrics_page(request: Request) -> Response:
        assert metrics is not None
        return Response(metrics(), media_type="text/plain; version=0.0.4; charset=utf-8")

    routes: list[BaseRoute] = [
        Route("/api/v2/{scope}/{action}", api, methods=["GET", "POST", "HEAD"]),
        Route("/", root, methods=["GET", "HEAD"]),
        *extra_routes,
    ]
    if page is not None:
        from qbfailover.gateway.status_page import status_page_routes

        routes += status_page_routes(gw, page, refresh, lambda request, address: _basic(gw, request, address))
    if metrics is not None:
        routes.append(Route("/metrics", metrics_page, methods=["GET"]))
    return Starlette(routes=routes)
