"""Items the gateway describes itself: a pending ledger row (waiting), one just delivered.

Rendered as qBittorrent renders a torrent in torrents/info. Most fields are the same for every
such item (zero progress, no peers), so their JSON is written once and each item only encodes
its own few fields: a client polling for a thousand hashes it just added must not cost a thousand
full encodings on the loop that delivers them.
"""

from __future__ import annotations

import json
from typing import Any, Final

from qbfailover.gateway.listing import WAITING_STATE, Listed
from qbfailover.ledger.base import Entry

__all__ = ["waiting_listed", "waiting_torrent"]

_SAME: Final[dict[str, Any]] = {
    "content_path": "",
    "download_path": "",
    "completion_on": -1,
    "progress": 0.0,
    "size": 0,
    "total_size": 0,
    "downloaded": 0,
    "uploaded": 0,
    "amount_left": 0,
    "dlspeed": 0,
    "upspeed": 0,
    "eta": 8640000,
    "ratio": 0.0,
    "ratio_limit": -2,
    "seeding_time": 0,
    "seeding_time_limit": -2,
    "inactive_seeding_time_limit": -2,
    "num_seeds": 0,
    "num_leechs": 0,
    "priority": 0,
    "auto_tmm": False,
    "force_start": False,
    "seq_dl": False,
    "f_l_piece_prio": False,
    "super_seeding": False,
    "tracker": "",
    "last_activity": 0,
}
_SAME_JSON: Final = json.dumps(_SAME, separators=(",", ":"))[1:-1]
_QUEUED_JSON: Final = '"qbfailover_queued":true'


def _own(entry: Entry, hash_: str) -> dict[str, Any]:
    options = entry.options
    return {
        "hash": hash_,
        "infohash_v1": entry.key if len(entry.key) == 40 else "",
        "infohash_v2": entry.key if len(entry.key) == 64 else "",
        "name": str(options.get("rename") or entry.name),
        "state": "pausedDL" if options.get("paused") else WAITING_STATE,
        "category": str(options.get("category") or ""),
        "tags": str(options.get("tags") or ""),
        "save_path": str(options.get("savepath") or ""),
        "magnet_uri": entry.payload.decode(errors="replace") if entry.kind == "magnet" else "",
        "added_on": int(entry.created_at),
    }


def waiting_torrent(entry: Entry, hash_: str) -> dict[str, Any]:
    """A pending ledger row as torrents/info shows it: zero progress, a waiting state, its options."""
    return {**_own(entry, hash_), **_SAME, "qbfailover_queued": True}


def waiting_listed(entry: Entry, hash_: str, *, delivered: bool = False) -> Listed:
    """:func:`waiting_torrent` as a listed torrent; ``delivered``: just confirmed on an instance
    (its metadata on the way, or stopped as asked), no longer marked as queued."""
    own = _own(entry, hash_)
    if delivered and own["state"] != "pausedDL":
        own["state"] = "metaDL"
    tail = "" if delivered else "," + _QUEUED_JSON
    raw = "{" + json.dumps(own, separators=(",", ":"))[1:-1] + "," + _SAME_JSON + tail + "}"
    return Listed(raw, own)
