"""Copying a ledger (a host's SQLite file) into the shared PostgreSQL ledger, once, atomically.

Why this shape: the copy must neither lose nor duplicate an item, even if it is interrupted or
run twice. So it is one transaction (all rows or none), and that transaction also writes a
marker naming the source (its fingerprint salt, which is stable per ledger file): a second run
finds the marker and copies nothing. A pending item whose key is already pending in the target
(another host handed in the same magnet) is not copied again: the dedupe rule of ``record``.
Delivered and rejected rows are copied as history. Claims are not: a copied row is free, so the
processes that used the source must be stopped first (``docs/postgresql.md``). Breaker guards are
not copied either: they are short-lived memory, rebuilt by the next health check.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from qbfailover.ledger.base import Entry
from qbfailover.ledger.postgres_conn import Connection
from qbfailover.ledger.postgres_rows import ENTRIES
from qbfailover.ledger.postgres_schema import SCHEMA

__all__ = ["CopyResult", "copy_rows"]

_COLUMNS = (
    "key, kind, payload, name, options, state, instance, reason, attempts, last_error, "
    "next_attempt_at, created_at, updated_at, delivered_at, uncertain"
)


@dataclass(frozen=True, slots=True)
class CopyResult:
    """What a copy did: rows copied per state, pending ones already there, or a previous copy."""

    copied: dict[str, int]
    already_pending: int
    previously_copied_at: float | None = None
    """When an earlier run copied this source (nothing was copied this time), else None."""


def _values(entry: Entry) -> tuple[object, ...]:
    return (
        entry.key,
        entry.kind,
        entry.payload,
        entry.name,
        json.dumps(entry.options, sort_keys=True, ensure_ascii=False),
        entry.state,
        entry.instance,
        entry.reason,
        entry.attempts,
        entry.last_error,
        entry.next_attempt_at,
        entry.created_at,
        entry.updated_at,
        entry.delivered_at,
        list(entry.uncertain),
    )


def copy_rows(conn: Connection, entries: Sequence[Entry], source_id: str, now: float) -> CopyResult:
    """Insert ``entries`` (oldest first) unless ``source_id`` was copied before; inside the
    caller's transaction, which the marker makes the unit of "copied once"."""
    marker = f"migrated:{source_id}"
    found = conn.execute(f"SELECT value FROM {SCHEMA}.meta WHERE key = %s FOR UPDATE", (marker,)).fetchone()
    if found is not None:
        return CopyResult({}, 0, float(bytes(found[0]).decode("ascii")))
    conn.execute(
        f"INSERT INTO {SCHEMA}.meta (key, value) VALUES (%s, %s)", (marker, repr(now).encode("ascii"))
    )
    before = _counts(conn)
    placeholders = ", ".join(["%s"] * 4 + ["%s::jsonb"] + ["%s"] * 10)
    ordered = sorted(entries, key=lambda e: e.id)
    with conn.cursor() as cur:  # executemany pipelines the statements: one round trip per batch
        for state, conflict in (
            ("pending", " ON CONFLICT (key) WHERE state = 'pending' DO NOTHING"),
            ("delivered", ""),
            ("rejected", ""),
        ):
            rows = [_values(e) for e in ordered if e.state == state]
            if rows:
                cur.executemany(f"INSERT INTO {ENTRIES} ({_COLUMNS}) VALUES ({placeholders}){conflict}", rows)
    after = _counts(conn)
    copied = {
        state: after.get(state, 0) - before.get(state, 0) for state in ("pending", "delivered", "rejected")
    }
    pending = sum(1 for e in ordered if e.state == "pending")
    return CopyResult(copied, pending - copied["pending"])


def _counts(conn: Connection) -> dict[str, int]:
    found = conn.execute(f"SELECT state, count(*) FROM {ENTRIES} GROUP BY state").fetchall()
    return {str(state): int(n) for state, n in found}
