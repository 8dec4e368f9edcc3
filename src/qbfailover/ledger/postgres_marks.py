"""The PostgreSQL ledger's writes after a claim: send notes, marks, releases, amendments.

Why apart from :mod:`qbfailover.ledger.postgres`: each is one or two statements inside the
transaction the ledger opens, and the rule they share (never touch a row another worker holds
under a live lease, except to record a delivery) reads best side by side. None commits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from qbfailover.core.backoff import backoff_seconds
from qbfailover.ledger.postgres_conn import Connection
from qbfailover.ledger.postgres_rows import ENTRIES, NOT_HELD_BY_OTHERS

__all__ = [
    "amend_options",
    "drop_uncertain",
    "mark_delivered",
    "mark_failed",
    "mark_rejected",
    "note_sent",
    "release",
]


def release(conn: Connection, ids: Sequence[int], owner: str) -> int:
    """Clear ``owner``'s claims on these rows; how many it held."""
    cur = conn.execute(
        f"UPDATE {ENTRIES} SET claim_owner = NULL, claim_until = NULL "
        "WHERE id = ANY(%s) AND claim_owner = %s",
        (sorted(set(ids)), owner),
    )
    return int(cur.rowcount)


def note_sent(conn: Connection, ids: Sequence[int], instance: str, now: float) -> None:
    """Add ``instance`` to the rows' uncertain list (once)."""
    conn.execute(
        f"UPDATE {ENTRIES} SET uncertain = CASE WHEN %(i)s = ANY(uncertain) THEN uncertain "
        "ELSE array_append(uncertain, %(i)s) END, updated_at = %(now)s WHERE id = ANY(%(ids)s)",
        {"i": instance, "now": now, "ids": sorted(set(ids))},
    )


def drop_uncertain(conn: Connection, ids: Sequence[int], instance: str, now: float) -> None:
    """Remove ``instance`` from the rows' uncertain list."""
    conn.execute(
        f"UPDATE {ENTRIES} SET uncertain = array_remove(uncertain, %s), updated_at = %s WHERE id = ANY(%s)",
        (instance, now, sorted(set(ids))),
    )


def mark_delivered(conn: Connection, ids: Sequence[int], instance: str, reason: str, now: float) -> None:
    """Delivered on ``instance`` whoever holds the row; a delivered row keeps its first delivery."""
    conn.execute(
        f"UPDATE {ENTRIES} SET state = 'delivered', instance = %s, reason = %s, "
        "delivered_at = %s, updated_at = %s, claim_owner = NULL, claim_until = NULL "
        "WHERE id = ANY(%s) AND state != 'delivered'",
        (instance, reason, now, now, sorted(set(ids))),
    )
    drop_uncertain(conn, ids, instance, now)


def mark_rejected(conn: Connection, entry_id: int, reason: str, owner: str, now: float) -> None:
    """Reject a pending row nobody else holds, releasing it."""
    conn.execute(
        f"UPDATE {ENTRIES} SET state = 'rejected', reason = %(reason)s, updated_at = %(now)s, "
        "claim_owner = NULL, claim_until = NULL WHERE id = %(id)s AND state = 'pending' "
        f"AND {NOT_HELD_BY_OTHERS}",
        {"reason": reason, "now": now, "id": entry_id, "owner": owner},
    )


def mark_failed(
    conn: Connection,
    ids: Sequence[int],
    *,
    reason: str,
    error: str,
    owner: str,
    now: float,
    rng: Callable[[], float] | None,
) -> None:
    """Count a failed try on the pending rows nobody else holds, back off (unless ``rng`` is
    None: due at once) and release them. The rows are locked first, so no claim slips between."""
    found = conn.execute(
        f"SELECT id, attempts FROM {ENTRIES} WHERE id = ANY(%(ids)s) AND state = 'pending' "
        f"AND {NOT_HELD_BY_OTHERS} ORDER BY id FOR UPDATE",
        {"ids": sorted(set(ids)), "owner": owner, "now": now},
    ).fetchall()
    if not found:
        return
    chosen = [int(r[0]) for r in found]
    attempts = [int(r[1]) + 1 for r in found]
    due = [now + (backoff_seconds(n, rand=rng) if rng is not None else 0.0) for n in attempts]
    conn.execute(
        f"UPDATE {ENTRIES} AS e SET attempts = u.n, last_error = %s, reason = %s, "
        "next_attempt_at = u.due, updated_at = %s, claim_owner = NULL, claim_until = NULL "
        "FROM unnest(%s::bigint[], %s::integer[], %s::float8[]) AS u(id, n, due) WHERE e.id = u.id",
        (error, reason, now, chosen, attempts, due),
    )


def amend_options(conn: Connection, entry_id: int, options: str, owner: str, now: float) -> bool:
    """Set a pending row's options (JSON text) unless another worker holds it; True if set."""
    cur = conn.execute(
        f"UPDATE {ENTRIES} SET options = %(options)s::jsonb, updated_at = %(now)s "
        f"WHERE id = %(id)s AND state = 'pending' AND {NOT_HELD_BY_OTHERS}",
        {"options": options, "now": now, "id": entry_id, "owner": owner},
    )
    return bool(cur.rowcount > 0)
