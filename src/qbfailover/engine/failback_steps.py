"""The two steps of one failback move: place it on the target, then (after the grace period)
finish it by removing it from the source. See :mod:`qbfailover.engine.failback` for the order.

Why two steps: the removal from the source is the only irreversible act, so it comes last and
only for items confirmed on the target twice, before and after the grace period.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from qbfailover.core.failback import Facts, PlannedMove, map_savepath
from qbfailover.core.items import Item, item_from_ledger, link_item, parse_torrent
from qbfailover.errors import InstanceError, ItemError, Uncertain
from qbfailover.ledger.base import Entry
from qbfailover.qbt.options import AddOptions
from qbfailover.qbt.torrents import (
    delete_torrents,
    export_torrent,
    recheck_torrents,
    start_torrents,
    torrent_state,
)
from qbfailover.qbt.webui import WebUI

if TYPE_CHECKING:
    from qbfailover.engine.client import AsyncResilientClient

__all__ = ["MoveOutcome", "Placed", "finish", "place"]

_CHECKING = frozenset({"checkingUP", "checkingDL", "checkingResumeData", "moving", "allocating"})
_CHECK_GRACE = 5.0
"""Seconds after a re-check request within which qBittorrent shows the check (its refresh is 1.5 s)."""


@dataclass(frozen=True, slots=True)
class MoveOutcome:
    """What became of one planned move."""

    move: PlannedMove
    state: str
    """``moved``, ``failed``, ``kept`` (complete, data not reachable from the target), ``gone``,
    or ``moving`` (left open: the next run finishes it)."""
    reason: str
    blame: str | None = None
    """The instance whose failure ended the move, if one did."""


@dataclass(frozen=True, slots=True)
class Placed:
    """A move whose item is confirmed on the target; the source still holds it."""

    move: PlannedMove
    keep_data: bool
    """The source's files stay: complete data, the same files as the target's, or --keep-files."""


def _outcome(move: PlannedMove, state: str, reason: str, blame: str | None = None) -> MoveOutcome:
    return MoveOutcome(move, state, reason, blame)


async def place(
    client: AsyncResilientClient,
    move: PlannedMove,
    entry: Entry,
    path_map: tuple[tuple[str, str], ...],
    check_timeout: float,
) -> Placed | MoveOutcome:
    """Journal the move and put the item on the target; Placed, or the move's final outcome."""
    c = move.candidate
    ledger = client.ledger
    ledger.journal_move(c.entry_id, source=c.source, target=move.target, state="moving")
    src = client.webui(client.settings.instance(c.source))
    dst = client.webui(client.settings.instance(move.target))
    hashes = c.known_as

    def close(state: str, reason: str, blame: str | None = None) -> MoveOutcome:
        if state != "moving":
            ledger.journal_move(c.entry_id, source=c.source, target=move.target, state=state, reason=reason)
        return _outcome(move, state, reason, blame)

    if move.facts is None:  # resumed: on the target, already gone from the source
        return close("moved", f"on {move.target}; already removed from {c.source}")
    added = False
    try:
        if not move.on_target:
            item = await _payload(src, entry, move.facts)
            reply = await dst.add([item], _options(entry, move.facts, move.complete, path_map))
            added = True
            if not await _shows(dst, hashes, client.settings.confirm_timeout):
                if reply.accepted:  # it may still appear: the open move makes the next run look first
                    return close("moving", f"{move.target} accepted it but did not show it yet")
                return close(
                    "failed", f"{move.target} refused it ({reply.text or reply.status})", move.target
                )
        if move.complete:
            ours = added or c.resume
            progress = await _checked(dst, hashes, check_timeout) if ours else await _progress(dst, hashes)
            if progress is None or progress < 1.0:
                if not ours:  # the user's own copy on the target: never touched
                    return close("kept", f"also on {move.target}, incomplete there: left for you to decide")
                await delete_torrents(dst, hashes, delete_files=False)
                return close("kept", f"its data is not reachable from {move.target}; left on {c.source}")
            if not move.facts.paused:
                await start_torrents(dst, hashes)
        state = await torrent_state(dst, hashes)
    except Uncertain as exc:
        return close(
            "moving", f"{exc.instance}: {exc.detail}; the next run looks on {move.target} first", exc.instance
        )
    except InstanceError as exc:
        return close("failed", f"{exc.instance}: {exc.detail}", exc.instance)
    except ItemError as exc:
        return close("failed", f"cannot rebuild it from the ledger or {c.source}: {exc}")
    same_files = state is not None and bool(state[2]) and _same_dir(state[2], move.facts.save_path)
    return Placed(move, keep_data=move.complete or same_files)


