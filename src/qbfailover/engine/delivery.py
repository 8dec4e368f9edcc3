"""Delivery: route → deliver → confirm → mark, for items already recorded in the ledger.

Every decision comes from ``core`` (``routing`` for the order, ``delivery`` for what a reply or an
error means, ``outcomes`` for the result and its reason); this module sends the requests, polls for
the confirmation and writes the ledger. Items no instance took stay pending with their reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from qbfailover.config import InstanceConfig
from qbfailover.core.delivery import (
    Step,
    already_there,
    batch_bounds,
    judge_add,
    judge_error,
    judge_url,
    refused_everywhere,
)
from qbfailover.core.items import Item
from qbfailover.core.outcomes import (
    INTERRUPTED,
    Fault,
    ItemResult,
    Outcome,
    Refusal,
    Unavailable,
    queue_reason,
    unconfirmed,
)
from qbfailover.core.routing import usable
from qbfailover.engine.health_round import HealthRound, ProbeHost
from qbfailover.errors import InstanceError, QbFailoverError
from qbfailover.ledger.base import Entry, LedgerBackend
from qbfailover.qbt.webui import AddOptions, AddReply, WebUI


class DeliveryHost(ProbeHost, Protocol):
    """What delivery needs from its client: a round's needs, the ledger, who to tell."""

    on_delivered: Callable[[list[tuple[Entry, ItemResult]]], None] | None

    @property
    def ledger(self) -> LedgerBackend:
        """Where every item is recorded before delivery and marked after it."""
        ...


@dataclass(slots=True)
class Pending:
    """One ledger entry on its way through the instances."""

    entry: Entry
    item: Item
    refusals: list[Refusal] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    result: ItemResult | None = None

    def result_for(
        self,
        outcome: Outcome,
        instance: str | None = None,
        *,
        refusals: tuple[Refusal, ...] = (),
        down: tuple[Unavailable, ...] = (),
        error: str = "",
    ) -> ItemResult:
        """The item's result for ``outcome`` (assigned to ``result`` once the ledger has it)."""
        return ItemResult(
            item=self.item.source,
            name=self.item.name,
            infohash=self.item.v1 or self.item.v2,
            outcome=outcome,
            instance=instance,
            id=self.entry.id,
            refusals=refusals,
            down=down,
            error=error,
        )


def _mark_delivered(host: DeliveryHost, done: list[Pending], outcome: Outcome, instance: str) -> None:
    """Ledger first, then the results: if the write fails, the items are released as unresolved.

    ``on_delivered`` hears of each batch as soon as it is marked, not when the whole drain step
    ends: the gateway shows it at once, and a client polling for it asks no instance.
    """
    results = [p.result_for(outcome, instance) for p in done]
    host.ledger.mark_delivered([p.entry.id for p in done], instance=instance, reason=results[0].reason)
    for p, result in zip(done, results, strict=True):
        p.result = result
    if host.on_delivered is not None:
        host.on_delivered([(p.entry, r) for p, r in zip(done, results, strict=True)])


async def deliver(host: DeliveryHost, pending: list[Pending], health: HealthRound) -> dict[int, ItemResult]:
    """Try instances in priority order; what no instance took stays pending with the reason.

    Each instance's probe is awaited only when delivery reaches it, so a slow or frozen
    lower-priority instance never delays items the primary takes at once.
    """
    ledger = host.ledger
    tried = 0
    try:
        for cfg in host.settings.by_priority:
            if all(p.result is not None for p in pending):
                break
            if not usable(await health.instance(cfg)):
                continue
            tried += 1
            await _reconcile_uncertain(host, pending, cfg)
            todo = [p for p in pending if p.result is None]
            if todo:
                await _deliver_to(host, cfg, todo)
        needed = any(p.result is None for p in pending)
        report = await health.report() if needed or health.settled() else None
    except BaseException:
        _release_unresolved(ledger, pending, INTERRUPTED)
        await asyncio.shield(health.cancel())
        raise
    if report is None:
        await health.cancel()  # everything delivered: the other probes are not needed
    for p in pending:
        if p.result is None and refused_everywhere(len(p.refusals), tried):
            result = p.result_for(Outcome.REFUSED_BY_INSTANCES, refusals=tuple(p.refusals))
            ledger.mark_rejected(p.entry.id, reason=result.reason)
            p.result = result
    unresolved = [p for p in pending if p.result is None]
    if unresolved:
        assert report is not None
        why = queue_reason(report)
        error = "; ".join(sorted({e for p in unresolved for e in p.errors})) or str(why)
        ledger.mark_failed(
            [p.entry.id for p in unresolved], reason=str(why), error=error[:500], backoff=why.backoff
        )
        for p in unresolved:
            p.result = p.result_for(why.outcome, down=why.down, error=p.errors[-1] if p.errors else "")
    out: dict[int, ItemResult] = {}
    for p in pending:
        assert p.result is not None
        out[p.entry.id] = p.result
    return out


