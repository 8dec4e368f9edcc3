"""A producer or drain process for the concurrency and flapping tests (library API, like a workflow).

    python worker.py produce ITEMS_FILE [--chunk N] [--spread SECONDS]
    python worker.py drain STOP_FILE

Settings come from QBFAILOVER_CONFIG. ``produce`` hands its items over ``--chunk`` at a time, spread
evenly over ``--spread`` seconds (load pacing, not synchronisation); ``drain`` calls
``process_queue`` until STOP_FILE exists and nothing is pending. Each prints one JSON line of counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from qbfailover.config import load_settings
from qbfailover.engine.client import AsyncResilientClient


async def produce(items: list[str], chunk: int, spread: float) -> dict[str, int]:
    counts = {"delivered": 0, "queued": 0, "rejected": 0}
    start = time.monotonic()
    chunks = [items[i : i + chunk] for i in range(0, len(items), chunk)]
    async with AsyncResilientClient(load_settings()) as client:
        for n, part in enumerate(chunks):
            due = start + spread * n / max(1, len(chunks))
            if due > time.monotonic():
                await asyncio.sleep(due - time.monotonic())
            result = await client.add_torrents(part)
            for r in result.items:
                counts[r.state] += 1
    return counts


async def drain(stop: Path) -> dict[str, int]:
    counts = {"delivered": 0, "queued": 0, "rejected": 0, "rounds": 0}
    async with AsyncResilientClient(load_settings()) as client:
        while True:
            counts["rounds"] += 1
            result = await client.process_queue()
            for r in result.items:
                counts[r.state] += 1
            if not result.items:
                if stop.exists() and client.ledger.counts()["pending"] == 0:
                    return counts
                await asyncio.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("produce")
    p.add_argument("items", type=Path)
    p.add_argument("--chunk", type=int, default=50)
    p.add_argument("--spread", type=float, default=0.0)
    d = sub.add_parser("drain")
    d.add_argument("stop", type=Path)
    args = parser.parse_args()
    if args.mode == "produce":
        items = [line for line in args.items.read_text().splitlines() if line]
        counts = asyncio.run(produce(items, args.chunk, args.spread))
    else:
        counts = asyncio.run(drain(args.stop))
    print(json.dumps({"mode": args.mode, **counts}), flush=True)


if __name__ == "__main__":
    main()
