"""The status page on watch's HTTP server (loopback): headers, read-only methods, base path, feed."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest

from qbfailover.observe.metrics import Metrics, MetricsServer
from qbfailover.observe.page_data import DeliveryRow, PageData

DOC: dict[str, Any] = {
    "state": "BOTH_HEALTHY",
    "verdict": "Excellent",
    "summary": "Excellent: primary in use, secondary standing by",
    "checked_at": 1_760_000_000.0,
    "duration_ms": 9.0,
    "vpn": {"status": "UP", "kind": "icmp", "target": "127.0.0.3", "latency_ms": 0.1, "detail": ""},
    "instances": [
        {
            "name": "primary",
            "url": "http://127.0.0.2:52095/",
            "status": "OK",
            "health": "OK",
            "version": "v4.5.2",
            "latency_ms": 3.0,
            "requires_vpn": True,
            "priority": 1,
            "detail": "",
        }
    ],
    "queue": {"pending": 0, "oldest": None},
    "exit_code": 0,
}
PAGE = PageData(
    status=DOC,
    counts={"pending": 0, "delivered": 1, "rejected": 0},
    deliveries=(DeliveryRow(1_760_000_000.0, "<b>bold</b>.iso", "delivered", "primary", "added"),),
    generated_at=1_760_000_000.0,
)


def serve(base_path: str = "") -> Iterator[str]:
    server = MetricsServer(
        Metrics(["primary"]), lambda: DOC, "127.0.0.1", 0, page=lambda: PAGE, base_path=base_path
    )
    server.start()
    try:
        host, port = server.address
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def base() -> Iterator[str]:
    yield from serve()


@pytest.fixture
def sub() -> Iterator[str]:
    yield from serve("/qbf/")


def get(url: str) -> httpx.Response:
    return httpx.get(url, trust_env=False, timeout=10)


def test_page_is_html_with_the_security_headers(base: str) -> None:
    """CSP forbids inline script and other origins, framing is denied, sniffing off, never cached."""
    r = get(base + "/")
    assert r.status_code == 200 and r.headers["content-type"] == "text/html; charset=utf-8"
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"
    assert "&lt;b&gt;bold&lt;/b&gt;.iso" in r.text


def test_page_has_no_inline_script_or_style(base: str) -> None:
    """Everything the CSP would block is absent: scripts come from a file, styles from a file."""
    found: list[tuple[str, dict[str, str | None]]] = []

    class Tags(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.append((tag, dict(attrs)))

    Tags().feed(get(base + "/").text)
    assert [a for t, a in found if t == "script" and not a.get("src")] == []
    assert [t for t, _ in found if t == "style"] == []
    assert [t for t, a in found if "style" in a or any(k.startswith("on") for k in a)] == []
    assert ("meta", {"name": "viewport", "content": "width=device-width, initial-scale=1"}) in found


def test_static_files_are_served_with_their_types(base: str) -> None:
    """The script and the stylesheet the page names, with types nosniff accepts; nothing else."""
    js = get(base + "/static/page.js?v=0.1.0")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert "fetch(" in js.text and "innerHTML" in js.text
    css = get(base + "/static/page.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", "/static/../../../pyproject.toml")  # sent as is: no client normalising
        assert conn.getresponse().status == 404  # a fixed set of names, never a path on disk
    finally:
        conn.close()
    assert get(base + "/static/page.py").status_code == 404
    assert get(base + "/static/").status_code == 404


def test_status_json_is_unchanged_and_the_feed_carries_it_verbatim(base: str) -> None:
    """``/status`` is still exactly the status document; the page's feed embeds that same document."""
    status = get(base + "/status")
    assert status.status_code == 200 and status.content == json.dumps(DOC, indent=2).encode()
    feed = get(base + "/status/page.json")
    assert feed.status_code == 200 and feed.headers["content-type"] == "application/json"
    doc = feed.json()
    assert doc["status"] == status.json()
    assert doc["title"].startswith("Excellent · BOTH_HEALTHY")
    assert 'id="pending-count">0<' in doc["html"] and "<html" not in doc["html"]
    assert doc["failback"] is None and doc["deliveries"][0]["instance"] == "primary"
    assert get(base + "/metrics").text.startswith("# HELP")


def test_head_answers_like_get_without_a_body(base: str) -> None:
    """Monitors may HEAD the page: same status and length, no body."""
    r = httpx.head(base + "/", trust_env=False)
    assert r.status_code == 200 and r.content == b""
    assert int(r.headers["content-length"]) == len(get(base + "/").content)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "BREW"])
@pytest.mark.parametrize("path", ["/", "/status", "/metrics", "/status/page.json"])
def test_every_other_method_is_405(base: str, method: str, path: str) -> None:
    """Read-only: no request changes anything, and the answer says which methods exist."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(method, path, body=b"x=1")
        r = conn.getresponse()
        assert r.status == 405 and r.getheader("Allow") == "GET, HEAD"
        assert r.getheader("X-Frame-Options") == "DENY"
    finally:
        conn.close()


def test_under_a_base_path_everything_moves_with_it(sub: str) -> None:
    """``--base-path /qbf``: the page, its feed and files answer under /qbf/, the links say /qbf/,
    /qbf redirects to /qbf/; /metrics and /status still answer at the root for scrapers."""
    page = get(sub + "/qbf/")
    assert page.status_code == 200
    assert 'href="/qbf/static/page.css' in page.text and 'data-feed="/qbf/status/page.json"' in page.text
    assert get(sub + "/qbf/status/page.json").json()["status"] == DOC
    assert get(sub + "/qbf/static/page.js").status_code == 200
    assert get(sub + "/qbf/status").json() == DOC and get(sub + "/status").json() == DOC
    redirect = get(sub + "/qbf")
    assert redirect.status_code == 308 and redirect.headers["location"] == "/qbf/"
    assert get(sub + "/").status_code == 200  # a proxy that strips the prefix reaches the page too


def test_without_a_page_provider_the_page_shows_the_status_document() -> None:
    """A server built without the watcher's tracker still renders the status document (no lists)."""
    server = MetricsServer(Metrics([]), lambda: None, "127.0.0.1", 0)
    server.start()
    try:
        host, port = server.address
        r = get(f"http://{host}:{port}/")
        assert r.status_code == 200 and "No health check has completed yet" in r.text
        assert get(f"http://{host}:{port}/status").status_code == 503
    finally:
        server.stop()


LIST_IMPORTS = """
import sys
from qbfailover.cli import app
try:
    app(sys.argv[1:])
except SystemExit:
    pass
print("\\n".join(sorted(sys.modules)), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["--help"], ["watch", "--help"]])
def test_help_does_not_load_jinja(args: list[str]) -> None:
    """Jinja2 and the page modules load only when a server renders the page."""
    done = subprocess.run(
        [sys.executable, "-c", LIST_IMPORTS, *args], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = set(done.stderr.split())
    assert "--base-path" in done.stdout or args == ["--help"]
    assert not loaded & {"jinja2", "markupsafe", "qbfailover.observe.page", "qbfailover.observe.page_data"}


def test_a_bad_base_path_is_a_usage_error_in_one_line() -> None:
    """``watch --base-path /a/../b``: exit 2, one line naming the option and the form it takes."""
    done = subprocess.run(
        [sys.executable, "-m", "qbfailover", "watch", "--base-path", "/a/../b"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "--base-path" in lines[0] and "/qbfailover" in lines[0]
    assert "Traceback" not in done.stderr
