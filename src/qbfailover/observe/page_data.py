"""What the status page shows, gathered once per ``watch`` cycle so a page view never reads the ledger.

The numbers are the status document's (``status --json``, ``GET /status``): :class:`PageData` carries
that very document, unchanged, and adds only what the document has no room for: the recent
deliveries and transitions, each instance's breaker, the last error seen, the pending items'
reasons. :class:`ActivityTracker` builds it in the watch loop's thread (the only thread that uses
the ledger) and the HTTP threads read the finished, immutable snapshot.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from qbfailover.core import breaker
from qbfailover.core.breaker import Guard
from qbfailover.ledger.base import Entry, LedgerBackend

__all__ = [
    "PENDING_RESCAN",
    "RECENT",
    "ActivityTracker",
    "DeliveryRow",
    "FailbackMove",
    "InstanceExtra",
    "PageData",
    "TransitionRecord",
    "breaker_state",
    "public_url",
    "recent_outcomes",
    "status_word",
]

log = logging.getLogger("qbfailover.watch")

RECENT = 50
"""Rows per list on the page (deliveries, transitions): a glance, not an archive (``queue list``)."""
PENDING_RESCAN = 5.0
"""Seconds between scans of an unchanged queue: a failed try rewrites a row's reason, not the counts."""


@dataclass(frozen=True, slots=True)
class TransitionRecord:
    """One state change watch saw (``old`` is None for the state found at start-up)."""

    at: float
    old: str | None
    new: str
    verdict: str
    detail: str


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    """Where one item went: delivered to an instance, or rejected with the reason."""

    at: float
    name: str
    state: str
    instance: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class FailbackMove:
    """One item failback would move now (the slot stays empty until failback provides these)."""

    name: str
    from_instance: str
    to_instance: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class InstanceExtra:
    """What the status document does not say about an instance: its breaker and its last error."""

    breaker: str = "closed"
    last_error: str = ""
    last_error_at: float | None = None


@dataclass(frozen=True, slots=True)
class PageData:
    """One snapshot of everything the page renders; ``status`` is the status document itself."""

    status: Mapping[str, Any] | None
    counts: Mapping[str, int] = field(default_factory=dict)
    reasons: tuple[tuple[str, int], ...] = ()
    oldest_name: str | None = None
    deliveries: tuple[DeliveryRow, ...] = ()
    transitions: tuple[TransitionRecord, ...] = ()
    extras: Mapping[str, InstanceExtra] = field(default_factory=dict)
    failback: tuple[FailbackMove, ...] | None = None
    generated_at: float = 0.0

    def as_json(self) -> dict[str, Any]:
        """The snapshot as JSON-ready data (``GET /status/page.json``); ``status`` stays verbatim."""
        return {
            "status": self.status,
            "counts": dict(self.counts),
            "reasons": [{"reason": r, "count": n} for r, n in self.reasons],
            "oldest_name": self.oldest_name,
            "deliveries": [asdict(d) for d in self.deliveries],
            "transitions": [asdict(t) for t in self.transitions],
            "instances": {name: asdict(x) for name, x in self.extras.items()},
            "failback": None if self.failback is None else [asdict(m) for m in self.failback],
            "generated_at": self.generated_at,
        }


def public_url(url: str) -> str:
    """The URL without ``user:password@``, query or fragment: what a page may show of an instance.

    Config already refuses credentials in URLs; this is the second lock, so a page never shows one
    even if a URL reached it by another road.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def status_word(inst: Mapping[str, Any]) -> str:
    """An instance's word as ``status`` prints it: the health word without its reason."""
    word = str(inst.get("health") or inst.get("status") or "")
    return word.split(":", 1)[0]


def breaker_state(guard: Guard, now: float) -> str:
    """``closed``, ``open (retry in N s)`` or ``half-open``, plus a ban or a spent login budget."""
    if not breaker.may_connect(guard, now):
        text = f"open (retry in {max(1, round(guard.open_until - now))} s)"
    elif guard.failures:
        text = "half-open"
    else:
        text = "closed"
    if now < guard.banned_until:
        text += f"; banned for {max(1, round(guard.banned_until - now))} s"
    elif guard.auth_failures:
        text += f"; {guard.auth_failures} failed login(s)"
    return text


