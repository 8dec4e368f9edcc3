"""Failback's plan, pure: which delivered items go back to the best instance, in which order, and
which stay where they are, each with its reason.

Why pure: what moves is the one decision failback can get wrong in a way that costs the user data
or a download, so every rule here is a table-driven unit test, and the I/O (``engine.failback``)
only carries the plan out. Rules, in the order they are checked:

1. Nothing moves unless an instance is usable now (healthy, its VPN up), and only items on a
   lower-priority instance move, to the highest-priority usable one.
2. A move left open by a crashed run is resumed first, to the target it was started for (an item
   may already be there), whatever the other rules say; it waits while that target is unusable.
3. An item whose source cannot be listed now stays (unknown is not absent), resumed or not.
4. An item no longer on its source was removed there by someone: it is never re-added (a resumed
   move whose item is already on the target and gone from the source is simply finished).
5. A complete (seeding) item stays unless ``include_complete``: moving data is the user's call.
6. The rest moves, oldest delivery first, up to ``limit`` new moves per run (resumed ones do not
   count: finishing them is never postponed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "Candidate",
    "Facts",
    "Plan",
    "PlannedMove",
    "Stay",
    "StayReason",
    "failback_due",
    "map_savepath",
    "plan_failback",
]


class StayReason(StrEnum):
    """Why an item is left where it is this run (shown by ``--dry-run`` and in the journal)."""

    NO_TARGET = "no usable instance ranks above it now"
    SOURCE_UNREACHABLE = "its instance cannot be listed now"
    GONE = "no longer on its instance (removed there): not re-added"
    COMPLETE = "complete (seeding): moving its data is your choice (--include-complete)"
    LIMIT = "over this run's --limit"
    OPEN_ELSEWHERE = "an unfinished move to another instance waits until that one is usable"
    URL = "added by URL: its infohash is unknown, so it cannot be confirmed elsewhere"


@dataclass(frozen=True, slots=True)
class Facts:
    """What the source instance says about one torrent now."""

    progress: float
    id: str = ""
    """qBittorrent's id for it (v1, or v2 cut to 40 hex): what its hash-addressed calls take."""
    name: str = ""
    save_path: str = ""
    category: str = ""
    tags: str = ""
    paused: bool = False
    magnet_uri: str = ""

    @property
    def complete(self) -> bool:
        """Every piece is there: the torrent seeds, and its data is the user's library."""
        return self.progress >= 1.0


@dataclass(frozen=True, slots=True)
class Candidate:
    """A delivered ledger item on a lower-priority instance (or adopted by its tag)."""

    entry_id: int
    name: str
    infohash: str
    source: str
    resume: bool = False
    """An open move of a crashed run: finish it before anything else."""
    hashes: frozenset[str] = frozenset()
    """Every hash an instance may list it under (v1, v2, v2 cut to 40); ``infohash`` if empty."""
    moving_to: str | None = None
    """The target of the open move (resumed moves go there and nowhere else)."""
    url: bool = False
    """An item added by URL: nothing to confirm it by."""

    @property
    def known_as(self) -> frozenset[str]:
        """The hashes to look it up by."""
        return self.hashes or frozenset({self.infohash})


@dataclass(frozen=True, slots=True)
class PlannedMove:
    """One item to move, with what the executor needs to do it safely."""

    candidate: Candidate
    target: str
    facts: Facts | None
    """None when the source no longer lists it but an open move must still be finished."""
    on_target: bool
    """Already there (a crash after the add): only confirm and remove from the source."""

    @property
    def complete(self) -> bool:
        """A seeding item: its data is kept on the source and re-checked on the target."""
        return self.facts is not None and self.facts.complete


@dataclass(frozen=True, slots=True)
class Stay:
    """One item left where it is, and why."""

    candidate: Candidate
    reason: StayReason


