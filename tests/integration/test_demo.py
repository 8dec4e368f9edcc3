"""The demo end to end: what `./scripts/demo` runs on a fresh machine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.integration


def _qbt_using(workdir: Path) -> list[int]:
    """qBittorrent processes whose profile lies in ``workdir`` (in any network namespace)."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if "qbittorrent" in (proc.info["name"] or "") and str(workdir) in cmdline:
            found.append(proc.pid)
    return found


def test_demo_runs_every_scenario_and_stops_what_it_started(tmp_path: Path) -> None:
    """`qbfailover demo` walks all five scenarios, loses nothing, and leaves no qBittorrent running."""
    workdir = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "qbfailover", "demo", "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for marker in ("BOTH_HEALTHY", "PRIMARY_DOWN", "BOTH_DOWN", "SECONDARY_DOWN", "nothing lost"):
        assert marker in done.stdout
    assert "0 pending" in done.stdout and "Traceback" not in done.stderr
    assert (workdir / "primary" / "profile" / "qBittorrent" / "config" / "qBittorrent.conf").exists()
    assert _qbt_using(workdir) == []
