"""Read endpoints over the merged view: torrents/info, per-torrent details, categories, tags,
transfer/info, sync/maindata and app/preferences.

Queued items answer the per-torrent endpoints with empty lists and zero values instead of 404, so
a client that polls ``properties`` for its new hash right after the add sees it exists.
``app/preferences`` comes from the first instance that answers, and from the last copy when none does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from qbfailover.errors import InstanceError
from qbfailover.gateway.listing import select, wanted_hashes
from qbfailover.gateway.service import Gateway, Reply, text

__all__ = ["DETAIL_ACTIONS", "categories", "detail", "info", "maindata", "preferences", "tags", "transfer"]

DETAIL_ACTIONS: Final = frozenset(
    {"properties", "files", "trackers", "webseeds", "pieceStates", "pieceHashes"}
)
_TRANSFER_SUMS: Final = (
    "dl_info_speed",
    "dl_info_data",
    "up_info_speed",
    "up_info_data",
    "dl_rate_limit",
    "up_rate_limit",
    "dht_nodes",
)


def _json(doc: object) -> Reply:
    return Reply(200, json.dumps(doc, separators=(",", ":")), "application/json")


async def info(gw: Gateway, params: Mapping[str, str]) -> Reply:
    """torrents/info over every instance and the queue, filtered once."""
    only = wanted_hashes(params)
    await (gw.view.refresh() if only is None else gw.view.refresh_for(only))
    chosen = select(gw.view.torrents(only), params)
    return Reply(200, "[" + ",".join(t.raw for t in chosen) + "]", "application/json")


def _queued_properties(t: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "save_path": t["save_path"],
        "creation_date": -1,
        "piece_size": 0,
        "comment": "",
        "total_wasted": 0,
        "total_uploaded": 0,
        "total_downloaded": 0,
        "up_limit": -1,
        "dl_limit": -1,
        "time_elapsed": 0,
        "seeding_time": 0,
        "nb_connections": 0,
        "nb_connections_limit": 0,
        "share_ratio": 0,
        "addition_date": t["added_on"],
        "completion_date": -1,
        "created_by": "",
        "dl_speed_avg": 0,
        "dl_speed": 0,
        "eta": t["eta"],
        "last_seen": -1,
        "peers": 0,
        "peers_total": 0,
        "pieces_have": 0,
        "pieces_num": 0,
        "reannounce": 0,
        "seeds": 0,
        "seeds_total": 0,
        "total_size": 0,
        "up_speed_avg": 0,
        "up_speed": 0,
        "isPrivate": False,
        "hash": t["hash"],
        "name": t["name"],
        "download_path": "",
        "infohash_v1": t["infohash_v1"],
        "infohash_v2": t["infohash_v2"],
        "seeding_time_limit": -2,
        "ratio_limit": -2,
    }


async def detail(gw: Gateway, action: str, params: Mapping[str, str]) -> Reply:
    """properties/files/trackers/webseeds/pieceStates of one hash: from its holder, or the queue."""
    h = params.get("hash", "").strip().lower()
    holder = gw.view.locate(h)
    if holder is None:
        await gw.view.refresh()
        holder = gw.view.locate(h)
    if holder is not None:
        cfg = gw.client.settings.instance(holder)
        try:
            return await gw.call(cfg, "GET", f"torrents/{action}", params=params)
        except InstanceError as exc:
            gw.view.reachable[holder] = False
            return text(
                503, f"qbfailover: {holder}, which holds this torrent, cannot be reached ({exc.detail})"
            )
    entry = gw.view.pending().get(h)
    if entry is None:
        return text(404, "Not Found")
    from qbfailover.gateway.waiting import waiting_torrent

    if action == "properties":
        return _json(_queued_properties(waiting_torrent(entry, h)))
    return _json([])


async def _per_instance(gw: Gateway, path: str, cache_key: str) -> list[Any]:
    """The JSON answer of every instance that answers, the last copy of the others."""
    out: list[Any] = []
    for cfg in gw.client.settings.by_priority:
        key = f"{cache_key}:{cfg.name}"
        if gw.view.reachable.get(cfg.name, True):
            try:
                reply = await gw.call(cfg, "GET", path)
                if reply.status == 200:
                    gw.cache[key] = reply.body if isinstance(reply.body, bytes) else reply.body.encode()
            except InstanceError:
                gw.view.reachable[cfg.name] = False
        if key in gw.cache:
            try:
                out.append(json.loads(gw.cache[key]))
            except ValueError:
                continue
    return out


async def categories(gw: Gateway) -> Reply:
    """torrents/categories: the union over instances (the first instance's definition wins)."""
    merged: dict[str, Any] = {}
    for doc in await _per_instance(gw, "torrents/categories", "categories"):
        if isinstance(doc, dict):
            for name, value in doc.items():
                merged.setdefault(name, value)
    return _json(merged)


async def tags(gw: Gateway) -> Reply:
    """torrents/tags: the union over instances, sorted."""
    found: set[str] = set()
    for doc in await _per_instance(gw, "torrents/tags", "tags"):
        if isinstance(doc, list):
            found.update(str(t) for t in doc)
    return _json(sorted(found))


async def transfer(gw: Gateway) -> Reply:
    """transfer/info: the instances' speeds and totals summed; connected if any instance is."""
    total: dict[str, Any] = dict.fromkeys(_TRANSFER_SUMS, 0)
    total["connection_status"] = "disconnected"
    for doc in await _per_instance(gw, "transfer/info", "transfer"):
        if not isinstance(doc, dict):
            continue
        for key in _TRANSFER_SUMS:
            value = doc.get(key)
            if isinstance(value, int | float):
                total[key] += value
        if doc.get("connection_status") == "connected":
            total["connection_status"] = "connected"
    return _json(total)


async def maindata(gw: Gateway, rid: int) -> Reply:
    """sync/maindata as one full update built from the merged view (every answer is full)."""
    await gw.view.refresh()
    torrents = {t.hash: t.as_dict() for t in gw.view.torrents()}
    cats = json.loads((await categories(gw)).body)
    tag_list = json.loads((await tags(gw)).body)
    state = json.loads((await transfer(gw)).body)
    doc = {
        "rid": rid + 1,
        "full_update": True,
        "torrents": torrents,
        "categories": cats,
        "tags": tag_list,
        "server_state": state,
    }
    return _json(doc)


async def preferences(gw: Gateway) -> Reply:
    """app/preferences from the first instance that answers; the last copy when none does."""
    for cfg in gw.usable():
        try:
            reply = await gw.call(cfg, "GET", "app/preferences")
        except InstanceError:
            gw.view.reachable[cfg.name] = False
            continue
        if reply.status == 200:
            gw.cache["app/preferences"] = reply.body if isinstance(reply.body, bytes) else b""
            return reply
    if "app/preferences" in gw.cache:
        return Reply(200, gw.cache["app/preferences"], "application/json")
    return text(503, "qbfailover: no qBittorrent instance can answer app/preferences right now")
