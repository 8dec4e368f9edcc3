"""The status page in Debian's headless chromium (Selenium), against a real ``watch`` and real
qbittorrent-nox. Nothing is downloaded: the driver and browser paths are given and Selenium Manager
stays offline. Every wait is on the DOM or on watch's output, bounded by a deadline.

Artefacts (a screenshot per state, figures.json) go to ``<tmp_path>/status-page/``; with
``QBF_UPDATE_SCREENSHOTS=1`` the healthy and outage shots are copied to ``docs/status-page-*.png``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import (
    TimeoutException,
)
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait
from test_watch import DEADLINE, Watch, cli, poll, watching, write_config

from conftest import VPN_GATEWAY, Topology
from harness import blackhole, restore_all

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
DOCS = Path(__file__).resolve().parents[2] / "docs"
DESKTOP = (1100, 900)
PHONE = (390, 844)
BROWSER_FLAGS = (  # --no-sandbox: root in the test namespace; the rest: no background traffic, stable pixels
    *("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"),
    *("--disable-extensions", "--disable-background-networking", "--disable-component-update"),
    *("--disable-sync", "--force-color-profile=srgb", "--hide-scrollbars"),
)


def named_magnet(name: str) -> str:
    """A tracker-less magnet with a readable name (the page shows names, not hashes)."""
    digest = hashlib.sha1(name.encode()).hexdigest()
    return f"magnet:?xt=urn:btih:{digest}&dn={quote(name)}"


# --- the browser ------------------------------------------------------------------------------


@contextlib.contextmanager
def chromium(tmp_path: Path) -> Iterator[WebDriver]:
    """Headless chromium from Debian; nothing fetched (SE_OFFLINE, explicit paths, no network)."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("needs Debian's chromium and chromium-driver (scripts/bootstrap installs them)")
    options = Options()
    options.binary_location = str(CHROMIUM)
    size = f"--window-size={DESKTOP[0]},{DESKTOP[1]}"
    for flag in (*BROWSER_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", size):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WebDriver]:
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager never tries to download a driver
    with chromium(tmp_path) as driver:
        yield driver


@pytest.fixture
def artefacts(tmp_path: Path) -> Path:
    path = tmp_path / "status-page"
    path.mkdir()
    return path


# One script call reads everything the assertions look at, so it all comes from one render: each
# refresh replaces <main>'s content, and an element found before a swap is stale after it.
SNAPSHOT_JS = """
const q = s => document.querySelector(s), all = s => [...document.querySelectorAll(s)];
const t = e => e ? e.innerText.trim() : null;
const rows = {};
for (const r of all('tr.instance')) {
  rows[r.dataset.name] = {
    word: t(r.querySelector('td.word')), version: t(r.querySelector('td[data-label=Version]')),
    breaker: t(r.querySelector('td.breaker')), error: t(r.querySelector('td.error')),
  };
}
return {
  seq: q('#page').dataset.seq, verdict: t(q('#verdict')), state: t(q('#state-name')),
  state_class: q('#state').className, vpn: t(q('#vpn td.word')), instances: rows,
  pending: t(q('#pending-count')), oldest: t(q('#oldest')),
  reasons: all('#reasons tbody tr').map(r => [t(r.cells[0]), Number(t(r.cells[1]))]),
  deliveries: all('#deliveries tbody tr').map(
    r => [t(r.querySelector('.name')), t(r.querySelector('.word'))]),
  transitions: t(q('#transitions')),
};
"""


def snapshot(driver: WebDriver) -> dict[str, Any]:
    """What the page shows right now, read in one go (see SNAPSHOT_JS)."""
    return dict(driver.execute_script(SNAPSHOT_JS))


def text(driver: WebDriver, css: str) -> str:
    """One element's text, read inside the page (never a stale element reference)."""
    found = driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e && e.innerText", css
    )
    return str(found or "")


def wait_dom(driver: WebDriver, check: Callable[[WebDriver], object], what: str, watch: Watch) -> Any:
    """Wait (bounded) until ``check`` holds in the page; on timeout fail with watch's output."""
    try:
        return WebDriverWait(driver, DEADLINE, poll_frequency=0.05).until(check)
    except TimeoutException:
        pytest.fail(f"page never showed {what}; body:\n{text(driver, 'body')}\nwatch:\n{watch.output()}")


def screenshot(driver: WebDriver, path: Path) -> Path:
    """The whole page (not only the viewport), as the README shows it."""
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def csp_violations(driver: WebDriver) -> list[str]:
    """Console messages about the Content-Security-Policy (the page must never trip its own)."""
    logs = driver.get_log("browser")  # type: ignore[no-untyped-call]
    return [e["message"] for e in logs if "Content Security Policy" in e["message"]]


