"""The durable queue through the CLI and the API, against real qbittorrent-nox."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import Topology
from harness import magnet
from qbfailover import SyncResilientClient
from qbfailover.ledger.queuefile import QueueFile, render_queue_file

pytestmark = pytest.mark.integration

QBF = [sys.executable, "-m", "qbfailover"]
ENTRY_KEYS = {"id", "infohash", "name", "state", "instance", "reason", "attempts", "created_at"}


def cli(topology: Topology, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*QBF, *args], env=topology.env(), input=stdin, capture_output=True, text=True, timeout=120
    )


def spec_file(path: Path, magnets: list[str]) -> None:
    path.write_text(
        render_queue_file(
            QueueFile(
                saved_at="2025-11-28T15:30:00.123456",
                reason="VPN/qBittorrent unavailable",
                magnets=magnets,
                instructions="Manually add these to qBittorrent when available, or paste into web UI",
            )
        )
    )


def test_queue_lifecycle_through_cli(topology: Topology) -> None:
    """Both down → add exits 3 and queues; list/retry/drop work; a drain delivers after recovery."""
    topology.primary.stop()
    topology.secondary.stop()
    items = [magnet(i, "life") for i in range(6)]
    added = cli(topology, "add", "--from-file", "-", "--category", "books", "--json", stdin="\n".join(items))
    assert added.returncode == 3, added.stderr
    assert json.loads(added.stdout)["queued"] == items

    listed = cli(topology, "queue", "list", "--json")
    rows = json.loads(listed.stdout)
    assert len(rows) == 6 and all(set(r) >= ENTRY_KEYS for r in rows)
    assert {r["state"] for r in rows} == {"pending"} and all(r["attempts"] == 1 for r in rows)

    dropped = cli(topology, "queue", "drop", str(rows[0]["id"]), "--yes")
    assert dropped.returncode == 0, dropped.stderr
    refused = cli(topology, "queue", "drop", str(rows[1]["id"]))
    assert refused.returncode != 0 and "--yes" in refused.stderr

    assert cli(topology, "queue", "retry", "--all").returncode == 0
    assert cli(topology, "unblock").returncode == 0
    topology.secondary.start()
    drained = cli(topology, "queue", "drain", "--json")
    assert drained.returncode == 0, drained.stderr + drained.stdout
    doc = json.loads(drained.stdout)
    assert sorted(doc["successful"]) == sorted(items[1:])
    assert {i["instance"] for i in doc["items"]} == {"secondary"}

    everything = json.loads(cli(topology, "queue", "list", "--all", "--json").stdout)
    assert {r["state"] for r in everything} == {"delivered"}
    assert {r["instance"] for r in everything} == {"secondary"}
    assert json.loads(cli(topology, "queue", "list", "--json").stdout) == []
    purged = cli(topology, "queue", "purge", "--delivered", "--older-than", "0s")
    assert purged.returncode == 0 and "purged 5" in purged.stdout


def test_import_export_spec_format(topology: Topology, tmp_path: Path) -> None:
    """A spec-format file imports as pending (file untouched); export writes the spec's format back."""
    magnets = [magnet(i, "json") for i in range(3)] + ["magnet:?xt=urn:btih:abc123def456...&dn=Bad"]
    src = tmp_path / "qbittorrent_queue.json"
    spec_file(src, magnets)
    before = src.read_bytes()
    imported = cli(topology, "queue", "import", str(src), "--json")
    assert imported.returncode == 4  # one line was not a valid magnet: rejected with its reason
    doc = json.loads(imported.stdout)
    assert doc["imported"] == 3 and doc["rejected"][0]["item"] == magnets[3]
    assert src.read_bytes() == before

    out = tmp_path / "export.json"
    exported = cli(topology, "queue", "export", str(out))
    assert exported.returncode == 0, exported.stderr
    written = json.loads(out.read_text())
    assert list(written) == ["saved_at", "reason", "magnets", "instructions"]
    assert written["magnets"] == magnets[:3]

    drained = cli(topology, "queue", "drain", "--json")
    assert drained.returncode == 0
    assert {i["instance"] for i in json.loads(drained.stdout)["items"]} == {"primary"}


def test_process_queue_file_keeps_failures_and_deletes_when_done(topology: Topology, tmp_path: Path) -> None:
    """The spec's process_queue_file: delivered lines leave the file; the file goes when all are done."""
    good = [magnet(i, "pqf") for i in range(4)]
    bad = "magnet:?xt=urn:btih:zz"
    path = tmp_path / "qbittorrent_queue.json"
    spec_file(path, [*good, bad])
    with SyncResilientClient(topology.settings()) as client:
        result = client.process_queue_file(path)
        assert sorted(result.successful) == sorted(good)
        assert result.failed == [bad]
        assert json.loads(path.read_text())["magnets"] == [bad]
        spec_file(path, good)
        again = client.process_queue_file(path)
        assert {r.reason for r in again.items} == {"already there"}
        assert not path.exists()


def test_queue_file_items_kept_when_everything_is_down(topology: Topology, tmp_path: Path) -> None:
    """Nothing reachable: process_queue_file keeps every magnet in the file (and in the ledger)."""
    topology.primary.stop()
    topology.secondary.stop()
    good = [magnet(i, "down-file") for i in range(3)]
    path = tmp_path / "q.json"
    spec_file(path, good)
    with SyncResilientClient(topology.settings()) as client:
        result = client.process_queue_file(path)
        assert result.queued == good
        assert json.loads(path.read_text())["magnets"] == good
        assert client.ledger.counts()["pending"] == 3


def test_bad_files_give_one_line_and_stay_untouched(topology: Topology, tmp_path: Path) -> None:
    """Corrupt ledger or malformed queue file: one line on stderr, exit 5, the file byte-identical."""
    broken = tmp_path / "broken.json"
    broken.write_text('{"saved_at": "x", "magnets": [')
    before = broken.read_bytes()
    res = cli(topology, "queue", "import", str(broken))
    assert res.returncode == 5
    assert res.stderr.count("\n") == 1 and "broken.json" in res.stderr and "Traceback" not in res.stderr
    assert broken.read_bytes() == before

    topology.db.write_bytes(hashlib.sha256(b"x").digest() * 64)
    garbage = topology.db.read_bytes()
    for args in (("status",), ("add", magnet(1, "corrupt")), ("queue", "list")):
        res = cli(topology, *args)
        assert res.returncode == 5, args
        assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
        assert "ledger" in res.stderr
    assert topology.db.read_bytes() == garbage


def test_async_drain_in_batches(topology: Topology) -> None:
    """A drain of more items than one batch delivers them all; progress is told per claim (two
    batches, one per delivery lane)."""
    from qbfailover import AsyncResilientClient

    items = [magnet(i, "batches") for i in range(120)]

    async def go() -> None:
        topology.primary.stop()
        topology.secondary.stop()
        async with AsyncResilientClient(topology.settings(batch_size=50)) as client:
            queued = await client.add_torrents(items)
            assert len(queued.queued) == 120
            client.ledger.retry(None)
            client.unblock()
        topology.primary.start()
        seen: list[tuple[int, int]] = []
        async with AsyncResilientClient(topology.settings(batch_size=50)) as client:
            result = await client.process_queue(on_progress=lambda d, t: seen.append((d, t)))
            assert sorted(result.successful) == sorted(items)
        assert seen == [(100, 120), (120, 120)]

    asyncio.run(go())
