"""How long a pending item waits after a failed try: a pure decision, tested as a table.

Why here and not in the ledger: every backend must space retries the same way, and the rule is
worth reading (and testing) without a database. The random source is passed in, so the jitter
is deterministic in tests and core stays free of hidden global state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

__all__ = ["BACKOFF_BASE_SECONDS", "BACKOFF_CAP_SECONDS", "BACKOFF_JITTER", "backoff_seconds"]

BACKOFF_BASE_SECONDS: Final = 5.0
"""First retry delay: short, because most outages we see are a qBittorrent restart."""
BACKOFF_CAP_SECONDS: Final = 15 * 60.0
"""Longest retry delay: an item never waits more than this after an instance comes back."""
BACKOFF_JITTER: Final = 0.10
"""±10 %, so that many processes queued by one outage do not retry in lock-step."""


def backoff_seconds(attempts: int, *, rand: Callable[[], float]) -> float:
    """Delay before the next try after ``attempts`` failures: 5 s doubling, ±10 %, ≤ 15 min.

    ``rand`` returns a float in [0, 1] (``random.random`` in production). Jitter is applied
    before the cap so the cap is a hard bound a user can rely on.
    """
    if attempts < 1:
        return 0.0
    base = min(BACKOFF_BASE_SECONDS * 2.0 ** min(attempts - 1, 32), BACKOFF_CAP_SECONDS)
    jitter = 1.0 + BACKOFF_JITTER * (2.0 * rand() - 1.0)
    return min(base * jitter, BACKOFF_CAP_SECONDS)
