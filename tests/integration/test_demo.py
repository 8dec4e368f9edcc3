"""The demo end to end: what `./scripts/demo` runs on a fresh machine."""

from __future__ import annotations

import subprocess
import sys

import psutil
import pytest

pytestmark = pytest.mark.integration


def _qbt_processes() -> set[int]:
    return {p.pid for p in psutil.process_iter(["name"]) if "qbittorrent" in (p.info["name"] or "")}


def test_demo_runs_every_scenario_and_stops_what_it_started() -> None:
    """`qbfailover demo` walks all five scenarios, loses nothing, and leaves no qBittorrent running."""
    before = _qbt_processes()
    done = subprocess.run(
        [sys.executable, "-m", "qbfailover", "demo"], capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for marker in ("BOTH_HEALTHY", "PRIMARY_DOWN", "BOTH_DOWN", "SECONDARY_DOWN", "nothing lost"):
        assert marker in done.stdout
    assert "0 pending" in done.stdout and "Traceback" not in done.stderr
    assert _qbt_processes() <= before
