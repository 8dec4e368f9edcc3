"""A separate process working on a ledger, for the multi-process tests of ``store``.

Usage (``python ledger_worker.py COMMAND DB ...``; DB is a SQLite path or a PostgreSQL URL):

- ``record DB PREFIX N BATCH``: record N items in batches without claiming them.
- ``add DB PREFIX N BATCH NAME LOG``: record with claim, deliver what it claimed (like ``add``).
- ``drain DB NAME TOTAL LOG``: claim due rows and deliver them until TOTAL rows are delivered.
- ``hold DB LIMIT INSTANCE``: claim, note the send to INSTANCE, print the ids, wait on stdin.
- ``claim-exit DB LIMIT``: claim and exit without releasing anything.

Every claimed id is appended to LOG (one per line) *before* it is marked, so a row claimed twice
shows up twice across the logs.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from qbfailover.ledger import NewEntry, open_ledger

DEADLINE_SECONDS = 240.0


def _items(prefix: str, start: int, count: int) -> list[NewEntry]:
    return [
        NewEntry(
            key=f"{prefix}{i:08x}".ljust(40, "0"),
            kind="magnet",
            payload=f"magnet:?xt=urn:btih:{prefix}{i:08x}".encode(),
            name=f"{prefix} {i}",
            options={"category": "test"},
        )
        for i in range(start, start + count)
    ]


def _log(log: Path, ids: list[int]) -> None:
    with log.open("a", encoding="ascii") as fh:
        fh.write("".join(f"{i}\n" for i in ids))


def main(argv: list[str]) -> int:
    command, db = argv[0], argv[1]  # a SQLite path or a postgresql:// URL
    with open_ledger(db) as ledger:
        if command in ("record", "add"):
            prefix, n, batch = argv[2], int(argv[3]), int(argv[4])
            for start in range(0, n, batch):
                items = _items(prefix, start, min(batch, n - start))
                entries = ledger.record(items, reason="test", claim=command == "add")
                if command == "add":
                    mine = [e.id for e in entries if e.claimed]
                    _log(Path(argv[6]), mine)
                    ledger.mark_delivered(mine, instance=argv[5], reason="added")
            return 0
        if command == "drain":
            name, total, log = argv[2], int(argv[3]), Path(argv[4])
            deadline = time.monotonic() + DEADLINE_SECONDS
            while time.monotonic() < deadline:
                entries = ledger.claim_due(limit=10)
                if entries:
                    ids = [e.id for e in entries]
                    _log(log, ids)
                    ledger.note_sent(ids, name)
                    time.sleep(0.002)  # Stands for the HTTP add: the claim must hold meanwhile.
                    ledger.mark_delivered(ids, instance=name, reason="added")
                elif ledger.counts()["delivered"] >= total:
                    return 0
                else:
                    time.sleep(0.002)  # Politeness while recorders catch up; not a sync point.
            return 2
        if command == "hold":
            entries = ledger.claim_due(limit=int(argv[2]))
            ids = [e.id for e in entries]
            ledger.note_sent(ids, argv[3])
            print(" ".join(map(str, ids)), flush=True)
            sys.stdin.read()  # Held until the test kills us or closes our stdin.
            return 0
        if command == "claim-exit":
            entries = ledger.claim_due(limit=int(argv[2]))
            print(" ".join(str(e.id) for e in entries), flush=True)
            return 0
    print(f"unknown command {command!r}", file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
