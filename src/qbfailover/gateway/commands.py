"""Commands follow the torrent: each hash goes to the instance holding it, queued ones are amended.

A hash-addressed command is split by holder: each instance gets one request with its own hashes
and its own dialect's action name (``pause`` on 4.x is ``stop`` on 5.x); ``hashes=all`` goes to
every instance. On an item still queued in the ledger the command becomes part of its add options
(category, tags, paused, limits, location, name ...), so qBittorrent applies it in the very add
that delivers it; deleting a queued item cancels it (rejected in the ledger, never delivered).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from qbfailover.errors import InstanceError
from qbfailover.gateway.service import Gateway, Reply, text
from qbfailover.ledger.base import Entry
from qbfailover.qbt.options import AddOptions

__all__ = ["CANCELLED", "HASHES_ACTIONS", "HASH_ACTIONS", "amended", "apply_followups", "run_command"]

CANCELLED: Final = "cancelled: deleted by a client before delivery"

HASHES_ACTIONS: Final = frozenset(
    {
        *("pause", "resume", "stop", "start", "delete", "recheck", "reannounce", "setCategory"),
        *("addTags", "removeTags", "setShareLimits", "setLocation", "topPrio", "bottomPrio"),
        *("increasePrio", "decreasePrio", "setForceStart", "setSuperSeeding", "setAutoManagement"),
        *("toggleSequentialDownload", "toggleFirstLastPiecePrio", "setUploadLimit"),
        *("setDownloadLimit", "addPeers", "setTags"),
    }
)
"""Commands whose ``hashes`` field is a ``|`` list (or ``all``)."""

HASH_ACTIONS: Final = frozenset(
    {
        *("rename", "filePrio", "addTrackers", "editTracker", "removeTrackers", "renameFile"),
        *("renameFolder", "addWebSeeds", "editWebSeed", "removeWebSeeds", "setComment"),
    }
)
"""Commands on one ``hash``."""

_V5_NAMES: Final = {"pause": "stop", "resume": "start"}
_V4_NAMES: Final = {v: k for k, v in _V5_NAMES.items()}
_NO_OP_WHILE_QUEUED: Final = frozenset(
    {"recheck", "reannounce", "increasePrio", "decreasePrio", "setSuperSeeding", "addPeers"}
)


def _flip(options: dict[str, object], key: str) -> None:
    options[key] = "false" if str(options.get(key, "false")).lower() == "true" else "true"


def amended(options: Mapping[str, object], action: str, form: Mapping[str, str]) -> dict[str, object] | None:
    """A queued item's add options after ``action``; None when the command cannot wait for delivery."""
    o: dict[str, object] = dict(options)
    if action in ("pause", "stop"):
        o["paused"] = True
        o.pop("stopped", None)
    elif action in ("resume", "start"):
        o.pop("paused", None)
        o["stopped"] = "false"
    elif action == "setCategory":
        o["category"] = form.get("category", "")
    elif action in ("addTags", "setTags", "removeTags"):
        have = [] if action == "setTags" else [t for t in str(o.get("tags") or "").split(",") if t.strip()]
        given = [t.strip() for t in form.get("tags", "").split(",") if t.strip()]
        if action == "removeTags":
            keep = [t for t in have if t.strip() not in given] if given else []
        else:
            keep = have + [t for t in given if t not in have]
        o["tags"] = ",".join(keep)
    elif action == "setShareLimits":
        for key in ("ratioLimit", "seedingTimeLimit", "inactiveSeedingTimeLimit"):
            if key in form:
                o[key] = form[key]
    elif action == "setLocation":
        o["savepath"] = form.get("location", "").strip()
        o["autoTMM"] = "false"
    elif action == "rename":
        o["rename"] = form.get("name", "")
    elif action in ("setUploadLimit", "setDownloadLimit"):
        o["upLimit" if action == "setUploadLimit" else "dlLimit"] = form.get("limit", "-1")
    elif action == "setAutoManagement":
        o["autoTMM"] = form.get("enable", "false")
    elif action == "setForceStart":
        o["forced"] = form.get("value", "false")
    elif action == "toggleSequentialDownload":
        _flip(o, "sequentialDownload")
    elif action == "toggleFirstLastPiecePrio":
        _flip(o, "firstLastPiecePrio")
    elif action in ("topPrio", "bottomPrio"):
        o["addToTopOfQueue"] = "true" if action == "topPrio" else "false"
    elif action not in _NO_OP_WHILE_QUEUED:
        return None
    return AddOptions.from_mapping(o).as_dict()


