"""The PostgreSQL ledger: one queue shared by producers, watchers and gateways on several hosts.

Why it exists: the SQLite ledger serves one host. Hosts that hand torrents to the same instances
need one queue, or each drains only its own items and two of them can deliver a magnet twice.
The guarantees are the SQLite backend's, across hosts (see :mod:`qbfailover.ledger.base`):

- record first: ``record`` commits before it returns, and so before any network call;
- claims are leases ``(claim_owner, claim_until)``, taken with ``FOR UPDATE SKIP LOCKED`` so that
  concurrent drains never wait on, nor take, each other's rows; marks never touch a row someone
  else holds under a live lease; each write renews the batch claimed last;
- dedupe by key: a partial unique index allows one pending row per key in the whole database;
- ``NOTIFY`` on commit of new work, so a watcher elsewhere (``wait_for_work``) drains at once.

Times come from the injected clock (as on SQLite), so the hosts' clocks must agree to well
within a lease (NTP). A dropped connection is reopened and the operation run again (see
:mod:`qbfailover.ledger.postgres_conn`); every other failure is a one-line StoreError.
"""

from __future__ import annotations

import builtins
import json
import random
import threading
import time
from collections.abc import Callable, Collection, Sequence
from types import TracebackType
from typing import TypeVar

from qbfailover.config.database import DatabaseUrl
from qbfailover.core.breaker import Guard
from qbfailover.ledger import postgres_admin as admin
from qbfailover.ledger import postgres_claims as claims
from qbfailover.ledger import postgres_marks as marks
from qbfailover.ledger import postgres_moves as moves
from qbfailover.ledger import postgres_rows as rows
from qbfailover.ledger.base import DEFAULT_LEASE_SECONDS, STATES, Entry, Move, NewEntry, checked_rows, renewal
from qbfailover.ledger.owner import this_process
from qbfailover.ledger.postgres_conn import (
    RECONNECT_SECONDS,
    Connection,
    connect,
    is_connection_lost,
    run_with_reconnect,
    store_error,
)
from qbfailover.ledger.postgres_listen import WorkListener
from qbfailover.ledger.postgres_migrate import CopyResult, copy_rows
from qbfailover.ledger.postgres_schema import ensure_schema

__all__ = ["PostgresLedger"]

_T = TypeVar("_T")


