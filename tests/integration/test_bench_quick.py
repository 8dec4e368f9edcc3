"""The benchmark keeps working: its quick form runs end to end and prints its table (never timings)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from harness import in_private_netns, nft_available

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FIGURES = ["1a", "1b", "1c", "2a", "2b", "2c", "2d", "3a", "3b", "3c", "4a", "4b", "4c"]
FIGURES += ["5a", "5b", "5c", "5d", "6a", "6b", "7", "7", "7", "7", "7", "8a", "8b", "8c", "8d"]


def test_bench_quick_prints_its_table(tmp_path: Path) -> None:
    """./scripts/bench --quick measures every figure against real qbittorrent-nox and prints the table."""
    if not (in_private_netns() and nft_available()):
        pytest.skip("the bench binds port 52095 on several loopback addresses: run ./scripts/test as root")
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [str(REPO / "scripts" / "bench"), "--quick", "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert "| # | figure | ours: median (spread) | baseline: median | ratio | goal | met |" in lines
    shown = [line.split("|")[1].strip() for line in lines if line.startswith("| ") and line[2:3].isdigit()]
    assert shown == FIGURES
    assert out.stat().st_size > 0
