"""The options of a torrents/add request, in the form each qBittorrent generation reads.

Pure and shared: the engine builds them, the ledger stores them (``as_dict``/``from_mapping``) and
the WebUI client sends them (``form``). Five options are typed (the CLI and the Python API set
them); every other field qBittorrent's torrents/add accepts (limits, autoTMM, skip_checking, ...)
rides along in ``more`` under its qBittorrent name, as the text the client sent, so the gateway can
pass any client's add through the queue unchanged. Ledger rows written before ``more`` existed hold
only the typed keys and read back the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

__all__ = ["EXTRA_FIELDS", "AddOptions"]

EXTRA_FIELDS: Final = (
    "addToTopOfQueue",
    "autoTMM",
    "contentLayout",
    "cookie",
    "dlLimit",
    "downloadPath",
    "firstLastPiecePrio",
    "forced",
    "inactiveSeedingTimeLimit",
    "ratioLimit",
    "root_folder",
    "seedingTimeLimit",
    "sequentialDownload",
    "shareLimitAction",
    "skip_checking",
    "stopCondition",
    "stopped",
    "upLimit",
    "useDownloadPath",
)
"""torrents/add fields (4.1 to 5.x) besides urls, torrents and the typed options."""

_TRUE: Final = frozenset({"true", "1", "yes", "on"})


@dataclass(frozen=True, slots=True)
class AddOptions:
    """Options applied to every item of one add request."""

    category: str | None = None
    tags: str | None = None
    savepath: str | None = None
    paused: bool = False
    rename: str | None = None
    more: tuple[tuple[str, str], ...] = ()
    """Other torrents/add fields (names from ``EXTRA_FIELDS``) as sent, sorted by name."""

    def form(self) -> dict[str, str]:
        """The torrents/add form fields; empty options are left out so qBittorrent's defaults apply."""
        data: dict[str, str] = dict(self.more)
        if data.get("stopped") == "false":
            data["paused"] = "false"  # "start it", said to both generations
        if self.category:
            data["category"] = self.category
        if self.tags:
            data["tags"] = self.tags
        if self.savepath:
            data["savepath"] = self.savepath
        if self.paused:
            # qBittorrent 5.0 renamed paused → stopped; older versions ignore the unknown key.
            data["paused"] = "true"
            data["stopped"] = "true"
        if self.rename:
            data["rename"] = self.rename
        return data

    @classmethod
    def from_mapping(cls, raw: Mapping[str, object]) -> AddOptions:
        """Options as stored in the ledger or given by a caller (missing or empty values are unset)."""

        def text(key: str) -> str | None:
            value = raw.get(key)
            return str(value) if value not in (None, "") else None

        more = tuple(sorted((k, str(raw[k])) for k in EXTRA_FIELDS if raw.get(k) not in (None, "")))
        more = tuple((k, v) for k, v in more if k != "stopped" or v == "false")  # true is ``paused``
        started = raw.get("paused")
        if isinstance(started, str):
            started = started.strip().lower() in _TRUE
        return cls(
            category=text("category"),
            tags=text("tags"),
            savepath=text("savepath"),
            paused=bool(started),
            rename=text("rename"),
            more=more,
        )

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> AddOptions:
        """A client's torrents/add fields, either dialect: ``stopped`` (5.x) or ``paused`` (4.x).

        An explicit "start it" (``paused=false`` or ``stopped=false``) is kept as ``stopped=false``
        in ``more`` and sent under both names, so an instance whose default is "start paused"
        still starts what the client asked to start.
        """
        flag = form.get("stopped", form.get("paused"))
        paused = flag is not None and flag.strip().lower() in _TRUE
        values: dict[str, object] = {k: form[k] for k in EXTRA_FIELDS if form.get(k, "") != ""}
        values.pop("stopped", None)
        if flag is not None and not paused:
            values["stopped"] = "false"
        for key in ("tags", "savepath", "rename"):
            if form.get(key, "").strip():
                values[key] = form[key].strip()
        if form.get("category"):
            values["category"] = form["category"]
        return cls.from_mapping({**values, "paused": paused})

    def as_dict(self) -> dict[str, object]:
        """The set options only, for the ledger and ``--json``; ``from_mapping`` reads it back."""
        typed = {
            key: value
            for key, value in (
                ("category", self.category),
                ("tags", self.tags),
                ("savepath", self.savepath),
                ("paused", self.paused),
                ("rename", self.rename),
            )
            if value not in (None, False, "")
        }
        return {**dict(self.more), **typed}
