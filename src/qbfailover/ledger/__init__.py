"""Where every item is written down first: the Ledger protocol, its backends, the seed's queue file.

``LedgerBackend`` (in :mod:`~qbfailover.ledger.base`) is the interface the engine, the CLI and
``watch`` use; :class:`Ledger` is its SQLite backend, the default for one host, and
:class:`~qbfailover.ledger.postgres.PostgresLedger` the shared one for several hosts (imported
only when a PostgreSQL URL is named: psycopg is an optional extra).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING

from qbfailover.config.database import DatabaseUrl, parse_ledger_location
from qbfailover.errors import QbFailoverError
from qbfailover.ledger.base import Entry, LedgerBackend, NewEntry
from qbfailover.ledger.sqlite import Ledger

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable

__all__ = ["Entry", "Ledger", "LedgerBackend", "NewEntry", "open_ledger", "wait_for_work"]


def open_ledger(location: Path | DatabaseUrl | str) -> LedgerBackend:
    """The ledger at ``location``: the one place that picks a backend, so callers never name one.

    A :class:`~qbfailover.config.model.DatabaseUrl` (or a ``postgresql://`` string) opens the
    shared PostgreSQL ledger; a path (or ``sqlite:///path``) the SQLite file.
    """
    if isinstance(location, str):
        location = parse_ledger_location(location, "ledger", {})
    if isinstance(location, DatabaseUrl):
        from qbfailover.ledger.postgres import PostgresLedger

        return PostgresLedger(location)
    return Ledger(location)


async def wait_for_work(ledger: Callable[[], LedgerBackend], seconds: float, stop: asyncio.Event) -> bool:
    """Wait up to ``seconds`` for ``stop``, or for new work if the backend announces it.

    True if work was announced (PostgreSQL's NOTIFY, through the backend's optional
    ``wait_for_work(timeout)``) before the time ran out and no stop was asked for. A backend
    without announcements (SQLite), or a ledger that cannot even be opened (``ledger()`` raises;
    the caller's next cycle reports it), just waits: the interval is the polling fallback.
    The blocking wait runs in a thread, in slices of a second, so a stop ends it at once.
    """
    import asyncio

    try:
        announced = getattr(ledger(), "wait_for_work", None)
    except QbFailoverError:
        announced = None
    if announced is None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
        return False
    until = time.monotonic() + seconds
    while not stop.is_set() and (left := until - time.monotonic()) > 0:
        work = asyncio.ensure_future(asyncio.to_thread(announced, min(left, 1.0)))
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait((work, stopped), return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if work.done() and work.result() and not stop.is_set():
            return True
    return False
