"""Damaged surroundings: a corrupt ledger, a truncated queue file, an unreadable config, a full disk.

Each must end the command with one line on stderr and exit 5, leave the user's data byte-for-byte
as it was, and never report an item as delivered or queued unless it was recorded first.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from chaoslib import QBF

from harness import magnet

pytestmark = [pytest.mark.chaos]

DEAD = "http://127.0.0.1:9/"  # nothing listens on the discard port: every item queues


def run(args: list[str], environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*QBF, *args], env=environ, capture_output=True, text=True, timeout=60)


def environ(db: Path, **extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith(("QBITTORRENT_", "QBFAILOVER_"))}
    out.update(QBITTORRENT_URL=DEAD, QBITTORRENT_PASSWORD="pw", QBFAILOVER_DB=str(db), **extra)
    return out


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def one_line_failure(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    """Exit 5, nothing on stdout, exactly one line on stderr containing ``words``; returns it."""
    assert proc.returncode == 5, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout == "", proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in lines[0].lower(), lines[0]
    return lines[0]


def test_ledger_that_is_not_sqlite_is_refused_untouched(tmp_path: Path) -> None:
    """A ledger path holding something else: add/list/drain/export fail in one line; the file is unchanged."""
    db = tmp_path / "ledger.sqlite3"
    db.write_bytes(b"my notes, not a database\n" * 40)
    before = digest(db)
    env = environ(db)
    for args in (
        ["add", magnet(1, "bad")],
        ["queue", "list"],
        ["queue", "drain"],
        ["queue", "export", "x.json"],
    ):
        one_line_failure(run(args, env), "not a qbfailover ledger")
    assert digest(db) == before


def test_corrupt_ledger_pages_are_refused_untouched(tmp_path: Path) -> None:
    """A real ledger with damaged pages: one-line 'corrupt' error, exit 5, the file left as found."""
    db = tmp_path / "ledger.sqlite3"
    env = environ(db)
    first = run(["add", *(magnet(i, "corrupt") for i in range(300)), "--json"], env)
    assert first.returncode == 3, first.stderr
    data = bytearray(db.read_bytes())
    assert len(data) > 3 * 4096
    data[4096 : 3 * 4096] = b"\xa5" * (2 * 4096)  # pages 2-3: schema and table b-trees
    db.write_bytes(bytes(data))
    before = digest(db)
    for args in (["add", magnet(9, "corrupt")], ["queue", "list"], ["queue", "drain"]):
        one_line_failure(run(args, env), "corrupt")
    assert digest(db) == before


def test_truncated_queue_file_imports_nothing(tmp_path: Path) -> None:
    """`queue import` of a JSON file cut short: one line naming the spot, nothing recorded, file untouched."""
    db = tmp_path / "ledger.sqlite3"
    env = environ(db)
    doc = {"saved_at": "2025-11-28T15:00:00", "reason": "x", "magnets": [magnet(i, "t") for i in range(5)]}
    text = json.dumps(doc, indent=2)
    path = tmp_path / "qbittorrent_queue.json"
    path.write_text(text[: len(text) // 2])
    before = digest(path)
    line = one_line_failure(run(["queue", "import", str(path)], env), "not valid json", "line")
    assert "qbittorrent_queue.json" in line
    assert digest(path) == before
    listed = run(["queue", "list", "--json"], env)
    assert listed.returncode == 0 and json.loads(listed.stdout) == []


@pytest.mark.parametrize("kind", ["directory", "not utf-8", "bad toml", "missing"])
def test_unreadable_config_is_one_line(tmp_path: Path, kind: str) -> None:
    """--config that cannot be read or parsed: one line naming the file, exit 5, for every command."""
    path = tmp_path / "qbfailover.toml"
    if kind == "directory":
        path.mkdir()
    elif kind == "not utf-8":
        path.write_bytes(b'[[instances]]\nname = "\xff\xfe"\n')
    elif kind == "bad toml":
        path.write_text('[[instances]\nname = "a"\n')
    env = environ(tmp_path / "ledger.sqlite3")
    for args in (["add", magnet(1, "cfg")], ["status"], ["queue", "list"], ["queue", "drain"]):
        line = one_line_failure(run([*args, "--config", str(path)], env))
        assert str(path) in line
    assert not (tmp_path / "ledger.sqlite3").exists()  # nothing written on the way to the error


DISK_FULL = r"""
set -u
mount -t tmpfs -o size=512k tmpfs "$SMALL"
cd "$SMALL"
run() { name=$1; shift; "${QBF[@]}" "$@" > "$OUT/$name.out" 2> "$OUT/$name.err"; echo $? > "$OUT/$name.rc"; }
QBF=("${@}")
run first add --from-file "$OUT/first.txt" --json
# Fill the disk, then give back $FREE: too little for the next batch of 400 items.
dd if=/dev/zero of=filler bs=4k 2>/dev/null
truncate -s "-$FREE" filler
run second add --from-file "$OUT/second.txt" --json
rm filler
run list queue list --json
"""


@pytest.mark.parametrize("free", ["8k", "64k"])
def test_disk_full_while_recording_accepts_nothing(tmp_path: Path, free: str) -> None:
    """The disk fills while a batch is recorded: exit 5 in one line, nothing reported, earlier items kept.

    8 KiB free fails on opening (no room for the WAL index), 64 KiB in the middle of the batch.
    """
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs in a private mount namespace needs root")
    small, out = tmp_path / "small", tmp_path / "out"
    small.mkdir()
    out.mkdir()
    first = [magnet(i, "full-1") for i in range(50)]
    second = [magnet(i, "full-2") for i in range(400)]
    (out / "first.txt").write_text("\n".join(first) + "\n")
    (out / "second.txt").write_text("\n".join(second) + "\n")
    env = environ(small / "ledger.sqlite3", SMALL=str(small), OUT=str(out), FREE=free)
    proc = subprocess.run(
        ["unshare", "--mount", "bash", "-c", DISK_FULL, "disk-full", *QBF],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr

    def code(name: str) -> int:
        return int((out / f"{name}.rc").read_text())

    assert code("first") == 3, (out / "first.err").read_text()
    assert json.loads((out / "first.out").read_text())["queued"] == first
    second_run = subprocess.CompletedProcess(
        [], code("second"), (out / "second.out").read_text(), (out / "second.err").read_text()
    )
    one_line_failure(second_run, "disk full")
    assert code("list") == 0, (out / "list.err").read_text()
    kept = {e["infohash"] for e in json.loads((out / "list.out").read_text())}
    assert kept == {m.split("btih:")[1].split("&")[0] for m in first}
