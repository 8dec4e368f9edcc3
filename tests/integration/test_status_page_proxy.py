"""The status page behind a reverse proxy under a sub-path, in Debian's headless chromium, against a
real ``watch`` and real qbittorrent-nox (see test_status_page.py for the browser set-up)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.common.exceptions import (
    NoAlertPresentException,
    NoSuchElementException,
    StaleElementReferenceException,
)
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from test_status_page import chromium, csp_violations, named_magnet, text, wait_dom
from test_watch import DEADLINE, cli, watching, write_config

from conftest import Topology
from harness import free_port

pytestmark = pytest.mark.integration


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WebDriver]:
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager never tries to download a driver
    with chromium(tmp_path) as driver:
        yield driver


class StrippingProxy:
    """A reverse proxy on loopback serving ``/qbf/…`` from watch's ``/…`` (it strips the prefix)."""

    def __init__(self, upstream: str, prefix: str) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if not self.path.startswith(prefix + "/"):
                    self.send_error(404)
                    return
                r = httpx.get(upstream + self.path[len(prefix) :], trust_env=False, timeout=10)
                self.send_response(r.status_code)
                for name in ("content-type", "content-security-policy", "x-frame-options", "location"):
                    if name in r.headers:
                        self.send_header(name, r.headers[name])
                self.send_header("Content-Length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.port = free_port("127.0.0.1")
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_behind_a_proxy_under_a_sub_path(topology: Topology, tmp_path: Path, browser: WebDriver) -> None:
    """``--base-path /qbf`` behind a proxy that strips it: the page, its files and every refresh go
    through /qbf/; a hostile torrent name is shown as text and runs nothing; without JavaScript the
    page is complete; when watch stops, the page says so."""
    hostile = "<img src=x onerror=alert(1)><script>alert(2)</script>.iso"
    env = {**topology.env(), "QBFAILOVER_CONFIG": str(write_config(topology, tmp_path / "q.toml"))}
    with watching(env, "--interval", "0.2", "--log-format", "json", "--base-path", "/qbf/") as w:
        w.wait_event(lambda e: e.get("event") == "state", "first state")
        assert cli(env, "add", named_magnet(hostile)).returncode == 0
        proxy = StrippingProxy(f"http://127.0.0.1:{w.port}", "/qbf")
        try:
            browser.get(f"http://127.0.0.1:{proxy.port}/qbf/")
            wait_dom(
                browser,
                lambda d: (
                    int(d.execute_script("return Number(document.getElementById('page').dataset.seq)")) >= 2
                ),
                "refreshes",
                w,
            )
            wait_dom(browser, lambda d: hostile in text(d, "#deliveries"), "the hostile name as text", w)
            with pytest.raises(NoAlertPresentException):
                browser.switch_to.alert.accept()
            assert browser.find_elements(By.CSS_SELECTOR, "#deliveries img, #deliveries script") == []
            paths = browser.execute_script(
                "return performance.getEntriesByType('resource').map(r => new URL(r.name).pathname)"
            )
            assert paths and all(p.startswith("/qbf/") for p in paths), paths
            assert "/qbf/status/page.json" in paths
            assert text(browser, "#verdict") == "Excellent"
            assert csp_violations(browser) == []

            # Without JavaScript: the server's render alone is the whole page (it reloads itself).
            browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
            browser.refresh()
            WebDriverWait(
                browser, DEADLINE, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
            ).until(
                lambda d: (
                    d.find_element(By.ID, "verdict").text == "Excellent"
                    and hostile in d.find_element(By.ID, "deliveries").text
                    and d.find_element(By.ID, "page").get_attribute("data-seq") == "0"
                )
            )
            browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})
            browser.refresh()

            # Watch gone: the page says so and keeps showing the last data.
            wait_dom(browser, lambda d: text(d, "#live").startswith("live"), "a refresh", w)
            assert w.stop() == 0
            wait_dom(browser, lambda d: "watch unreachable" in text(d, "#live"), "the unreachable notice", w)
            assert text(browser, "#verdict") == "Excellent"
        finally:
            proxy.close()
