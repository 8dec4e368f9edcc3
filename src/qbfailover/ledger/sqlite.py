"""The ledger: a durable SQLite outbox of every item handed to qbfailover.

Why it exists: the first delivery rule is *record first*. An item is committed here (WAL,
``synchronous=FULL``) before any network call, so a crash, ``kill -9`` or power loss never
loses it. Rows move ``pending -> delivered | rejected``; pending rows carry a backoff
(``next_attempt_at``) and a *claim* so that several processes (an ``add``, a ``watch``, a
``queue drain``) can share the file without ever delivering one row twice at the same time.

Claims are ``(claim_owner, claim_until)``: the owner is ``"<pid>:<process start time>"`` so a claim
held by a process that died (even by ``kill -9``) is taken over at once, and a lease bounds a claim
held by a process that is alive but stuck. Every ``sqlite3``/``OSError`` is translated here into
:class:`~qbfailover.errors.StoreError`; nothing else escapes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import random
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import psutil

from qbfailover.core.breaker import Guard
from qbfailover.errors import StoreError

__all__ = [
    "BACKOFF_BASE_SECONDS",
    "BACKOFF_CAP_SECONDS",
    "KINDS",
    "STATES",
    "Entry",
    "Ledger",
    "NewEntry",
    "backoff_seconds",
]

KINDS: Final = frozenset({"magnet", "torrent", "url"})
STATES: Final = ("pending", "delivered", "rejected")

BACKOFF_BASE_SECONDS: Final = 5.0
"""First retry delay: short, because most outages we see are a qBittorrent restart."""
BACKOFF_CAP_SECONDS: Final = 15 * 60.0
"""Longest retry delay: an item never waits more than this after an instance comes back."""
BACKOFF_JITTER: Final = 0.10
"""±10 %, so that many processes queued by one outage do not retry in lock-step."""

DEFAULT_LEASE_SECONDS: Final = 120.0
DEFAULT_BUSY_TIMEOUT: Final = 30.0

# "qbFL" in the header, so that a ledger is recognisable even before our table is read.
APPLICATION_ID: Final = 0x7162464C
SCHEMA_VERSION: Final = 1
_SQLITE_MAGIC: Final = b"SQLite format 3\x00"
_CHUNK: Final = 500  # ids per "IN (...)": far below SQLite's host-parameter limit.
_ENV_HINT: Final = "move it aside or set QBFAILOVER_DB to another path"

# One statement per string: executescript() would COMMIT and escape our transaction.
_SCHEMA: Final = (
    """CREATE TABLE entries (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        key             TEXT    NOT NULL,
        kind            TEXT    NOT NULL CHECK (kind IN ('magnet', 'torrent', 'url')),
        payload         BLOB    NOT NULL,
        name            TEXT    NOT NULL,
        options         TEXT    NOT NULL DEFAULT '{}',
        state           TEXT    NOT NULL DEFAULT 'pending'
                                CHECK (state IN ('pending', 'delivered', 'rejected')),
        instance        TEXT,
        reason          TEXT,
        attempts        INTEGER NOT NULL DEFAULT 0,
        last_error      TEXT,
        next_attempt_at REAL    NOT NULL,
        created_at      REAL    NOT NULL,
        updated_at      REAL    NOT NULL,
        delivered_at    REAL,
        uncertain       TEXT    NOT NULL DEFAULT '[]',
        claim_owner     TEXT,
        claim_until     REAL
    )""",
    # At most one pending row per item, enforced by SQLite itself across processes.
    "CREATE UNIQUE INDEX entries_pending_key ON entries (key) WHERE state = 'pending'",
    "CREATE INDEX entries_state_due ON entries (state, next_attempt_at)",
    "CREATE INDEX entries_state_delivered ON entries (state, delivered_at)",
    # Per-instance breaker/login guards, shared by one-shot CLI runs (see breaker.py).
    "CREATE TABLE guards (name TEXT PRIMARY KEY, data TEXT NOT NULL)",
    # Small facts about this ledger, such as the salt for credential fingerprints.
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL)",
    f"PRAGMA application_id = {APPLICATION_ID}",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)

_COLUMNS: Final = (
    "id, key, kind, payload, name, options, state, instance, reason, attempts, last_error, "
    "next_attempt_at, created_at, updated_at, delivered_at, uncertain, claim_owner, claim_until"
)


@dataclass(frozen=True, slots=True)
class NewEntry:
    """An item to record: what the caller knows before anything is sent."""

    key: str
    """Identity: lower-case hex infohash (40 for v1, 64 for v2-only), or the URL for URL items."""
    kind: str
    """``"magnet"``, ``"torrent"`` or ``"url"``."""
    payload: bytes
    """The magnet URI / URL as UTF-8, or the raw .torrent bytes."""
    name: str
    """Display name, for people reading the queue."""
    options: dict[str, object]
    """Add options (category, tags, savepath, paused, rename, ...): must be JSON-serialisable."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One ledger row as it was when read."""

    id: int
    key: str
    kind: str
    payload: bytes
    name: str
    options: dict[str, object]
    state: str
    """``"pending"``, ``"delivered"`` or ``"rejected"``."""
    instance: str | None
    """The instance that has it (delivered rows)."""
    reason: str | None
    """Why it is queued / rejected, or ``"added"`` / ``"already there"``."""
    attempts: int
    last_error: str | None
    next_attempt_at: float
    created_at: float
    updated_at: float
    delivered_at: float | None
    uncertain: tuple[str, ...]
    """Instances an add was sent to without a confirmed outcome: reconcile before re-adding."""
    claimed: bool = False
    """True if this process holds the claim, i.e. it (and nobody else) may deliver the row now."""


