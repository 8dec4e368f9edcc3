"""Work done in a new process, so a figure can include (or exclude) everything a cold start pays.

``python -m bench.probe health``       our first health check (logins included), settings from the
                                       spec's variables; prints {"seconds": …, "state": …}
``python -m bench.probe spec-health``  the spec's sequential check from a new process, likewise
``python -m bench.probe spec-add M``   the spec's flow for one magnet, start to finish (the parent
                                       times the whole process, as it does ``qbfailover add``)
``python -m bench.probe drain``        drain the ledger (``QBFAILOVER_DB``) with the library; prints
                                       {"seconds": …, "delivered": …, "rss_mb": …, "peak_mb": …}: the
                                       process's resident size before the drain and at its peak
``python -m bench.probe cli-drain``    the same through ``qbfailover queue drain`` (its printed lines go
                                       to /dev/null), in this process; prints the same keys
Imports happen before the clock starts for the two health probes; the check is the figure.
"""

from __future__ import annotations

import json
import os
import sys
import time


def _urls() -> tuple[str, str | None, str | None]:
    return (
        os.environ["QBITTORRENT_URL"],
        os.environ.get("QBITTORRENT_SECONDARY_URL") or None,
        os.environ.get("QBITTORRENT_VPN_GATEWAY") or None,
    )


def _credentials() -> dict[str, str]:
    return {"username": os.environ["QBITTORRENT_USERNAME"], "password": os.environ["QBITTORRENT_PASSWORD"]}


def ours_health() -> dict[str, object]:
    import asyncio

    from qbfailover import AsyncResilientClient, load_settings

    settings = load_settings()

    async def check() -> dict[str, object]:
        async with AsyncResilientClient(settings) as client:
            start = time.perf_counter()
            report = await client.health_check()
            return {"seconds": time.perf_counter() - start, "state": str(report.state)}

    return asyncio.run(check())


def spec_health() -> dict[str, object]:
    import httpx

    from .baselines import spec_health as check

    primary, secondary, gateway = _urls()
    with httpx.Client(trust_env=False) as http:
        start = time.perf_counter()
        vpn_up, statuses = check(http, gateway, [u for u in (primary, secondary) if u])
        return {"seconds": time.perf_counter() - start, "vpn_up": vpn_up, "statuses": statuses}


def spec_add(magnet: str) -> dict[str, object]:
    import httpx

    from .baselines import spec_flow

    primary, secondary, gateway = _urls()
    with httpx.Client(trust_env=False) as http:
        added = spec_flow(http, primary, secondary, gateway, _credentials(), [magnet])
    return {"added": added}


def drain() -> dict[str, object]:
    import asyncio

    from qbfailover import AsyncResilientClient, load_settings

    settings = load_settings()

    async def run() -> int:
        async with AsyncResilientClient(settings) as client:
            result = await client.process_queue()
            return sum(1 for r in result.items if r.state == "delivered")

    before = _status_mb("VmRSS")
    start = time.perf_counter()
    delivered = asyncio.run(run())
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "delivered": delivered, "rss_mb": before, "peak_mb": _status_mb("VmHWM")}


def cli_drain() -> dict[str, object]:
    """``qbfailover queue drain`` as a user runs it, measured from inside its own process."""
    from qbfailover.cli.entry import main as cli_main
    from qbfailover.ledger import open_ledger

    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    before = _status_mb("VmRSS")
    start = time.perf_counter()
    sys.argv = ["qbfailover", "queue", "drain"]
    os.dup2(devnull, 1)
    try:
        cli_main()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(devnull)
    seconds = time.perf_counter() - start
    peak = _status_mb("VmHWM")
    with open_ledger(os.environ["QBFAILOVER_DB"]) as ledger:
        delivered = ledger.counts().get("delivered", 0)
    return {"seconds": seconds, "delivered": delivered, "rss_mb": before, "peak_mb": peak, "exit": code}


def _status_mb(field: str) -> float:
    """A size from /proc/self/status. VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the
    parent across fork and exec, so a child of the (large) bench process would report its parent's."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    what = argv[0]
    if what == "health":
        doc = ours_health()
    elif what == "spec-health":
        doc = spec_health()
    elif what == "spec-add" and len(argv) == 2:
        doc = spec_add(argv[1])
    elif what == "drain":
        doc = drain()
    elif what == "cli-drain":
        doc = cli_drain()
    else:
        print(f"unknown probe {argv!r}", file=sys.stderr)
        return 2
    print(json.dumps(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
