"""Figure 7: ``qbfailover serve`` beside qBittorrent itself (issue 16's goals).

The gateway runs as the real command (a subprocess); each add sample is timed from the request
until the client sees every hash on an instance, polling what it talks to, as a client does: the
direct baseline polls qBittorrent, the gateway's client polls the gateway, which lists an item as
on its instance (no longer queued) only once its delivery confirmed it there by infohash. Both
include qBittorrent's own work. (Polling qBittorrent behind the gateway's back instead would make
qBittorrent serialise every new torrent twice, for the poller and for the confirmation, at
0.1-0.3 ms each on 4.5: a cost no client of the gateway causes.) torrents/info is timed with the
view's cache expired before each sample (the worst case: every instance fetched and merged).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable

import httpx

from harness import blackholed, free_port, magnet

from .lab import VPN_GATEWAY, BenchError, Lab, Raw, raw
from .table import Row, sample

USER, PASSWORD = "bench", "bench-gateway-pw"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class _Serve:
    def __init__(self, lab: Lab) -> None:
        self.port = free_port("127.0.0.1")
        env = {**lab.env(), "QBFAILOVER_GATEWAY_USERNAME": USER, "QBFAILOVER_GATEWAY_PASSWORD": PASSWORD}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "qbfailover", "serve", "--listen", f"127.0.0.1:{self.port}", "-i", "1"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.http = httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}/api/v2/", timeout=120, trust_env=False
        )
        end = time.monotonic() + 30
        while True:
            try:
                if self.http.post("auth/login", data={"username": USER, "password": PASSWORD}).text == "Ok.":
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > end or self.proc.poll() is not None:
                raise BenchError("qbfailover serve did not come up")
            time.sleep(0.05)
        self.rss_at_start = self.rss_mb()

    def rss_mb(self) -> float:
        with open(f"/proc/{self.proc.pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def close(self) -> None:
        self.http.close()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _until_listed(session: Raw, wanted: set[str], timeout: float = 120) -> None:
    """Poll every 10 ms, asking only for the hashes not listed yet (one POSTed filter).

    An unfiltered list every 10 ms would keep qBittorrent's single WebUI thread busy listing the
    torrents already there, and a delivery still on its way (the gateway's) would queue behind
    those listings: the poller would measure itself. Both sides are polled the same way.
    """
    end = time.monotonic() + timeout
    missing = set(wanted)
    while True:
        r = session.http.post("torrents/info", data={"hashes": "|".join(sorted(missing))})
        r.raise_for_status()
        missing -= {t["hash"] for t in r.json()}
        if not missing:
            return
        if time.monotonic() > end:
            raise BenchError("items not listed in time")
        time.sleep(0.01)


def _until_delivered(gw: _Serve, wanted: set[str], timeout: float = 120) -> None:
    """The gateway's client side of :func:`_until_listed`: the same 10 ms polls, through the gateway,
    until every hash is listed and none is still queued there."""
    end = time.monotonic() + timeout
    missing = set(wanted)
    while True:
        r = gw.http.post("torrents/info", data={"hashes": "|".join(sorted(missing))})
        r.raise_for_status()
        missing -= {t["hash"] for t in r.json() if not t.get("qbfailover_queued")}
        if not missing:
            return
        if time.monotonic() > end:
            raise BenchError("items not delivered in time")
        time.sleep(0.01)


def _timed(work: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    work()
    return time.perf_counter() - t0


def _hashes(batch: list[str]) -> set[str]:
    return {m.split("btih:")[1].split("&")[0] for m in batch}


def _adds(gw: _Serve, p: Raw, n: int, repeats: int) -> list[Row]:
    one: dict[str, list[float]] = {"gw": [], "direct": []}
    many: dict[str, list[float]] = {"gw": [], "direct": []}
    for rep in range(repeats):
        for kind in ("gw", "direct"):
            batch = [magnet(i, f"g1{rep}{kind}") for i in range(n)]
            p.clear()
            t0 = time.perf_counter()
            if kind == "gw":
                gw.http.post("torrents/add", data={"urls": "\n".join(batch)})
                _until_delivered(gw, _hashes(batch))
            else:
                p.add(batch)
                _until_listed(p, _hashes(batch))
            one[kind].append(time.perf_counter() - t0)
            batch = [magnet(i, f"g2{rep}{kind}") for i in range(n)]
            p.clear()
            t0 = time.perf_counter()
            for m in batch:
                if kind == "gw":
                    gw.http.post("torrents/add", data={"urls": m})
                else:
                    p.add([m])
            if kind == "gw":
                _until_delivered(gw, _hashes(batch))
            else:
                _until_listed(p, _hashes(batch))
            many[kind].append(time.perf_counter() - t0)
    return [
        Row(
            "7",
            f"{n:,} magnets in one request",
            sample("gateway", one["gw"]),
            sample("direct", one["direct"]),
            "≤ 1.5x direct",
            lambda o, b: b is not None and o <= 1.5 * b,
        ),
        Row(
            "7",
            f"{n:,} magnets in {n:,} requests",
            sample("gateway", many["gw"]),
            sample("direct", many["direct"]),
            "≤ 2x direct",
            lambda o, b: b is not None and o <= 2 * b,
        ),
    ]


def _info(gw: _Serve, p: Raw, s: Raw, half: int, samples: int) -> list[Row]:
    for session, tag in ((p, "ip"), (s, "is")):
        batch = [magnet(i, tag) for i in range(half)]
        session.add(batch)
        _until_listed(session, _hashes(batch))
    through: list[float] = []
    direct: list[float] = []
    for _ in range(samples):
        time.sleep(1.05)  # the view's cache (1 s) expired: every sample fetches and merges
        through.append(_timed(lambda: gw.http.get("torrents/info").raise_for_status()))
        direct.append(_timed(lambda: p.http.get("torrents/info").raise_for_status()))
    for session, tag in ((p, "jp"), (s, "js")):  # 10,000 known in all, for the RSS goal
        batch = [magnet(i, tag) for i in range(half)]
        session.add(batch)
        _until_listed(session, _hashes(batch))
    time.sleep(1.05)
    gw.http.get("torrents/info").raise_for_status()
    p99 = f"p99 gateway {_pct(through, 0.99) * 1000:.0f} ms, direct {_pct(direct, 0.99) * 1000:.0f} ms"
    return [
        Row(
            "7",
            f"torrents/info, {2 * half:,} torrents on 2 instances (p50)",
            sample("gateway", through),
            sample(f"direct, one instance with {half:,}", direct),
            "p50 ≤ 1.5x direct",
            lambda o, b: b is not None and o <= 1.5 * b,
            note=p99,
        ),
        Row(
            "7",
            f"gateway RSS, {4 * half:,} known torrents",
            sample("rss", [gw.rss_mb()], "MB"),
            None,
            "≤ 150 MB (at 10,000)",
            lambda o, b: o <= 150,
            note=f"RSS right after start (logged in, nothing known): {gw.rss_at_start:.0f} MB",
        ),
    ]


def _outage(gw: _Serve, lab: Lab, n: int) -> list[Row]:
    lab.secondary.stop()
    waits: list[float] = []
    try:
        with blackholed(VPN_GATEWAY):
            for i in range(n):
                t0 = time.perf_counter()
                gw.http.post("torrents/add", data={"urls": magnet(i, "out")})
                waits.append(time.perf_counter() - t0)
    finally:
        lab.secondary.start()
    return [
        Row(
            "7",
            "add answered during a full outage (p99)",
            sample("p99", [_pct(waits, 0.99)]),
            None,
            "≤ deadline (2 s) + 100 ms",
            lambda o, b: o <= 2.1,
            note=f"median {_pct(waits, 0.5) * 1000:.0f} ms over {len(waits)} adds",
        ),
    ]


def fig_gateway(lab: Lab, plan: object) -> list[Row]:
    """Issue 16's figures: adds (one request, many requests), merged torrents/info, RSS, outage adds."""
    quick = bool(getattr(plan, "quick", False))
    gw = _Serve(lab)
    try:
        with raw(lab.primary) as p, raw(lab.secondary) as s:
            rows = _adds(gw, p, 100 if quick else 1000, 2 if quick else 3)
            p.clear()
            rows += _info(gw, p, s, 250 if quick else 2500, 10 if quick else 30)
            rows += _outage(gw, lab, 20 if quick else 50)
    finally:
        gw.close()
    return rows