def _hashes(action: str, form: Mapping[str, str]) -> list[str]:
    raw = form.get("hash", "") if action in HASH_ACTIONS else form.get("hashes", "")
    return [h.strip().lower() for h in raw.split("|") if h.strip()]


def _on_queued(gw: Gateway, entry: Entry, action: str, form: Mapping[str, str]) -> Reply | None:
    """Apply a command to a queued row; a Reply when it cannot be (None: done).

    A row this process is delivering right now (``claimed``) may already be on its way with its
    old options: the command is also kept in memory and sent to the instance as soon as the hash
    shows up there, so it is applied either way.
    """
    if entry.claimed:
        gw.followups.setdefault(entry.key[:40], []).append((action, dict(form)))
    if action == "delete":
        gw.client.ledger.mark_rejected(entry.id, reason=CANCELLED)
        now = gw.client.ledger.get(entry.id)
        if now is not None and now.state == "pending" and not entry.claimed:
            return text(409, "qbfailover: this queued torrent is being delivered right now; delete it again")
        return None
    options = amended(entry.options, action, form)
    if options is None:
        return text(409, "Torrent's metadata has not yet downloaded")
    if not gw.client.ledger.amend_options(entry.id, options) and not entry.claimed:
        return text(409, "qbfailover: this queued torrent is being delivered right now; send it again")
    return None


async def run_command(gw: Gateway, action: str, form: Mapping[str, str], *, fresh: bool = True) -> Reply:
    """Route one hash-addressed command: per holder, per queued item, or to all with ``all``.

    ``fresh=False`` routes by the lists as they are (a command sent from inside a view refresh).
    """
    if fresh:
        await gw.view.refresh()
    wanted = _hashes(action, form)
    settings = gw.client.settings
    if "all" in wanted:
        targets = {cfg.name: ["all"] for cfg in gw.usable()}
        queued: list[Entry] = list(gw.view.pending().values()) if action == "delete" else []
    else:
        targets = {}
        queued = []
        pending = gw.view.pending()
        for h in wanted:
            holder = gw.view.locate(h)
            if holder is not None:
                targets.setdefault(holder, []).append(h)
            elif h in pending:
                queued.append(pending[h])
        if action in HASH_ACTIONS and not targets and not queued:
            return text(404, "Not Found")
    for entry in queued:
        refusal = _on_queued(gw, entry, action, form)
        if refusal is not None:
            return refusal
    merged: dict[str, object] = {}
    reply = Reply(200)
    for name, hashes in targets.items():
        cfg = settings.instance(name)
        names = _V5_NAMES if gw.is_v5(cfg) else _V4_NAMES
        key = "hash" if action in HASH_ACTIONS else "hashes"
        data = {**form, key: "|".join(hashes)}
        try:
            reply = await gw.call(cfg, "POST", f"torrents/{names.get(action, action)}", data=data)
        except InstanceError as exc:
            gw.view.reachable[name] = False
            return text(
                503, f"qbfailover: {name}, which holds this torrent, cannot be reached ({exc.detail})"
            )
        if reply.status >= 300:
            return reply
        if action == "delete":
            gw.view.forget(name, None if hashes == ["all"] else set(hashes))
        merged.update(_json_object(reply.body))
    gw.view.invalidate()
    if merged:
        import json

        return Reply(200, json.dumps(merged), "application/json")
    return Reply(200) if not targets else Reply(reply.status, reply.body, reply.media_type)


async def apply_followups(gw: Gateway, instance: str) -> None:
    """Send commands kept for in-flight items whose hash now shows on ``instance``."""
    known = gw.view.known.get(instance, {})
    if not gw.followups:
        return
    for h in [h for h in gw.followups if h in known]:
        for action, form in gw.followups.pop(h):
            key = "hash" if action in HASH_ACTIONS else "hashes"
            await run_command(gw, action, {**form, key: h}, fresh=False)


def _json_object(body: bytes | str) -> dict[str, object]:
    import json

    try:
        doc = json.loads(body or b"null")
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}
