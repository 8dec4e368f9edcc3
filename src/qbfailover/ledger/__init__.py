"""Where every item is written down first: the Ledger protocol, its backends, the seed's queue file.

``LedgerBackend`` (in :mod:`~qbfailover.ledger.base`) is the interface the engine, the CLI and
``watch`` use; :class:`Ledger` is its SQLite backend, the default for one host.
"""

from pathlib import Path

from qbfailover.ledger.base import Entry, LedgerBackend, NewEntry
from qbfailover.ledger.sqlite import Ledger

__all__ = ["Entry", "Ledger", "LedgerBackend", "NewEntry", "open_ledger"]


def open_ledger(location: Path) -> LedgerBackend:
    """The ledger at ``location``: the one place that picks a backend, so callers never name one.

    Today every location is a SQLite file; a shared backend (PostgreSQL) is chosen here by URL.
    """
    return Ledger(location)