async def finish(
    client: AsyncResilientClient, placed: list[Placed], delete_incomplete_data: bool
) -> list[MoveOutcome]:
    """Confirm each placed item on its target again, then remove it from its source; the outcomes."""
    out: list[MoveOutcome] = []
    for p in placed:
        c, move = p.move.candidate, p.move
        ledger = client.ledger
        dst = client.webui(client.settings.instance(move.target))
        src = client.webui(client.settings.instance(c.source))
        try:
            still = await _shows(dst, c.known_as, 0.0)
        except InstanceError as exc:
            out.append(
                _outcome(
                    move,
                    "moving",
                    f"{move.target} cannot be asked ({exc.detail}); the next run looks again",
                    move.target,
                )
            )
            continue
        if not still:  # restarted before it saved the torrent: the source's copy is all there is
            out.append(
                _outcome(move, "moving", f"{move.target} no longer shows it; the next run adds it again")
            )
            continue
        try:
            await delete_torrents(
                src, c.known_as, delete_files=not (p.keep_data or not delete_incomplete_data)
            )
        except InstanceError as exc:
            out.append(
                _outcome(
                    move,
                    "moving",
                    f"on {move.target}; removing it from {c.source} failed ({exc.detail})",
                    c.source,
                )
            )
            continue
        reason = f"confirmed on {move.target}, removed from {c.source}"
        ledger.journal_move(c.entry_id, source=c.source, target=move.target, state="moved", reason=reason)
        out.append(_outcome(move, "moved", reason))
    return out


async def _payload(src: WebUI, entry: Entry, facts: Facts) -> Item:
    """The .torrent when the source has the metadata (keeps it complete), else the magnet."""
    data = await export_torrent(src, facts.id) if facts.id else None
    if data is not None:
        return parse_torrent(data, source=f"{src.name}'s export of {facts.id}")
    if entry.kind in ("magnet", "torrent"):
        return item_from_ledger(entry.kind, entry.payload, source=f"ledger #{entry.id}")
    return link_item(facts.magnet_uri)


def _options(entry: Entry, facts: Facts, complete: bool, path_map: tuple[tuple[str, str], ...]) -> AddOptions:
    """The entry's add options, with the category, tags and paused state the source shows now."""
    base = AddOptions.from_mapping(entry.options)
    mapped = map_savepath(facts.save_path, path_map) if facts.save_path else None
    savepath = facts.save_path if complete and mapped is None else mapped
    return replace(
        base,
        category=facts.category or None,
        tags=facts.tags or None,
        savepath=savepath,
        paused=True if complete else facts.paused,
    )


def _same_dir(a: str, b: str) -> bool:
    return a.rstrip("/\\") == b.rstrip("/\\")


async def _shows(ui: WebUI, hashes: frozenset[str], within: float) -> bool:
    deadline = time.monotonic() + within
    delay = 0.02
    while True:
        if hashes & await ui.present(hashes):
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.25)


async def _progress(ui: WebUI, hashes: frozenset[str]) -> float | None:
    state = await torrent_state(ui, hashes)
    return None if state is None or state[0] in _CHECKING else state[1]


async def _checked(ui: WebUI, hashes: frozenset[str], within: float) -> float | None:
    """Re-check the data on the target; its progress once the check is over (None: still checking).

    qBittorrent reports a new state only on its next refresh, so a check is taken as over when a
    checking state was seen and has ended, when every piece is there, or after a grace period.
    """
    await recheck_torrents(ui, hashes)
    start = time.monotonic()
    seen_checking = False
    while True:
        found = await torrent_state(ui, hashes)
        state, progress = (found[0], found[1]) if found is not None else ("", 0.0)
        if state in _CHECKING:
            seen_checking = True
        elif progress >= 1.0 or seen_checking or time.monotonic() - start >= _CHECK_GRACE:
            return progress
        if time.monotonic() - start >= within:
            return None
        await asyncio.sleep(0.1)
