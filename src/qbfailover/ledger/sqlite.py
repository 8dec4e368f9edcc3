"""The SQLite ledger: a durable outbox of every item handed to qbfailover, on one host.

Why it exists: the first delivery rule is *record first*. An item is committed here (WAL,
``synchronous=FULL``) before any network call, so a crash, ``kill -9`` or power loss never
loses it. Rows move ``pending -> delivered | rejected``; pending rows carry a backoff
(``next_attempt_at``) and a claim, so that several processes (an ``add``, a ``watch``, a
``queue drain``) can share the file without ever delivering one row twice at the same time.

Claims are leases (see :mod:`qbfailover.ledger.base`): ``(claim_owner, claim_until)``, the
owner a :class:`~qbfailover.ledger.owner.WorkerId`. Each send note and mark renews the batch
the worker claimed last; a claim of a process on this host that died (even by ``kill -9``) is
taken over at once. Every ``sqlite3``/``OSError`` is translated here into
:class:`~qbfailover.errors.StoreError`; nothing else escapes.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import random
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path
from types import TracebackType

from qbfailover.core.backoff import backoff_seconds
from qbfailover.core.breaker import Guard
from qbfailover.ledger import sqlite_moves as moves
from qbfailover.ledger import sqlite_rows as rows
from qbfailover.ledger.base import DEFAULT_LEASE_SECONDS, STATES, Entry, Move, NewEntry, checked_rows, renewal
from qbfailover.ledger.owner import this_process
from qbfailover.ledger.sqlite_file import check_existing_file, connect, store_error, upgrade_schema

__all__ = ["DEFAULT_BUSY_TIMEOUT", "Entry", "Ledger", "NewEntry"]

DEFAULT_BUSY_TIMEOUT = 30.0
"""How long a write waits for another process's transaction before it is a StoreError."""


