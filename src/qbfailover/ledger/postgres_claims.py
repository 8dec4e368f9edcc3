"""The PostgreSQL ledger's inserts and claims: one batched INSERT, row locks that never wait.

Why apart from :mod:`qbfailover.ledger.postgres`: these are the statements that several hosts
run at once on the same rows, so their locking is the heart of the backend. A claim locks its
candidates with ``FOR UPDATE SKIP LOCKED``: a row another transaction is busy with is simply not
a candidate (that transaction is claiming or marking it), so drains never queue behind each
other and two of them never take one row. None of these commits.
"""

from __future__ import annotations

from collections.abc import Sequence

from qbfailover.ledger.base import Entry
from qbfailover.ledger.postgres_conn import Connection
from qbfailover.ledger.postgres_rows import COLUMNS, ENTRIES, NOT_HELD_BY_OTHERS, to_entry

__all__ = ["claim", "due_ids", "free_ids_for_keys", "insert_new", "rows_by_key"]


def insert_new(conn: Connection, columns: Sequence[Sequence[object]], reason: str, now: float) -> int:
    """Insert the items (columns: keys, kinds, payloads, names, JSON options) in order, one
    statement; keys with a pending row are skipped (the partial unique index). How many were new."""
    inserted = conn.execute(
        f"INSERT INTO {ENTRIES} (key, kind, payload, name, options, reason, "
        "next_attempt_at, created_at, updated_at) "
        "SELECT k, kd, p, n, o::jsonb, %s, %s, %s, %s FROM unnest("
        "%s::text[], %s::text[], %s::bytea[], %s::text[], %s::text[]) "
        "WITH ORDINALITY AS t(k, kd, p, n, o, ord) ORDER BY ord "
        "ON CONFLICT (key) WHERE state = 'pending' DO NOTHING RETURNING id",
        (reason, now, now, now, *[list(c) for c in columns]),
    ).fetchall()
    return len(inserted)


def free_ids_for_keys(conn: Connection, keys: Sequence[str], owner: str, now: float) -> list[int]:
    """The pending rows of these keys that ``owner`` may claim, locked, oldest first."""
    return [
        int(r[0])
        for r in conn.execute(
            f"SELECT id FROM {ENTRIES} WHERE state = 'pending' AND key = ANY(%(keys)s) "
            f"AND {NOT_HELD_BY_OTHERS} ORDER BY id FOR UPDATE SKIP LOCKED",
            {"keys": list(keys), "owner": owner, "now": now},
        ).fetchall()
    ]


def due_ids(conn: Connection, limit: int, ids: Sequence[int] | None, now: float) -> list[int]:
    """Up to ``limit`` due pending rows nobody holds (among ``ids`` if given), locked, oldest first."""
    only = "" if ids is None else "AND id = ANY(%(ids)s) "
    return [
        int(r[0])
        for r in conn.execute(
            f"SELECT id FROM {ENTRIES} WHERE state = 'pending' AND next_attempt_at <= %(now)s "
            "AND (claim_owner IS NULL OR claim_until IS NULL OR claim_until <= %(now)s) "
            f"{only}ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED",
            {"now": now, "limit": limit, "ids": sorted(set(ids or ()))},
        ).fetchall()
    ]


def claim(conn: Connection, ids: Sequence[int], owner: str, until: float) -> None:
    """Put ``owner``'s lease, ending at ``until``, on these rows (locked and free: the caller chose)."""
    if ids:
        conn.execute(
            f"UPDATE {ENTRIES} SET claim_owner = %s, claim_until = %s WHERE id = ANY(%s)",
            (owner, until, list(ids)),
        )


def rows_by_key(conn: Connection, keys: Sequence[str], owner: str, now: float) -> dict[str, Entry]:
    """The pending row of each key; for a key whose row another host finished since our insert,
    its latest row (so ``record`` still returns one Entry per item)."""
    found = conn.execute(
        f"SELECT {COLUMNS} FROM {ENTRIES} WHERE state = 'pending' AND key = ANY(%s)", (list(keys),)
    ).fetchall()
    by_key = {str(r[1]): to_entry(r, owner, now) for r in found}
    missing = [k for k in keys if k not in by_key]
    if missing:
        for r in conn.execute(
            f"SELECT DISTINCT ON (key) {COLUMNS} FROM {ENTRIES} WHERE key = ANY(%s) ORDER BY key, id DESC",
            (missing,),
        ).fetchall():
            by_key[str(r[1])] = to_entry(r, owner, now)
    return by_key
