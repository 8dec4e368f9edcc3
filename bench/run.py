"""``./scripts/bench [--quick] [--only 1,3] [--json FILE]``: measure, then print the table.

The full run uses issue 8's sizes (1,000 magnets, 10,000 queued items, …) and takes a few minutes;
``--quick`` shrinks every size and repeat so CI can check that the bench still works (its numbers
mean little). Exit 0 when every figure was measured (goals missed or not: this is a measurement,
not a test), 1 when the bench could not measure something, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from .figures import FIGURES, QUICK, Plan, progress
from .lab import BenchError, Lab
from .table import Row, markdown


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats (the CI form)")
    parser.add_argument(
        "--only", default=",".join(FIGURES), help="comma-separated figure numbers to run (default: all)"
    )
    parser.add_argument("--json", type=Path, help="also write every sample to this JSON file")
    args = parser.parse_args(argv)
    wanted = [f.strip() for f in args.only.split(",") if f.strip()]
    unknown = [f for f in wanted if f not in FIGURES]
    if unknown:
        parser.error(f"unknown figure(s) {', '.join(unknown)}; known: {', '.join(FIGURES)}")
    args.only = wanted
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    plan: Plan = QUICK if args.quick else Plan()
    started = time.monotonic()
    rows: list[Row] = []
    try:
        lab = Lab()
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    try:
        for number in args.only:
            rows += FIGURES[number](lab, plan)
    except BenchError as exc:
        print(f"bench: figure failed: {exc}", file=sys.stderr)
        return 1
    finally:
        lab.close()
    took = time.monotonic() - started
    progress(f"done in {took:.0f} s")
    mode = "quick" if plan.quick else "full"
    print(f"qbfailover bench ({mode} run, {took:.0f} s, {platform.python_version()}, {_machine()})\n")
    print(markdown(rows))
    if args.json:
        doc = {"mode": mode, "seconds": took, "machine": _machine(), "rows": [r.as_dict() for r in rows]}
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 0


def _machine() -> str:
    import os

    try:
        load = f", load {os.getloadavg()[0]:.2f}"
    except OSError:
        load = ""
    return f"{os.cpu_count()} CPUs{load}, qBittorrent {_qbt_version()}"


def _qbt_version() -> str:
    import subprocess

    try:
        out = subprocess.run(["qbittorrent-nox", "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return out.stdout.strip().removeprefix("qBittorrent ") or "?"


if __name__ == "__main__":
    raise SystemExit(main())
