"""Failback: carry out ``core.failback``'s plan, in journaled batches.

Each move keeps one order, so that no item is ever on no instance: journal ``moving`` → add to
the target (the .torrent exported from the source when it has its metadata, else the magnet) →
confirm there by infohash → (complete items: let the target check the data, keep it only if every
piece is found) → wait ``persist_grace`` seconds, since qBittorrent writes a new torrent's resume
data a moment after the add and a target restarted before that forgets it → confirm again →
remove from the source → journal ``moved``. Killed anywhere, the open journal entry makes the next
run look at the target first and finish the job; an item already on the target is never added
again, and one removed from its source by a person is never re-added. Health is checked again
between batches: a VPN that drops mid-run stops the moves.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from qbfailover.config import InstanceConfig
from qbfailover.core.failback import Candidate, Facts, Plan, StayReason, plan_failback
from qbfailover.core.health import HealthReport
from qbfailover.core.items import item_from_ledger
from qbfailover.engine.client import AsyncResilientClient
from qbfailover.engine.failback_steps import MoveOutcome, Placed, finish, place
from qbfailover.errors import InstanceError, ItemError
from qbfailover.ledger.base import Entry, NewEntry
from qbfailover.qbt.torrents import list_facts
from qbfailover.qbt.webui import WebUI

__all__ = ["FailbackOptions", "FailbackRun", "MoveOutcome", "run_failback"]

log = logging.getLogger("qbfailover.failback")


@dataclass(frozen=True, slots=True)
class FailbackOptions:
    """What a run may do: the CLI's flags and ``watch --failback``'s batch."""

    dry_run: bool = False
    include_complete: bool = False
    limit: int | None = None
    tag: str | None = None
    """Also move torrents on lower-priority instances that carry this tag (adopted into the ledger)."""
    path_map: tuple[tuple[str, str], ...] = ()
    """Source save-path prefixes → target paths; unmapped items take the target's default."""
    delete_incomplete_data: bool = True
    check_timeout: float = 120.0
    """How long a complete item's data check on the target may take before it is left alone."""
    persist_grace: float = 10.0
    """Seconds between the add on the target and the removal from the source (see the module)."""
    batch: int = 50
    """Moves placed together before one grace period and one health check."""


@dataclass(slots=True)
class FailbackRun:
    """The plan and what each move came to (no outcomes on a dry run)."""

    plan: Plan
    outcomes: list[MoveOutcome] = field(default_factory=list)
    stopped: str = ""
    """Why the run stopped before the end of its plan (the target failed or became unusable)."""

    @property
    def moved(self) -> int:
        """How many items now live on the target."""
        return sum(1 for o in self.outcomes if o.state == "moved")

    @property
    def unfinished(self) -> int:
        """Moves that failed, were left open or not tried: a rerun (or watch) retries them."""
        tried = sum(1 for o in self.outcomes if o.state in ("failed", "moving"))
        return tried + len(self.plan.moves) - len(self.outcomes)

    def as_dict(self) -> dict[str, object]:
        """The ``failback --json`` document: the plan, plus each move's outcome once run."""
        doc = self.plan.as_dict()
        outcomes = {o.move.candidate.entry_id: o for o in self.outcomes}
        moves = doc["moves"]
        assert isinstance(moves, list)
        for m in moves:
            o = outcomes.get(m["id"])
            m["outcome"] = o.state if o else None
            m["reason"] = o.reason if o else (self.stopped or None)
        doc["moved"] = self.moved
        doc["unfinished"] = self.unfinished
        return doc


async def run_failback(
    client: AsyncResilientClient, options: FailbackOptions, *, report: HealthReport | None = None
) -> FailbackRun:
    """Plan the run (always), then carry it out unless it is a dry run.

    ``report``: a health report just taken (``watch``'s cycle), so the run does not probe again.
    """
    settings = client.settings
    if report is None:
        report = await client.health_check()
    ranks = {i.name: i.priority for i in settings.instances}
    target = _target(report)
    ledger = client.ledger
    latest: dict[int, tuple[str, str]] = {}
    for m in ledger.moves():
        latest.setdefault(m.entry_id, (m.state, m.target))
    top = min(ranks.values())
    lower = [cfg for cfg in settings.instances if cfg.priority > top]
    entries = [
        e
        for e in ledger.list(states=("delivered",))
        if e.instance is not None
        and ranks.get(e.instance, top) > top
        and latest.get(e.id, ("",))[0] != "gone"
    ]
    candidates = [_candidate(e, latest.get(e.id)) for e in entries]
    if options.tag:
        candidates += await _tagged(
            client, lower, options.tag, {h for c in candidates for h in c.known_as}, options
        )
        if not options.dry_run:
            entries = [*entries, *(e for e in (ledger.get(c.entry_id) for c in candidates) if e is not None)]
    listed: dict[str, dict[str, Facts] | None] = {}
    for cfg in lower:
        hashes = [h for c in candidates if c.source == cfg.name and not c.url for h in c.known_as]
        if hashes:
            listed[cfg.name] = await _listed(client.webui(cfg), hashes)
    on_target: frozenset[str] = frozenset()
    if target is not None and candidates:
        try:
            ui = client.webui(settings.instance(target))
            on_target = frozenset(await ui.present(h for c in candidates for h in c.known_as))
        except InstanceError as exc:
            log.warning("failback: cannot list %s (%s); nothing moves this run", target, exc.detail)
            target = None
    plan = plan_failback(
        candidates,
        target=target,
        ranks=ranks,
        listed=listed,
        on_target=on_target,
        include_complete=options.include_complete,
        limit=options.limit,
    )
    run = FailbackRun(plan)
    if options.dry_run:
        return run
    for stay in plan.stays:
        if stay.reason is StayReason.GONE:
            c = stay.candidate
            ledger.journal_move(
                c.entry_id, source=c.source, target=target or "", state="gone", reason=str(stay.reason)
            )
    by_id = {e.id: e for e in entries}
    await _carry_out(client, run, by_id, options)
    return run


