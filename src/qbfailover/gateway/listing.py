"""torrents/info as qBittorrent answers it: filters, sort, paging, and the state names per dialect.

Pure functions over torrent dicts (the instances' own JSON objects), so the merged view is filtered
exactly once, whatever instance each torrent came from. The gateway speaks the 4.x dialect to its
clients (it reports WebAPI 2.9.3), so 5.x state names (``stoppedDL``) are shown as 4.x ones
(``pausedDL``); both filter names (``paused``/``stopped``, ``resumed``/``running``) are accepted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final, Protocol, TypeVar

__all__ = ["WAITING_STATE", "Listed", "client_state", "select", "split_list", "wanted_hashes"]


class Torrent(Protocol):
    """What the filters read: a torrent's fields by name (a dict, or a :class:`Listed`)."""

    def get(self, key: str, default: Any = None, /) -> Any:
        """The field's value, or ``default``."""
        ...


T = TypeVar("T", bound=Torrent)

WAITING_STATE: Final = "queuedDL"
"""The state of an item recorded but not yet on any instance: Sonarr and others show it as queued."""

_TO_4X: Final = {"stoppedDL": "pausedDL", "stoppedUP": "pausedUP"}
_DOWNLOADING: Final = frozenset(
    {"downloading", "metaDL", "forcedMetaDL", "stalledDL", "checkingDL", "pausedDL", "queuedDL", "forcedDL"}
)
_SEEDING: Final = frozenset({"uploading", "stalledUP", "checkingUP", "queuedUP", "forcedUP"})
_COMPLETED: Final = frozenset({"uploading", "stalledUP", "checkingUP", "pausedUP", "queuedUP", "forcedUP"})
_PAUSED: Final = frozenset({"pausedDL", "pausedUP"})
_STALLED: Final = frozenset({"stalledUP", "stalledDL"})
_CHECKING: Final = frozenset({"checkingUP", "checkingDL", "checkingResumeData"})
_ERRORED: Final = frozenset({"error", "missingFiles", "unknown"})


def client_state(state: object) -> str:
    """An instance's state name in the dialect the gateway speaks (4.x)."""
    text = str(state or "unknown")
    return _TO_4X.get(text, text)


class Listed:
    """One torrent as an instance listed it: its JSON text as sent, and the fields filters read.

    Why not the parsed dict: 10,000 torrents as dicts of ~50 fields cost ~25 MB and must be
    serialised again for every torrents/info; kept as text they cost a third of that and a reply
    is a join. Other fields (a ``sort`` key) are parsed from the text when asked for.
    """

    __slots__ = ("added_on", "category", "dlspeed", "hash", "name", "raw", "state", "tags", "upspeed")
    _FIELDS: Final = frozenset(__slots__) - {"raw"}

    def __init__(self, raw: str, doc: Mapping[str, Any]) -> None:
        state = client_state(doc.get("state"))
        if state != doc.get("state"):  # a 5.x name: the text must say the 4.x one too
            raw = json.dumps({**doc, "state": state}, separators=(",", ":"))
        self.raw = raw
        self.hash = str(doc.get("hash") or "").lower()
        self.state = state
        self.category = str(doc.get("category") or "")
        self.tags = str(doc.get("tags") or "")
        self.name = str(doc.get("name") or "")
        self.added_on = doc.get("added_on") or 0
        self.dlspeed = doc.get("dlspeed") or 0
        self.upspeed = doc.get("upspeed") or 0

    @classmethod
    def of(cls, doc: Mapping[str, Any]) -> Listed:
        """A torrent the gateway describes itself (a queued item, one just delivered)."""
        return cls(json.dumps(doc, separators=(",", ":")), doc)

    def get(self, key: str, default: Any = None, /) -> Any:
        """A field: the kept ones directly, any other parsed from the text."""
        if key in self._FIELDS:
            return getattr(self, key)
        return self.as_dict().get(key, default)

    def as_dict(self) -> dict[str, Any]:
        """The whole torrent as a dict (sync/maindata builds its document from these)."""
        doc = json.loads(self.raw)
        return doc if isinstance(doc, dict) else {}