class Ledger:
    """The SQLite ledger at ``path``; safe to open from many processes at once.

    ``clock`` and ``rng`` are injectable so that backoff and leases are testable without time.
    ``lease_seconds`` bounds how long a live but stuck worker keeps its claims;
    ``busy_timeout`` is how long a write waits for another process before :class:`StoreError`;
    ``owner`` names the claiming worker (default: this process, ``pid:start time``), for
    tests and embedders that run several independent workers in one process.
    """

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        owner: str | None = None,
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        self._rng = rng
        self._lease = lease_seconds
        self._busy_timeout = busy_timeout
        self._me = this_process()
        self._owner = owner or self._me.token
        self._lock = threading.RLock()
        self._salt: bytes | None = None
        self._batch: list[int] = []  # what the last claim took: the writes that follow renew it
        self._renewed_at = 0.0  # ... and when its lease was last set
        check_existing_file(self.path, busy_timeout)
        self._conn = connect(self.path, busy_timeout)
        try:
            with self._write("opening") as conn:
                upgrade_schema(conn)
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        """Close the connection; committed rows are already durable."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Ledger:
        """Use the ledger in a ``with`` block that closes it."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the ledger."""
        self.close()

    # ---------------------------------------------------------------- plumbing

    @contextlib.contextmanager
    def _read(self, action: str = "reading") -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
            except (sqlite3.Error, OSError) as exc:
                raise store_error(exc, self.path, action, self._busy_timeout) from exc

    @contextlib.contextmanager
    def _write(self, action: str = "writing") -> Iterator[sqlite3.Connection]:
        """One BEGIN IMMEDIATE transaction: writers queue up front, never deadlock midway."""
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
            except (sqlite3.Error, OSError) as exc:
                raise store_error(exc, self.path, action, self._busy_timeout) from exc
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error | OSError):
                    raise store_error(exc, self.path, action, self._busy_timeout) from exc
                raise

    def _renew(self, conn: sqlite3.Connection, now: float, sent: Sequence[int] = ()) -> None:
        """Extend this worker's claims (the last batch, and ``sent``): see ``renewal``."""
        ids, whole = renewal(self._batch, sent, self._renewed_at, now, self._lease)
        rows.renew_claims(conn, self._owner, ids, now + self._lease)
        self._renewed_at = now if whole else self._renewed_at

    def _select(self, conn: sqlite3.Connection, ids: Sequence[int]) -> dict[int, Entry]:
        return rows.select(conn, ids, self._owner, self._clock())

    # --------------------------------------------------------------------- API

    def record(self, items: Sequence[NewEntry], *, reason: str, claim: bool = True) -> list[Entry]:
        """Durably write ``items`` before anything is sent; returns one Entry per item, in order.

        A key that already has a pending row is not inserted again: that row is returned (so an
        item handed over twice is delivered once; duplicates in ``items`` share one row, and
        thus one ``id``, so the result still zips with ``items``). With ``claim``, every
        returned row nobody else holds is claimed for this worker, due or not (a fresh add
        means "try now"); :attr:`Entry.claimed` says which.
        """
        new = checked_rows(items)
        keys = list(dict.fromkeys(item.key for item in items))
        if not keys:
            return []
        with self._write("recording") as conn:
            now = self._clock()
            conn.executemany(
                "INSERT INTO entries (key, kind, payload, name, options, reason, "
                "next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (key) WHERE state = 'pending' DO NOTHING",
                [(*row, reason, now, now, now) for row in new],
            )
            if claim:
                rows.free_dead_claims(conn, now, self._me)
            by_key: dict[str, int] = {}
            free: list[int] = []
            for chunk in rows.chunks(keys):
                sql = (
                    f"SELECT key, id, {rows.NOT_HELD_BY_OTHERS} FROM entries "
                    f"WHERE state = 'pending' AND key IN ({rows.marks(len(chunk))})"
                )
                for key, entry_id, is_free in conn.execute(sql, (self._owner, now, *chunk)):
                    by_key[key] = entry_id
                    if is_free:
                        free.append(entry_id)
            if claim:
                rows.claim(conn, free, self._owner, now + self._lease)
                self._batch, self._renewed_at = free, now
            found = self._select(conn, list(by_key.values()))
        return [found[by_key[item.key]] for item in items]

    def claim_due(self, *, limit: int, ids: Sequence[int] | None = None) -> list[Entry]:
        """Claim up to ``limit`` due pending rows, oldest first, that nobody holds.

        With ``ids``, only among those (still honouring due time and other claims). Runs under
        BEGIN IMMEDIATE, so two processes draining at once never get the same row.
        """
        if limit <= 0 or (ids is not None and not ids):
            return []
        with self._write("claiming") as conn:
            now = self._clock()
            rows.free_dead_claims(conn, now, self._me)
            where = (
                "state = 'pending' AND next_attempt_at <= ? "
                "AND (claim_owner IS NULL OR claim_until IS NULL OR claim_until <= ?)"
            )
            chosen: list[int] = []
            if ids is None:
                sql = f"SELECT id FROM entries WHERE {where} ORDER BY id LIMIT ?"
                chosen = [int(r[0]) for r in conn.execute(sql, (now, now, limit))]
            else:
                for chunk in rows.chunks(sorted(set(ids))):
                    sql = f"SELECT id FROM entries WHERE {where} AND id IN ({rows.marks(len(chunk))})"
                    chosen.extend(int(r[0]) for r in conn.execute(sql, (now, now, *chunk)))
                chosen = sorted(chosen)[:limit]
            rows.claim(conn, chosen, self._owner, now + self._lease)
            self._batch, self._renewed_at = chosen, now
            found = self._select(conn, chosen)
        return [found[i] for i in chosen]

    def release(self, entry_ids: Sequence[int]) -> None:
        """Give back claims this worker holds without changing anything else (e.g. on cancel)."""
        with self._write("releasing") as conn:
            conn.executemany(
                "UPDATE entries SET claim_owner = NULL, claim_until = NULL WHERE id = ? AND claim_owner = ?",
                [(i, self._owner) for i in entry_ids],
            )

    def note_sent(self, entry_ids: Sequence[int], instance: str) -> None:
        """Durably note, before the add request goes out, that these rows go to ``instance``.

        If the process dies before the outcome is known, :attr:`Entry.uncertain` names the
        instance so the next attempt checks there first instead of guessing. Renews the lease.
        """
        if not entry_ids:
            return
        with self._write("noting a send") as conn:
            now = self._clock()
            rows.update_uncertain(conn, entry_ids, lambda xs: xs if instance in xs else [*xs, instance], now)
            self._renew(conn, now, entry_ids)

    def clear_sent(self, entry_ids: Sequence[int], instance: str) -> None:
        """Drop ``instance`` from :attr:`Entry.uncertain`: the item was confirmed absent there."""
        if not entry_ids:
            return
        with self._write("clearing a send") as conn:
            now = self._clock()
            rows.update_uncertain(conn, entry_ids, lambda xs: [x for x in xs if x != instance], now)
            self._renew(conn, now)

    def mark_delivered(self, entry_ids: Sequence[int], *, instance: str, reason: str) -> None:
        """Mark rows delivered to ``instance`` and release them.

        ``instance`` leaves :attr:`Entry.uncertain`; other instances stay listed, since a copy may
        also be there. A row already delivered keeps its first instance and time. Unlike the
        other marks this one applies even to a row another worker took over after our lease
        lapsed: the item *is* on ``instance``, and recording it at once is what stops the new
        holder (whose failure marks skip delivered rows) from sending it again later.
        """
        if not entry_ids:
            return
        with self._write("marking delivered") as conn:
            now = self._clock()
            ids = list(entry_ids)
            for chunk in rows.chunks(ids):
                conn.execute(
                    "UPDATE entries SET state = 'delivered', instance = ?, reason = ?, "
                    "delivered_at = ?, updated_at = ?, claim_owner = NULL, claim_until = NULL "
                    f"WHERE state != 'delivered' AND id IN ({rows.marks(len(chunk))})",
                    (instance, reason, now, now, *chunk),
                )
            rows.update_uncertain(conn, ids, lambda xs: [x for x in xs if x != instance], now)
            self._renew(conn, now)

    def mark_rejected(self, entry_id: int, *, reason: str) -> None:
        """Mark a pending row as never deliverable (the item's fault) and release it."""
        with self._write("marking rejected") as conn:
            now = self._clock()
            conn.execute(
                "UPDATE entries SET state = 'rejected', reason = ?, updated_at = ?, "
                "claim_owner = NULL, claim_until = NULL WHERE id = ? AND state = 'pending' "
                f"AND {rows.NOT_HELD_BY_OTHERS}",
                (reason, now, entry_id, self._owner, now),
            )
            self._renew(conn, now)

    def mark_failed(self, entry_ids: Sequence[int], *, reason: str, error: str, backoff: bool = True) -> None:
        """Keep rows pending after a failed try: count it, back off, and release them.

        ``backoff=False`` when no instance was even available: such rows are due again as soon
        as a health check finds one (drains only run then), not minutes after the recovery.
        Rows another live worker has claimed in the meantime are left alone: a stale failure
        report must not reset its claim or backoff.
        """
        if not entry_ids:
            return
        with self._write("marking failed") as conn:
            now = self._clock()
            updates: list[tuple[object, ...]] = []
            for chunk in rows.chunks(rows.not_held_by_others(conn, entry_ids, self._owner, now)):
                in_ids = f"id IN ({rows.marks(len(chunk))})"
                sql = f"SELECT id, attempts FROM entries WHERE state = 'pending' AND {in_ids}"
                for entry_id, attempts in conn.execute(sql, chunk).fetchall():
                    n = int(attempts) + 1
                    delay = backoff_seconds(n, rand=self._rng) if backoff else 0.0
                    updates.append((n, error, reason, now + delay, now, entry_id))
            conn.executemany(
                "UPDATE entries SET attempts = ?, last_error = ?, reason = ?, "
                "next_attempt_at = ?, updated_at = ?, claim_owner = NULL, claim_until = NULL "
                "WHERE id = ?",
                updates,
            )
            self._renew(conn, now)

    def amend_options(self, entry_id: int, options: dict[str, object]) -> bool:
        """Replace a pending row's options unless another worker holds it (see the protocol)."""
        try:
            text = json.dumps(options, sort_keys=True, ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"options for #{entry_id} are not JSON-serialisable") from exc
        with self._write("amending options") as conn:
            return rows.amend_options(conn, entry_id, text, self._owner, self._clock())

    def get(self, entry_id: int) -> Entry | None:
        """The row with this id, or None: ``queue drop`` and the tests look rows up one by one."""
        with self._read() as conn:
            return self._select(conn, [entry_id]).get(entry_id)

    def counts(self) -> dict[str, int]:
        """Rows per state (every state present, zeros included)."""
        result = dict.fromkeys(STATES, 0)
        with self._read() as conn:
            for state, n in conn.execute("SELECT state, COUNT(*) FROM entries GROUP BY state"):
                result[str(state)] = int(n)
        return result

    def oldest_pending(self) -> float | None:
        """``created_at`` of the oldest pending row: how long the queue has been waiting."""
        with self._read() as conn:
            row = conn.execute("SELECT MIN(created_at) FROM entries WHERE state = 'pending'").fetchone()
        return None if row[0] is None else float(row[0])

    def retry(self, entry_id: int | None) -> int:
        """Make one pending row (or all, with None) due now; returns how many were pending."""
        with self._write("retrying") as conn:
            return rows.retry(conn, entry_id, self._clock())

    def drop(self, entry_id: int) -> bool:
        """Delete a row for good (a person decided it); True if it existed."""
        with self._write("dropping") as conn:
            cur = conn.execute("DELETE FROM entries WHERE id = ?", (entry_id,))
            return cur.rowcount > 0

    def purge_delivered(self, older_than_seconds: float) -> int:
        """Delete delivered rows older than this; returns how many. Never touches pending rows."""
        with self._write("purging") as conn:
            return rows.purge_delivered(conn, self._clock() - older_than_seconds)

    # ------------------------------------------------------- guards and salt (see breaker.py)

    def load_guard(self, name: str) -> Guard:
        """The persisted breaker/login guard of instance ``name`` (a fresh one if none)."""
        with self._read() as conn:
            return rows.load_guard(conn, name)

    def save_guard(self, name: str, guard: Guard) -> None:
        """Persist instance ``name``'s guard so the next process (cron, hook) honours it."""
        with self._write("saving a guard") as conn:
            rows.save_guard(conn, name, guard)

    def salt(self) -> bytes:
        """This ledger's random salt for credential fingerprints, created on first use."""
        if self._salt is None:
            with self._write("creating the salt") as conn:
                self._salt = rows.salt(conn, secrets.token_bytes(16))
        return self._salt

    # ------------------------------------------------------- failback's move journal

    def journal_move(self, entry_id: int, *, source: str, target: str, state: str, reason: str = "") -> Move:
        """Open, resume or close an entry's failback move (see the protocol)."""
        with self._write("journaling a move") as conn:
            return moves.journal(conn, entry_id, source, target, state, reason, self._clock())

    def moves(self, *, open_only: bool = False, limit: int | None = None) -> builtins.list[Move]:
        """Journaled moves, newest first (only the open ones with ``open_only``)."""
        with self._read() as conn:
            return moves.select(conn, open_only, limit)

    def list(
        self, *, states: Collection[str] = ("pending",), limit: int | None = None, newest: bool = False
    ) -> builtins.list[Entry]:
        """Rows in the given states, oldest first: the order ``queue list`` and ``export`` show them."""
        unknown = set(states) - set(STATES)
        if unknown:
            raise ValueError(f"unknown state(s): {', '.join(sorted(unknown))}")
        if not states:
            return []
        wanted = [*states]
        order = "updated_at DESC, id DESC" if newest else "id"
        where = f"state IN ({rows.marks(len(wanted))})"
        sql = f"SELECT {rows.COLUMNS} FROM entries WHERE {where} ORDER BY {order}"
        args: builtins.list[object] = [*wanted]
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        with self._read() as conn:
            now = self._clock()
            return [rows.to_entry(row, self._owner, now) for row in conn.execute(sql, args)]
