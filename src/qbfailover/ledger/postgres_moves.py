"""Failback's move journal in the PostgreSQL ledger: one row per move, written before each step.

Why the same shape as SQLite's (``sqlite_moves``): a rerun on any host must find the open move
(state ``moving``, at most one per entry, which a partial unique index enforces across hosts)
and finish it. Two hosts opening the same move at once both get the one row: the second insert
yields to the first (``ON CONFLICT DO NOTHING``) and reads it back. None of these commits.
"""

from __future__ import annotations

from typing import Any, Final

from qbfailover.ledger.base import MOVE_COLUMNS, MOVE_STATES, Move
from qbfailover.ledger.postgres_conn import Connection
from qbfailover.ledger.postgres_rows import ENTRIES
from qbfailover.ledger.postgres_schema import SCHEMA

__all__ = ["journal", "select"]

_MOVES: Final = f"{SCHEMA}.moves"
_COLUMNS: Final = MOVE_COLUMNS


def _open_move(conn: Connection, entry_id: int) -> Any:
    return conn.execute(
        f"SELECT {_COLUMNS} FROM {_MOVES} WHERE entry_id = %s AND state = 'moving' FOR UPDATE", (entry_id,)
    ).fetchone()


def journal(
    conn: Connection, entry_id: int, source: str, target: str, state: str, reason: str, now: float
) -> Move:
    """Open, return or close the entry's move inside the caller's transaction (see the protocol)."""
    if state not in MOVE_STATES:
        raise ValueError(f"unknown move state {state!r}; known: {', '.join(MOVE_STATES)}")
    insert = (
        f"INSERT INTO {_MOVES} (entry_id, source, target, state, reason, started_at, updated_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)"
    )
    values = (entry_id, source, target, state, reason, now, now)
    if state == "moving":
        row = conn.execute(
            f"{insert} ON CONFLICT (entry_id) WHERE state = 'moving' DO NOTHING RETURNING {_COLUMNS}", values
        ).fetchone()
        return Move.from_row(row if row is not None else _open_move(conn, entry_id))
    row = _open_move(conn, entry_id)
    if row is None:
        row = conn.execute(f"{insert} RETURNING {_COLUMNS}", values).fetchone()
    else:
        row = conn.execute(
            f"UPDATE {_MOVES} SET state = %s, reason = %s, updated_at = %s WHERE id = %s "
            f"RETURNING {_COLUMNS}",
            (state, reason, now, int(row[0])),
        ).fetchone()
    move = Move.from_row(row)
    if state == "moved":
        conn.execute(
            f"UPDATE {ENTRIES} SET instance = %s, reason = %s, updated_at = %s "
            "WHERE id = %s AND state = 'delivered'",
            (move.target, f"moved from {move.source}", now, entry_id),
        )
    return move


def select(conn: Connection, open_only: bool, limit: int | None) -> list[Move]:
    """Moves newest first (only the open ones with ``open_only``)."""
    sql = f"SELECT {_COLUMNS} FROM {_MOVES}"
    if open_only:
        sql += " WHERE state = 'moving'"
    sql += " ORDER BY id DESC"
    if limit is not None:
        sql += " LIMIT %s"
    return [Move.from_row(r) for r in conn.execute(sql, () if limit is None else (limit,)).fetchall()]
