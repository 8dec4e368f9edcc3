"""What became of each item: outcomes and faults as values, the reason text rendered from them.

The engine decides an :class:`Outcome` (with the instances and errors it concerns) and builds an
:class:`ItemResult`; ``reason`` is rendered here, byte for byte the text ``--json``, the ledger and
the logs have always shown. Nothing reads that text back: the engine, metrics, watch and
notifications look at ``outcome`` and ``state``; ``fault`` tells a caller whose fault it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from qbfailover.core.health import HealthReport, Status

ItemState = Literal["delivered", "queued", "rejected"]

BUSY_REASON = "already queued and being delivered by another qbfailover process"
INTERRUPTED = "interrupted"


class Fault(StrEnum):
    """Whose fault an outcome is: it decides whether another instance is worth trying."""

    NONE = "none"  # nothing went wrong (delivered, or another process is delivering it)
    ITEM = "item"  # the input can never be delivered: no failover, rejected
    INSTANCE = "instance"  # the instance failed or refused: the next instance may take it


class Outcome(StrEnum):
    """What happened to one item handed to us (the final word of one delivery)."""

    ADDED = "added"
    ALREADY_THERE = "already_there"
    ACCEPTED_URL = "accepted_url"
    INVALID_ITEM = "invalid_item"
    INVALID_TORRENT = "invalid_torrent"
    REFUSED_BY_INSTANCES = "refused_by_instances"
    NO_INSTANCE = "no_instance"
    NOT_DELIVERED = "not_delivered"
    BUSY = "busy"

    @property
    def state(self) -> ItemState:
        """The ledger-facing state: what ``successful / failed / queued`` sort the item into."""
        return _STATES[self]

    @property
    def fault(self) -> Fault:
        """Whose fault it is that the item is not (yet) delivered."""
        return _FAULTS[self]


_STATES: dict[Outcome, ItemState] = {
    Outcome.ADDED: "delivered",
    Outcome.ALREADY_THERE: "delivered",
    Outcome.ACCEPTED_URL: "delivered",
    Outcome.INVALID_ITEM: "rejected",
    Outcome.INVALID_TORRENT: "rejected",
    Outcome.REFUSED_BY_INSTANCES: "rejected",
    Outcome.NO_INSTANCE: "queued",
    Outcome.NOT_DELIVERED: "queued",
    Outcome.BUSY: "queued",
}
_FAULTS: dict[Outcome, Fault] = {
    Outcome.ADDED: Fault.NONE,
    Outcome.ALREADY_THERE: Fault.NONE,
    Outcome.ACCEPTED_URL: Fault.NONE,
    Outcome.BUSY: Fault.NONE,
    Outcome.INVALID_ITEM: Fault.ITEM,
    Outcome.INVALID_TORRENT: Fault.ITEM,
    Outcome.REFUSED_BY_INSTANCES: Fault.INSTANCE,
    Outcome.NO_INSTANCE: Fault.INSTANCE,
    Outcome.NOT_DELIVERED: Fault.INSTANCE,
}
_FIXED = {
    Outcome.ADDED: "added",
    Outcome.ALREADY_THERE: "already there",
    Outcome.ACCEPTED_URL: "accepted (URL)",
    Outcome.BUSY: BUSY_REASON,
}


@dataclass(frozen=True, slots=True)
class Refusal:
    """One instance answered an add and did not take the item (its reply, for the reason)."""

    instance: str
    answer: str

    def __str__(self) -> str:
        return f"{self.instance} ({self.answer})"


@dataclass(frozen=True, slots=True)
class Unavailable:
    """An instance that was not usable when an item had to wait (named in the queue reason)."""

    instance: str
    status: Status

    def __str__(self) -> str:
        return f"{self.instance} {self.status}"


@dataclass(frozen=True, slots=True)
class QueueReason:
    """Why items no instance took stay pending, and whether their next attempt backs off."""

    outcome: Outcome  # NO_INSTANCE or NOT_DELIVERED
    down: tuple[Unavailable, ...]

    @property
    def backoff(self) -> bool:
        """Back off only if some instance is healthy; with none, an item is due when one returns."""
        return self.outcome is Outcome.NOT_DELIVERED

    def __str__(self) -> str:
        parts = ", ".join(str(d) for d in self.down)
        if self.outcome is Outcome.NO_INSTANCE:
            return "no instance available: " + parts
        return "not delivered: " + (parts or "every instance failed")


def queue_reason(report: HealthReport) -> QueueReason:
    """The queue verdict for a finished health report: none usable, or usable but none took it."""
    down = tuple(Unavailable(i.name, i.status) for i in report.instances if not i.ok)
    return QueueReason(Outcome.NOT_DELIVERED if report.healthy else Outcome.NO_INSTANCE, down)


def unconfirmed(instance: str, confirm_timeout: float) -> str:
    """The error noted when an add was accepted but the item never showed up by infohash."""
    return f"{instance} accepted but did not show it within {confirm_timeout:g} s"


@dataclass(frozen=True, slots=True)
class ItemResult:
    """What became of one item handed to us: the outcome as a value, the reason rendered from it."""

    item: str
    name: str
    infohash: str | None
    outcome: Outcome
    instance: str | None = None
    id: int | None = None
    refusals: tuple[Refusal, ...] = ()  # REFUSED_BY_INSTANCES; INVALID_TORRENT: who refused the file
    down: tuple[Unavailable, ...] = ()  # NO_INSTANCE / NOT_DELIVERED: the instances that were not usable
    error: str = ""  # INVALID_ITEM: why the input is invalid; queued: the last delivery error

    @property
    def state(self) -> ItemState:
        """delivered / queued / rejected: the spec's three lists and the exit code come from it."""
        return self.outcome.state

    @property
    def fault(self) -> Fault:
        """Whose fault it is that the item is not delivered (NONE when it is)."""
        return self.outcome.fault

    @property
    def reason(self) -> str:
        """The one-line reason users see (``--json``, ledger, logs), rendered from the outcome."""
        fixed = _FIXED.get(self.outcome)
        if fixed is not None:
            return fixed
        if self.outcome is Outcome.INVALID_ITEM:
            return self.error
        if self.outcome is Outcome.INVALID_TORRENT:
            return f"{self.refusals[0].instance} refused the .torrent file (HTTP 415: invalid torrent)"
        if self.outcome is Outcome.REFUSED_BY_INSTANCES:
            return "refused by " + "; ".join(str(r) for r in self.refusals)
        why = str(QueueReason(self.outcome, self.down))
        return f"{why}; {self.error}" if self.error else why

    def as_dict(self) -> dict[str, object]:
        """The item's ``--json`` document (these keys are a stable interface)."""
        return {
            "id": self.id,
            "item": self.item,
            "name": self.name,
            "infohash": self.infohash,
            "state": self.state,
            "instance": self.instance,
            "reason": self.reason,
        }


@dataclass(slots=True)
class AddResult:
    """The spec's ``successful / failed / queued`` lists, plus per-item detail."""

    items: list[ItemResult] = field(default_factory=list)

    @property
    def successful(self) -> list[str]:
        """Items delivered (added, already there, or a URL accepted), as handed to us."""
        return [r.item for r in self.items if r.state == "delivered"]

    @property
    def failed(self) -> list[str]:
        """Items that can never be delivered as they are (rejected): retrying will not help."""
        return [r.item for r in self.items if r.state == "rejected"]

    @property
    def queued(self) -> list[str]:
        """Items kept pending in the ledger, to be delivered when an instance can take them."""
        return [r.item for r in self.items if r.state == "queued"]

    @property
    def exit_code(self) -> int:
        """0 all delivered (or already there), 4 some rejected, else 3 some queued."""
        if self.failed:
            return 4
        return 3 if self.queued else 0

    def as_dict(self) -> dict[str, object]:
        """The ``add --json`` document (these keys are a stable interface)."""
        return {
            "successful": self.successful,
            "failed": self.failed,
            "queued": self.queued,
            "items": [r.as_dict() for r in self.items],
        }