@dataclass(frozen=True, slots=True)
class Plan:
    """The whole run: moves in order, and everything that stays."""

    target: str | None
    moves: tuple[PlannedMove, ...]
    stays: tuple[Stay, ...]

    def as_dict(self) -> dict[str, object]:
        """The ``failback --json`` document (these keys are a stable interface)."""
        return {
            "target": self.target,
            "moves": [
                {
                    "id": m.candidate.entry_id,
                    "name": m.candidate.name,
                    "infohash": m.candidate.infohash,
                    "from": m.candidate.source,
                    "to": m.target,
                    "complete": m.complete,
                    "resume": m.candidate.resume,
                }
                for m in self.moves
            ],
            "stays": [
                {
                    "id": s.candidate.entry_id,
                    "name": s.candidate.name,
                    "infohash": s.candidate.infohash,
                    "on": s.candidate.source,
                    "reason": str(s.reason),
                }
                for s in self.stays
            ],
        }


def plan_failback(
    candidates: Sequence[Candidate],
    *,
    target: str | None,
    ranks: Mapping[str, int],
    listed: Mapping[str, Mapping[str, Facts] | None],
    on_target: frozenset[str],
    include_complete: bool = False,
    limit: int | None = None,
) -> Plan:
    """Apply the module's rules; ``ranks`` are instance priorities (lower is better).

    ``listed[source]`` is the source's torrents by infohash, or None when it could not be listed;
    ``on_target`` the candidates' hashes the target already holds.
    """
    moves: list[PlannedMove] = []
    stays: list[Stay] = []
    ordered = sorted(candidates, key=lambda c: (not c.resume, c.entry_id))
    worst = max(ranks.values(), default=0) + 1
    for c in ordered:
        if c.url:
            stays.append(Stay(c, StayReason.URL))
            continue
        if target is None or ranks.get(c.source, worst) <= ranks.get(target, worst):
            stays.append(Stay(c, StayReason.NO_TARGET))
            continue
        if c.resume and c.moving_to is not None and c.moving_to != target:
            stays.append(Stay(c, StayReason.OPEN_ELSEWHERE))
            continue
        source_list = listed.get(c.source)
        if source_list is None:
            stays.append(Stay(c, StayReason.SOURCE_UNREACHABLE))
            continue
        there = bool(c.known_as & on_target)
        facts = next((source_list[h] for h in sorted(c.known_as) if h in source_list), None)
        if facts is None and not (c.resume and there):
            stays.append(Stay(c, StayReason.GONE))
            continue
        if facts is not None and facts.complete and not include_complete and not c.resume:
            stays.append(Stay(c, StayReason.COMPLETE))
            continue
        if limit is not None and not c.resume and sum(not m.candidate.resume for m in moves) >= limit:
            stays.append(Stay(c, StayReason.LIMIT))
            continue
        moves.append(PlannedMove(c, target, facts, there))
    return Plan(target, tuple(moves), tuple(stays))


def map_savepath(save_path: str, mapping: Sequence[tuple[str, str]]) -> str | None:
    """The target's save path for a source path: the first matching prefix mapped, else None
    (the target's default). Prefixes match whole path components only."""
    for src, dst in mapping:
        base = src.rstrip("/\\")
        if save_path == base or save_path.startswith((base + "/", base + "\\")):
            return dst.rstrip("/\\") + save_path[len(base) :]
    return None


def failback_due(
    since: float | None, last_run: float | None, *, primary_ok: bool, now: float, settle: float, more: bool
) -> tuple[float | None, bool]:
    """``watch --failback``: (since when the primary is usable, whether to run now).

    Nothing runs until the primary has been usable for ``settle`` seconds without a break (a
    flapping VPN moves nothing); then one batch per cycle while batches come back full
    (``more``), else at most one look per ``settle`` seconds, since each look lists the ledger.
    """
    if not primary_ok:
        return None, False
    since = now if since is None else since
    if now - since < settle:
        return since, False
    if more or last_run is None:
        return since, True
    return since, now - last_run >= settle
