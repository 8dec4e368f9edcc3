"""The spec's JSON queue file (``qbittorrent_queue.json``), in and out.

Why it exists: the original tool wrote pending magnets to this file for a person to paste into the
WebUI, and workflows still produce and consume it. We read it tolerantly (missing metadata gets
defaults; judging each magnet is the caller's job) and write it byte-compatible with the spec's
example, atomically, so a crash mid-write never leaves a truncated file behind::

    {
      "saved_at": "2025-11-28T15:30:00.123456",
      "reason": "VPN/qBittorrent unavailable",
      "magnets": [
        "magnet:?xt=urn:btih:..."
      ],
      "instructions": "Manually add these to qBittorrent when available, or paste into web UI"
    }

Every failure is a one-line :class:`~qbfailover.errors.StoreError` naming the file and the fix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final

from qbfailover.atomicfile import replacing
from qbfailover.errors import StoreError

__all__ = [
    "DEFAULT_INSTRUCTIONS",
    "QueueFile",
    "now_iso",
    "read_queue_file",
    "render_queue_file",
    "write_queue_file",
]

DEFAULT_INSTRUCTIONS: Final = "Manually add these to qBittorrent when available, or paste into web UI"


@dataclass(frozen=True, slots=True)
class QueueFile:
    """The file's four fields, in the spec's order."""

    saved_at: str
    """Local time, ISO 8601 with microseconds (see :func:`now_iso`); ``""`` if the file had none."""
    reason: str
    magnets: list[str]
    """Exactly as found: invalid magnets are kept, for the caller to reject one by one."""
    instructions: str = DEFAULT_INSTRUCTIONS


def now_iso() -> str:
    """Local time like the spec's ``saved_at``: always with microseconds, no zone."""
    return datetime.now().isoformat(timespec="microseconds")


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def read_queue_file(path: Path) -> QueueFile:
    """Parse a queue file; malformed content raises StoreError saying where and how to fix it."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StoreError(
            f"cannot read queue file {path}: {exc.strerror or exc}; check the path and permissions"
        ) from exc
    try:
        text = data.decode("utf-8-sig")  # Tolerate the BOM some Windows editors add.
    except UnicodeDecodeError as exc:
        raise StoreError(
            f"queue file {path} is not UTF-8 text (bad byte at offset {exc.start}); save it as UTF-8"
        ) from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise StoreError(
            f"queue file {path} is not valid JSON: {exc.msg} at line {exc.lineno} column "
            f"{exc.colno}; fix that spot or restore the file from a backup"
        ) from exc
    if not isinstance(doc, dict):
        raise StoreError(
            f'queue file {path} holds {_type_name(doc)}, not an object with a "magnets" list; '
            f"fix the file's structure"
        )
    if "magnets" not in doc:
        raise StoreError(
            f'queue file {path} has no "magnets" list; add "magnets": [...] or point to the right file'
        )
    magnets = doc["magnets"]
    if not isinstance(magnets, list):
        raise StoreError(
            f'queue file {path}: "magnets" is {_type_name(magnets)}, not a list; '
            f"make it a list of magnet strings"
        )
    for index, magnet in enumerate(magnets):
        if not isinstance(magnet, str):
            raise StoreError(
                f'queue file {path}: "magnets"[{index}] is {_type_name(magnet)}, not a string; '
                f"make it a quoted magnet link or remove it"
            )

    def text_field(name: str, default: str) -> str:
        value = doc.get(name)
        if value is None:
            return default
        if not isinstance(value, str):
            raise StoreError(
                f'queue file {path}: "{name}" is {_type_name(value)}, not a string; quote it or remove it'
            )
        return value

    return QueueFile(
        saved_at=text_field("saved_at", ""),
        reason=text_field("reason", ""),
        magnets=list(magnets),
        instructions=text_field("instructions", DEFAULT_INSTRUCTIONS),
    )


def render_queue_file(q: QueueFile) -> str:
    """The file's text: the spec's key order, two-space indent, UTF-8 as is, final newline."""
    doc = {
        "saved_at": q.saved_at,
        "reason": q.reason,
        "magnets": list(q.magnets),
        "instructions": q.instructions,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def write_queue_file(path: Path, q: QueueFile) -> None:
    """Write atomically (see :mod:`qbfailover.atomicfile`): the old file or the new, never a mix.

    An existing file's permission bits are kept; a new file is private to the user (0600), since
    it lists what they download.
    """
    path = Path(path)
    data = render_queue_file(q).encode("utf-8")
    started = False  # whether the temp file exists: tells "cannot create" from "cannot replace"
    try:
        with replacing(path, mode=0o600, keep_mode=True) as tmp:
            started = True
            tmp.write_bytes(data)
    except OSError as exc:
        if not started:
            raise StoreError(
                f"cannot write queue file {path}: {exc.strerror or exc}; "
                f"make {path.parent} writable or choose another path"
            ) from exc
        raise StoreError(
            f"cannot write queue file {path}: {exc.strerror or exc}; the previous file is "
            f"unchanged; free space or fix permissions and retry"
        ) from exc
