"""Failback's move journal in the SQLite ledger: one row per move, written before each step.

Why a table of its own: a move touches two instances (add on the target, confirm, remove from
the source), and a crash between those steps must leave enough behind for a rerun to finish the
job; the open row (state ``moving``, at most one per entry) is that trace, and the closed rows are
the history ``failback --history`` shows.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from qbfailover.ledger.base import MOVE_COLUMNS, MOVE_STATES, Move

__all__ = ["journal", "select"]

_COLUMNS: Final = MOVE_COLUMNS


def journal(
    conn: sqlite3.Connection, entry_id: int, source: str, target: str, state: str, reason: str, now: float
) -> Move:
    """Open, return or close the entry's move inside the caller's write transaction."""
    if state not in MOVE_STATES:
        raise ValueError(f"unknown move state {state!r}; known: {', '.join(MOVE_STATES)}")
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM moves WHERE entry_id = ? AND state = 'moving'", (entry_id,)
    ).fetchone()
    if row is not None and state == "moving":
        return Move.from_row(row)
    if row is None:
        cur = conn.execute(
            "INSERT INTO moves (entry_id, source, target, state, reason, started_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (entry_id, source, target, state, reason, now, now),
        )
        move_id = int(cur.lastrowid or 0)
    else:
        move_id = int(row[0])
        conn.execute(
            "UPDATE moves SET state = ?, reason = ?, updated_at = ? WHERE id = ?",
            (state, reason, now, move_id),
        )
    move = Move.from_row(conn.execute(f"SELECT {_COLUMNS} FROM moves WHERE id = ?", (move_id,)).fetchone())
    if state == "moved":
        conn.execute(
            "UPDATE entries SET instance = ?, reason = ?, updated_at = ? "
            "WHERE id = ? AND state = 'delivered'",
            (move.target, f"moved from {move.source}", now, entry_id),
        )
    return move


def select(conn: sqlite3.Connection, open_only: bool, limit: int | None) -> list[Move]:
    """Moves newest first (only the open ones with ``open_only``)."""
    sql = f"SELECT {_COLUMNS} FROM moves"
    if open_only:
        sql += " WHERE state = 'moving'"
    sql += " ORDER BY id DESC"
    args: tuple[int, ...] = ()
    if limit is not None:
        sql += " LIMIT ?"
        args = (limit,)
    return [Move.from_row(row) for row in conn.execute(sql, args)]
