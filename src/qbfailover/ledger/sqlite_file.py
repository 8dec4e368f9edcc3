"""The SQLite ledger file: recognising it, creating and migrating its schema, naming its errors.

Why apart from the queries: deciding whether a file is ours (and refusing, without writing a
byte, one that is not), upgrading an older ledger in place, and turning SQLite's error codes into
one line a person can act on are concerns of the file, the same for every query.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Final

from qbfailover.errors import StoreError

__all__ = [
    "APPLICATION_ID",
    "SCHEMA_VERSION",
    "check_existing_file",
    "connect",
    "store_error",
    "upgrade_schema",
]

# "qbFL" in the header, so that a ledger is recognisable even before our table is read.
APPLICATION_ID: Final = 0x7162464C
_SQLITE_MAGIC: Final = b"SQLite format 3\x00"
_ENV_HINT: Final = "move it aside or set QBFAILOVER_DB to another path"

# One statement per string: executescript() would COMMIT and escape our transaction.
_SCHEMA_1: Final = (
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
)

# Schema n -> n + 1. Each step runs inside the opening transaction, so a crash leaves the old
# schema whole, and a process of the previous version that has the file open keeps working.
_MIGRATIONS: Final[dict[int, tuple[str, ...]]] = {
    # 2: claims are leases, renewed by each of the owner's writes; finding a worker's claims
    # (renewal, freeing a dead worker's) must not scan.
    1: ("CREATE INDEX entries_claim_owner ON entries (claim_owner) WHERE claim_owner IS NOT NULL",),
    # 3: failback's journal: each move of a delivered item is written before it is made.
    2: (
        """CREATE TABLE moves (
            id          INTEGER PRIMARY KEY AUTOINCREMENT,
            entry_id    INTEGER NOT NULL,
            source      TEXT    NOT NULL,
            target      TEXT    NOT NULL,
            state       TEXT    NOT NULL
                                CHECK (state IN ('moving', 'moved', 'failed', 'gone', 'kept')),
            reason      TEXT    NOT NULL DEFAULT '',
            started_at  REAL    NOT NULL,
            updated_at  REAL    NOT NULL
        )""",
        "CREATE UNIQUE INDEX moves_open ON moves (entry_id) WHERE state = 'moving'",
    ),
}
SCHEMA_VERSION: Final = 1 + len(_MIGRATIONS)


def _one_line(text: str) -> str:
    """Collapse SQLite's multi-line diagnostics: our messages are one line."""
    return " ".join(text.split())


def store_error(exc: BaseException, path: Path, action: str, busy_timeout: float) -> StoreError:
    """One-line, payload-free StoreError for a low-level failure, saying what to do about it."""
    return StoreError(_one_line(_describe(exc, path, action, busy_timeout)))


def _describe(exc: BaseException, path: Path, action: str, busy_timeout: float) -> str:
    """Map SQLite's extended error names onto what a person can do about each."""
    if isinstance(exc, sqlite3.Error):
        name = getattr(exc, "sqlite_errorname", "") or ""
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return (
                f"ledger {path} stayed locked by another process for over "
                f"{busy_timeout:g} s while {action}; retry, or stop the process "
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


def check_existing_file(path: Path, busy_timeout: float) -> None:
    """Refuse, without writing a byte, a file that is not (yet) a qbfailover ledger.

    A missing, 0-byte or empty SQLite file is fine (it becomes a ledger); so is a ledger of
    this schema or an older one (it is migrated). A newer schema, another application's
    database, a non-SQLite file or a corrupt ledger is a StoreError saying what to do.
    """
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
        ro = sqlite3.connect(uri, uri=True, timeout=busy_timeout)
    except sqlite3.Error as exc:
        raise store_error(exc, path, "opening", busy_timeout) from exc
    try:
        # One read transaction: a process creating the ledger at this moment is seen either
        # before or after its commit, never half (tables already there, header not yet).
        ro.isolation_level = None
        ro.execute("BEGIN")
        tables = [
            str(row[0])
            for row in ro.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        app_id = int(ro.execute("PRAGMA application_id").fetchone()[0])
        version = int(ro.execute("PRAGMA user_version").fetchone()[0])
        if app_id == APPLICATION_ID and "entries" in tables:
            bad = str(ro.execute("PRAGMA quick_check(1)").fetchone()[0])
            if bad != "ok":
                raise StoreError(f"ledger {path} is corrupt ({_one_line(bad)}); {_ENV_HINT}")
    except sqlite3.Error as exc:
        raise store_error(exc, path, "checking", busy_timeout) from exc
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


def connect(path: Path, busy_timeout: float) -> sqlite3.Connection:
    """A connection in WAL mode with ``synchronous=FULL``: a recorded item survives power loss."""
    try:
        conn = sqlite3.connect(
            str(path),
            timeout=busy_timeout,
            isolation_level=None,  # We issue BEGIN IMMEDIATE ourselves.
            check_same_thread=False,  # The Ledger guards it with a lock.
        )
    except sqlite3.Error as exc:
        raise store_error(exc, path, "opening", busy_timeout) from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        _switch_to_wal(conn, busy_timeout)
        conn.execute("PRAGMA synchronous = FULL")
    except sqlite3.Error as exc:
        conn.close()
        raise store_error(exc, path, "opening", busy_timeout) from exc
    return conn


def _switch_to_wal(conn: sqlite3.Connection, busy_timeout: float) -> None:
    """``PRAGMA journal_mode = WAL`` (a no-op once the file is in WAL; falls back where WAL cannot work).

    Switching needs an exclusive lock, and while another connection holds the write lock (several
    processes opening a new ledger at once) SQLite answers SQLITE_BUSY at once instead of calling
    the busy handler, since waiting while holding a read lock could deadlock. So we wait here,
    holding nothing, up to the same busy timeout: the other process finishes and the switch is done.
    """
    deadline = time.monotonic() + busy_timeout
    delay = 0.002
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def upgrade_schema(conn: sqlite3.Connection) -> None:
    """Create the schema of a new ledger, or migrate an older one, to :data:`SCHEMA_VERSION`.

    The caller holds the write lock (BEGIN IMMEDIATE), so two processes opening one file agree
    on who creates or migrates it, and the version is read again under that lock.
    """
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version == 0:
        for statement in _SCHEMA_1:
            conn.execute(statement)
        version = 1
    if version < SCHEMA_VERSION:
        for step in range(version, SCHEMA_VERSION):
            for statement in _MIGRATIONS[step]:
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
