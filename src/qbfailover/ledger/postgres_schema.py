"""The PostgreSQL ledger's schema: created on first use, versioned, migrated step by step.

Why apart from the queries: several hosts open one database at once, and exactly one of them
must create or migrate the schema while the others wait, which a transaction-scoped advisory
lock gives. Everything lives in its own schema, ``qbfailover``, so the tables sit beside an
application's own in a shared database. A role that only has rights on those tables (no
CREATE) works as long as the schema is current: the check is a read, and DDL runs only when
something is missing or old.
"""

from __future__ import annotations

from typing import Final

from qbfailover.config.database import DatabaseUrl
from qbfailover.errors import StoreError
from qbfailover.ledger.postgres_conn import Connection

__all__ = ["SCHEMA", "SCHEMA_VERSION", "WORK_CHANNEL", "ensure_schema"]

SCHEMA: Final = "qbfailover"
WORK_CHANNEL: Final = "qbfailover_work"
"""The NOTIFY channel: a payload-free "new work" signal, sent on commit of a record or retry."""

_LOCK_KEY: Final = 0x7162464C  # "qbFL", the SQLite ledger's application id: our advisory lock.

_SCHEMA_1: Final = (
    f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
    f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.entries (
        id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        key             text   NOT NULL,
        kind            text   NOT NULL CHECK (kind IN ('magnet', 'torrent', 'url')),
        payload         bytea  NOT NULL,
        name            text   NOT NULL,
        options         jsonb  NOT NULL DEFAULT '{{}}',
        state           text   NOT NULL DEFAULT 'pending'
                               CHECK (state IN ('pending', 'delivered', 'rejected')),
        instance        text,
        reason          text,
        attempts        integer NOT NULL DEFAULT 0,
        last_error      text,
        next_attempt_at double precision NOT NULL,
        created_at      double precision NOT NULL,
        updated_at      double precision NOT NULL,
        delivered_at    double precision,
        uncertain       text[] NOT NULL DEFAULT '{{}}',
        claim_owner     text,
        claim_until     double precision
    )""",
    # At most one pending row per item, across every host: the database enforces the dedupe.
    f"CREATE UNIQUE INDEX IF NOT EXISTS entries_pending_key ON {SCHEMA}.entries (key) "
    "WHERE state = 'pending'",
    # Claims take pending rows oldest first: a queue of millions of delivered rows is not scanned.
    f"CREATE INDEX IF NOT EXISTS entries_pending_id ON {SCHEMA}.entries (id) WHERE state = 'pending'",
    f"CREATE INDEX IF NOT EXISTS entries_delivered_at ON {SCHEMA}.entries (delivered_at) "
    "WHERE state = 'delivered'",
    f"CREATE INDEX IF NOT EXISTS entries_claim_owner ON {SCHEMA}.entries (claim_owner) "
    "WHERE claim_owner IS NOT NULL",
    f"CREATE TABLE IF NOT EXISTS {SCHEMA}.guards (name text PRIMARY KEY, data text NOT NULL)",
    f"CREATE TABLE IF NOT EXISTS {SCHEMA}.meta (key text PRIMARY KEY, value bytea NOT NULL)",
)

# Schema n -> n + 1, each run in the transaction that holds the advisory lock.
_MIGRATIONS: Final[dict[int, tuple[str, ...]]] = {
    # 2: failback's journal: each move of a delivered item is written before it is made.
    1: (
        f"""CREATE TABLE {SCHEMA}.moves (
            id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            entry_id    bigint NOT NULL,
            source      text   NOT NULL,
            target      text   NOT NULL,
            state       text   NOT NULL CHECK (state IN ('moving', 'moved', 'failed', 'gone', 'kept')),
            reason      text   NOT NULL DEFAULT '',
            started_at  double precision NOT NULL,
            updated_at  double precision NOT NULL
        )""",
        f"CREATE UNIQUE INDEX moves_open ON {SCHEMA}.moves (entry_id) WHERE state = 'moving'",
    ),
}
SCHEMA_VERSION: Final = 1 + len(_MIGRATIONS)


def _read_version(conn: Connection) -> int | None:
    """The stored schema version; None if there is no ledger in this database yet."""
    # A plain query of the catalog (not to_regclass, which reads a catalog snapshot that an
    # advisory lock does not refresh): it sees the schema another host committed a moment ago.
    row = conn.execute(
        "SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = %s AND tablename = 'meta'", (SCHEMA,)
    ).fetchone()
    if row is None:
        return None
    found = conn.execute(f"SELECT value FROM {SCHEMA}.meta WHERE key = 'schema_version'").fetchone()
    if found is None:
        return None
    return int(bytes(found[0]).decode("ascii"))


def _check_not_newer(version: int | None, db: DatabaseUrl) -> None:
    if version is not None and version > SCHEMA_VERSION:
        raise StoreError(
            f"ledger {db.shown} has schema {version}, newer than this qbfailover understands "
            f"({SCHEMA_VERSION}); upgrade qbfailover on this host"
        )


def ensure_schema(conn: Connection, db: DatabaseUrl) -> None:
    """Create or migrate the schema to :data:`SCHEMA_VERSION`; StoreError if it is newer.

    The fast path only reads. Otherwise one transaction takes the advisory lock, reads the
    version again (another host may have just done the work) and runs the missing steps, so a
    crash midway leaves the previous schema whole.
    """
    version = _read_version(conn)
    _check_not_newer(version, db)
    if version == SCHEMA_VERSION:
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        version = _read_version(conn)
        _check_not_newer(version, db)
        if version == SCHEMA_VERSION:
            return
        if version is None:
            for statement in _SCHEMA_1:
                conn.execute(statement.encode())
            version = 1
        for step in range(version, SCHEMA_VERSION):
            for statement in _MIGRATIONS[step]:
                conn.execute(statement.encode())
        conn.execute(
            f"INSERT INTO {SCHEMA}.meta (key, value) VALUES ('schema_version', %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(SCHEMA_VERSION).encode("ascii"),),
        )
