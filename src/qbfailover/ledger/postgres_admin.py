"""The PostgreSQL ledger's statements for people and statistics: counts, lists, retry, drop, purge.

Why apart from :mod:`qbfailover.ledger.postgres`: none of these takes or respects a claim (a
person decided, or a number is read), so they need none of the claim plumbing there. ``retry``
announces the work it makes due (NOTIFY, delivered on commit), so a watcher elsewhere drains it
at once. None of these commits.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from qbfailover.ledger.base import STATES, Entry
from qbfailover.ledger.postgres_conn import Connection
from qbfailover.ledger.postgres_rows import COLUMNS, ENTRIES, to_entry
from qbfailover.ledger.postgres_schema import WORK_CHANNEL

__all__ = ["NOTIFY", "counts", "drop", "listing", "oldest_pending", "purge_delivered", "retry"]

NOTIFY: Final = f"SELECT pg_notify('{WORK_CHANNEL}', '')"
"""Announce new work to every LISTENing watcher, on commit of the current transaction."""


def counts(conn: Connection) -> dict[str, int]:
    """Rows per state, every state present (zeros too)."""
    result = dict.fromkeys(STATES, 0)
    for state, n in conn.execute(f"SELECT state, count(*) FROM {ENTRIES} GROUP BY state").fetchall():
        result[str(state)] = int(n)
    return result


def oldest_pending(conn: Connection) -> float | None:
    """``created_at`` of the oldest pending row, None for an empty queue."""
    row = conn.execute(f"SELECT min(created_at) FROM {ENTRIES} WHERE state = 'pending'").fetchone()
    return None if row is None or row[0] is None else float(row[0])


def retry(conn: Connection, entry_id: int | None, now: float) -> int:
    """Make one pending row (or all, with None) due now, and say so to watchers; how many."""
    sql = f"UPDATE {ENTRIES} SET next_attempt_at = %s, updated_at = %s WHERE state = 'pending'"
    if entry_id is None:
        cur = conn.execute(sql, (now, now))
    else:
        cur = conn.execute(sql + " AND id = %s", (now, now, entry_id))
    if cur.rowcount:
        conn.execute(NOTIFY)
    return int(cur.rowcount)


def drop(conn: Connection, entry_id: int) -> bool:
    """Delete one row; True if it existed."""
    return bool(conn.execute(f"DELETE FROM {ENTRIES} WHERE id = %s", (entry_id,)).rowcount > 0)


def purge_delivered(conn: Connection, cutoff: float) -> int:
    """Delete delivered rows delivered before ``cutoff``; how many."""
    sql = f"DELETE FROM {ENTRIES} WHERE state = 'delivered' AND delivered_at < %s"
    return int(conn.execute(sql, (cutoff,)).rowcount)


def listing(
    conn: Connection,
    states: Collection[str],
    limit: int | None,
    owner: str,
    now: float,
    *,
    newest: bool = False,
) -> list[Entry]:
    """Rows in these (known) states, oldest first (``newest``: last updated first), at most ``limit``."""
    order = "updated_at DESC, id DESC" if newest else "id"
    sql = f"SELECT {COLUMNS} FROM {ENTRIES} WHERE state = ANY(%s) ORDER BY {order}"
    args: list[object] = [[*states]]
    if limit is not None:
        sql += " LIMIT %s"
        args.append(limit)
    return [to_entry(r, owner, now) for r in conn.execute(sql, args).fetchall()]
