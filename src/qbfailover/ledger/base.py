"""The Ledger protocol: what every backend (SQLite today, PostgreSQL later) promises the engine.

Why a protocol: the engine, the CLI and ``watch`` only need these operations, so a second
backend can be added without touching them, and one contract suite
(``tests/unit/ledger/test_ledger_contract.py``) checks that each backend keeps every promise.

Claims are leases. A worker that takes rows to deliver writes ``(owner, lease_until)`` on them:
``owner`` names the worker (pid and process start time for SQLite) and ``lease_until``
is when the claim lapses by itself, so a worker that hangs, or runs on a host that vanished,
never blocks a row for longer than one lease. A backend may free a claim sooner when it can
prove the owner is dead (a process on the ledger's own host that no longer runs), which is what makes the
rows of a ``kill -9``'d ``add`` deliverable at once. A row is *free* when nobody holds it under
a live lease; claims only ever take free rows, and marks never touch a row someone else holds.
Writes renew: each send note and mark extends the lease of the batch the worker claimed last,
so a working drain keeps its batch however long it takes, while a claim left behind by an
earlier batch still lapses within one lease.

The seed's JSON queue file is not part of the protocol: the format is one for every backend, so
it lives in :mod:`qbfailover.ledger.queuefile`, and importing or exporting it is a use of the
protocol, never a backend's job: ``queue import`` records the file's valid links with
``record(..., claim=False)``; ``queue export`` writes the links of ``list(states=("pending",))``.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Protocol, Self

from qbfailover.core.breaker import Guard

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "KINDS",
    "MOVE_COLUMNS",
    "MOVE_STATES",
    "STATES",
    "Entry",
    "LedgerBackend",
    "Move",
    "NewEntry",
    "checked_rows",
    "renewal",
]

KINDS: Final = frozenset({"magnet", "torrent", "url"})
STATES: Final = ("pending", "delivered", "rejected")

MOVE_STATES: Final = ("moving", "moved", "failed", "gone", "kept")
"""A failback move: ``moving`` is open (a rerun resumes it); the others are its outcome."""

DEFAULT_LEASE_SECONDS: Final = 120.0
"""How long a claim lasts without renewal: far above one batch (probe, add, confirm, mark)."""


@dataclass(frozen=True, slots=True)
class NewEntry:
    """An item to record: what the caller knows before anything is sent."""

    key: str
    """Identity: lower-case hex infohash (40 for v1, 64 for v2-only), or the URL for URL items."""
    kind: str
    """``"magnet"``, ``"torrent"`` or ``"url"``."""
    payload: bytes
    """The magnet URI / URL as UTF-8, or the raw .torrent bytes."""
    name: str
    """Display name, for people reading the queue."""
    options: dict[str, object]
    """Add options (category, tags, savepath, paused, rename, ...): must be JSON-serialisable."""


def renewal(
    batch: Sequence[int], sent: Sequence[int], renewed_at: float, now: float, lease: float
) -> tuple[list[int], bool]:
    """The claims a holder's write renews, and whether that was the whole batch (note its time).

    Renewing rewrites every row of the batch (15 ms for 10,000, on each ``note_sent`` before an
    add). Within a quarter lease of the last renewal the batch still holds three quarters of its
    lease, so only the sent rows outside it are renewed then.
    """
    if now - renewed_at >= lease / 4:
        return [*batch, *sent], True
    held = set(batch)
    return [i for i in sent if i not in held], False


def checked_rows(items: Sequence[NewEntry]) -> list[tuple[str, str, bytes, str, str]]:
    """``(key, kind, payload, name, options JSON)`` per item, as both backends insert them.

    A bad kind or options that are not JSON are a ValueError naming the item. Items of one add
    share their options object, so each distinct object is encoded once, not once per item.
    """
    rows: list[tuple[str, str, bytes, str, str]] = []
    encoded: dict[int, str] = {}
    for item in items:
        if item.kind not in KINDS:
            raise ValueError(f"unknown kind {item.kind!r} for {item.name!r}")
        options = encoded.get(id(item.options))
        if options is None:
            try:
                options = json.dumps(item.options, sort_keys=True, ensure_ascii=False)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"options of {item.name!r} are not JSON-serialisable") from exc
            encoded[id(item.options)] = options
        rows.append((item.key, item.kind, bytes(item.payload), item.name, options))
    return rows


@dataclass(frozen=True, slots=True)
class Entry:
    """One ledger row as it was when read."""

    id: int
    key: str
    kind: str
    payload: bytes
    name: str
    options: dict[str, object]
    state: str
    """``"pending"``, ``"delivered"`` or ``"rejected"``."""
    instance: str | None
    """The instance that has it (delivered rows)."""
    reason: str | None
    """Why it is queued / rejected, or ``"added"`` / ``"already there"``."""
    attempts: int
    last_error: str | None
    next_attempt_at: float
    created_at: float
    updated_at: float
    delivered_at: float | None
    uncertain: tuple[str, ...]
    """Instances an add was sent to without a confirmed outcome: reconcile before re-adding."""
    claimed: bool = False
    """True if this worker holds a live lease on the row: it (and nobody else) may deliver it now."""

    @classmethod
    def from_row(
        cls,
        row: Sequence[Any],
        owner: str,
        now: float,
        *,
        options: dict[str, object],
        uncertain: tuple[str, ...],
    ) -> Entry:
        """A row of the backends' entry columns (``id, key, kind, payload, name, options, state,
        instance, reason, attempts, last_error, next_attempt_at, created_at, updated_at,
        delivered_at, uncertain, claim_owner, claim_until``); ``claimed`` if ``owner`` holds a
        live lease. ``options``/``uncertain`` come decoded, as each backend stores them its way."""
        return cls(
            id=int(row[0]),
            key=str(row[1]),
            kind=str(row[2]),
            payload=bytes(row[3]),
            name=str(row[4]),
            options=options,
            state=str(row[6]),
            instance=row[7],
            reason=row[8],
            attempts=int(row[9]),
            last_error=row[10],
            next_attempt_at=float(row[11]),
            created_at=float(row[12]),
            updated_at=float(row[13]),
            delivered_at=None if row[14] is None else float(row[14]),
            uncertain=uncertain,
            claimed=row[16] == owner and row[17] is not None and row[17] > now,
        )


@dataclass(frozen=True, slots=True)
class Move:
    """One failback move of a delivered item, as journaled: from, to, when, outcome."""

    id: int
    entry_id: int
    source: str
    target: str
    state: str
    """One of :data:`MOVE_STATES`."""
    reason: str
    started_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: Sequence[object]) -> Move:
        """A row of ``id, entry_id, source, target, state, reason, started_at, updated_at``
        (:data:`MOVE_COLUMNS`), as both backends store it."""
        return cls(
            id=int(str(row[0])),
            entry_id=int(str(row[1])),
            source=str(row[2]),
            target=str(row[3]),
            state=str(row[4]),
            reason=str(row[5]),
            started_at=float(str(row[6])),
            updated_at=float(str(row[7])),
        )


MOVE_COLUMNS: Final = "id, entry_id, source, target, state, reason, started_at, updated_at"
"""The move journal's columns, in :meth:`Move.from_row`'s order."""


class LedgerBackend(Protocol):
    """The operations every ledger backend provides, with the guarantees the engine relies on.

    Every failure of the underlying store is a :class:`~qbfailover.errors.StoreError` (one
    line, naming what to do); programming errors (unknown kind or state) are ``ValueError``.
    """

    def record(self, items: Sequence[NewEntry], *, reason: str, claim: bool = True) -> list[Entry]:
        """Durably write ``items`` before anything is sent (record first); one Entry per item.

        A key with a pending row is not inserted again: that row comes back, so an item handed
        over twice is delivered once. With ``claim``, every returned row that is free (or
        already ours) is claimed for this worker, due or not, since a fresh add means "try
        now"; :attr:`Entry.claimed` says which ones.
        """
        ...

    def claim_due(self, *, limit: int, ids: Sequence[int] | None = None) -> list[Entry]:
        """Claim up to ``limit`` free pending rows that are due, oldest first, under a new lease.

        Two workers claiming at once never get the same row. With ``ids``, only among those.
        """
        ...

    def release(self, entry_ids: Sequence[int]) -> None:
        """Give back claims this worker holds, changing nothing else (no attempt is counted).

        For a worker that claimed rows it will not try after all (a cancelled run, a test that
        inspected the queue), so that others may take them at once instead of after the lease.
        """
        ...

    def note_sent(self, entry_ids: Sequence[int], instance: str) -> None:
        """Durably note, before an add goes out, that these rows go to ``instance``.

        If the worker dies before the outcome is known, :attr:`Entry.uncertain` names the
        instance, so the next attempt checks there first instead of adding twice. Renews the
        lease on these rows and on the rest of the batch this worker claimed last.
        """
        ...

    def clear_sent(self, entry_ids: Sequence[int], instance: str) -> None:
        """Drop ``instance`` from :attr:`Entry.uncertain`: the add certainly did not land there.

        Renews the batch this worker claimed last, like the marks.
        """
        ...

    def mark_delivered(self, entry_ids: Sequence[int], *, instance: str, reason: str) -> None:
        """Rows confirmed on ``instance``: delivered, claim released, ``instance`` not uncertain.

        A row already delivered keeps its first instance and time. This mark applies even to a
        row another worker took over after this worker's lease lapsed: a delivery is a fact
        about the instance, not a claim decision, and recording it stops the new holder from
        sending the item again. Renews the rest of the batch this worker claimed last.
        """
        ...

    def mark_rejected(self, entry_id: int, *, reason: str) -> None:
        """A pending row that can never be delivered (the item's fault): final, claim released.

        Ignored for a row another worker holds under a live lease. Renews the rest of the
        batch this worker claimed last.
        """
        ...

    def mark_failed(self, entry_ids: Sequence[int], *, reason: str, error: str, backoff: bool = True) -> None:
        """Rows still pending after a failed try: count it, back off, release the claim.

        ``backoff=False`` when no instance was even available: such rows are due again as soon
        as a health check finds one. A row another worker holds under a live lease is left
        alone, so a stale report never resets its claim or backoff. Renews the rest of the
        batch this worker claimed last.
        """
        ...

    def amend_options(self, entry_id: int, options: dict[str, object]) -> bool:
        """Replace a pending row's add options (the gateway's follow-up commands on a queued item).

        Applies only to a row that is pending and that no other worker holds under a live lease;
        True if it did. False (nothing changed) for a row that is delivered, rejected, gone or
        held by another worker: the caller then acts on the instance instead. ``options`` must
        be JSON-serialisable (``ValueError`` otherwise, nothing written).
        """
        ...

    def journal_move(self, entry_id: int, *, source: str, target: str, state: str, reason: str = "") -> Move:
        """Write a failback step durably before acting on it (record first, as for adds).

        ``moving`` opens the entry's move, or returns the one already open unchanged (a rerun
        resumes it, whatever ``source``/``target`` it names). Any other state closes the open
        move (or records a closed one when none is open): ``moved`` also makes the entry
        delivered on the move's target, so it is never moved again; ``failed``, ``gone`` (no
        longer on the source: someone removed it) and ``kept`` leave the entry as it is.
        An unknown state is ``ValueError``.
        """
        ...

    def moves(self, *, open_only: bool = False, limit: int | None = None) -> builtins.list[Move]:
        """Journaled moves, newest first; ``open_only``: those still ``moving`` (to resume)."""
        ...

    def get(self, entry_id: int) -> Entry | None:
        """The row with this id, or None: for ``queue drop`` and for tests."""
        ...

    def counts(self) -> dict[str, int]:
        """Rows per state, every state present (zeros too): ``status``, ``doctor``, metrics."""
        ...

    def oldest_pending(self) -> float | None:
        """``created_at`` of the oldest pending row: how long the queue has been waiting."""
        ...

    def retry(self, entry_id: int | None) -> int:
        """Make one pending row (or all, with None) due now; returns how many were pending."""
        ...

    def drop(self, entry_id: int) -> bool:
        """Delete a row for good (a person decided it); True if it existed."""
        ...

    def purge_delivered(self, older_than_seconds: float) -> int:
        """Delete delivered rows older than this; returns how many. Never touches pending rows."""
        ...

    def load_guard(self, name: str) -> Guard:
        """Instance ``name``'s persisted breaker/login guard (a fresh one if none or unreadable).

        One-shot CLI runs share it, so a cron job honours a breaker or login budget that an
        earlier run opened.
        """
        ...

    def save_guard(self, name: str, guard: Guard) -> None:
        """Persist instance ``name``'s guard for the next process."""
        ...

    def salt(self) -> bytes:
        """This ledger's random salt for credential fingerprints: created once, then stable."""
        ...

    def close(self) -> None:
        """Release the connection; everything recorded is already durable."""
        ...

    def __enter__(self) -> Self:
        """Use the ledger in a ``with`` block that closes it."""
        ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the ledger."""
        ...

    def list(
        self, *, states: Collection[str] = ("pending",), limit: int | None = None, newest: bool = False
    ) -> builtins.list[Entry]:
        """Rows in the given states, oldest first: ``queue list`` and ``queue export``.

        ``newest``: the most recently updated first (with ``limit``, the status page's recent
        outcomes read a few rows, not the whole history)."""
        ...
