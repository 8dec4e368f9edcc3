"""Wake-ups for watchers: ``LISTEN`` on the ledger's channel, on a connection of its own.

Why its own connection: a wait blocks for seconds in a thread of ``watch`` while the ledger's
main connection goes on serving claims and marks. Notifications that arrive between two waits
queue up on this connection (in the socket or in libpq's queue, both read by each wait), so once
it listens no wake-up is lost; a wake-up is only a hint
(the drain claims what is due), so a missed or extra one costs at most one polling interval or
one empty claim. When the database is unreachable, a wait sleeps out its timeout instead:
polling is the fallback.
"""

from __future__ import annotations

import select
import threading
import time

from qbfailover.config.database import DatabaseUrl
from qbfailover.errors import StoreError
from qbfailover.ledger.postgres_conn import Connection, connect
from qbfailover.ledger.postgres_schema import WORK_CHANNEL

__all__ = ["WorkListener"]


class WorkListener:
    """A LISTEN connection to ``db``, opened on the first wait and reopened after a failure."""

    def __init__(self, db: DatabaseUrl) -> None:
        self._db = db
        self._conn: Connection | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _listening(self) -> tuple[Connection, bool]:
        """The LISTENing connection, and whether it is new (then work may have come unheard)."""
        if self._conn is not None and not self._conn.closed:
            return self._conn, False
        conn = connect(self._db)
        conn.execute(f"LISTEN {WORK_CHANNEL}")
        self._conn = conn
        return conn, True

    def wait(self, timeout: float) -> bool:
        """True as soon as new work is announced; False after ``timeout`` s without any.

        Also True right after (re)connecting: what was recorded before the LISTEN was heard by
        nobody, so the caller should look once.
        """
        started = time.monotonic()
        with self._lock:
            if self._closed:
                return False
            try:
                conn, fresh = self._listening()
                return fresh or self._announced(conn, started + max(timeout, 0.0))
            except (StoreError, OSError):  # cannot connect (yet): poll this time
                self._drop()
            except Exception as exc:  # psycopg's errors: the connection broke mid-wait
                if not type(exc).__module__.startswith("psycopg"):
                    raise
                self._drop()
        time.sleep(max(0.0, timeout - (time.monotonic() - started)))
        return False

    @staticmethod
    def _announced(conn: Connection, deadline: float) -> bool:
        """Wait on the socket until a notification is queued in libpq, or the deadline.

        libpq's own queue is read first, and after every read of the socket: a notification that
        came in with earlier traffic is already there and would never make the socket readable
        again (psycopg's ``notifies()`` generator waits on the socket first, and can sit on one).
        Every queued notification is taken: one wake-up covers them all.
        """
        pgconn = conn.pgconn
        while True:
            pgconn.consume_input()
            woke = False
            while pgconn.notifies() is not None:
                woke = True
            if woke:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            select.select([pgconn.socket], [], [], left)

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def close(self) -> None:
        """Stop listening and close the connection."""
        with self._lock:
            self._closed = True
            self._drop()