def backoff_seconds(attempts: int, *, rand: Callable[[], float] = random.random) -> float:
    """Delay before the next try after ``attempts`` failures: 5 s doubling, ±10 %, ≤ 15 min.

    Jitter is applied before the cap so the cap is a hard bound a user can rely on.
    """
    if attempts < 1:
        return 0.0
    base = min(BACKOFF_BASE_SECONDS * 2.0 ** min(attempts - 1, 32), BACKOFF_CAP_SECONDS)
    jitter = 1.0 + BACKOFF_JITTER * (2.0 * rand() - 1.0)
    return min(base * jitter, BACKOFF_CAP_SECONDS)


def _own_owner() -> str:
    """This process's claim token: pid plus start time, so a reused pid is not mistaken for us."""
    proc = psutil.Process()
    return f"{proc.pid}:{proc.create_time():.2f}"


def _owner_alive(owner: str) -> bool:
    """Whether the process named by a claim token still runs (unknown counts as alive)."""
    pid_text, _, started = owner.partition(":")
    try:
        proc = psutil.Process(int(pid_text))
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return f"{proc.create_time():.2f}" == started
    except (psutil.NoSuchProcess, ValueError):
        return False
    except psutil.Error:
        return True  # AccessDenied and the like: cannot tell, so let the lease decide.


def _one_line(text: str) -> str:
    """Collapse SQLite's multi-line diagnostics: our messages are one line."""
    return " ".join(text.split())


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start : start + _CHUNK])


def _marks(n: int) -> str:
    return ",".join("?" * n)


