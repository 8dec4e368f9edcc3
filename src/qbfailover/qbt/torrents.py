"""Torrent-level calls failback needs: list with facts, export the .torrent, start, delete.

Apart from ``webui`` because only failback moves torrents between instances; every call goes
through the instance's one session (:meth:`WebUI.request`), so logins, the breaker and the error
mapping are the same as for adds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from qbfailover.core.failback import Facts
from qbfailover.errors import Rejected
from qbfailover.qbt.webui import WebUI

__all__ = [
    "PAUSED_STATES",
    "delete_torrents",
    "export_torrent",
    "list_facts",
    "recheck_torrents",
    "start_torrents",
    "torrent_ids",
    "torrent_state",
]

PAUSED_STATES = frozenset({"pausedDL", "pausedUP", "stoppedDL", "stoppedUP"})
"""Both generations' names for a torrent nobody started (4.x paused*, 5.x stopped*)."""


def torrent_ids(hashes: Iterable[str]) -> list[str]:
    """The 40-hex forms among an item's hashes: qBittorrent's ids, what ``hashes=`` parameters take."""
    return sorted({h.lower() for h in hashes if len(h) == 40})


async def list_facts(ui: WebUI, hashes: Iterable[str] | None = None) -> dict[str, Facts]:
    """The instance's torrents (all, or these hashes) under every hash they have, as failback sees them.

    The hashes go in one POSTed form (as in :meth:`WebUI.present`): no URL length limit.
    """
    if hashes is None:
        return _facts(await _info(ui, None))
    wanted = torrent_ids(hashes)
    return _facts(await _info(ui, {"hashes": "|".join(wanted)})) if wanted else {}


async def _info(ui: WebUI, form: dict[str, str] | None) -> object:
    if form is None:
        resp = await ui.request("GET", "torrents/info", idempotent=True)
    else:
        resp = await ui.request("POST", "torrents/info", idempotent=True, data=form)
    if resp.status_code != 200:
        raise Rejected(ui.name, f"torrents/info answered HTTP {resp.status_code}", resp.status_code)
    try:
        return json.loads(resp.text)
    except ValueError:
        raise Rejected(ui.name, "torrents/info did not answer JSON", resp.status_code) from None


def _facts(doc: object) -> dict[str, Facts]:
    out: dict[str, Facts] = {}
    for t in doc if isinstance(doc, list) else []:
        if not isinstance(t, dict):
            continue
        facts = Facts(
            progress=float(t.get("progress") or 0.0),
            id=str(t.get("hash") or "").lower(),
            name=str(t.get("name") or ""),
            save_path=str(t.get("save_path") or ""),
            category=str(t.get("category") or ""),
            tags=str(t.get("tags") or ""),
            paused=str(t.get("state") or "") in PAUSED_STATES,
            magnet_uri=str(t.get("magnet_uri") or ""),
        )
        for key in ("hash", "infohash_v1", "infohash_v2"):
            value = t.get(key)
            if isinstance(value, str) and value:
                out[value.lower()] = facts
    return out


async def export_torrent(ui: WebUI, torrent_id: str) -> bytes | None:
    """The .torrent of a torrent that has its metadata (qBittorrent ≥ 4.5), else None."""
    resp = await ui.request("GET", "torrents/export", idempotent=True, params={"hash": torrent_id})
    if resp.status_code == 200 and resp.content[:1] == b"d":
        return resp.content
    return None


async def recheck_torrents(ui: WebUI, hashes: Iterable[str]) -> None:
    """Ask the instance to check the torrents' data against their pieces (paused ones too)."""
    resp = await ui.request(
        "POST", "torrents/recheck", idempotent=True, data={"hashes": "|".join(torrent_ids(hashes))}
    )
    if resp.status_code != 200:
        raise Rejected(ui.name, f"torrents/recheck answered HTTP {resp.status_code}", resp.status_code)


async def torrent_state(ui: WebUI, hashes: Iterable[str]) -> tuple[str, float, str] | None:
    """(state, progress, save path) of one torrent, or None if the instance does not list it."""
    rows = await _info(ui, {"hashes": "|".join(torrent_ids(hashes))})
    if not isinstance(rows, list) or not rows or not isinstance(rows[0], dict):
        return None
    row = rows[0]
    return str(row.get("state") or ""), float(row.get("progress") or 0.0), str(row.get("save_path") or "")


async def start_torrents(ui: WebUI, hashes: Iterable[str]) -> None:
    """Start (5.x) or resume (4.x) torrents: the endpoint that exists on this instance."""
    data = {"hashes": "|".join(torrent_ids(hashes))}
    resp = await ui.request("POST", "torrents/start", idempotent=True, data=data)
    if resp.status_code == 404:
        resp = await ui.request("POST", "torrents/resume", idempotent=True, data=data)
    if resp.status_code != 200:
        raise Rejected(ui.name, f"torrents/start answered HTTP {resp.status_code}", resp.status_code)


async def delete_torrents(ui: WebUI, hashes: Iterable[str], *, delete_files: bool) -> None:
    """Remove torrents from the instance, with or without their downloaded data."""
    data = {"hashes": "|".join(torrent_ids(hashes)), "deleteFiles": "true" if delete_files else "false"}
    resp = await ui.request("POST", "torrents/delete", idempotent=True, data=data)
    if resp.status_code != 200:
        raise Rejected(ui.name, f"torrents/delete answered HTTP {resp.status_code}", resp.status_code)
