"""Delivery rules: how one add attempt is judged for each item, and what happens after the last one.

The engine sends and confirms; these functions say what its answers mean:

- present before the add: ALREADY_THERE (delivered, never added twice);
- present after the add: ADDED; a URL (no infohash to confirm) accepted: ACCEPTED_URL;
- answered but absent: a .torrent refused with HTTP 415 is the item's fault (INVALID_TORRENT,
  rejected, no failover); any other refusal is the instance's (REFUSED, next instance);
- accepted but not shown within the confirm timeout: UNCONFIRMED (next instance, and the ledger
  keeps the "sent to" mark so a later attempt can find it there);
- Unreachable: never reached the instance (UNREACHABLE, next instance, not marked sent);
  Uncertain (timeout after sending): UNCERTAIN, next instance, the uncertainty remembered;
  auth failure, ban or an HTTP error after sending: FAILED, next instance, mark kept.

After every usable instance was tried: rejected if each one refused the item, else pending
(``outcomes.queue_reason`` says why and whether it backs off).
"""

from __future__ import annotations

from collections.abc import Set
from enum import StrEnum

from qbfailover.core.outcomes import Fault, Outcome
from qbfailover.errors import InstanceError, Uncertain, Unreachable


class Step(StrEnum):
    """What one attempt on one instance did for one item."""

    ADDED = "added"
    ACCEPTED_URL = "accepted_url"
    INVALID_TORRENT = "invalid_torrent"
    REFUSED = "refused"
    UNCONFIRMED = "unconfirmed"
    UNREACHABLE = "unreachable"
    UNCERTAIN = "uncertain"
    FAILED = "failed"

    @property
    def outcome(self) -> Outcome | None:
        """The item's final outcome if this step settles it; None means: try the next instance."""
        return _SETTLED.get(self)

    @property
    def fault(self) -> Fault:
        """Whose fault the step is: only an item fault ends delivery without a delivery."""
        outcome = self.outcome
        return outcome.fault if outcome is not None else Fault.INSTANCE

    @property
    def clears_sent(self) -> bool:
        """The request surely did not apply here: forget the ledger's "sent to this instance" mark."""
        return self in (Step.REFUSED, Step.UNREACHABLE)

    @property
    def trips_breaker(self) -> bool:
        """The instance did not answer: feed the breaker (which ignores refusals itself)."""
        return self in (Step.UNREACHABLE, Step.UNCERTAIN)


_SETTLED = {
    Step.ADDED: Outcome.ADDED,
    Step.ACCEPTED_URL: Outcome.ACCEPTED_URL,
    Step.INVALID_TORRENT: Outcome.INVALID_TORRENT,
}


def already_there(hashes: Set[str], present: Set[str]) -> bool:
    """Whether an item is on the instance under any of its hashes (checked before sending it)."""
    return bool(hashes & present)


def judge_add(*, kind: str, hashes: Set[str], present: Set[str], status: int, accepted: bool) -> Step:
    """One confirmable item after its batch's add reply and the confirming ``torrents/info``.

    Presence decides, never the reply alone (qBittorrent says ``Ok.`` for input it dropped).
    """
    if hashes & present:
        return Step.ADDED
    if kind == "torrent" and status == 415:
        return Step.INVALID_TORRENT
    if not accepted:
        return Step.REFUSED
    return Step.UNCONFIRMED


def judge_url(accepted: bool) -> Step:
    """A URL item: qBittorrent fetches it itself, so its reply is all the receipt there is."""
    return Step.ACCEPTED_URL if accepted else Step.REFUSED


def judge_error(error: InstanceError) -> Step:
    """An error from the instance during an attempt: never the item's fault, always the next instance."""
    if isinstance(error, Unreachable):
        return Step.UNREACHABLE
    if isinstance(error, Uncertain):
        return Step.UNCERTAIN
    return Step.FAILED


def refused_everywhere(refusals: int, tried: int) -> bool:
    """After all usable instances: rejected when each one tried refused the item (at least one did)."""
    return refusals > 0 and refusals >= max(1, tried)


MAX_ADD_BYTES = 8 * 1024 * 1024
"""Payload bytes one torrents/add may carry. ``batch_size`` counts items, and a magnet is ~100
bytes where a .torrent can be megabytes: a count alone would let 500 large files outgrow what a
WebUI (or a reverse proxy before it) accepts in one request."""


def batch_bounds(sizes: list[int], max_items: int, max_bytes: int = MAX_ADD_BYTES) -> list[tuple[int, int]]:
    """Split items of these payload ``sizes`` into ``(start, end)`` runs for one add each.

    A run ends at ``max_items`` items or before it would pass ``max_bytes``; an item larger than
    ``max_bytes`` on its own still goes, alone (qBittorrent answers for it, 413 included).
    """
    bounds: list[tuple[int, int]] = []
    start = 0
    total = 0
    for i, size in enumerate(sizes):
        if i > start and (i - start >= max_items or total + size > max_bytes):
            bounds.append((start, i))
            start, total = i, 0
        total += size
    if start < len(sizes):
        bounds.append((start, len(sizes)))
    return bounds
