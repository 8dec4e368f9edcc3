"""The status page: :class:`PageData` → HTML bytes (Jinja2), and the page's routes for any server.

Reusable on purpose: ``watch``'s stdlib server calls :func:`respond`, and another server (the
gateway, behind its login) can mount the same routes. Everything is served from the package (no
CDN, no web fonts, no build step): one HTML document, one stylesheet, one small script that swaps
in a fresh server-rendered fragment from ``status/page.json`` every few seconds. Without
JavaScript the page is complete and reloads itself (``<noscript>`` refresh).

Jinja2 is imported here only, and this module only by the servers: ``qbfailover --help`` never
loads it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

import jinja2

from qbfailover.errors import ConfigError
from qbfailover.observe.page_data import PageData, public_url, status_word

__all__ = [
    "ALLOWED_METHODS",
    "SECURITY_HEADERS",
    "Response",
    "normalise_base_path",
    "page_json",
    "refresh_seconds",
    "render_page",
    "respond",
]

ALLOWED_METHODS = "GET, HEAD"
SECURITY_HEADERS: Mapping[str, str] = {
    # No inline script or style, nothing from another origin; the page may not be framed.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
STATIC = {"page.css": "text/css; charset=utf-8", "page.js": "text/javascript; charset=utf-8"}
_BASE_PATH = re.compile(r"(/[A-Za-z0-9._~-]+)*")
VERDICT_CLASS = {"Excellent": "excellent", "Warning": "warning", "Info": "info", "Critical": "critical"}


@dataclass(frozen=True, slots=True)
class Response:
    """One answer of the page's routes, for whichever server sends it."""

    status: int
    content_type: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


def normalise_base_path(value: str) -> str:
    """``/qbf`` from ``qbf/``, ``/qbf`` or ``/qbf/``; ``""`` for the root; ConfigError if unsafe.

    Unsafe: anything but plain path segments (``..``, ``//`` that a browser reads as another
    host, spaces, queries, markup), since the value is written into every link of the page.
    """
    path = "/" + value.strip().strip("/") if value.strip().strip("/") else ""
    parts = path.split("/")
    if "//" in value or not _BASE_PATH.fullmatch(path) or any(p in (".", "..") for p in parts):
        raise ConfigError(
            f"--base-path {value!r} must be a URL path such as /qbfailover "
            "(letters, digits, '.', '_', '~', '-' between slashes; no '..')"
        )
    return path


def refresh_seconds(interval: float) -> float:
    """How often the page refreshes: the watch interval, kept between 1 s and 5 s."""
    return min(max(interval, 1.0), 5.0)


# --- rendering --------------------------------------------------------------------------------


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def _iso(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds") if ts else ""


def _ms(value: float | None) -> str:
    return f"{value:.0f} ms" if value is not None else "-"


def _ago(ts: float | None, now: float) -> str:
    if not ts:
        return ""
    seconds = max(0, round(now - ts))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


@cache
def _environment() -> jinja2.Environment:
    def load(name: str) -> str:
        return (resources.files("qbfailover.observe") / "templates" / name).read_text(encoding="utf-8")

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(load),
        autoescape=True,  # every value is text: a torrent called <script> renders as those characters
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=_when, iso=_iso, ms=_ms, public_url=public_url, word=status_word)
    env.globals.update(ago=_ago, verdict_class=VERDICT_CLASS)
    return env


def _context(data: PageData, base_path: str, refresh: float) -> dict[str, Any]:
    from qbfailover import __version__

    status = data.status
    return {
        "data": data,
        "status": status,
        "base": base_path,
        "refresh": refresh,
        "now": data.generated_at,
        "version": __version__,
        "title": _title(data),
    }


def _title(data: PageData) -> str:
    if data.status is None:
        return "qbfailover: waiting for the first health check"
    return f"{data.status['verdict']} · {data.status['state']} · qbfailover"


def render_page(data: PageData, *, base_path: str = "", refresh: float = 5.0) -> bytes:
    """The whole HTML document for ``data``; every link is under ``base_path``."""
    template = _environment().get_template("page.html.j2")
    return template.render(_context(data, base_path, refresh)).encode()


def render_main(data: PageData, *, base_path: str = "", refresh: float = 5.0) -> str:
    """Only the ``<main>`` content: what the script swaps in on each refresh."""
    template = _environment().get_template("main.html.j2")
    return template.render(_context(data, base_path, refresh))


def page_json(data: PageData, *, base_path: str = "", refresh: float = 5.0) -> bytes:
    """``status/page.json``: the snapshot's data, plus the rendered fragment and title for the script."""
    doc = data.as_json()
    doc["html"] = render_main(data, base_path=base_path, refresh=refresh)
    doc["title"] = _title(data)
    return json.dumps(doc, default=str).encode()


@cache
def _static(name: str) -> bytes:
    return (resources.files("qbfailover.observe") / "static" / name).read_bytes()


# --- routes -----------------------------------------------------------------------------------


def respond(
    path: str, data: Callable[[], PageData], *, base_path: str = "", refresh: float = 5.0
) -> Response | None:
    """The page's answer for ``path`` (already without ``base_path``), or None if it is not the page's.

    Routes: ``/`` (the page), ``/status/page.json`` (its refresh feed), ``/static/page.css`` and
    ``/static/page.js``. HTML and JSON are never cached; the static files are versioned by query.
    """
    if path in ("/", "/index.html"):
        body = render_page(data(), base_path=base_path, refresh=refresh)
        return Response(200, "text/html; charset=utf-8", body, {"Cache-Control": "no-store"})
    if path == "/status/page.json":
        body = page_json(data(), base_path=base_path, refresh=refresh)
        return Response(200, "application/json", body, {"Cache-Control": "no-store"})
    if path.startswith("/static/") and path[len("/static/") :] in STATIC:
        name = path[len("/static/") :]
        return Response(200, STATIC[name], _static(name), {"Cache-Control": "max-age=3600"})
    return None
