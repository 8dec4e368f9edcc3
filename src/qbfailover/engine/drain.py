"""A drain step's claim: due rows taken from the ledger and turned back into items.

A drain that needs a health round first can claim while the round's requests are out: a cold
drain's round (a login is ~80 ms of PBKDF2 on the server) and its claim (~170 ms for 10,000 rows)
then overlap instead of adding up. The claim runs on the event loop after the probes have sent
their requests; what comes back waits in the socket until the claim is done. (Claiming in a thread
instead gained nothing: rebuilding the items holds the GIL the probes' replies wait for.) When
the round finds no usable instance, the claims are given back at once; a caller whose previous
round found none probes first, so an outage does not claim and release on every attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from qbfailover.core.health import HealthReport
from qbfailover.core.items import item_from_ledger
from qbfailover.core.outcomes import ItemResult, Outcome
from qbfailover.engine.delivery import Pending
from qbfailover.errors import ItemError, QbFailoverError
from qbfailover.ledger.base import LedgerBackend

Claimed = tuple[list[Pending], list[ItemResult]]
"""Items to deliver, and rows rejected as unreadable (already marked): together, the rows claimed."""


def claim_items(ledger: LedgerBackend, size: int) -> Claimed:
    """Claim up to ``size`` due rows and rebuild their items; unreadable rows are rejected here."""
    entries = ledger.claim_due(limit=size)
    pending: list[Pending] = []
    rejected: list[ItemResult] = []
    for entry in entries:
        try:
            source = f"ledger #{entry.id}"
            item = item_from_ledger(entry.kind, entry.payload, source, key=entry.key, name=entry.name)
        except ItemError as exc:
            ledger.mark_rejected(entry.id, reason=str(exc))
            shown = entry.payload.decode(errors="replace")[:80]
            rejected.append(
                ItemResult(shown, entry.name, None, Outcome.INVALID_ITEM, id=entry.id, error=str(exc))
            )
            continue
        pending.append(Pending(entry, item))
    return pending, rejected


async def claim_while_checking(
    ledger: LedgerBackend, check: Callable[[], Awaitable[HealthReport]], size: int
) -> tuple[HealthReport, Claimed]:
    """``check()`` with :func:`claim_items` done while its requests are out.

    Without a usable instance the claims are released and only the rejected rows are returned.
    """
    checking = asyncio.ensure_future(check())
    for _ in range(3):  # loop turns: the round starts its probes, they read their guards and send
        await asyncio.sleep(0)  # (an ordering for speed only: any order is correct)
    try:
        pending, rejected = claim_items(ledger, size)
    except BaseException:
        checking.cancel()
        await asyncio.gather(checking, return_exceptions=True)  # reaped, not left pending
        raise
    try:
        health = await checking
    except BaseException:
        release(ledger, pending)
        raise
    if not health.healthy:
        release(ledger, pending)
        return health, ([], rejected)
    return health, (pending, rejected)


def release(ledger: LedgerBackend, pending: list[Pending]) -> None:
    """Give back claims that will not be tried now (others may take them at once)."""
    if pending:
        # If even this fails, the lease runs out (or our process dies): the rows stay pending.
        with contextlib.suppress(QbFailoverError):
            ledger.release([p.entry.id for p in pending])