FIGURES_JS = """
const nav = performance.getEntriesByType('navigation')[0];
const res = performance.getEntriesByType('resource').filter(r => r.initiatorType !== 'fetch');
const paint = performance.getEntriesByType('paint').find(p => p.name === 'first-contentful-paint');
return {
  html_bytes: nav.decodedBodySize,
  assets: res.map(r => ({name: new URL(r.name).pathname, bytes: r.decodedBodySize})),
  response_end_ms: nav.responseEnd,
  dom_content_loaded_ms: nav.domContentLoadedEventEnd,
  load_ms: nav.loadEventEnd,
  first_contentful_paint_ms: paint ? paint.startTime : null,
};
"""


def measure(driver: WebDriver, base: str, artefacts: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Page weight and render time as the browser measured them: printed and saved, not asserted."""
    figures = driver.execute_script(FIGURES_JS)
    figures["requests"] = 1 + len(figures["assets"])
    figures["total_bytes"] = figures["html_bytes"] + sum(a["bytes"] for a in figures["assets"])
    figures["refresh_feed_bytes"] = len(httpx.get(base + "/status/page.json", trust_env=False).content)
    (artefacts / "figures.json").write_text(json.dumps(figures, indent=2) + "\n")
    with capsys.disabled():
        print(
            f"\nstatus page: {figures['total_bytes']} bytes in {figures['requests']} requests "
            f"(HTML {figures['html_bytes']}, "
            + ", ".join(f"{a['name']} {a['bytes']}" for a in figures["assets"])
            + f"); refresh feed {figures['refresh_feed_bytes']} bytes; "
            f"DOMContentLoaded {figures['dom_content_loaded_ms']:.1f} ms, load {figures['load_ms']:.1f} ms, "
            f"first contentful paint {figures['first_contentful_paint_ms'] or 0:.1f} ms; "
            f"artefacts: {artefacts}"
        )


# Records, for each refresh the script applies, its sequence number and the pending count shown.
OBSERVE_REFRESHES = """
window.__applied = [];
const main = document.getElementById('page');
new MutationObserver(() => {
  const p = document.getElementById('pending-count');
  window.__applied.push({seq: Number(main.dataset.seq), pending: p ? p.textContent : null});
}).observe(main, {attributes: true, attributeFilter: ['data-seq']});
window.__marker = 'same document';
"""


def page_feed(base: str) -> dict[str, Any] | None:
    with contextlib.suppress(httpx.HTTPError, ValueError):
        return dict(httpx.get(base + "/status/page.json", trust_env=False, timeout=5).json())
    return None


# --- tests ------------------------------------------------------------------------------------


def test_status_page_in_each_state(
    topology: Topology,
    faults: None,
    tmp_path: Path,
    browser: WebDriver,
    artefacts: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Both healthy → VPN down → both down with items queued → recovery that drains: the page shows
    each state's words and counts, and the drain within one refresh, without a reload."""
    env = {
        **topology.env(),
        "QBFAILOVER_CONFIG": str(write_config(topology, tmp_path / "q.toml", cooldown=0.5)),
    }
    healthy_items = [
        named_magnet(n) for n in ("debian-12.8.0-amd64-netinst.iso", "ubuntu-24.04.1-desktop.iso")
    ]
    queued_items = [named_magnet(f"archlinux-2026.12.0{i}-x86_64.iso") for i in range(1, 7)]
    with watching(env, "--interval", "0.2", "--log-format", "json") as w:
        base = f"http://127.0.0.1:{w.port}"
        w.wait_event(lambda e: e.get("event") == "state" and e.get("state") == "BOTH_HEALTHY", "first state")
        added = cli(env, "add", *healthy_items, "--json")
        assert added.returncode == 0, added.stderr
        poll(lambda: (page_feed(base) or {}).get("counts", {}).get("delivered") == 2, "deliveries listed", w)

        # Both healthy, as the server rendered it (a refresh may already have run: same words).
        browser.get(base + "/")
        page = snapshot(browser)
        assert page["verdict"] == "Excellent" and page["state"] == "BOTH_HEALTHY"
        assert "verdict excellent" in page["state_class"]
        assert page["vpn"] == "UP"
        assert {n: i["word"] for n, i in page["instances"].items()} == {"primary": "OK", "secondary": "OK"}
        assert page["instances"]["primary"]["version"].startswith("v")
        assert page["instances"]["primary"]["breaker"] == "closed"
        assert page["pending"] == "0"
        assert sorted(page["deliveries"]) == [
            ["debian-12.8.0-amd64-netinst.iso", "primary"],
            ["ubuntu-24.04.1-desktop.iso", "primary"],
        ]
        assert "started in BOTH_HEALTHY" in page["transitions"]
        assert topology.primary.password not in str(browser.page_source)
        screenshot(browser, artefacts / "healthy.png")
        measure(browser, base, artefacts, capsys)

        # VPN down: the primary is gated (VPN_DOWN) and the secondary takes over.
        blackhole(VPN_GATEWAY)
        w.wait_transition("BOTH_HEALTHY", "PRIMARY_DOWN")
        wait_dom(browser, lambda d: text(d, "#verdict") == "Warning", "Warning", w)
        page = snapshot(browser)
        assert page["state"] == "PRIMARY_DOWN" and "verdict warning" in page["state_class"]
        assert page["vpn"] == "DOWN" and page["instances"]["primary"]["word"] == "VPN_DOWN"
        assert "VPN" in page["instances"]["primary"]["error"]
        assert page["instances"]["secondary"]["word"] == "OK"
        assert "BOTH_HEALTHY → PRIMARY_DOWN" in page["transitions"]
        screenshot(browser, artefacts / "vpn-down.png")

        # Both down, items queued: Critical, the count, the reasons, the oldest item.
        topology.secondary.stop()
        w.wait_transition("PRIMARY_DOWN", "BOTH_DOWN")
        queued = cli(env, "add", *queued_items, "--json")
        assert queued.returncode == 3, queued.stderr
        wait_dom(browser, lambda d: text(d, "#pending-count") == str(len(queued_items)), "6 pending", w)
        # The failed try rewrote each row's reason from "received" to why it waits (a rescan later).
        wait_dom(browser, lambda d: "received" not in text(d, "#reasons"), "the queue's reason", w)
        page = snapshot(browser)
        assert page["verdict"] == "Critical" and page["state"] == "BOTH_DOWN"
        assert "verdict critical" in page["state_class"]
        assert page["instances"]["secondary"]["word"] == "ERROR"
        assert sum(n for _, n in page["reasons"]) == len(queued_items) == int(page["pending"])
        assert "archlinux-2026.12.01-x86_64.iso" in page["oldest"]
        screenshot(browser, artefacts / "both-down.png")
        browser.set_window_size(*PHONE)
        wait_dom(browser, lambda d: d.execute_script("return innerWidth") == PHONE[0], "phone width", w)
        overflow = browser.execute_script("return document.documentElement.scrollWidth - innerWidth")
        assert overflow <= 0, f"the page scrolls sideways on a phone by {overflow} px"
        screenshot(browser, artefacts / "both-down-phone.png")
        browser.set_window_size(*DESKTOP)

        # Recovery: the VPN is back, the primary drains the queue; the page follows by itself.
        browser.execute_script(OBSERVE_REFRESHES)
        restore_all()
        w.wait_transition("BOTH_DOWN", "SECONDARY_DOWN")
        poll(
            lambda: (page_feed(base) or {}).get("status", {}).get("queue", {}).get("pending") == 0,
            "drained",
            w,
        )
        started = int(browser.execute_script("return Number(document.body.dataset.fetches)"))
        first = wait_dom(
            browser,
            lambda d: next(
                (a for a in d.execute_script("return window.__applied") if a["pending"] == "0"), None
            ),
            "the drained queue",
            w,
        )
        # The first refresh that started after the server had drained is the one that shows it.
        assert first["seq"] <= started + 1, (first, started)
        assert browser.execute_script("return window.__marker") == "same document"  # no reload
        page = snapshot(browser)
        assert page["verdict"] == "Info" and page["state"] == "SECONDARY_DOWN" and page["pending"] == "0"
        where = dict(page["deliveries"])
        assert all(where.get(f"archlinux-2026.12.0{i}-x86_64.iso") == "primary" for i in range(1, 7)), where
        assert "BOTH_DOWN → SECONDARY_DOWN" in page["transitions"]
        screenshot(browser, artefacts / "recovered.png")

        browser.execute_cdp_cmd(
            "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}
        )
        dark = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
        assert dark == "rgb(15, 18, 22)", dark  # the dark palette's background
        screenshot(browser, artefacts / "recovered-dark.png")
        assert csp_violations(browser) == []
        assert w.stop() == 0

    if os.environ.get("QBF_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(artefacts / "healthy.png", DOCS / "status-page-healthy.png")
        shutil.copyfile(artefacts / "both-down.png", DOCS / "status-page-outage.png")
