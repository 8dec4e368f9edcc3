"""The watch loop's decisions: transitions, how loud they are, when to drain, what a drain did.

Pure values in, values out, so each rule is a table-driven test; ``engine.watch`` does the I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from qbfailover.core.health import HealthReport, State, Status
from qbfailover.core.outcomes import AddResult, Outcome


def transition(previous: State | None, current: State) -> tuple[State, State] | None:
    """The state change since the last cycle, or None (the first cycle is not a transition)."""
    if previous is None or previous is current:
        return None
    return previous, current


def transition_level(new: State) -> int:
    """How loud a transition is: into BOTH_DOWN is an error, losing redundancy a warning."""
    if new is State.BOTH_DOWN:
        return logging.ERROR
    if new in (State.PRIMARY_DOWN, State.SECONDARY_DOWN):
        return logging.WARNING
    return logging.INFO


def healthy_names(report: HealthReport) -> frozenset[str]:
    """The instances usable in this cycle, remembered to see which ones come back next cycle."""
    return frozenset(i.name for i in report.healthy)


def newly_healthy(previous: frozenset[str] | None, report: HealthReport) -> frozenset[str]:
    """Instances usable now that were not in the last cycle (all usable ones on the first)."""
    now = healthy_names(report)
    return now if previous is None else now - previous


def should_drain(report: HealthReport, pending: int) -> bool:
    """Drain when something waits and at least one eligible instance is healthy right now."""
    return pending > 0 and bool(report.healthy)


@dataclass(frozen=True, slots=True)
class InstanceChange:
    """One instance's status change between two cycles (logged as one line)."""

    name: str
    old: Status | None
    new: Status
    detail: str


def instance_changes(previous: Mapping[str, Status] | None, report: HealthReport) -> list[InstanceChange]:
    """Instances whose status changed; on the first cycle, the ones that are not OK."""
    out = []
    for inst in report.instances:
        old = None if previous is None else previous.get(inst.name)
        if previous is None:
            if not inst.ok:
                out.append(InstanceChange(inst.name, None, inst.status, inst.detail))
        elif old is not inst.status:
            out.append(InstanceChange(inst.name, old, inst.status, inst.detail))
    return out


@dataclass(slots=True)
class DrainTotals:
    """What one drain (one or more batches) did, for the log line and the notice."""

    delivered: int = 0
    already_there: int = 0
    rejected: int = 0
    queued: int = 0
    batches: int = 0

    def add(self, result: AddResult) -> None:
        """Count one drained batch, so a drain logs one summary line instead of one per item."""
        self.batches += 1
        for item in result.items:
            if item.state == "delivered":
                if item.outcome is Outcome.ALREADY_THERE:
                    self.already_there += 1
                else:
                    self.delivered += 1
            elif item.state == "rejected":
                self.rejected += 1
            else:
                self.queued += 1


def by_instance(result: AddResult) -> str | None:
    """``primary:480,secondary:20`` for one batch (who took what); None if nobody took anything."""
    counts: dict[str, int] = {}
    for item in result.items:
        if item.instance:
            counts[item.instance] = counts.get(item.instance, 0) + 1
    return ",".join(f"{k}:{v}" for k, v in sorted(counts.items())) or None
