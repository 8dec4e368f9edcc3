"""The options of a torrents/add request, in the form each qBittorrent generation reads.

Pure and shared: the engine builds them, the ledger stores them (``as_dict``/``from_mapping``) and
the WebUI client sends them (``form``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["AddOptions"]


@dataclass(frozen=True, slots=True)
class AddOptions:
    """Options applied to every item of one add request."""

    category: str | None = None
    tags: str | None = None
    savepath: str | None = None
    paused: bool = False
    rename: str | None = None

    def form(self) -> dict[str, str]:
        """The torrents/add form fields; empty options are left out so qBittorrent's defaults apply."""
        data: dict[str, str] = {}
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

        return cls(
            category=text("category"),
            tags=text("tags"),
            savepath=text("savepath"),
            paused=bool(raw.get("paused", False)),
            rename=text("rename"),
        )

    def as_dict(self) -> dict[str, object]:
        """The set options only, for the ledger and ``--json``; ``from_mapping`` reads it back."""
        return {
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