class Ledger:
    """The SQLite ledger at ``path``; safe to open from many processes at once.

    ``clock`` and ``rng`` are injectable so that backoff and leases are testable without time.
    ``lease_seconds`` bounds how long a live but stuck process can hold a claim;
    ``busy_timeout`` is how long a write waits for another process before :class:`StoreError`.
    """

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        self._rng = rng
        self._lease = lease_seconds
        self._busy_timeout = busy_timeout
        self._owner = _own_owner()
        self._lock = threading.RLock()
        self._salt: bytes | None = None
        self._check_existing_file()
        self._conn = self._connect()
        try:
            self._initialise()
        except BaseException:
            self._conn.close()
            raise

    # ----------------------------------------------------------------- opening

    def _check_existing_file(self) -> None:
        """Refuse, without writing a byte, a file that is not (yet) a qbfailover ledger."""
        path = self.path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the directory for ledger {path}: {exc.strerror or exc}; "
                f"fix permissions or set QBFAILOVER_DB to a writable path"
            ) from exc
        try:
            with path.open("rb") as fh:
                header = fh.read(len(_SQLITE_MAGIC))
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StoreError(
                f"cannot read ledger {path}: {exc.strerror or exc}; "
                f"fix permissions or set QBFAILOVER_DB to another path"
            ) from exc
        if not header:
            return  # A 0-byte file is an empty SQLite database: initialise it.
        if header != _SQLITE_MAGIC:
            raise StoreError(f"{path} is not a qbfailover ledger (not SQLite); {_ENV_HINT}")
        uri = path.resolve().as_uri() + "?mode=ro"
        try:
            ro = sqlite3.connect(uri, uri=True, timeout=self._busy_timeout)
        except sqlite3.Error as exc:
            raise self._error(exc, "opening") from exc
        try:
            app_id = int(ro.execute("PRAGMA application_id").fetchone()[0])
            version = int(ro.execute("PRAGMA user_version").fetchone()[0])
            tables = [
                str(row[0])
                for row in ro.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%' ORDER BY name"
                )
            ]
            if app_id == APPLICATION_ID and "entries" in tables:
                bad = str(ro.execute("PRAGMA quick_check(1)").fetchone()[0])
                if bad != "ok":
                    raise StoreError(f"ledger {path} is corrupt ({_one_line(bad)}); {_ENV_HINT}")
        except sqlite3.Error as exc:
            raise self._error(exc, "checking") from exc
        finally:
            ro.close()
        if app_id == APPLICATION_ID:
            if "entries" not in tables:
                raise StoreError(f"ledger {path} is damaged (no entries table); {_ENV_HINT}")
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"ledger {path} has schema {version}, newer than this qbfailover "
                    f"understands ({SCHEMA_VERSION}); upgrade qbfailover"
                )
            return
        if tables or version or app_id:
            shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
            what = f"it holds tables: {shown}" if tables else "another application's header"
            raise StoreError(f"{path} is not a qbfailover ledger ({what}); {_ENV_HINT}")

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                str(self.path),
                timeout=self._busy_timeout,
                isolation_level=None,  # We issue BEGIN IMMEDIATE ourselves.
                check_same_thread=False,  # Guarded by self._lock.
            )
        except sqlite3.Error as exc:
            raise self._error(exc, "opening") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")  # Falls back quietly where WAL cannot work.
            conn.execute("PRAGMA synchronous = FULL")
        except sqlite3.Error as exc:
            conn.close()
            raise self._error(exc, "opening") from exc
        return conn

    def _initialise(self) -> None:
        """Create the schema once; the check runs under the write lock so two creators agree."""
        with self._write() as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version == 0:
                for statement in _SCHEMA:
                    conn.execute(statement)

    def close(self) -> None:
        """Close the connection; committed rows are already durable."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ---------------------------------------------------------------- plumbing

    def _error(self, exc: BaseException, action: str) -> StoreError:
        """One-line, payload-free message for a low-level failure, saying what to do."""
        return StoreError(_one_line(self._describe(exc, action)))

    def _describe(self, exc: BaseException, action: str) -> str:
        """Map SQLite's extended error names onto what a person can do about each."""
        path = self.path
        if isinstance(exc, sqlite3.Error):
            name = getattr(exc, "sqlite_errorname", "") or ""
            if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
                return (
                    f"ledger {path} stayed locked by another process for over "
                    f"{self._busy_timeout:g} s while {action}; retry, or stop the process "
                    f"holding it"
                )
            # SHMSIZE: no room to grow the WAL index (-shm) file, i.e. the disk is full too.
            if name in ("SQLITE_FULL", "SQLITE_IOERR_SHMSIZE"):
                return (
                    f"ledger {path}: disk full while {action}; free some space and retry "
                    f"(everything recorded before is kept)"
                )
            if name.startswith("SQLITE_READONLY"):
                return (
                    f"ledger {path} is read-only; make it and its directory writable or "
                    f"set QBFAILOVER_DB to a writable path"
                )
            if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
                return f"ledger {path} is corrupt ({exc}); {_ENV_HINT}"
            if name.startswith(("SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")):
                return (
                    f"cannot open ledger {path} ({exc}); check that its directory exists and "
                    f"is writable, or set QBFAILOVER_DB"
                )
            if name.startswith("SQLITE_IOERR"):
                return f"ledger {path}: I/O error while {action} ({name}); check the disk"
            detail = f"{name}: {exc}" if name else str(exc)
            return f"ledger {path} failed while {action} ({detail})"
        if isinstance(exc, OSError):
            return f"ledger {path} failed while {action} ({exc.strerror or exc})"
        return f"ledger {path} failed while {action} ({type(exc).__name__})"

    @contextlib.contextmanager
    def _read(self, action: str = "reading") -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
            except (sqlite3.Error, OSError) as exc:
                raise self._error(exc, action) from exc

    @contextlib.contextmanager
    def _write(self, action: str = "writing") -> Iterator[sqlite3.Connection]:
        """One BEGIN IMMEDIATE transaction: writers queue up front, never deadlock midway."""
        with self._lock:
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE")
            except (sqlite3.Error, OSError) as exc:
                raise self._error(exc, action) from exc
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error | OSError):
                    raise self._error(exc, action) from exc
                raise

    def _entry(self, row: Sequence[Any]) -> Entry:
        return Entry(
            id=int(row[0]),
            key=str(row[1]),
            kind=str(row[2]),
            payload=bytes(row[3]),
            name=str(row[4]),
            options=json.loads(row[5]),
            state=str(row[6]),
            instance=row[7],
            reason=row[8],
            attempts=int(row[9]),
            last_error=row[10],
            next_attempt_at=float(row[11]),
            created_at=float(row[12]),
            updated_at=float(row[13]),
            delivered_at=None if row[14] is None else float(row[14]),
            uncertain=tuple(json.loads(row[15])),
            claimed=row[16] == self._owner and row[17] is not None and row[17] > self._clock(),
        )

    def _select(self, conn: sqlite3.Connection, ids: Sequence[int]) -> dict[int, Entry]:
        found: dict[int, Entry] = {}
        for chunk in _chunks(ids):
            sql = f"SELECT {_COLUMNS} FROM entries WHERE id IN ({_marks(len(chunk))})"
            for row in conn.execute(sql, chunk):
                found[int(row[0])] = self._entry(row)
        return found

    def _free_dead_claims(self, conn: sqlite3.Connection, now: float) -> None:
        """Release live-looking claims whose owner process is gone (e.g. after kill -9)."""
        owners = [
            str(row[0])
            for row in conn.execute(
                "SELECT DISTINCT claim_owner FROM entries WHERE state = 'pending' "
                "AND claim_owner IS NOT NULL AND claim_until > ? AND claim_owner != ?",
                (now, self._owner),
            )
        ]
        dead = [(owner,) for owner in owners if not _owner_alive(owner)]
        if dead:
            conn.executemany(
                "UPDATE entries SET claim_owner = NULL, claim_until = NULL "
                "WHERE claim_owner = ? AND state = 'pending'",
                dead,
            )

    def _claim(self, conn: sqlite3.Connection, ids: Iterable[int], now: float) -> None:
        conn.executemany(
            "UPDATE entries SET claim_owner = ?, claim_until = ? WHERE id = ?",
            [(self._owner, now + self._lease, i) for i in ids],
        )

    def _update_uncertain(
        self,
        conn: sqlite3.Connection,
        entry_ids: Sequence[int],
        change: Callable[[list[str]], list[str]],
        now: float,
        extra_sql: str = "",
        extra_args: tuple[object, ...] = (),
    ) -> None:
        rows: list[tuple[object, ...]] = []
        for chunk in _chunks(list(dict.fromkeys(entry_ids))):
            sql = f"SELECT id, uncertain FROM entries WHERE id IN ({_marks(len(chunk))})"
            for entry_id, text in conn.execute(sql, chunk).fetchall():
                new = json.dumps(change(list(json.loads(text))))
                rows.append((new, now, *extra_args, entry_id))
        conn.executemany(f"UPDATE entries SET uncertain = ?, updated_at = ?{extra_sql} WHERE id = ?", rows)

    # --------------------------------------------------------------------- API

    def record(self, items: Sequence[NewEntry], *, reason: str, claim: bool = True) -> list[Entry]:
        """Durably write ``items`` before anything is sent; returns one Entry per item, in order.

        A key that already has a pending row is not inserted again: that row is returned (so an
        item handed over twice is delivered once; duplicates in ``items`` share one row, and
        thus one ``id``, so the result still zips with ``items``). With ``claim``, every
        returned row not held by another live process is claimed for this one, due or not (a
        fresh add means "try now"); :attr:`Entry.claimed` says which.
        """
        rows: list[tuple[object, ...]] = []
        for item in items:
            if item.kind not in KINDS:
                raise ValueError(f"unknown kind {item.kind!r} for {item.name!r}")
            try:
                options = json.dumps(item.options, sort_keys=True, ensure_ascii=False)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"options of {item.name!r} are not JSON-serialisable") from exc
            rows.append((item.key, item.kind, bytes(item.payload), item.name, options))
        keys = list(dict.fromkeys(item.key for item in items))
        if not keys:
            return []
        with self._write("recording") as conn:
            now = self._clock()
            conn.executemany(
                "INSERT INTO entries (key, kind, payload, name, options, reason, "
                "next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (key) WHERE state = 'pending' DO NOTHING",
                [(*row, reason, now, now, now) for row in rows],
            )
            by_key: dict[str, int] = {}
            free: list[int] = []
            if claim:
                self._free_dead_claims(conn, now)
            for start in range(0, len(keys), _CHUNK):
                chunk = keys[start : start + _CHUNK]
                sql = (
                    "SELECT key, id, claim_owner, claim_until FROM entries "
                    f"WHERE state = 'pending' AND key IN ({_marks(len(chunk))})"
                )
                for key, entry_id, owner, until in conn.execute(sql, chunk):
                    by_key[key] = entry_id
                    if owner is None or owner == self._owner or until is None or until <= now:
                        free.append(entry_id)
            if claim:
                self._claim(conn, free, now)
            found = self._select(conn, list(by_key.values()))
        return [found[by_key[item.key]] for item in items]

    def claim_due(self, *, limit: int, ids: Sequence[int] | None = None) -> list[Entry]:
        """Claim up to ``limit`` due pending rows, oldest first, that no live process holds.

        With ``ids``, only among those (still honouring due time and other claims). Runs under
        BEGIN IMMEDIATE, so two processes draining at once never get the same row.
        """
        if limit <= 0 or (ids is not None and not ids):
            return []
        with self._write("claiming") as conn:
            now = self._clock()
            self._free_dead_claims(conn, now)
            where = (
                "state = 'pending' AND next_attempt_at <= ? "
                "AND (claim_owner IS NULL OR claim_until IS NULL OR claim_until <= ?)"
            )
            chosen: list[int] = []
            if ids is None:
                sql = f"SELECT id FROM entries WHERE {where} ORDER BY id LIMIT ?"
                chosen = [int(r[0]) for r in conn.execute(sql, (now, now, limit))]
            else:
                for chunk in _chunks(sorted(set(ids))):
                    sql = f"SELECT id FROM entries WHERE {where} AND id IN ({_marks(len(chunk))})"
                    chosen.extend(int(r[0]) for r in conn.execute(sql, (now, now, *chunk)))
                chosen = sorted(chosen)[:limit]
            self._claim(conn, chosen, now)
            found = self._select(conn, chosen)
        return [found[i] for i in chosen]

    def release(self, entry_ids: Sequence[int]) -> None:
        """Give back claims this process holds without changing anything else (e.g. on cancel)."""
        with self._write("releasing") as conn:
            conn.executemany(
                "UPDATE entries SET claim_owner = NULL, claim_until = NULL WHERE id = ? AND claim_owner = ?",
                [(i, self._owner) for i in entry_ids],
            )

    def note_sent(self, entry_ids: Sequence[int], instance: str) -> None:
        """Durably note, before the add request goes out, that these rows go to ``instance``.

        If the process dies before the outcome is known, :attr:`Entry.uncertain` names the
        instance so the next attempt checks there first instead of guessing. Renews the lease.
        """
        if not entry_ids:
            return
        with self._write("noting a send") as conn:
            now = self._clock()
            self._update_uncertain(
                conn,
                entry_ids,
                lambda xs: xs if instance in xs else [*xs, instance],
                now,
                ", claim_until = CASE WHEN claim_owner = ? THEN ? ELSE claim_until END",
                (self._owner, now + self._lease),
            )

    def clear_sent(self, entry_ids: Sequence[int], instance: str) -> None:
        """Drop ``instance`` from :attr:`Entry.uncertain`: the item was confirmed absent there."""
        if not entry_ids:
            return
        with self._write("clearing a send") as conn:
            self._update_uncertain(
                conn, entry_ids, lambda xs: [x for x in xs if x != instance], self._clock()
            )

    def mark_delivered(self, entry_ids: Sequence[int], *, instance: str, reason: str) -> None:
        """Mark rows delivered to ``instance`` and release them.

        ``instance`` leaves :attr:`Entry.uncertain`; other instances stay listed, since a copy may
        also be there. A row already delivered keeps its first instance and time.
        """
        if not entry_ids:
            return
        with self._write("marking delivered") as conn:
            now = self._clock()
            conn.executemany(
                "UPDATE entries SET state = 'delivered', instance = ?, reason = ?, "
                "delivered_at = ?, updated_at = ?, claim_owner = NULL, claim_until = NULL "
                "WHERE id = ? AND state != 'delivered'",
                [(instance, reason, now, now, i) for i in entry_ids],
            )
            self._update_uncertain(conn, entry_ids, lambda xs: [x for x in xs if x != instance], now)

    def mark_rejected(self, entry_id: int, *, reason: str) -> None:
        """Mark a pending row as never deliverable (the item's fault) and release it."""
        with self._write("marking rejected") as conn:
            now = self._clock()
            conn.execute(
                "UPDATE entries SET state = 'rejected', reason = ?, updated_at = ?, "
                "claim_owner = NULL, claim_until = NULL WHERE id = ? AND state = 'pending'",
                (reason, now, entry_id),
            )

    def mark_failed(self, entry_ids: Sequence[int], *, reason: str, error: str, backoff: bool = True) -> None:
        """Keep rows pending after a failed try: count it, back off, and release them.

        ``backoff=False`` when no instance was even available: such rows are due again as soon
        as a health check finds one (drains only run then), not minutes after the recovery.
        Rows another live process has claimed in the meantime are left alone.
        """
        if not entry_ids:
            return
        with self._write("marking failed") as conn:
            now = self._clock()
            rows: list[tuple[object, ...]] = []
            for chunk in _chunks(list(dict.fromkeys(entry_ids))):
                # A row another live process has claimed since (our lease ran out) is its
                # business now: a stale failure report must not reset its claim or backoff.
                sql = (
                    "SELECT id, attempts FROM entries WHERE state = 'pending' "
                    "AND (claim_owner IS NULL OR claim_owner = ? OR claim_until <= ?) "
                    f"AND id IN ({_marks(len(chunk))})"
                )
                for entry_id, attempts in conn.execute(sql, (self._owner, now, *chunk)).fetchall():
                    n = int(attempts) + 1
                    delay = backoff_seconds(n, rand=self._rng) if backoff else 0.0
                    rows.append((n, error, reason, now + delay, now, entry_id))
            conn.executemany(
                "UPDATE entries SET attempts = ?, last_error = ?, reason = ?, "
                "next_attempt_at = ?, updated_at = ?, claim_owner = NULL, claim_until = NULL "
                "WHERE id = ?",
                rows,
            )

    def get(self, entry_id: int) -> Entry | None:
        """The row with this id, or None."""
        with self._read() as conn:
            return self._select(conn, [entry_id]).get(entry_id)

    def list(self, *, states: Collection[str] = ("pending",), limit: int | None = None) -> list[Entry]:
        """Rows in the given states, oldest first."""
        unknown = set(states) - set(STATES)
        if unknown:
            raise ValueError(f"unknown state(s): {', '.join(sorted(unknown))}")
        if not states:
            return []
        states = list(states)
        sql = f"SELECT {_COLUMNS} FROM entries WHERE state IN ({_marks(len(states))}) ORDER BY id"
        args: list[object] = [*states]
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        with self._read() as conn:
            return [self._entry(row) for row in conn.execute(sql, args)]

    def counts(self) -> dict[str, int]:
        """Rows per state (every state present, zeros included)."""
        result = dict.fromkeys(STATES, 0)
        with self._read() as conn:
            for state, n in conn.execute("SELECT state, COUNT(*) FROM entries GROUP BY state"):
                result[str(state)] = int(n)
        return result

    def oldest_pending(self) -> float | None:
        """``created_at`` of the oldest pending row: how long the queue has been waiting."""
        with self._read() as conn:
            row = conn.execute("SELECT MIN(created_at) FROM entries WHERE state = 'pending'").fetchone()
        return None if row[0] is None else float(row[0])

    def retry(self, entry_id: int | None) -> int:
        """Make one pending row (or all, with None) due now; returns how many were pending."""
        with self._write("retrying") as conn:
            now = self._clock()
            if entry_id is None:
                cur = conn.execute(
                    "UPDATE entries SET next_attempt_at = ?, updated_at = ? WHERE state = 'pending'",
                    (now, now),
                )
            else:
                cur = conn.execute(
                    "UPDATE entries SET next_attempt_at = ?, updated_at = ? "
                    "WHERE state = 'pending' AND id = ?",
                    (now, now, entry_id),
                )
            return int(cur.rowcount)

    def drop(self, entry_id: int) -> bool:
        """Delete a row for good (a person decided it); True if it existed."""
        with self._write("dropping") as conn:
            cur = conn.execute("DELETE FROM entries WHERE id = ?", (entry_id,))
            return cur.rowcount > 0

    # ------------------------------------------------------- guards and salt (see breaker.py)

    def load_guard(self, name: str) -> Guard:
        """The persisted breaker/login guard of instance ``name`` (a fresh one if none)."""
        with self._read() as conn:
            row = conn.execute("SELECT data FROM guards WHERE name = ?", (name,)).fetchone()
        if row is None:
            return Guard()
        try:
            data = json.loads(row[0])
            known = {f.name for f in dataclasses.fields(Guard)}
            return Guard(**{k: v for k, v in data.items() if k in known})
        except (ValueError, TypeError, AttributeError):
            return Guard()  # An unreadable guard only loses breaker memory, never an item.

    def save_guard(self, name: str, guard: Guard) -> None:
        """Persist instance ``name``'s guard so the next process (cron, hook) honours it."""
        data = json.dumps(dataclasses.asdict(guard), sort_keys=True)
        with self._write("saving a guard") as conn:
            conn.execute(
                "INSERT INTO guards (name, data) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET data = excluded.data",
                (name, data),
            )

    def salt(self) -> bytes:
        """This ledger's random salt for credential fingerprints, created on first use."""
        if self._salt is None:
            with self._write("creating the salt") as conn:
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('salt', ?) ON CONFLICT (key) DO NOTHING",
                    (secrets.token_bytes(16),),
                )
                row = conn.execute("SELECT value FROM meta WHERE key = 'salt'").fetchone()
            self._salt = bytes(row[0])
        return self._salt

    def purge_delivered(self, older_than_seconds: float) -> int:
        """Delete delivered rows older than this; returns how many. Never touches pending rows."""
        with self._write("purging") as conn:
            cutoff = self._clock() - older_than_seconds
            cur = conn.execute(
                "DELETE FROM entries WHERE state = 'delivered' AND delivered_at < ?", (cutoff,)
            )
            return int(cur.rowcount)
