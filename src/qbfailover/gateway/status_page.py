"""The status page (``observe.page``) on ``serve``'s listener, behind the gateway's login.

A browser has no API session, so the page also takes HTTP Basic (which qBittorrent accepts too):
an unauthenticated request gets 401 with ``WWW-Authenticate`` and the browser asks for the
gateway's username and password once; the session cookie it then gets serves the page's refreshes.
The Host and Origin/Referer checks are the API's. Read-only, like watch's page.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from qbfailover.gateway.security import SESSION_COOKIE, cross_site, host_allowed
from qbfailover.gateway.service import Gateway
from qbfailover.observe.page import SECURITY_HEADERS, respond
from qbfailover.observe.page_data import PageData

__all__ = ["PAGE_PATH", "status_page_routes"]

PAGE_PATH = "/qbfailover"
"""Where the page lives on ``serve``'s listener (``/`` belongs to the Web API's clients)."""


def status_page_routes(
    gw: Gateway,
    data: Callable[[], PageData],
    refresh: float,
    login: Callable[[Request, str], str | None],
) -> list[BaseRoute]:
    """The page's routes under :data:`PAGE_PATH`; ``login`` turns Basic credentials into a session."""

    async def page(request: Request) -> Response:
        host = request.headers.get("host") or ""
        if cross_site(
            host, request.headers.get("origin"), request.headers.get("referer")
        ) or not host_allowed(host, gw.port, gw.bound, gw.domains):
            return Response("Unauthorized", status_code=401, headers=dict(SECURITY_HEADERS))
        new_sid = None
        if not gw.sessions.valid(request.cookies.get(SESSION_COOKIE)):
            new_sid = login(request, request.client.host if request.client else "")
            if new_sid is None:
                headers = {
                    **SECURITY_HEADERS,
                    "WWW-Authenticate": 'Basic realm="qbfailover", charset="UTF-8"',
                }
                return Response("log in with the gateway's username and password", 401, headers=headers)
        path = request.url.path[len(PAGE_PATH) :] or "/"
        answer = respond(path, data, base_path=PAGE_PATH, refresh=refresh)
        if answer is None:
            return Response("not found", status_code=404, headers=dict(SECURITY_HEADERS))
        headers = {**SECURITY_HEADERS, **answer.headers}
        resp = Response(
            answer.body, status_code=answer.status, media_type=answer.content_type, headers=headers
        )
        if new_sid is not None:
            resp.headers.append(
                "set-cookie", f"{SESSION_COOKIE}={new_sid}; HttpOnly; SameSite=Strict; path=/"
            )
        return resp

    return [Route(PAGE_PATH + "{rest:path}", page, methods=["GET", "HEAD"])]