class PostgresLedger:
    """The ledger in the PostgreSQL database ``db``; safe to open from many hosts at once.

    ``clock``, ``rng``, ``lease_seconds`` and ``owner`` as for the SQLite
    :class:`~qbfailover.ledger.sqlite.Ledger` (the default owner is ``host/pid:start``);
    ``reconnect_seconds`` is how long an operation keeps reopening a dropped connection.
    """

    def __init__(
        self,
        db: DatabaseUrl,
        *,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        lease_seconds: float | None = None,
        owner: str | None = None,
        reconnect_seconds: float = RECONNECT_SECONDS,
    ) -> None:
        self.db = db
        self._clock = clock
        self._rng = rng
        self._lease = lease_seconds or db.lease_seconds or DEFAULT_LEASE_SECONDS
        self._owner = owner or rows.host_owner(this_process())
        self._reconnect_seconds = reconnect_seconds
        self._lock = threading.RLock()
        self._salt: bytes | None = None
        self._batch: list[int] = []  # what the last claim took: the writes that follow renew it
        self._renewed_at = 0.0  # when the batch's lease was last set or renewed
        self._listener: WorkListener | None = None
        self._conn: Connection | None = connect(db)
        try:
            self._run("opening", lambda conn: ensure_schema(conn, db), transaction=False)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the connections; committed rows are already durable."""
        with self._lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> PostgresLedger:
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

    def _reopen(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        self._conn = connect(self.db)

    def _run(self, action: str, work: Callable[[Connection], _T], *, transaction: bool = True) -> _T:
        """``work(conn)`` in one transaction (or, for one read, none: two round trips fewer), run
        again after a lost connection; StoreError for any other failure."""
        with self._lock:

            def attempt() -> _T:
                if self._conn is None:
                    self._reopen()
                conn: Connection = self._conn
                if not transaction:
                    return work(conn)
                with conn.transaction():
                    return work(conn)

            try:
                return run_with_reconnect(
                    attempt,
                    self._reopen,
                    lambda exc: is_connection_lost(exc, self._conn),
                    deadline_seconds=self._reconnect_seconds,
                )
            except Exception as exc:
                if type(exc).__module__.startswith("psycopg"):
                    raise store_error(exc, self.db, action) from None
                raise

    def _renew(self, conn: Connection, now: float, sent: Sequence[int] = ()) -> None:
        """Extend this worker's claims (the last batch, and ``sent``): see ``renewal``."""
        ids, whole = renewal(self._batch, sent, self._renewed_at, now, self._lease)
        if ids:
            rows.renew_claims(conn, self._owner, ids, now + self._lease)
        if whole:
            self._renewed_at = now

    def _mark(self, action: str, change: Callable[[Connection, float], None]) -> None:
        """``change(conn, now)``, then renew the batch claimed last, in one transaction."""

        def work(conn: Connection) -> None:
            now = self._clock()
            change(conn, now)
            self._renew(conn, now)

        self._run(action, work)

    # --------------------------------------------------------------------- API

    def record(self, items: Sequence[NewEntry], *, reason: str, claim: bool = True) -> list[Entry]:
        """Durably write ``items`` before anything is sent; one Entry per item, in order.

        One INSERT for the whole batch; a key with a pending row anywhere in the database is
        not inserted again (the row comes back). With ``claim``, the returned rows nobody else
        holds are locked and claimed for this worker; :attr:`Entry.claimed` says which.
        """
        first: dict[str, tuple[str, str, bytes, str, str]] = {}
        for row in checked_rows(items):
            first.setdefault(row[0], row)
        if not first:
            return []
        columns = list(zip(*first.values(), strict=True))
        keys = list(first)

        def work(conn: Connection) -> dict[str, Entry]:
            now = self._clock()
            if claims.insert_new(conn, columns, reason, now):
                conn.execute(admin.NOTIFY)
            if claim:
                rows.free_dead_claims(conn, now, self._owner)
                free = claims.free_ids_for_keys(conn, keys, self._owner, now)
                claims.claim(conn, free, self._owner, now + self._lease)
                self._batch, self._renewed_at = free, now
            return claims.rows_by_key(conn, keys, self._owner, now)

        by_key = self._run("recording", work)
        return [by_key[item.key] for item in items]

    def claim_due(self, *, limit: int, ids: Sequence[int] | None = None) -> list[Entry]:
        """Claim up to ``limit`` free due pending rows, oldest first (``SKIP LOCKED``: no waiting)."""
        if limit <= 0 or (ids is not None and not ids):
            return []

        def work(conn: Connection) -> list[Entry]:
            now = self._clock()
            rows.free_dead_claims(conn, now, self._owner)
            chosen = claims.due_ids(conn, limit, ids, now)
            claims.claim(conn, chosen, self._owner, now + self._lease)
            self._batch, self._renewed_at = chosen, now
            found = rows.select(conn, chosen, self._owner, now)
            return [found[i] for i in chosen]

        return self._run("claiming", work)

    def release(self, entry_ids: Sequence[int]) -> None:
        """Give back claims this worker holds without changing anything else (e.g. on cancel)."""
        if not entry_ids:
            return

        def work(conn: Connection) -> None:
            if marks.release(conn, entry_ids, self._owner):
                conn.execute(admin.NOTIFY)

        self._run("releasing", work)

    def note_sent(self, entry_ids: Sequence[int], instance: str) -> None:
        """Durably note, before the add goes out, that these rows go to ``instance``; renews."""
        if not entry_ids:
            return

        def work(conn: Connection) -> None:
            now = self._clock()
            marks.note_sent(conn, entry_ids, instance, now)
            self._renew(conn, now, entry_ids)

        self._run("noting a send", work)

    def clear_sent(self, entry_ids: Sequence[int], instance: str) -> None:
        """Drop ``instance`` from :attr:`Entry.uncertain`: the item was confirmed absent there."""
        if entry_ids:
            self._mark(
                "clearing a send", lambda conn, now: marks.drop_uncertain(conn, entry_ids, instance, now)
            )

    def mark_delivered(self, entry_ids: Sequence[int], *, instance: str, reason: str) -> None:
        """Rows confirmed on ``instance``: delivered and released, even if another worker took them
        over after our lease lapsed (the item *is* there; see the protocol). The first delivery
        keeps its instance and time."""
        if entry_ids:
            self._mark(
                "marking delivered",
                lambda conn, now: marks.mark_delivered(conn, entry_ids, instance, reason, now),
            )

    def mark_rejected(self, entry_id: int, *, reason: str) -> None:
        """Mark a pending row nobody else holds as never deliverable, and release it."""
        self._mark(
            "marking rejected",
            lambda conn, now: marks.mark_rejected(conn, entry_id, reason, self._owner, now),
        )

    def mark_failed(self, entry_ids: Sequence[int], *, reason: str, error: str, backoff: bool = True) -> None:
        """Keep rows pending after a failed try: count it, back off, release; others' rows untouched."""
        if entry_ids:
            self._mark(
                "marking failed",
                lambda conn, now: marks.mark_failed(
                    conn,
                    entry_ids,
                    reason=reason,
                    error=error,
                    owner=self._owner,
                    now=now,
                    rng=self._rng if backoff else None,
                ),
            )

    def amend_options(self, entry_id: int, options: dict[str, object]) -> bool:
        """Replace a pending row's options unless another worker holds it (see the protocol)."""
        try:
            text = json.dumps(options, sort_keys=True, ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"options for #{entry_id} are not JSON-serialisable") from exc
        return self._run(
            "amending options",
            lambda conn: marks.amend_options(conn, entry_id, text, self._owner, self._clock()),
        )

    def get(self, entry_id: int) -> Entry | None:
        """The row with this id, or None."""
        return self._run(
            "reading",
            lambda conn: rows.select(conn, [entry_id], self._owner, self._clock()).get(entry_id),
            transaction=False,
        )

    def counts(self) -> dict[str, int]:
        """Rows per state (every state present, zeros included)."""
        return self._run("reading", admin.counts, transaction=False)

    def oldest_pending(self) -> float | None:
        """``created_at`` of the oldest pending row: how long the queue has been waiting."""
        return self._run("reading", admin.oldest_pending, transaction=False)

    def retry(self, entry_id: int | None) -> int:
        """Make one pending row (or all, with None) due now; returns how many were pending."""
        return self._run("retrying", lambda conn: admin.retry(conn, entry_id, self._clock()))

    def drop(self, entry_id: int) -> bool:
        """Delete a row for good (a person decided it); True if it existed."""
        return self._run("dropping", lambda conn: admin.drop(conn, entry_id))

    def purge_delivered(self, older_than_seconds: float) -> int:
        """Delete delivered rows older than this; returns how many. Never touches pending rows."""
        cutoff = self._clock() - older_than_seconds
        return self._run("purging", lambda conn: admin.purge_delivered(conn, cutoff))

    def load_guard(self, name: str) -> Guard:
        """The persisted breaker/login guard of instance ``name`` (a fresh one if none)."""
        return self._run("reading a guard", lambda conn: rows.load_guard(conn, name), transaction=False)

    def save_guard(self, name: str, guard: Guard) -> None:
        """Persist instance ``name``'s guard so the next process (on any host) honours it."""
        self._run("saving a guard", lambda conn: rows.save_guard(conn, name, guard))

    def salt(self) -> bytes:
        """This ledger's random salt for credential fingerprints, created once for every host."""
        if self._salt is None:
            self._salt = self._run("creating the salt", rows.salt)
        return self._salt

    def list(
        self, *, states: Collection[str] = ("pending",), limit: int | None = None, newest: bool = False
    ) -> builtins.list[Entry]:
        """Rows in the given states, oldest first: the order ``queue list`` and ``export`` show them."""
        unknown = set(states) - set(STATES)
        if unknown:
            raise ValueError(f"unknown state(s): {', '.join(sorted(unknown))}")
        if not states:
            return []
        return self._run(
            "reading",
            lambda conn: admin.listing(conn, states, limit, self._owner, self._clock(), newest=newest),
            transaction=False,
        )

    def copy_in(self, entries: Sequence[Entry], source_id: str) -> CopyResult:
        """Copy another ledger's rows in, once per ``source_id``, atomically (``ledger migrate``)."""
        return self._run(
            "copying a ledger in", lambda conn: copy_rows(conn, entries, source_id, self._clock())
        )

    def journal_move(self, entry_id: int, *, source: str, target: str, state: str, reason: str = "") -> Move:
        """Open, resume or close an entry's failback move (see the protocol)."""
        return self._run(
            "journaling a move",
            lambda conn: moves.journal(conn, entry_id, source, target, state, reason, self._clock()),
        )

    def moves(self, *, open_only: bool = False, limit: int | None = None) -> builtins.list[Move]:
        """Journaled moves, newest first (only the open ones with ``open_only``)."""
        return self._run("reading moves", lambda conn: moves.select(conn, open_only, limit))

    # ------------------------------------------------------------------ wake-ups (watch)

    def wait_for_work(self, timeout: float) -> bool:
        """Block up to ``timeout`` s for a NOTIFY of new work from any host; True if one came.

        A listener that cannot connect just waits the timeout: polling is the fallback.
        """
        with self._lock:
            if self._listener is None:
                self._listener = WorkListener(self.db)
            listener = self._listener
        return bool(listener.wait(timeout))
