"""qBittorrent's reply formats, per protocol generation, as pure functions of (status, text).

Kept apart from the httpx client so every dialect can be tested from recorded replies alone, and so
the quirks of each version sit next to the code that reads them (measured on 4.5.2, 5.1.0, 5.3.0):

- login: up to 5.1 200 ``Ok.``/``Fails.``; 5.2+ 204 / 401 ``Unauthorized``. That 401 is also what
  the CSRF/Host checks answer on every version, so a login 401 alone decides nothing (the client
  asks once more without a session). A ban is 403 "…banned…" on every version.
- torrents/add: up to 5.1 ``Ok.``/``Fails.``; 5.2+ JSON counts (200, or 202 while a URL is
  fetched), 409 ``Conflict`` when nothing was added; 415 for a .torrent it cannot parse.
- torrents/info: a JSON list; a hybrid's ``hash`` is its v2 hash cut to 40 hex, so
  ``infohash_v1`` and ``infohash_v2`` count too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any

from qbfailover.errors import Rejected

__all__ = [
    "AddReply",
    "LoginOutcome",
    "LoginReply",
    "add_reply",
    "info_hashes",
    "login_reply",
    "preferences",
    "rejection",
]

ADD_COUNTS = ("success_count", "failure_count", "pending_count")
_HASH_FIELD = re.compile(r'"(?:hash|infohash_v1|infohash_v2)"\s*:\s*"([^"\\]*)"')
"""A torrent's ``hash``, ``infohash_v1`` or ``infohash_v2`` field in a torrents/info list."""


@dataclass(frozen=True, slots=True)
class AddReply:
    """What qBittorrent said to one torrents/add request (not proof of anything by itself)."""

    status: int
    accepted: bool
    text: str
    counts: Mapping[str, int] | None = None


class LoginReply(Enum):
    """What one auth/login reply means, before any follow-up request."""

    OK = "ok"  # 200 "Ok." (up to 5.1) or 204 (5.2+)
    WRONG_CREDENTIALS = "wrong credentials"  # 200 "Fails." (up to 5.1)
    BANNED = "banned"  # 403 naming the ban, every version
    UNAUTHORIZED = "unauthorized"  # 401: wrong credentials (5.2+) or the CSRF/Host check: ask again
    OTHER = "other"  # anything else: a refusal to report with its status


class LoginOutcome(StrEnum):
    """A login's outcome as told to the listener that keeps the login budget (``WebUI.on_login``)."""

    OK = "ok"
    FAILED = "failed"
    BANNED = "banned"


def login_reply(status: int, text: str) -> LoginReply:
    """Classify an auth/login reply of either generation (see the module docstring)."""
    body = text.strip()
    if status == 204 or (status == 200 and body == "Ok."):
        return LoginReply.OK
    if status == 200 and body == "Fails.":
        return LoginReply.WRONG_CREDENTIALS
    if status == 403 and "banned" in body.lower():
        return LoginReply.BANNED
    if status == 401:
        return LoginReply.UNAUTHORIZED
    return LoginReply.OTHER


def rejection(name: str, what: str, status: int, text: str) -> Rejected:
    """The one-line Rejected for an unexpected answer, with a hint for the statuses that have one."""
    body = text.strip().replace("\n", " ")[:120]
    hint = ""
    if status == 401:
        hint = " (CSRF or Host-header check: is the URL's host:port the one qBittorrent serves?)"
    elif status == 404:
        hint = " (is this URL a qBittorrent WebUI?)"
    return Rejected(name, f"{what} answered HTTP {status} {body!r}{hint}", status)


def add_reply(name: str, status: int, text: str) -> AddReply:
    """Map both generations' torrents/add replies; hard refusals (401, 5xx, …) raise Rejected.

    ``accepted`` is only what the server claims: 4.x says ``Ok.`` for a batch with one good line,
    and for a magnet it silently drops, which is why delivery is confirmed by infohash afterwards.
    """
    body = text.strip()
    if status in (200, 202):
        if body == "Ok.":
            return AddReply(status, True, body)
        if body == "Fails.":
            return AddReply(status, False, body)
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            counts = {k: int(v) for k, v in doc.items() if k in ADD_COUNTS and isinstance(v, int)}
            accepted = counts.get("success_count", 0) + counts.get("pending_count", 0) > 0
            return AddReply(status, accepted, body[:200], counts)
        return AddReply(status, True, body[:200])
    if status == 409:  # 5.2+: nothing was added (duplicates or all invalid)
        return AddReply(status, False, body[:200])
    if status == 415:  # a .torrent in the request was not valid; other items may still be added
        return AddReply(status, False, body[:200] or "invalid torrent file")
    raise Rejected(name, f"torrents/add answered HTTP {status} {body[:120]!r}", status)


def info_hashes(name: str, status: int, text: str) -> set[str]:
    """All hashes a torrents/info reply names (``hash``, ``infohash_v1``, ``infohash_v2``), lower-case.

    A reply that is not a JSON list raises Rejected: an instance that cannot say what it holds
    cannot confirm a delivery. A list is read with a pattern, not a JSON parse (9 instead of 37 ms
    for 5,000 torrents, on every confirmation): inside a JSON string every quote is escaped, so
    ``"hash":"`` can only be that key and the start of its value.
    """
    body = text.strip()
    if body.startswith("[") and body.endswith("]"):
        return {found.lower() for found in _HASH_FIELD.findall(body) if found}
    try:
        json.loads(text)
    except ValueError:
        raise Rejected(name, "torrents/info did not answer JSON", status) from None
    raise Rejected(name, "torrents/info did not answer a JSON list", status)


def preferences(name: str, status: int, text: str) -> dict[str, Any]:
    """The app/preferences document (a JSON object); anything else raises Rejected.

    ``doctor`` reads ``save_path`` and ``bypass_local_auth`` from it.
    """
    if status != 200:
        raise rejection(name, "app/preferences", status, text)
    try:
        doc = json.loads(text)
    except ValueError:
        raise Rejected(name, "app/preferences did not answer JSON", status) from None
    if not isinstance(doc, dict):
        raise Rejected(name, "app/preferences did not answer a JSON object", status)
    return doc