def recent_outcomes(entries: Iterable[Entry], limit: int = RECENT) -> tuple[DeliveryRow, ...]:
    """The ``limit`` most recent delivered or rejected items, newest first."""
    rows = [
        DeliveryRow(
            at=e.delivered_at if e.state == "delivered" and e.delivered_at else e.updated_at,
            name=e.name,
            state=e.state,
            instance=e.instance,
            reason=e.reason or "",
        )
        for e in entries
        if e.state in ("delivered", "rejected")
    ]
    rows.sort(key=lambda r: r.at, reverse=True)
    return tuple(rows[:limit])


class ActivityTracker:
    """Builds :class:`PageData` once per watch cycle; ``latest`` is what the HTTP threads serve.

    Delivered and rejected rows are final, so that history is read again only when the per-state
    counts change: an idle service costs one ``counts()`` per cycle, whatever the size of its
    history. Pending rows are read again on a count change too, and at least every
    :data:`PENDING_RESCAN` seconds while any wait (a failed try changes their reason, not the count).
    """

    def __init__(
        self,
        failback: Callable[[], Sequence[FailbackMove]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.failback = failback
        self.clock = clock
        self.latest: PageData = PageData(status=None)
        self._scanned: tuple[tuple[str, int], ...] | None = None
        self._pending_scanned_at = 0.0
        self._queue: tuple[tuple[tuple[str, int], ...], str | None] = ((), None)
        self._done: tuple[DeliveryRow, ...] = ()
        self._errors: dict[str, tuple[str, float]] = {}

    def refresh(
        self,
        ledger: LedgerBackend,
        status: Mapping[str, Any],
        transitions: Sequence[TransitionRecord] = (),
    ) -> PageData:
        """Swap in a new snapshot built from this cycle's status document and the ledger.

        Never raises: the page serves watch, it must not stop it. If the lists cannot be read
        (ledger locked, a bug), the page gets this cycle's status document with the last lists.
        """
        now = self.clock()
        try:
            self.latest = self._build(ledger, status, transitions, now)
        except Exception as exc:
            log.warning("status page: lists not refreshed (%s); showing the previous ones", exc)
            self.latest = replace(
                self.latest, status=status, transitions=tuple(reversed(transitions[-RECENT:]))
            )
        return self.latest

    def _build(
        self,
        ledger: LedgerBackend,
        status: Mapping[str, Any],
        transitions: Sequence[TransitionRecord],
        now: float,
    ) -> PageData:
        counts = ledger.counts()
        key = tuple(sorted(counts.items()))
        changed = key != self._scanned
        if changed:
            # The newest rows only: reading the whole history each cycle grew with the ledger
            # (50,000 rows: ~0.5 s of the loop that serves and delivers, every second).
            latest = ledger.list(states=("delivered", "rejected"), limit=2 * RECENT, newest=True)
            self._done = recent_outcomes(latest)
        if changed or (counts.get("pending") and now - self._pending_scanned_at >= PENDING_RESCAN):
            self._queue = self._scan_pending(ledger)
            self._pending_scanned_at = now
        self._scanned = key
        (reasons, oldest_name), deliveries = self._queue, self._done
        extras = {}
        for inst in status.get("instances", []):
            name = str(inst["name"])
            if inst.get("status") != "OK" and inst.get("detail"):
                self._errors[name] = (str(inst["detail"]), float(status.get("checked_at") or now))
            error, at = self._errors.get(name, ("", None))
            guard = ledger.load_guard(name)
            if not error and guard.last_error:
                error = guard.last_error
            extras[name] = InstanceExtra(breaker_state(guard, now), error, at)
        return PageData(
            status=status,
            counts=dict(counts),
            reasons=reasons,
            oldest_name=oldest_name,
            deliveries=deliveries,
            transitions=tuple(reversed(transitions[-RECENT:])),
            extras=extras,
            failback=tuple(self.failback()) if self.failback is not None else None,
            generated_at=now,
        )

    @staticmethod
    def _scan_pending(ledger: LedgerBackend) -> tuple[tuple[tuple[str, int], ...], str | None]:
        pending = ledger.list(states=("pending",))
        reasons = Counter(e.reason or "unknown" for e in pending)
        oldest = min(pending, key=lambda e: e.created_at).name if pending else None
        return tuple(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))), oldest