def _release_unresolved(ledger: LedgerBackend, pending: list[Pending], why: str) -> None:
    ids = [p.entry.id for p in pending if p.result is None]
    if ids:
        # If even this fails, the claim dies with our process: the items are still pending.
        with contextlib.suppress(QbFailoverError):
            ledger.mark_failed(ids, reason=why, error=why)


async def _reconcile_uncertain(host: DeliveryHost, pending: list[Pending], cfg: InstanceConfig) -> None:
    """Items an earlier attempt sent to ``cfg`` without an answer: if they arrived, done."""
    suspects = [
        p for p in pending if p.result is None and cfg.name in p.entry.uncertain and p.item.confirmable
    ]
    if not suspects:
        return
    try:
        present = await host.webui(cfg).present(h for p in suspects for h in p.item.hashes)
    except InstanceError:
        return
    found = [p for p in suspects if already_there(p.item.hashes, present)]
    if found:
        _mark_delivered(host, found, Outcome.ADDED, cfg.name)


LANES = 2
"""Batches in flight to one instance at once. While one batch waits for qBittorrent (its add, its
confirmation), the other's ledger writes and checks run: neither side sits idle waiting for the
other. More lanes buy nothing on a single-threaded WebUI; one would serialise the two again."""


async def _deliver_to(host: DeliveryHost, cfg: InstanceConfig, todo: list[Pending]) -> None:
    """Batches of same-option items to one instance; its first error ends this instance's turn.

    A batch already on its way when another fails still finishes (its outcome is known); the
    batches not yet started carry the error on to the next instance.
    """
    groups: dict[str, list[Pending]] = {}
    keys: dict[int, str] = {}  # rows read together share one options object: encode it once
    for p in todo:
        key = keys.get(id(p.entry.options))
        if key is None:
            key = keys[id(p.entry.options)] = json.dumps(p.entry.options, sort_keys=True)
        groups.setdefault(key, []).append(p)
    size = host.settings.batch_size
    batches: deque[tuple[AddOptions, list[Pending]]] = deque()
    for group in groups.values():
        options = AddOptions.from_mapping(group[0].entry.options)
        bounds = batch_bounds([len(p.entry.payload) for p in group], size)
        batches.extend((options, group[start:end]) for start, end in bounds)
    failures: list[InstanceError] = []

    async def lane() -> None:
        while batches and not failures:
            options, batch = batches.popleft()
            try:
                await _deliver_batch(host, cfg, batch, options)
            except InstanceError as exc:
                failures.append(exc)
                for p in batch:
                    if p.result is None:
                        p.errors.append(str(exc))

    lanes = min(LANES, len(batches))
    if lanes == 1:
        await lane()
    else:
        try:
            async with asyncio.TaskGroup() as group_of_lanes:
                for _ in range(lanes):
                    group_of_lanes.create_task(lane())
        except BaseExceptionGroup as grouped:  # callers expect the error itself (StoreError, ...)
            raise grouped.exceptions[0] from None
    if failures:
        for _, batch in batches:  # never started: they carry the first error on
            for p in batch:
                if p.result is None:
                    p.errors.append(str(failures[0]))
        tripping = next((exc for exc in failures if judge_error(exc).trips_breaker), None)
        if tripping is not None:  # either lane's failure may be the one that says "down"
            host.record_probe(cfg.name, tripping)


