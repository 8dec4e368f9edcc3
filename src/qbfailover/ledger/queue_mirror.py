"""The spec's queue file as a mirror of the ledger: merged under a lock, never overwritten.

The ledger holds every queued item first; this file exists because scripts and people read it
(``saved_at``, ``reason``, ``magnets``, ``instructions``). The spec's own client rewrote it with the
last batch only, so a second outage lost the first one's magnets; here every change is a
read-merge-write under an exclusive lock on a sidecar ``.lock`` file, so concurrent callers
(two crawler runs, a crawler and ``process_queue_file``) each keep what the other wrote.

A file that cannot be read as a queue file is never rewritten: it is renamed aside
(``<name>.corrupt-<time>``) with a one-line error, and the magnet links found in its text are
handed back so the caller can record them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from pathlib import Path

from qbfailover.errors import StoreError
from qbfailover.ledger.queuefile import (
    DEFAULT_INSTRUCTIONS,
    QueueFile,
    now_iso,
    read_queue_file,
    write_queue_file,
)

__all__ = ["SPEC_REASON", "QueueMirror"]

log = logging.getLogger("qbfailover.queue")

SPEC_REASON = "VPN/qBittorrent unavailable"
"""The ``reason`` the spec's client writes; kept, since scripts may show or match it."""

# A magnet inside JSON text: up to the closing quote, JSON escapes (\/ \" \uXXXX) included.
_MAGNET_IN_TEXT = re.compile(r'magnet:\?(?:[^"\\\s]|\\.)+')


class QueueMirror:
    """Read, merge into and remove from one queue file; every change under the file's lock."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")

    def __repr__(self) -> str:
        return f"QueueMirror({str(self.path)!r})"

    def read(self) -> tuple[list[str], list[str]]:
        """(magnets in the file, links salvaged from a corrupt file now set aside); both may be empty."""
        with self._locked():
            current, salvaged = self._load()
        return (list(current.magnets) if current else []), salvaged

    def merge(self, magnets: Sequence[str]) -> list[str]:
        """Append the magnets the file does not hold yet; returns links salvaged from a corrupt file."""
        if not magnets:
            return []
        with self._locked():
            current, salvaged = self._load()
            held = list(current.magnets) if current else []
            seen = set(held)
            for magnet in magnets:
                if magnet not in seen:
                    seen.add(magnet)
                    held.append(magnet)
            write_queue_file(
                self.path,
                QueueFile(
                    saved_at=now_iso(),
                    reason=current.reason if current and current.reason else SPEC_REASON,
                    magnets=held,
                    instructions=current.instructions if current else DEFAULT_INSTRUCTIONS,
                ),
            )
        return salvaged

    def remove(self, delivered: Collection[str]) -> bool:
        """Drop exactly the ``delivered`` lines; delete the file once it holds none. True if gone."""
        with self._locked():
            current, _ = self._load()
            if current is None:
                return not self.path.exists()
            keep = [m for m in current.magnets if m not in delivered]
            if len(keep) == len(current.magnets) and keep:
                return False
            if not keep:
                self.path.unlink(missing_ok=True)
                return True
            write_queue_file(
                self.path,
                QueueFile(
                    saved_at=current.saved_at or now_iso(),
                    reason=current.reason,
                    magnets=keep,
                    instructions=current.instructions,
                ),
            )
        return False

    def _load(self) -> tuple[QueueFile | None, list[str]]:
        """The file (None if absent or set aside) and the links salvaged from it if it was corrupt."""
        if not self.path.exists():
            return None, []
        try:
            return read_queue_file(self.path), []
        except StoreError as exc:
            return None, self._set_aside(exc)

    def _set_aside(self, why: StoreError) -> list[str]:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        aside = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        try:
            raw = self.path.read_bytes().decode("utf-8", errors="replace")
        except OSError:
            raw = ""
        salvaged = list(dict.fromkeys(_unescape(m) for m in _MAGNET_IN_TEXT.findall(raw)))
        try:
            self.path.rename(aside)
        except OSError as exc:
            raise StoreError(
                f"{why}; it could not be set aside ({exc.strerror or exc}), so it was left as it is"
            ) from None
        log.error(
            "%s; kept as %s, %d magnet link(s) found in it were recorded", why, aside.name, len(salvaged)
        )
        return salvaged

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """An exclusive lock on the sidecar file, held for one read-merge-write."""
        try:
            fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(
                f"cannot lock queue file {self.path} ({exc.strerror or exc}); "
                f"make {self.path.parent} writable or choose another queue_file"
            ) from None
        try:
            _lock(fd)
            yield
        finally:
            os.close(fd)  # closing releases the lock


def _unescape(found: str) -> str:
    """A magnet as the JSON string meant it (``\\/`` is ``/``); as found if it is not valid JSON."""
    try:
        value = json.loads(f'"{found}"')
    except ValueError:
        return found
    return value if isinstance(value, str) else found


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_LOCK, 1)

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)
