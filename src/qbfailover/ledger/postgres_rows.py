"""The SQL the PostgreSQL ledger shares between operations: rows to Entries, owners, claims, guards.

Why apart from :mod:`qbfailover.ledger.postgres`: these pieces run inside a transaction the
ledger opens, and keeping them here keeps each operation there one short transaction.

Owners. Several hosts share the database, so a claim names its host: ``host/pid:start``. Only
this host can tell whether one of its processes died, so only claims of this host are freed
early (when :func:`~qbfailover.ledger.owner.provably_dead` says so); a claim of another host,
or of an owner we did not name, lapses with its lease and never before.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import socket
from collections.abc import Sequence
from typing import Any, Final

from qbfailover.core import breaker
from qbfailover.core.breaker import Guard
from qbfailover.ledger.base import Entry
from qbfailover.ledger.owner import WorkerId, provably_dead
from qbfailover.ledger.postgres_conn import Connection
from qbfailover.ledger.postgres_schema import SCHEMA

__all__ = [
    "COLUMNS",
    "ENTRIES",
    "NOT_HELD_BY_OTHERS",
    "free_dead_claims",
    "host_owner",
    "load_guard",
    "renew_claims",
    "salt",
    "save_guard",
    "select",
    "to_entry",
]

ENTRIES: Final = f"{SCHEMA}.entries"
COLUMNS: Final = (
    "id, key, kind, payload, name, options, state, instance, reason, attempts, last_error, "
    "next_attempt_at, created_at, updated_at, delivered_at, uncertain, claim_owner, claim_until"
)
NOT_HELD_BY_OTHERS: Final = (
    "(claim_owner IS NULL OR claim_owner = %(owner)s OR claim_until IS NULL OR claim_until <= %(now)s)"
)
"""SQL true for a row nobody else holds (unclaimed, ours, or lapsed): parameters owner, now."""
_HOST_SEP: Final = "/"


def host_owner(worker: WorkerId) -> str:
    """This process's owner token on a shared ledger: ``host/pid:start``."""
    return f"{socket.gethostname()}{_HOST_SEP}{worker.token}"


def to_entry(row: Sequence[Any], owner: str, now: float) -> Entry:
    """An Entry from a row of :data:`COLUMNS`; ``claimed`` if ``owner`` holds a live lease on it."""
    return Entry.from_row(
        row,
        owner,
        now,
        options=row[5] if isinstance(row[5], dict) else json.loads(row[5]),
        uncertain=tuple(row[15] or ()),
    )


def select(conn: Connection, ids: Sequence[int], owner: str, now: float) -> dict[int, Entry]:
    """The rows with these ids, by id (missing ids are simply absent)."""
    if not ids:
        return {}
    cur = conn.execute(f"SELECT {COLUMNS} FROM {ENTRIES} WHERE id = ANY(%s)", (list(ids),))
    return {int(row[0]): to_entry(row, owner, now) for row in cur.fetchall()}


def renew_claims(conn: Connection, owner: str, ids: Sequence[int], until: float) -> None:
    """Extend ``owner``'s claims on these pending rows to ``until`` (even lapsed ones nobody took)."""
    if ids:
        conn.execute(
            f"UPDATE {ENTRIES} SET claim_until = %s WHERE claim_owner = %s AND state = 'pending' "
            "AND id = ANY(%s)",
            (until, owner, sorted(set(ids))),
        )


def free_dead_claims(conn: Connection, now: float, me: str) -> None:
    """Release live-looking claims of this host's processes that are gone (e.g. ``kill -9``)."""
    host, sep, _ = me.partition(_HOST_SEP)
    if not sep:
        return  # A custom owner: we cannot tell our host's processes apart from others'.
    mine = host + _HOST_SEP
    like = host.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + _HOST_SEP + "%"
    owners = [
        str(row[0])
        for row in conn.execute(
            f"SELECT DISTINCT claim_owner FROM {ENTRIES} WHERE claim_owner IS NOT NULL "
            "AND claim_owner LIKE %s AND claim_owner != %s AND claim_until > %s AND state = 'pending'",
            (like, me, now),
        ).fetchall()
    ]
    dead = [owner for owner in owners if provably_dead(owner[len(mine) :])]
    if dead:
        conn.execute(
            f"UPDATE {ENTRIES} SET claim_owner = NULL, claim_until = NULL "
            "WHERE claim_owner = ANY(%s) AND state = 'pending'",
            (dead,),
        )


def load_guard(conn: Connection, name: str) -> Guard:
    """The stored guard of instance ``name``; fresh if none or unreadable (only memory is lost)."""
    row = conn.execute(f"SELECT data FROM {SCHEMA}.guards WHERE name = %s", (name,)).fetchone()
    if row is None:
        return Guard()
    try:
        return breaker.from_stored(json.loads(row[0]))
    except (ValueError, TypeError, AttributeError):
        return Guard()


def save_guard(conn: Connection, name: str, guard: Guard) -> None:
    """Store instance ``name``'s guard, replacing the previous one."""
    conn.execute(
        f"INSERT INTO {SCHEMA}.guards (name, data) VALUES (%s, %s) "
        "ON CONFLICT (name) DO UPDATE SET data = excluded.data",
        (name, json.dumps(dataclasses.asdict(guard), sort_keys=True)),
    )


def salt(conn: Connection) -> bytes:
    """The ledger's fingerprint salt: 16 random bytes, made by whichever host asks first."""
    conn.execute(
        f"INSERT INTO {SCHEMA}.meta (key, value) VALUES ('salt', %s) ON CONFLICT (key) DO NOTHING",
        (secrets.token_bytes(16),),
    )
    return bytes(conn.execute(f"SELECT value FROM {SCHEMA}.meta WHERE key = 'salt'").fetchone()[0])
