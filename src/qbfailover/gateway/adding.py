"""torrents/add through the engine: record first, deliver or queue, answer as qBittorrent does.

The answer comes as soon as the items are in the ledger (record first: from then on nothing is
lost), whatever state the instances are in; the courier (``gateway.courier``) delivers them in
batches right after, and the watch loop's drain on recovery when no instance is usable.
Input qBittorrent would refuse is
answered as qBittorrent 4.x answers it: a file that is not a torrent is 415 ``Error: '<name>' is
not a valid torrent file.``; a request with nothing valid (malformed magnets, no urls) is
``Fails.``. URL lines are never read as file paths (a client must not read the gateway's disk).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from qbfailover.core.items import Item, link_item, parse_torrent
from qbfailover.core.outcomes import ItemResult
from qbfailover.errors import ItemError, QbFailoverError, StoreError
from qbfailover.gateway.service import Gateway, Reply, Upload, text
from qbfailover.gateway.waiting import waiting_listed
from qbfailover.ledger.base import Entry, NewEntry
from qbfailover.qbt.options import AddOptions

__all__ = ["add", "show"]

log = logging.getLogger("qbfailover.serve")


def _parse(form: Mapping[str, str], files: list[tuple[str, Upload]]) -> tuple[list[Item], str | None, int]:
    items: list[Item] = []
    invalid = 0
    for line in form.get("urls", "").split("\n"):
        if not line.strip():
            continue
        try:
            items.append(link_item(line.strip()))
        except ItemError:
            invalid += 1
    bad_file = None
    for _field, (filename, content) in files:
        try:
            items.append(parse_torrent(content, source=filename or "upload.torrent"))
        except ItemError:
            bad_file = bad_file or filename
    return items, bad_file, invalid


async def add(gw: Gateway, form: Mapping[str, str], files: list[tuple[str, Upload]]) -> Reply:
    """Record the request's items with its options, wake the courier, answer."""
    items, bad_file, invalid = _parse(form, [f for f in files if f[0] == "torrents"])
    if items:
        options = AddOptions.from_form(form).as_dict()
        entries = [
            NewEntry(key=i.key, kind=i.kind, payload=i.payload(), name=i.name, options=options) for i in items
        ]
        try:
            # In a thread: the commit's fsync releases the event loop, so the courier's deliveries
            # and other clients' requests go on meanwhile (the ledger serialises its own access).
            record = gw.client.ledger.record
            recorded = await asyncio.to_thread(record, entries, reason="received", claim=False)
        except StoreError as exc:
            log.error("add not recorded: %s", exc)
            return text(500, f"qbfailover: the add could not be recorded ({exc})")
        if gw.courier is not None:
            gw.courier.poke(len(items))
        gw.view.note_recorded(recorded)  # the instances' lists did not change: no refresh of those
        if invalid:
            log.info("torrents/add: %d invalid line(s) ignored", invalid)
    if bad_file is not None:
        return text(415, f"Error: '{bad_file}' is not a valid torrent file.")
    return text(200, "Ok." if items else "Fails.")


def show(gw: Gateway, done: list[tuple[Entry, ItemResult]]) -> None:
    """Put delivered items into the view at once, so a client polling for its hash finds it.

    Commands kept for items that were on their way (``followups``) are sent right away: the
    delivery confirmed the hash on the instance, there is no list to wait for.
    """
    holders: set[str] = set()
    for entry, r in done:
        if r.state == "delivered" and r.instance and r.infohash:
            listed = waiting_listed(entry, r.infohash[:40], delivered=True)
            gw.view.note_delivered(r.instance, listed)
            if listed.hash in gw.followups:
                holders.add(r.instance)
    for name in sorted(holders):
        task = asyncio.get_running_loop().create_task(_followups(gw, name))
        gw.background.add(task)
        task.add_done_callback(gw.background.discard)


async def _followups(gw: Gateway, instance: str) -> None:
    from qbfailover.gateway.commands import apply_followups

    try:
        await apply_followups(gw, instance)
    except QbFailoverError as exc:  # the next list of that instance tries again
        log.warning("commands kept for delivered items not sent yet: %s", exc)