def _target(report: HealthReport) -> str | None:
    usable = sorted((i for i in report.instances if i.ok), key=lambda i: i.priority)
    return usable[0].name if usable else None


def _candidate(entry: Entry, open_move: tuple[str, str] | None) -> Candidate:
    resume = open_move is not None and open_move[0] == "moving"
    try:
        hashes = item_from_ledger(entry.kind, entry.payload, source=f"ledger #{entry.id}").hashes
    except ItemError:
        hashes = frozenset()
    return Candidate(
        entry.id,
        entry.name,
        entry.key,
        entry.instance or "",
        resume=resume,
        hashes=hashes,
        moving_to=open_move[1] if resume and open_move else None,
        url=entry.kind == "url",
    )


async def _carry_out(
    client: AsyncResilientClient, run: FailbackRun, by_id: dict[int, Entry], options: FailbackOptions
) -> None:
    """Batches: place each move, wait the grace period, confirm again, remove from the sources."""
    moves = list(run.plan.moves)
    for start in range(0, len(moves), max(1, options.batch)):
        if start:  # every batch after the first: is the target still the one to use?
            report = await client.health_check()
            if _target(report) != run.plan.target:
                run.stopped = (
                    f"{run.plan.target} is no longer the best usable instance: left for the next run"
                )
                log.warning("failback: %s", run.stopped)
                return
        placed: list[Placed] = []
        for move in moves[start : start + options.batch]:
            step = await place(
                client, move, by_id[move.candidate.entry_id], options.path_map, options.check_timeout
            )
            if isinstance(step, Placed):
                placed.append(step)
                continue
            _record(run, step)
            if step.blame == move.target:
                run.stopped = f"{move.target} failed: the rest is left for the next run"
                break
        if placed and options.persist_grace > 0:
            await asyncio.sleep(options.persist_grace)
        for outcome in await finish(client, placed, options.delete_incomplete_data):
            _record(run, outcome)
        if run.stopped:
            return


def _record(run: FailbackRun, outcome: MoveOutcome) -> None:
    run.outcomes.append(outcome)
    c = outcome.move.candidate
    log.info(
        "failback: %s %s → %s: %s (%s)", c.name, c.source, outcome.move.target, outcome.state, outcome.reason
    )


async def _listed(ui: WebUI, hashes: Sequence[str]) -> dict[str, Facts] | None:
    try:
        return await list_facts(ui, hashes)
    except InstanceError as exc:
        log.warning("failback: cannot list %s (%s); its items stay", ui.name, exc.detail)
        return None


async def _tagged(
    client: AsyncResilientClient,
    lower: Sequence[InstanceConfig],
    tag: str,
    known: set[str],
    options: FailbackOptions,
) -> list[Candidate]:
    """Tagged torrents the ledger does not know; a real run records them as delivered where they are.

    A dry run plans them with id 0 (not recorded yet), so it shows what a real run would move.
    """
    found: list[Candidate] = []
    for cfg in lower:
        try:
            facts = await list_facts(client.webui(cfg), None)
        except InstanceError:
            continue
        seen: set[str] = set()
        for f in facts.values():
            if f.id in seen or tag not in [t.strip() for t in f.tags.split(",")] or not f.magnet_uri:
                continue
            seen.add(f.id)
            hashes = frozenset(h for h, g in facts.items() if g is f)
            if hashes & known:
                continue
            name = f.name or f.id
            if options.dry_run:
                found.append(Candidate(0, name, f.id, cfg.name, hashes=hashes))
                continue
            new = NewEntry(
                key=_key(hashes), kind="magnet", payload=f.magnet_uri.encode(), name=name, options={}
            )
            [entry] = client.ledger.record([new], reason="adopted for failback", claim=True)
            client.ledger.mark_delivered([entry.id], instance=cfg.name, reason=f"adopted by tag {tag}")
            found.append(Candidate(entry.id, name, f.id, cfg.name, hashes=hashes))
            known.update(hashes)
    return found


def _key(hashes: frozenset[str]) -> str:
    """The ledger's key for a torrent known by these hashes: v1 if it has one, else its v2."""
    v2 = next((h for h in hashes if len(h) == 64), None)
    v1 = sorted(h for h in hashes if len(h) == 40 and (v2 is None or h != v2[:40]))
    return v1[0] if v1 else (v2 or min(hashes))


def options_for_watch(options: FailbackOptions, batch: int) -> FailbackOptions:
    """``watch --failback``'s options: one batch per cycle, never a dry run."""
    return replace(options, limit=batch, batch=batch, dry_run=False)