def split_list(text: str) -> Iterator[Listed]:
    """The torrents of a torrents/info reply (a JSON list of objects), each with its own text.

    Raises ValueError for anything that is not a JSON list; items that are not objects with a
    ``hash`` are skipped.
    """
    decoder = json.JSONDecoder()
    n = len(text)
    i = _skip(text, 0)
    if i >= n or text[i] != "[":
        raise ValueError("not a JSON list")
    i = _skip(text, i + 1)
    while i < n and text[i] != "]":
        doc, end = decoder.raw_decode(text, i)
        if isinstance(doc, dict) and isinstance(doc.get("hash"), str):
            yield Listed(text[i:end], doc)
        i = _skip(text, end)
        if i < n and text[i] == ",":
            i = _skip(text, i + 1)
        elif i < n and text[i] != "]":
            raise ValueError("malformed JSON list")
    if i >= n:
        raise ValueError("unterminated JSON list")


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _active(t: Torrent) -> bool:
    return int(t.get("dlspeed") or 0) > 0 or int(t.get("upspeed") or 0) > 0


def _matches_filter(t: Torrent, name: str) -> bool:
    state = client_state(t.get("state"))
    checks = {
        "all": True,
        "downloading": state in _DOWNLOADING,
        "seeding": state in _SEEDING,
        "completed": state in _COMPLETED,
        "paused": state in _PAUSED,
        "stopped": state in _PAUSED,
        "resumed": state not in _PAUSED,
        "running": state not in _PAUSED,
        "active": _active(t),
        "inactive": not _active(t),
        "stalled": state in _STALLED,
        "stalled_uploading": state == "stalledUP",
        "stalled_downloading": state == "stalledDL",
        "checking": state in _CHECKING,
        "moving": state == "moving",
        "errored": state in _ERRORED,
    }
    return checks.get(name, True)  # qBittorrent treats an unknown filter as "all"


def _tags(t: Torrent) -> set[str]:
    return {x.strip() for x in str(t.get("tags") or "").split(",") if x.strip()}


def _sort_key(field: str) -> Any:
    def key(t: Torrent) -> tuple[int, Any]:
        value = t.get(field)
        if isinstance(value, bool | int | float):
            return (0, value)
        if value is None:
            return (0, 0)
        return (1, str(value).lower())

    return key


def _int(raw: str | None) -> int | None:
    try:
        return int(raw) if raw not in (None, "") else None
    except ValueError:
        return None


def wanted_hashes(params: Mapping[str, str]) -> set[str] | None:
    """The ``hashes`` filter as a set (lower case); None when absent, empty or ``all``."""
    wanted = {h.strip().lower() for h in params.get("hashes", "").split("|") if h.strip()}
    return wanted if wanted and "all" not in wanted else None


def select(torrents: Iterable[T], params: Mapping[str, str]) -> list[T]:
    """Apply torrents/info's ``filter``, ``category``, ``tag``, ``hashes``, ``sort``, ``reverse``,
    ``limit`` and ``offset`` (a negative offset counts from the end), as qBittorrent does."""
    out = list(torrents)
    name = params.get("filter", "all") or "all"
    if name != "all":
        out = [t for t in out if _matches_filter(t, name)]
    if "category" in params:
        category = params["category"]
        out = [t for t in out if (t.get("category") or "") == category]
    if "tag" in params:
        tag = params["tag"].strip()
        out = [t for t in out if (not _tags(t) if tag == "" else tag in _tags(t))]
    wanted = wanted_hashes(params)
    if wanted is not None:
        out = [t for t in out if str(t.get("hash", "")).lower() in wanted]
    if params.get("sort"):
        reverse = params.get("reverse", "false").lower() in ("true", "1")
        out.sort(key=_sort_key(params["sort"]), reverse=reverse)
    offset = _int(params.get("offset")) or 0
    if offset < 0:
        offset = max(len(out) + offset, 0)
    limit = _int(params.get("limit"))
    end = offset + limit if limit is not None and limit > 0 else None
    return out[offset:end]