async def _send(ledger: LedgerBackend, ui: WebUI, batch: list[Pending], options: AddOptions) -> AddReply:
    """One torrents/add for ``batch``, noted in the ledger first; the note undone if it never arrived."""
    ids = [p.entry.id for p in batch]
    ledger.note_sent(ids, ui.name)
    try:
        return await ui.add([p.item for p in batch], options)
    except InstanceError as exc:
        if judge_error(exc).clears_sent:
            ledger.clear_sent(ids, ui.name)  # never reached the instance
        raise


def _apply(
    ledger: LedgerBackend, cfg: InstanceConfig, p: Pending, step: Step, reply: AddReply, timeout: float
) -> None:
    """Write what ``step`` means for ``p`` (after the delivered ones were marked in one go)."""
    outcome = step.outcome
    if outcome is not None and step.fault is Fault.ITEM:  # never deliverable: final, no failover
        result = p.result_for(outcome, refusals=(Refusal(cfg.name, str(reply.status)),))
        ledger.mark_rejected(p.entry.id, reason=result.reason)
        p.result = result
    elif step.clears_sent:  # refused: surely not added here, and this instance's refusal counts
        ledger.clear_sent([p.entry.id], cfg.name)
        p.refusals.append(Refusal(cfg.name, reply.text or str(reply.status)))
    else:  # accepted but not shown in time: the "sent" mark stays, a later attempt looks here first
        p.errors.append(unconfirmed(cfg.name, timeout))


async def _deliver_batch(
    host: DeliveryHost, cfg: InstanceConfig, batch: list[Pending], options: AddOptions
) -> None:
    ui = host.webui(cfg)
    ledger = host.ledger
    hashed = [p for p in batch if p.item.confirmable]
    before = await ui.present(h for p in hashed for h in p.item.hashes) if hashed else set()
    there = [p for p in hashed if already_there(p.item.hashes, before)]
    if there:
        _mark_delivered(host, there, Outcome.ALREADY_THERE, cfg.name)
    send = [p for p in hashed if p.result is None]
    if send:
        reply = await _send(ledger, ui, send, options)
        present = await _confirm(ui, send, host.settings.confirm_timeout)
        steps = {
            p.entry.id: judge_add(
                kind=p.item.kind,
                hashes=p.item.hashes,
                present=present,
                status=reply.status,
                accepted=reply.accepted,
            )
            for p in send
        }
        added = [p for p in send if steps[p.entry.id] is Step.ADDED]
        if added:
            _mark_delivered(host, added, Outcome.ADDED, cfg.name)
        for p in send:
            if p.result is None:
                _apply(ledger, cfg, p, steps[p.entry.id], reply, host.settings.confirm_timeout)
    for p in batch:
        if p.result is None and not p.item.confirmable:
            await _deliver_unhashed(host, cfg, ui, p, options)


async def _deliver_unhashed(
    host: DeliveryHost, cfg: InstanceConfig, ui: WebUI, p: Pending, options: AddOptions
) -> None:
    """URLs: qBittorrent fetches them itself, so its reply is all the receipt there is."""
    reply = await _send(host.ledger, ui, [p], options)
    step = judge_url(reply.accepted)
    if step is Step.ACCEPTED_URL:
        _mark_delivered(host, [p], Outcome.ACCEPTED_URL, cfg.name)
    else:
        _apply(host.ledger, cfg, p, step, reply, host.settings.confirm_timeout)


async def _confirm(ui: WebUI, send: list[Pending], confirm_timeout: float) -> set[str]:
    """Poll torrents/info until every item shows up (magnets appear asynchronously).

    Each poll asks only for the items not seen yet: qBittorrent's cost is per torrent listed,
    so re-listing the ones already confirmed made a 500-item batch pay for its early arrivals
    on every poll. The timeout counts from the last poll that found something: a large batch
    that qBittorrent is still working through is not given up on while it keeps appearing.
    """
    present: set[str] = set()
    waiting = send
    deadline = time.monotonic() + confirm_timeout
    delay = 0.005
    while True:
        present |= await ui.present(h for p in waiting for h in p.item.hashes)
        still = [p for p in waiting if not already_there(p.item.hashes, present)]
        if len(still) < len(waiting):
            deadline = time.monotonic() + confirm_timeout
        waiting = still
        if not waiting or time.monotonic() >= deadline:
            return present
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.2)
