"""The baselines, written as plainly as the issue defines them (synchronous httpx, like the spec's code).

- the limit: one ``torrents/add`` carrying every magnet, then one ``torrents/info``;
- the spec's flow (its DATA FLOW diagram): a health check that pings the VPN gateway in a subprocess
  and then GETs each WebUI's ``app/webapiVersion`` one after another, 5 s timeouts; then, per
  magnet, ``auth/login`` and ``torrents/add``;
- a plain per-magnet loop over one persistent, logged-in session.

Where the spec is ambiguous we lean its way: its check treats only HTTP 200 as OK, but qBittorrent
answers 403 to an unauthenticated ``webapiVersion``, so taken literally it would never pick the
primary; we count 403 as "answering". Its per-magnet login starts from an empty cookie jar (a fresh
session): with the old cookie kept, qBittorrent answers a repeated login without checking the
password at all, and the flow becomes the plain loop, measured separately.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:  # the new-process baselines (bench.probe) must not pay for our imports
    from .lab import Raw

SPEC_TIMEOUT = 5.0


def limit(session: Raw, magnets: Sequence[str], wanted: set[str]) -> int:
    """One add with all magnets, one unfiltered info (parsed): how many of ``wanted`` it already lists."""
    session.add(magnets)
    return len(session.hashes() & wanted)


def plain_loop(session: Raw, magnets: Sequence[str], wanted: set[str]) -> int:
    """One add request per magnet on a persistent session, then the same one info as the limit."""
    for m in magnets:
        session.add([m])
    return len(session.hashes() & wanted)


def spec_health(http: httpx.Client, gateway: str | None, urls: Sequence[str]) -> tuple[bool, dict[str, str]]:
    """The spec's check, in sequence: ping (5 s), then each WebUI's webapiVersion (5 s timeout each).

    With no gateway (a setup without VPN) only the HTTP checks run.
    """
    vpn_up = True
    if gateway:
        try:
            ping = subprocess.run(
                ["ping", "-c", "1", "-n", "-W", str(int(SPEC_TIMEOUT)), gateway],
                capture_output=True,
                timeout=SPEC_TIMEOUT + 1,
            )
            vpn_up = ping.returncode == 0
        except subprocess.TimeoutExpired:
            vpn_up = False
    statuses: dict[str, str] = {}
    for url in urls:
        try:
            r = http.get(url.rstrip("/") + "/api/v2/app/webapiVersion", timeout=SPEC_TIMEOUT)
            statuses[url] = "OK" if r.status_code in (200, 403) else f"HTTP_{r.status_code}"
        except httpx.TimeoutException:
            statuses[url] = "TIMEOUT"
        except httpx.HTTPError:
            statuses[url] = "ERROR"
    return vpn_up, statuses


def spec_flow(
    http: httpx.Client,
    primary_url: str,
    secondary_url: str | None,
    gateway: str | None,
    credentials: dict[str, str],
    magnets: Sequence[str],
) -> int:
    """Health check once, then per magnet: log in (fresh session), add. Returns how many said ``Ok.``."""
    urls = [u for u in (primary_url, secondary_url) if u]
    vpn_up, statuses = spec_health(http, gateway, urls)
    use_primary = vpn_up and statuses.get(primary_url) == "OK"
    target = primary_url if use_primary or secondary_url is None else secondary_url
    base = target.rstrip("/") + "/api/v2/"
    added = 0
    for m in magnets:
        http.cookies.clear()
        http.post(base + "auth/login", data=credentials, timeout=SPEC_TIMEOUT)
        r = http.post(base + "torrents/add", data={"urls": m}, timeout=SPEC_TIMEOUT)
        added += r.status_code == 200 and r.text.strip() == "Ok."
    return added
